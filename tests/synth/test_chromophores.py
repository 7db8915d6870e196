"""auxiliary.synth.chromophores: blood and pigment change skin colour within the stated ranges, per tone group."""

from __future__ import annotations

import numpy as np
import pytest

from auxiliary.base.tone import TONE_GROUPS
from auxiliary.synth import chromophores

#: a typical skin colour (L*, a*, b*) per ITA group
SKIN = {"very_light": (76.0, 9.0, 15.0), "light": (67.0, 11.0, 17.0), "intermediate": (58.0, 12.0, 19.0),
        "tan": (50.0, 12.0, 20.0), "brown": (42.0, 11.0, 18.0), "dark": (31.0, 9.0, 13.0)}
#: stated range of the a* rise from a haemoglobin density of 1.0 (a strong rosacea cheek) per group
A_RISE_AT_1 = {"very_light": (15, 22), "light": (14, 21), "intermediate": (12, 19), "tan": (11, 17),
               "brown": (10, 15), "dark": (7, 12)}


@pytest.mark.parametrize("group", TONE_GROUPS)
def test_haemoglobin_reddens_within_the_stated_range(group):
    L, a, b = SKIN[group]
    dL, da, db = chromophores.chromophore_shift(L, a, b, haemoglobin=1.0)
    lo, hi = A_RISE_AT_1[group]
    assert lo <= da <= hi, (group, da)
    assert -18 < dL < -4  # redder skin is also darker (crimson, not pink)
    assert abs(db) < 4
    weak = chromophores.chromophore_shift(L, a, b, haemoglobin=0.3)[1]
    assert 0.2 * da < weak < 0.45 * da  # monotone and close to linear in the density


def test_same_blood_shows_less_on_darker_skin():
    rises = [chromophores.chromophore_shift(*SKIN[g], haemoglobin=0.6)[1] for g in TONE_GROUPS]
    assert all(x > y for x, y in zip(rises, rises[1:]))
    assert rises[0] > 1.6 * rises[-1]


@pytest.mark.parametrize("group", TONE_GROUPS)
def test_melanin_darkens_and_browns(group):
    dL, da, db = chromophores.chromophore_shift(*SKIN[group], melanin=0.8)
    assert dL < -4 and db > -0.5 and abs(da) < 2


def test_only_pixels_with_a_density_change():
    rng = np.random.default_rng(0)
    lab = np.stack([rng.uniform(20, 90, (32, 32)), rng.uniform(-60, 80, (32, 32)), rng.uniform(-60, 80, (32, 32))],
                   axis=-1).astype(np.float32)  # many colours outside sRGB
    hb = np.zeros((32, 32), np.float32)
    hb[10:20, 5:15] = 0.5
    out = chromophores.add_chromophores(lab.copy(), hb, where=hb > 0)
    assert np.array_equal(out[hb == 0], lab[hb == 0])
    assert (np.abs(out - lab).max(axis=2)[hb > 0] > 0.1).mean() > 0.9


def test_srgb_round_trip():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.allclose(chromophores.linear_to_srgb(chromophores.srgb_to_linear(x)), x, atol=1e-5)
