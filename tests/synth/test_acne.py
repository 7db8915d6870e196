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
