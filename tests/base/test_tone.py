"""auxiliary.base.tone: ITA groups, the ITA of a Lab colour, the estimate ignoring the centre and masked pixels."""

from __future__ import annotations

import numpy as np
import pytest

from auxiliary.base import tone


@pytest.mark.parametrize(
    "ita, group",
    [(60, "very_light"), (50, "light"), (30, "intermediate"), (20, "tan"), (0, "brown"), (-45, "dark")],
)
def test_ita_groups(ita, group):
    assert tone.ita_group(ita) == group
    lo, hi = tone.ITA_BOUNDS[group]
    assert lo <= ita <= hi


def test_ita_of_lab_colour_round_trip():
    # L*=70, b*=15 -> ITA = atan(20/15) = 53.13 deg (light)
    lab = np.array([[[70.0, 10.0, 15.0]]])
    rgb = tone.lab_to_rgb(lab)
    ita = tone.estimate_ita(np.repeat(np.repeat(rgb, 8, 0), 8, 1))
    assert abs(ita - 53.13) < 1.5
    assert tone.ita_group(ita) == "light"


def test_estimate_ita_ignores_centre_and_masked_pixels():
    img = np.zeros((40, 40, 3), dtype=np.uint8)
    img[:] = tone.lab_to_rgb(np.array([[[75.0, 8.0, 14.0]]]))[0, 0]
    img[4:36, 4:36] = (60, 20, 20)  # dark lesion covering the centre
    with_lesion = tone.estimate_ita(img)
    without = tone.estimate_ita(img, exclude_center=1.0)
    assert tone.ita_group(without) == "very_light"
    assert without > with_lesion
    assert np.isnan(tone.estimate_ita(img, mask=np.zeros((40, 40), bool)))
