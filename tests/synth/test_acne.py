"""auxiliary.synth.acne (and erythema): effects stay on skin, real sizes, pure deterministic functions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from auxiliary.base import tone
from auxiliary.synth import acne as acne_mod
from auxiliary.synth import erythema, procedural, samplers


def test_lesions_and_redness_stay_on_skin():
    for seed in range(6):
        canvas = procedural.render_skin(128, tone.TONE_GROUPS[seed], np.random.default_rng(seed), layout="face")
        on_skin = canvas.skin > 0.5
        features = (canvas.area > 0.5) & (canvas.skin < 0.02)  # eyes, brows, lips, nostrils
        lab = canvas.lab.copy()
        res = acne_mod.add_acne(lab, canvas, np.random.default_rng(seed), count=40, strength=0.9)
        assert res.lesions, "no lesion placed"
        assert all(on_skin[int(les.y), int(les.x)] for les in res.lesions)
        assert not (res.mask & (canvas.skin == 0)).any()  # the soft mask edge only fades lesions out
        assert (res.mask & on_skin).sum() >= 0.97 * res.mask.sum()
        assert not (res.mask & features).any()
        changed = np.abs(lab - canvas.lab).max(axis=2) > 0.5
        assert not (changed & (canvas.skin == 0)).any()
        lab = canvas.lab.copy()
        res = erythema.add_erythema(lab, canvas, np.random.default_rng(seed), strength=0.9, extent=1.0)
        changed = np.abs(lab - canvas.lab).max(axis=2) > 0.5
        assert changed.any() and not (changed & (canvas.skin == 0)).any()


def test_real_sizes_follow_pixel_scale():
    big = procedural.render_skin(128, "light", np.random.default_rng(3), layout="patch")
    small = replace(big, px_per_mm=big.px_per_mm / 2, _full={})
    la = acne_mod.acne_lesions(big, np.random.default_rng(0), count=20, strength=0.5, kinds=("papule",))
    lb = acne_mod.acne_lesions(small, np.random.default_rng(0), count=20, strength=0.5, kinds=("papule",))
    ra, rb = np.median([x.radius for x in la]), np.median([x.radius for x in lb])
    assert 1.6 < ra / rb < 2.5
    mm = np.array([2 * x.radius / big.px_per_mm for x in la])
    assert mm.min() >= 1.0 - 1e-6 and mm.max() <= 5.0 + 1e-6


def test_pure_functions_leave_input_alone_and_are_deterministic():
    canvas = procedural.render_skin(96, "intermediate", np.random.default_rng(4), layout="patch")
    rgb = canvas.rgb()
    before = rgb.copy()
    mask = np.zeros(rgb.shape[:2], bool)
    mask[20:80, 10:60] = True
    a = acne_mod.simulate_acne(rgb, count=15, strength=0.7, mask=mask, seed=1)
    b = acne_mod.simulate_acne(rgb, count=15, strength=0.7, mask=mask, seed=1)
    assert np.array_equal(rgb, before)
    assert np.array_equal(a.image, b.image) and a.lesions == b.lesions
    assert a.lesions and all(mask[int(x.y), int(x.x)] for x in a.lesions)
    assert not (a.mask & ~mask).any() and not np.array_equal(a.image, rgb)
    e = erythema.simulate_erythema(rgb, strength=0.8, mask=mask, seed=1)
    assert np.array_equal(rgb, before) and e.mask.any() and not (e.mask & ~mask).any()
    sampler = samplers.AcneSampler(count=(5, 5), strength=0.5, seed=3)
    assert len(sampler(canvas).lesions) == 5


def _one_lesion(kind: str, diameter_px: float, seed: int = 0, tone_group: str = "light"):
    """One lesion of ``kind``, ``diameter_px`` across, near the centre of a 128 px patch of skin."""
    canvas = procedural.render_skin(128, tone_group, np.random.default_rng(seed), layout="patch")
    canvas = replace(canvas, regions={**canvas.regions, "acne": samplers.centred(canvas.regions["acne"].shape)},
                     _full={})
    lab = canvas.lab.copy()
    d = diameter_px / canvas.px_per_mm
    res = acne_mod.add_acne(lab, canvas, np.random.default_rng(seed), count=1, strength=0.8, size_mm=(d, d),
                            kinds=(kind,), kind_scale=False)
    assert len(res.lesions) == 1
    return canvas, res


def test_whitehead_is_a_pale_dome_that_hides_the_skin_colour():
    for tone_group in ("light", "intermediate", "dark"):
        canvas, res = _one_lesion("closed_comedone", 30.0, tone_group=tone_group)
        les = res.lesions[0]
        y, x = int(les.y), int(les.x)
        before, after = canvas.lab[y - 2:y + 3, x - 2:x + 3], res.image[y - 2:y + 3, x - 2:x + 3]
        assert after[..., 0].mean() > before[..., 0].mean() + 2.0, tone_group  # brighter
        chroma = lambda a: np.hypot(a[..., 1], a[..., 2]).mean()  # noqa: E731
        assert chroma(after) < 0.9 * chroma(before), tone_group  # whiter: less of the skin's own colour


def test_a_close_inflamed_bump_is_no_circle():
    canvas = procedural.render_skin(128, "light", np.random.default_rng(0), layout="patch")
    canvas = replace(canvas, skin=np.ones_like(canvas.skin), _full={})  # skin everywhere: nothing cuts the lesion

    def outline_spread(kind: str) -> float:
        """Relative spread of the redness the lesion adds over 12 angular sectors around its centre."""
        lab = canvas.lab.copy()
        les = acne_mod.Lesion(64.0, 64.0, 24.0, kind, 1.0, 1.0, 0.7)
        acne_mod.render_acne(lab, canvas, [les], strength=0.8)
        red = np.abs(lab[..., 1] - canvas.lab[..., 1])
        yy, xx = np.mgrid[0:128, 0:128] - 64.0
        sector = ((np.arctan2(yy, xx) + np.pi) / (2 * np.pi) * 12).astype(int) % 12
        ring = (np.hypot(yy, xx) > 0.6 * les.radius) & (np.hypot(yy, xx) < 2.5 * les.radius)  # beyond a head, inside the canvas
        mass = np.array([red[ring & (sector == k)].sum() for k in range(12)])
        return float(mass.std() / mass.mean())

    lobed, round_ = outline_spread("papule"), outline_spread("pustule")
    assert lobed > 0.05  # a papule seen close has a lobed outline
    assert round_ < 0.5 * lobed  # a pustule of the same size stays round


def test_an_acne_image_always_shows_a_lesion():
    canvas = procedural.render_skin(128, "light", np.random.default_rng(1), layout="patch")
    skin = np.zeros_like(canvas.skin)
    skin[:, 60:68] = 1.0  # a sliver of skin between hair and an eye: no lesion's window is all skin
    canvas = replace(canvas, skin=skin, _full={})
    for seed in range(5):
        res = acne_mod.add_acne(canvas.lab.copy(), canvas, np.random.default_rng(seed), count=1, strength=0.8,
                                size_mm=(8.0, 8.0), kinds=("papule",), kind_scale=False)
        assert len(res.lesions) == 1 and res.mask.any(), seed
        assert skin[int(res.lesions[0].y), int(res.lesions[0].x)] > 0.5  # still on skin
