"""auxiliary.synth.samplers: a rendered subject records its image-level ITA estimate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from auxiliary.base import tone
from auxiliary.base.config import SynthConfig
from auxiliary.synth import samplers

SMALL = SynthConfig(n_per_class=6, size=64, seed=5)


def test_image_level_ita_estimate_is_recorded():
    rows = [r for s in range(6) for _, _, r, _ in samplers.render_subject(replace(SMALL, size=96), s)]
    for r in rows:
        assert tone.ita_group(r["ita_image"]) == r["tone_group_est"]
    # Lesions and the camera (exposure 0.7-1.4x, white balance) move the photo's own estimate: ITA is steep
    # near L* 50, so a bright or dark exposure can move it by tens of degrees, the typical image far less.
    diffs = [abs(r["ita_image"] - r["ita"]) for r in rows]
    assert max(diffs) < 60 and 0.5 < float(np.median(diffs)) < 15
