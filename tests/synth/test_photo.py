"""auxiliary.synth.photo: views of a face photo (face, half face, close-up), their scale, light and no-go regions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _photos import face_photo

from auxiliary.base.config import SynthConfig, TrainConfig
from auxiliary.synth import acne, photo, samplers
from auxiliary.synth.lesion import Lesion
from auxiliary.synth.skinmask import skin_mask


def make_photo(size: int = 256, **kw) -> tuple[photo.Photo, np.ndarray, np.ndarray]:
    img, true, feats = face_photo(**kw)
    return photo.Photo(rgb=img, result=skin_mask(img), size=size, info={}), true, feats


def crop_like(canvas, full: np.ndarray) -> np.ndarray:
    """A full-photo mask cut, resized and flipped exactly as the canvas's view was."""
    m = canvas.meta
    x0, y0, sd = m["crop_x"], m["crop_y"], m["crop_side"]
    S = canvas.shape[0]
    out = cv2.resize(full[y0:y0 + sd, x0:x0 + sd].astype(np.uint8), (S, S), interpolation=cv2.INTER_NEAREST).astype(bool)
    return out[:, ::-1] if m["flip"] else out


def test_views_follow_zoom_and_full_face_share():
    rng = np.random.default_rng(0)
    views = [photo.draw_view(rng, (0.5, 12.0), 0.5) for _ in range(3000)]
    share = np.mean([v in ("portrait", "face") for v, _ in views])
    assert 0.46 < share < 0.54
    assert all(0.5 <= z < 1.0 for v, z in views if v == "portrait")
    assert all(1.0 <= z <= 1.2 for v, z in views if v == "face")
    assert all(2.0 <= z < 4.0 for v, z in views if v == "half")
    assert all(4.0 <= z <= 12.0 for v, z in views if v == "closeup")
    assert {v for v, _ in views} == set(photo.VIEWS)
    assert {photo.draw_view(rng, (1.0, 1.0), 0.0)[0] for _ in range(50)} == {"face"}  # no zoom: whole faces only


def test_skin_scale_follows_the_zoom():
    ph, _, _ = make_photo()
    rng = np.random.default_rng(1)
    face = ph.canvas(0, rng, zoom=(1.0, 1.0), full_face=1.0)
    close = ph.canvas(0, rng, zoom=(6.0, 6.0), full_face=0.0)
    assert close.meta["view"] == "closeup" and face.meta["view"] == "face"
    ratio = close.px_per_mm / face.px_per_mm
    assert 0.85 * 6.0 / face.meta["zoom"] < ratio < 1.15 * 6.0 / face.meta["zoom"]


def test_papule_of_2mm_spans_3px_at_the_default_training_size():
    """A whole-face view (the least magnified), resized to the training input: a 2 mm papule is >= 3 px wide."""
    size, img_size = SynthConfig().size, TrainConfig().img_size
    ph, _, _ = make_photo(size=size)
    canvas = ph.canvas(0, np.random.default_rng(2), zoom=(1.0, 1.0), full_face=1.0)
    assert 2.0 * canvas.px_per_mm * img_size / size >= 3.0
    ys, xs = np.nonzero(canvas.skin > 0.5)
    y, x = float(np.median(ys)), float(np.median(xs))
    lab = canvas.lab.copy()
    acne.render_acne(lab, canvas, [Lesion(x, y, 1.0 * canvas.px_per_mm, "papule", 1.0)], strength=0.6)
    before = cv2.resize(canvas.lab, (img_size, img_size), interpolation=cv2.INTER_AREA)
    after = cv2.resize(lab, (img_size, img_size), interpolation=cv2.INTER_AREA)
    row = int(round(y * img_size / size))
    visible = np.abs(after[row, :, 1] - before[row, :, 1]) > 2.0  # a* rise a viewer sees
    assert visible.sum() >= 3


@pytest.mark.parametrize("view", ["face", "half", "closeup"])
def test_lesions_and_redness_avoid_eyes_lips_and_off_face(view):
    ph, true, feats = make_photo()
    zoom = {"face": (1.0, 1.0), "half": (2.5, 2.5), "closeup": (6.0, 6.0)}[view]
    nogo_full = feats | ~true
    for seed in range(6):
        canvas = ph.canvas(seed, np.random.default_rng(seed), zoom=zoom, full_face=1.0 if view == "face" else 0.0)
        nogo = cv2.erode(crop_like(canvas, nogo_full).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        for label in ("acne", "erythema"):
            res = samplers.SAMPLERS[label].from_config(SynthConfig())(canvas, rng=np.random.default_rng(seed))
            changed = np.abs(res.image - canvas.lab).max(axis=2) > 0.5
            assert not (changed & nogo).any(), (view, seed, label)
            assert all(not nogo[int(les.y), int(les.x)] for les in res.lesions)


def test_closeup_acne_shows_a_lesion_near_the_centre():
    ph, _, _ = make_photo()
    for seed in range(5):
        canvas = ph.canvas(0, np.random.default_rng(seed), zoom=(8.0, 8.0), full_face=0.0)
        res = samplers.AcneSampler(count=(6, 40), seed=seed)(canvas)
        assert res.lesions, seed
        S = canvas.shape[0]
        nearest = min(np.hypot(les.x - S / 2, les.y - S / 2) for les in res.lesions)
        assert nearest < 0.35 * S
        # framed on it: a lesion spans the share of the field its kind does in close-ups (all of one kind)
        kind = res.lesions[0].kind
        lo, hi, most = samplers.CLOSEUP_FIELD[kind]
        assert all(les.kind == kind for les in res.lesions) and len(res.lesions) <= most
        assert all(lo * S - 1 <= les.radius * 2 <= hi * S + 1 for les in res.lesions), kind


def test_eye_bar_covers_the_eyes_and_leaves_the_mask():
    ph, _, feats = make_photo()
    canvas = ph.canvas(0, np.random.default_rng(3), zoom=(1.0, 1.0), full_face=1.0, eye_bar=1.0)
    assert canvas.meta["eye_bar"]
    eyes = crop_like(canvas, feats)
    eyes[int(canvas.shape[0] * 0.6):] = False  # the lips are not under the bar
    flat = np.ptp(canvas.lab[eyes], axis=0).max() < 1e-3  # one flat colour
    assert flat and not (canvas.skin[eyes] > 0.5).any()


def test_light_direction_from_the_shading():
    rng = np.random.default_rng(0)
    lab = np.zeros((64, 64, 3), np.float32)
    lab[..., 0] = np.linspace(40, 80, 64)[None, :]  # brighter to the right
    lx, ly, lz = photo.estimate_light(lab, np.ones((64, 64), np.float32), rng)
    assert lx > 0.5 and abs(ly) < 0.1 and lz > 0 and abs(lx * lx + ly * ly + lz * lz - 1) < 1e-6
    lab[..., 0] = np.linspace(40, 80, 64)[:, None]  # lit from below
    assert photo.estimate_light(lab, np.ones((64, 64), np.float32), rng)[1] > 0.5
