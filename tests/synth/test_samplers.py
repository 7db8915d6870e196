"""auxiliary.synth.samplers: a rendered subject records its image-level ITA estimate."""

from __future__ import annotations

from dataclasses import replace

from auxiliary import tone
from auxiliary.config import SynthConfig
from auxiliary.synth import samplers

SMALL = SynthConfig(n_per_class=6, size=64, seed=5)


def test_image_level_ita_estimate_is_recorded():
    rows = [r for s in range(6) for _, _, r, _ in samplers.render_subject(replace(SMALL, size=96), s)]
    for r in rows:
        assert tone.ita_group(r["ita_image"]) == r["tone_group_est"]
        if r["label"] == "none":  # the clean image: the image-level estimate is the label
            assert r["ita_image"] == r["ita"] and r["tone_group_est"] == r["tone_group"]
    # Lesions move the image-level estimate a little, not across the scale.
    assert max(abs(r["ita_image"] - r["ita"]) for r in rows) < 25
