"""auxiliary.data.augment: presets, the evaluation transform's parity with inference, tone preservation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fixtures import class_folders, class_targets, noise_image

from auxiliary.base import images
from auxiliary.base.config import DataConfig
from auxiliary.base.tone import estimate_ita
from auxiliary.data import augment, loaders, readers
from auxiliary.models import preprocess

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.mark.parametrize("preset", augment.PRESETS)
def test_presets_give_normalised_tensors(preset):
    img = noise_image(1, 40)[:, :37]  # not square, not the target size
    tf = augment.train_transform(preset, 32, MEAN, STD, seed=0)
    x = tf(image=img)["image"]
    assert isinstance(x, torch.Tensor) and x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert -3 < float(x.mean()) < 3


@pytest.mark.parametrize("size,src", [(24, (40, 40)), (32, (32, 32)), (64, (20, 30))])
def test_eval_transform_is_infer_preprocess(size, src):
    img = noise_image(2, 40)[: src[0], : src[1]]
    x = augment.eval_transform(size, MEAN, STD)(image=img)["image"].numpy()
    ref = preprocess.preprocess(img, preprocess.Preprocessing(size, MEAN, STD))
    assert x.shape == ref.shape and np.allclose(x, ref, atol=1e-5)


GEOMETRIES = [
    {"resize": "shorter_side", "crop_pct": 0.875, "interpolation": "bicubic"},  # a pretrained lite0's
    {"resize": "shorter_side", "crop_pct": 1.0, "interpolation": "bilinear"},
    {"resize": "square", "crop_pct": 0.9, "interpolation": "bicubic"},  # timm's crop_mode "squash"
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("size,src", [(24, (40, 40)), (32, (32, 32)), (64, (20, 30)), (32, (40, 27))])
def test_eval_transform_with_the_models_geometry_is_infer_preprocess(geometry, size, src):
    """Issue 29: the validation/test loaders' albumentations ops (SmallestMaxSize or Resize with area for shrinking,
    CenterCrop) give the same numbers as ``preprocess`` with the same spec, shrinking, enlarging or neither."""
    img = noise_image(2, 40)[: src[0], : src[1]]
    x = augment.eval_transform(size, MEAN, STD, geometry)(image=img)["image"].numpy()
    ref = preprocess.preprocess(img, preprocess.Preprocessing(size, MEAN, STD, **geometry))
    assert x.shape == ref.shape == (3, size, size) and np.allclose(x, ref, atol=1e-5)
    fitted = augment.fit_transform(size, geometry)(image=img)["image"]  # what an evaluation cache stores
    assert np.array_equal(fitted, preprocess.fit_image(img, preprocess.Preprocessing(size, MEAN, STD, **geometry)))


def test_none_preset_equals_eval():
    img = noise_image(3, 48)
    a = augment.train_transform("none", 32, MEAN, STD)(image=img)["image"]
    b = augment.eval_transform(32, MEAN, STD)(image=img)["image"]
    assert torch.allclose(a, b)


def test_seeded_and_random():
    img = noise_image(4, 48)
    a = augment.train_transform("geometric", 32, MEAN, STD, seed=5)
    b = augment.train_transform("geometric", 32, MEAN, STD, seed=5)
    xs_a = [a(image=img)["image"] for _ in range(4)]
    xs_b = [b(image=img)["image"] for _ in range(4)]
    assert all(torch.equal(u, v) for u, v in zip(xs_a, xs_b))
    assert not all(torch.equal(xs_a[0], u) for u in xs_a[1:])  # it does change images


def test_unknown_preset():
    with pytest.raises(augment.AugmentError, match="tone_preserving"):
        augment.train_transform("mixup", 32, MEAN, STD)
    assert augment.preset_ops("Tone-Preserving", 32)  # spelling variants accepted


def test_tone_preserving_keeps_ita_color_may_not():
    skin = np.tile(np.array([205, 160, 135], np.uint8), (64, 64, 1))
    rng = np.random.default_rng(0)
    img = np.clip(skin + rng.normal(0, 6, skin.shape), 0, 255).astype(np.uint8)
    base = estimate_ita(img)
    shift = {}
    for preset in ("tone_preserving", "color"):
        diffs = [abs(estimate_ita(augment.augment_image(img, preset, seed=s)) - base) for s in range(12)]
        shift[preset] = max(diffs)
    assert shift["tone_preserving"] < 2.0
    assert shift["color"] > shift["tone_preserving"]


def test_augment_image_keeps_size_and_dtype():
    img = noise_image(5, 48)[:, :40]
    for preset in augment.PRESETS:
        out = augment.augment_image(img, preset, seed=1)
        assert out.shape == img.shape and out.dtype == np.uint8


def test_training_and_eval_loader_use_these_transforms(tmp_path):
    table, _ = readers.read_dataset(class_folders(tmp_path / "ds", n_per_class=2))
    classes = sorted(table["label"].unique())
    dl = loaders.build_loader(table, targets=class_targets(table, classes), img_size=16, mean=MEAN, std=STD,
                              train=True, data_cfg=DataConfig(cache=False, augment="none", balance="none"),
                              batch_size=6)
    x, _, meta = next(iter(dl))
    spec = preprocess.Preprocessing(16, MEAN, STD)
    ref = np.stack([preprocess.preprocess(images.read_image(table["path"][int(i)]), spec) for i in meta["index"]])
    assert np.allclose(x.numpy(), ref, atol=1e-5)  # preset "none" == inference preprocessing


def _textured(seed: int = 0, size: int = 40) -> np.ndarray:
    """A grey texture in 60-180 (no clipping under a moderate colour cast)."""
    g = np.random.default_rng(seed).integers(60, 181, (size, size, 1))
    return np.repeat(g, 3, axis=2).astype(np.uint8)


def _pnorm(img: np.ndarray, p: int = 6) -> np.ndarray:
    return np.power(np.mean(np.power(img.astype(np.float64), p), axis=(0, 1)), 1 / p)


def test_shades_of_gray_makes_the_light_grey():
    """Issue 30: the estimated light (each channel's p = 6 norm mean) becomes grey; a grey image is left as it is; the
    same scene under two coloured lights comes out grey under both (the light's brightness is kept); a black image is
    returned unchanged."""
    grey = _textured()
    assert np.array_equal(augment.shades_of_gray(grey), grey)
    warm = np.clip(grey * np.array([1.0, 0.8, 0.6]), 0, 255).astype(np.uint8)  # a yellow-orange light
    cold = np.clip(grey * np.array([0.7, 0.85, 1.0]), 0, 255).astype(np.uint8)
    a, b = augment.shades_of_gray(warm), augment.shades_of_gray(cold)
    assert a.dtype == np.uint8 and a.shape == warm.shape
    light = _pnorm(a)
    assert light.max() - light.min() < 1.5 and np.ptp(_pnorm(warm)) > 50  # was far from grey, now grey
    for out in (a, b):  # the cast is gone: every pixel grey again (only the light's brightness is kept)
        assert np.ptp(out.astype(int), axis=2).max() <= 2
    assert np.corrcoef(a[..., 0].ravel(), b[..., 0].ravel())[0, 1] > 0.999  # the same scene, up to brightness
    assert np.abs(a.astype(int) - warm.astype(int)).max() > 30
    black = np.zeros((8, 8, 3), np.uint8)
    assert np.array_equal(augment.shades_of_gray(black), black)
    assert not np.shares_memory(augment.shades_of_gray(black), black)  # a copy: the input is never modified


def test_colour_constancy_is_one_op_of_training_evaluation_and_preprocess():
    """The training transform (no random op), the evaluation transform with the spec's geometry, the evaluation
    cache's fitted image and ``preprocess`` give the same numbers with shades of gray; an unknown name is refused."""
    img = np.clip(_textured(1, 48) * np.array([1.0, 0.85, 0.7]), 0, 255).astype(np.uint8)
    spec = preprocess.Preprocessing(32, MEAN, STD, color_constancy="shades_of_gray")
    ref = preprocess.preprocess(img, spec)
    ev = augment.eval_transform(32, MEAN, STD, spec.geometry())(image=img)["image"].numpy()
    tr = augment.train_transform("none", 32, MEAN, STD, color_constancy="shades_of_gray")(image=img)["image"].numpy()
    assert np.allclose(ev, ref, atol=1e-5) and np.allclose(tr, ref, atol=1e-5)
    assert np.array_equal(augment.fit_transform(32, spec.geometry())(image=img)["image"], preprocess.fit_image(img, spec))
    plain = preprocess.preprocess(img, preprocess.Preprocessing(32, MEAN, STD))
    assert not np.allclose(plain, ref, atol=1e-2)
    crop = preprocess.Preprocessing(24, MEAN, STD, resize="shorter_side", crop_pct=0.875, interpolation="bicubic",
                                    color_constancy="shades_of_gray")  # after the crop, as in the loaders
    ev = augment.eval_transform(24, MEAN, STD, crop.geometry())(image=img[:, :40])["image"].numpy()
    assert np.allclose(ev, preprocess.preprocess(img[:, :40], crop), atol=1e-5)
    assert not augment.is_square_area(spec.geometry()) and augment.is_square_area({"color_constancy": "none"})
    assert augment.check_color_constancy("Shades-of-Gray") == "shades_of_gray"
    with pytest.raises(augment.AugmentError, match="unknown color_constancy 'retinex'"):
        augment.train_transform("none", 32, MEAN, STD, color_constancy="retinex")
