"""auxiliary.synth.wrinkles: deterministic, confined to skin, visible, lit by the canvas light, placed on the face."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _photos import face_photo

from auxiliary.base.tone import TONE_GROUPS, estimate_ita
from auxiliary.synth import hyperpigmentation, procedural, skinmask
from auxiliary.synth import wrinkles as wr
from auxiliary.synth.skin import lab_image_to_rgb

#: mean |dL*| over the changed pixels at strength 0.9, per tone group: shading moves L* less on dark skin
DL_RANGE = {"very_light": (2.0, 6.0), "light": (2.0, 6.0), "intermediate": (1.8, 5.5), "tan": (1.7, 5.0),
            "brown": (1.4, 4.5), "dark": (1.2, 4.0)}


def _face(group: str, seed: int = 0, size: int = 112):
    return procedural.render_skin(size, group, np.random.default_rng(seed), layout="face")


def test_deterministic_pure_and_recorded():
    rgb = _face("light", 1).rgb()
    before = rgb.copy()
    a = wr.simulate_wrinkles(rgb, strength=0.8, seed=3)
    b = wr.simulate_wrinkles(rgb, strength=0.8, seed=3)
    assert np.array_equal(rgb, before)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.params["strength"] == 0.8 and a.params["kinds"] == "forehead|crows_feet|nasolabial|fine"
    with pytest.raises(ValueError):
        wr.wrinkle_furrows(_face("light"), np.random.default_rng(0), strength=0.5, kinds=("frown",))


@pytest.mark.parametrize("layout", ["face", "patch"])
def test_confined_to_skin_and_invisible_at_zero(layout):
    for i, g in enumerate(("very_light", "tan", "dark")):
        c = procedural.render_skin(96, g, np.random.default_rng(20 + i), layout=layout)
        lab = c.lab.copy()
        res = wr.add_wrinkles(lab, c, np.random.default_rng(i), strength=1.0)
        changed = np.abs(lab - c.lab).max(axis=2) > 0
        assert changed.any() and res.mask.any()
        assert not (changed & (c.skin == 0)).any() and not (res.mask & (c.skin == 0)).any()
        assert res.params["wrinkle_placement"] == ("face" if layout == "face" else "site")
        lab0 = c.lab.copy()
        zero = wr.add_wrinkles(lab0, c, np.random.default_rng(i), strength=0.0)
        assert np.array_equal(lab0, c.lab) and not zero.mask.any()


def test_visible_less_on_dark_skin_but_visible_and_ita_of_untouched_skin_kept():
    mean_dl = {}
    for g in TONE_GROUPS:
        c = _face(g, 2)
        lab = c.lab.copy()
        res = wr.add_wrinkles(lab, c, np.random.default_rng(5), strength=0.9)
        assert res.mask.sum() > 100
        mean_dl[g] = float(np.abs(lab[..., 0] - c.lab[..., 0])[res.mask].mean())
        lo, hi = DL_RANGE[g]
        assert lo <= mean_dl[g] <= hi, (g, mean_dl[g])
        keep = (c.skin > 0.5) & ~res.mask
        ita0, ita1 = estimate_ita(c.rgb(), keep), estimate_ita(lab_image_to_rgb(lab), keep)
        assert abs(ita1 - ita0) < 1.0, (g, ita0, ita1)
    assert mean_dl["very_light"] > mean_dl["intermediate"] > mean_dl["dark"]
    c = _face("tan", 2)
    weak, strong = c.lab.copy(), c.lab.copy()
    rw = wr.add_wrinkles(weak, c, np.random.default_rng(5), strength=0.2)
    rs = wr.add_wrinkles(strong, c, np.random.default_rng(5), strength=0.9)
    assert np.abs(strong - c.lab).sum() > 2.0 * np.abs(weak - c.lab).sum() > 0  # deeper and denser
    assert sum(rs.params[f"n_{k}"] for k in wr.WRINKLE_KINDS) > sum(rw.params[f"n_{k}"] for k in wr.WRINKLE_KINDS)


def test_shading_follows_the_canvas_light():
    """Furrow walls facing the light brighten, the others darken: same height map, the light mirrored."""
    c = _face("light", 3, 128)
    furrows, _ = wr.wrinkle_furrows(c, np.random.default_rng(0), strength=0.9, kinds=("forehead", "nasolabial"))
    height, cavity = wr.wrinkle_height(c.shape, furrows, c.px_per_mm, 0.9)
    gy, gx = np.gradient(height)
    for light in ((0.6, 0.0, 0.8), (-0.6, 0.0, 0.8)):
        f = wr.render_wrinkles(c.lab.copy(), replace(c, light=light), height, np.zeros_like(cavity))
        facing = (-gx * light[0]) * (c.skin > 0.9)
        assert f[facing > 0.05].mean() > 1.02 and f[facing < -0.05].mean() < 0.98


def test_placement_on_the_face():
    """Forehead lines stay above the brows, nasolabial folds below the eyes, crow's feet beside the eyes."""
    c = _face("intermediate", 4, 128)
    u, v, yaw = hyperpigmentation.face_coordinates(c)
    for kinds, ok in ((("forehead",), lambda uu, vv: vv < -0.2), (("nasolabial",), lambda uu, vv: vv > 0.15),
                      (("crows_feet",), lambda uu, vv: (np.abs(uu - yaw) > 0.45) & (np.abs(vv + 0.08) < 0.3))):
        lab = c.lab.copy()
        res = wr.add_wrinkles(lab, c, np.random.default_rng(1), strength=0.9, kinds=kinds)
        assert res.mask.sum() > 20, kinds
        assert ok(u[res.mask], v[res.mask]).mean() > 0.95, kinds


def test_on_a_face_photo_and_sampler():
    img, true, feats = face_photo()
    c = skinmask.canvas_from_rgb(img)
    lab = c.lab.copy()
    res = wr.add_wrinkles(lab, c, np.random.default_rng(0), strength=0.9)
    assert res.mask.sum() > 100 and not (res.mask & (c.skin == 0)).any()
    assert float(np.abs(lab[..., 0] - c.lab[..., 0])[res.mask].mean()) > 1.5
    sim = wr.simulate_wrinkles(img, strength=0.9, seed=2)
    assert sim.mask.any() and not (sim.mask & ~true).any() and not (sim.mask & feats).any()
    s1 = wr.WrinklesSampler(strength=(0.2, 0.7), seed=4)(c)
    s2 = wr.WrinklesSampler(strength=(0.2, 0.7), seed=4)(c)
    assert np.array_equal(s1.image, s2.image) and 0.2 <= s1.params["strength"] <= 0.7 and s1.params["kinds"]
