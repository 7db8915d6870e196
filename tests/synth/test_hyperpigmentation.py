"""auxiliary.synth.hyperpigmentation: deterministic, confined to skin, visible and tone-relative, symmetric melasma."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _photos import face_photo

from auxiliary.base.tone import TONE_GROUPS, estimate_ita
from auxiliary.synth import erythema, procedural, skinmask
from auxiliary.synth import hyperpigmentation as hp
from auxiliary.synth.skin import lab_image_to_rgb

#: mean |dL*| over the changed pixels at strength 0.9 (melasma only), per tone group: light skin darkens more
DL_RANGE = {"very_light": (3.0, 6.5), "light": (3.0, 6.5), "intermediate": (2.6, 6.0), "tan": (2.4, 5.5),
            "brown": (1.8, 5.0), "dark": (1.5, 4.5)}


def _face(group: str, seed: int = 0, size: int = 112):
    return procedural.render_skin(size, group, np.random.default_rng(seed), layout="face")


def test_deterministic_pure_and_recorded():
    rgb = _face("intermediate", 1).rgb()
    before = rgb.copy()
    a = hp.simulate_hyperpigmentation(rgb, strength=0.8, seed=3)
    b = hp.simulate_hyperpigmentation(rgb, strength=0.8, seed=3)
    assert np.array_equal(rgb, before)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.params["strength"] == 0.8 and a.params["kinds"] == "melasma|lentigines|pih"
    with pytest.raises(ValueError):
        hp.add_hyperpigmentation(rgb.astype(np.float32), _face("light"), np.random.default_rng(0), strength=0.5,
                                 kinds=("tattoo",))


@pytest.mark.parametrize("layout", ["face", "patch"])
def test_confined_to_skin_and_invisible_at_zero(layout):
    for i, g in enumerate(("very_light", "tan", "dark")):
        c = procedural.render_skin(96, g, np.random.default_rng(10 + i), layout=layout)
        lab = c.lab.copy()
        res = hp.add_hyperpigmentation(lab, c, np.random.default_rng(i), strength=1.0)
        changed = np.abs(lab - c.lab).max(axis=2) > 0
        assert changed.any() and res.mask.any()
        assert not (changed & (c.skin == 0)).any() and not (res.mask & (c.skin == 0)).any()
        lab0 = c.lab.copy()
        zero = hp.add_hyperpigmentation(lab0, c, np.random.default_rng(i), strength=0.0)
        assert np.array_equal(lab0, c.lab) and not zero.mask.any() and zero.params["strength"] == 0.0


def test_visible_darker_on_light_skin_still_visible_on_dark_and_ita_of_untouched_skin_kept():
    mean_dl = {}
    for g in TONE_GROUPS:
        c = _face(g, 2)
        lab = c.lab.copy()
        res = hp.add_hyperpigmentation(lab, c, np.random.default_rng(5), strength=0.9, kinds=("melasma",))
        dL = lab[..., 0] - c.lab[..., 0]
        assert res.mask.sum() > 100 and dL.max() <= 0.05  # pigment only darkens (up to the colour round trip)
        mean_dl[g] = float(np.abs(dL[res.mask]).mean())
        lo, hi = DL_RANGE[g]
        assert lo <= mean_dl[g] <= hi, (g, mean_dl[g])
        keep = (c.skin > 0.5) & ~res.mask
        ita0, ita1 = estimate_ita(c.rgb(), keep), estimate_ita(lab_image_to_rgb(lab), keep)
        assert abs(ita1 - ita0) < 1.0, (g, ita0, ita1)
    assert mean_dl["very_light"] > mean_dl["intermediate"] > mean_dl["dark"]
    # Stronger is darker (same face, same draws).
    c = _face("tan", 2)
    weak, strong = c.lab.copy(), c.lab.copy()
    hp.add_hyperpigmentation(weak, c, np.random.default_rng(5), strength=0.3, kinds=("melasma",))
    hp.add_hyperpigmentation(strong, c, np.random.default_rng(5), strength=0.9, kinds=("melasma",))
    assert (strong[..., 0] - c.lab[..., 0]).sum() < 2.0 * (weak[..., 0] - c.lab[..., 0]).sum() < 0


def test_melasma_is_mirror_symmetric_and_macules_have_real_sizes():
    c = _face("light", 4, 128)
    c = replace(c, meta={**c.meta, "roll": 0.0, "yaw": 0.0})
    fr = hp.face_frame_estimate(c)
    assert fr is not None and abs(fr["ax"] - 70.0 * c.px_per_mm) < 1e-6
    m, pattern = hp.melasma_map(c, np.random.default_rng(1), 0.9)
    assert pattern in ("centrofacial", "malar")
    sk = erythema.soft_skin(c, 2.0)
    ys, xs = np.nonzero(sk > 0.99)
    xm = np.round(2 * fr["cx"] - xs).astype(int)
    ok = (xm >= 0) & (xm < c.shape[1])
    ys, xs, xm = ys[ok], xs[ok], xm[ok]
    both = sk[ys, xm] > 0.99
    a, b = m[ys[both], xs[both]] / sk[ys[both], xs[both]], m[ys[both], xm[both]] / sk[ys[both], xm[both]]
    assert both.sum() > 500 and a.std() > 0.05 and np.corrcoef(a, b)[0, 1] > 0.9
    assert hp.face_frame_estimate(procedural.render_skin(96, "light", np.random.default_rng(0), layout="patch")) is None
    les = hp.pigment_macules(c, np.random.default_rng(0), kind="lentigines", count=12, size_mm=(2.0, 10.0))
    mm = np.array([2 * x.radius / c.px_per_mm for x in les])
    assert len(les) >= 6 and mm.min() >= 2.0 - 1e-6 and mm.max() <= 10.0 + 1e-6


def test_on_a_face_photo_and_sampler():
    img, true, feats = face_photo()
    c = skinmask.canvas_from_rgb(img)
    lab = c.lab.copy()
    res = hp.add_hyperpigmentation(lab, c, np.random.default_rng(0), strength=0.9)
    assert res.mask.sum() > 200 and not (res.mask & (c.skin == 0)).any()
    assert float(np.abs(lab[..., 0] - c.lab[..., 0])[res.mask].mean()) > 1.5
    sim = hp.simulate_hyperpigmentation(img, strength=0.9, seed=2)
    assert sim.mask.any() and not (sim.mask & ~true).any() and not (sim.mask & feats).any()
    s1 = hp.HyperpigmentationSampler(strength=(0.2, 0.7), seed=4)(c)
    s2 = hp.HyperpigmentationSampler(strength=(0.2, 0.7), seed=4)(c)
    assert np.array_equal(s1.image, s2.image) and 0.2 <= s1.params["strength"] <= 0.7 and s1.params["kinds"]
