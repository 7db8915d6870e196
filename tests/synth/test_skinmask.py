"""auxiliary.synth.skinmask: the mask of a face photo stays on skin, for every tone, with or without a face found."""

from __future__ import annotations

import pytest
from _photos import face_photo

from auxiliary.synth import acne, skinmask


@pytest.mark.parametrize("skin_rgb", [(235, 200, 180), (200, 150, 120), (150, 100, 70), (95, 62, 45)])
@pytest.mark.parametrize("haar", [True, False])
def test_mask_stays_on_skin(skin_rgb, haar, monkeypatch):
    if not haar:  # the skin-colour model alone must still work, and say so
        monkeypatch.setattr(skinmask, "detect_faces", lambda rgb: [])
    img, true, feats = face_photo(skin_rgb=skin_rgb)
    res = skinmask.skin_mask(img)
    assert res.method in (skinmask.METHOD_FACE, skinmask.METHOD_COLOUR)
    if not haar:
        assert res.method == skinmask.METHOD_COLOUR and not res.face_detected
    m = res.mask
    assert m.sum() > 0.4 * true.sum(), f"mask covers only {m.sum() / true.sum():.0%} of the face ({res.method})"
    assert (m & true).sum() >= 0.98 * m.sum(), f"mask leaks off the face ({res.method})"
    assert not (m & feats).any(), "mask on eyes or lips"
    sim = acne.simulate_acne(img, count=25, strength=0.8, seed=1)
    assert sim.lesions and all(true[int(les.y), int(les.x)] and not feats[int(les.y), int(les.x)] for les in sim.lesions)
    assert not (sim.mask & ~true).any()
    assert sim.params["mask_method"] == res.method
