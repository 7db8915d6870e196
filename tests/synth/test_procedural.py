"""auxiliary.synth.procedural: rendered skin, and each subject's images, measure in the requested tone group."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from auxiliary.base import tone
from auxiliary.base.config import SynthConfig
from auxiliary.synth import procedural, samplers

SMALL = SynthConfig(n_per_class=6, size=64, seed=5)


@pytest.mark.parametrize("group", tone.TONE_GROUPS)
def test_measured_ita_falls_in_requested_group(group):
    """Clean skin of every layout, and every class image of a subject, measured from the pixels."""
    for seed in range(4):
        for layout in ("face", "patch"):
            canvas = procedural.render_skin(96, group, np.random.default_rng([seed, 99]), layout=layout)
            ita = tone.estimate_ita(canvas.rgb(), canvas.skin > 0.5)
            assert tone.ita_group(ita) == group, (layout, seed, ita)
    gi = tone.TONE_GROUPS.index(group)
    for subject in (gi, gi + 6, gi + 12):
        cfg = replace(SMALL, size=96)
        canvas = procedural.render_skin(96, group, samplers.subject_stream(cfg.seed, subject, "skin"), face_layout=cfg.face_layout)
        for label, rgb, row, _ in samplers.render_subject(cfg, subject):
            assert row["tone_group"] == group
            assert tone.ita_group(row["ita"]) == group, (label, row["ita"])
            if label == "none":
                # The label is the skin's own colour, before the camera: an independent full-resolution
                # measurement of the clean canvas; the photo's estimate (after exposure and white balance)
                # is recorded beside it.
                ita = tone.estimate_ita(canvas.rgb(), canvas.skin > 0.5)
                assert tone.ita_group(ita) == group and abs(ita - row["ita"]) < 3, (ita, row["ita"])
                assert abs(tone.estimate_ita(rgb, canvas.skin > 0.5) - row["ita_image"]) < 3
