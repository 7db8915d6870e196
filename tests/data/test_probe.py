"""auxiliary.data.probe: the tone estimate of an image ignores the lesion in the centre and a dark border."""

from __future__ import annotations

import numpy as np

from auxiliary.base.tone import ita_from_lab, rgb_to_lab
from auxiliary.data import probe


def test_estimate_tone_ignores_centre_and_dark_border():

    skin = np.array([225, 180, 160], dtype=np.uint8)
    img = np.tile(skin, (96, 96, 1))
    img[32:64, 32:64] = (90, 40, 30)  # a dark lesion in the centre
    img[:4] = 0  # black vignette
    lab = rgb_to_lab(skin[None, None])[0, 0]
    truth = float(ita_from_lab(lab[0], lab[2]))
    assert abs(probe.estimate_tone(img) - truth) < 1.0
    assert np.isnan(probe.estimate_tone(np.zeros((40, 40, 3), np.uint8)))
