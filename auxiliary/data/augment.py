"""Augmentation presets (albumentations 2.x), used identically by notebook 02 and training.

``train_transform(preset, img_size, mean, std)`` = area resize to ``img_size`` square, the
preset's random ops, normalise, to tensor. ``eval_transform(img_size, mean, std, geometry)`` = the model's
resize and centre crop (``geometry``: plain values computed above, the model's
:meth:`~auxiliary.models.preprocess.Preprocessing.geometry`; ``None``: the square area resize) + normalise + to
tensor, numerically identical to :func:`auxiliary.models.preprocess.preprocess` with the same spec, so validation,
test and inference see the same pixels. Training augmentation keeps the square area resize whatever the model's
evaluation geometry (the random crops and affine already vary scale and framing more than the centre crop does).

Presets:

* ``geometric``: scale, translate, rotate, shear (one affine), random resized crop, flips.
* ``color``: ``geometric`` plus RGB shift and brightness/contrast. Colour jitter also moves the
  apparent skin tone; prefer ``tone_preserving`` when tone fairness matters.
* ``tone_preserving``: ``geometric`` plus CLAHE on the L* channel of CIELAB with L* shifted back
  to its median (local contrast only, :class:`ToneSafeCLAHE`); no hue, saturation or RGB jitter,
  so the ITA of the skin stays where it was.
* ``none``: no random op (resize + normalise only).

Colour constancy (``train.color_constancy``, part of the model's preprocessing, not of a preset):
``shades_of_gray`` divides each channel by its Minkowski p-norm mean (p = 6), so that every image looks lit by the
same grey light (:func:`shades_of_gray`); it is applied to the image at the model's input size, after the resize
(and crop) and before any random op, in training, validation, test and inference alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.pytorch import ToTensorV2

from auxiliary.base.errors import AuxiliaryError

PRESETS: tuple[str, ...] = ("geometric", "color", "tone_preserving", "strong", "none")
#: Colour constancy a model's preprocessing may apply (``train.color_constancy``).
COLOR_CONSTANCY: tuple[str, ...] = ("none", "shades_of_gray")
#: The Minkowski norm of :func:`shades_of_gray` (Finlayson and Trezzi's p = 6, the ISIC challenges' usual choice).
SHADES_OF_GRAY_POWER = 6


class AugmentError(AuxiliaryError, ValueError):
    """Unknown augmentation preset."""


def _check(preset: str) -> str:
    p = str(preset).strip().lower().replace("-", "_")
    if p == "colour":
        p = "color"
    if p not in PRESETS:
        raise AugmentError(f"unknown augmentation preset {preset!r} (choose from: {', '.join(PRESETS)})")
    return p


class ToneSafeCLAHE(A.ImageOnlyTransform):
    """CLAHE on the L* channel (CIELAB), then L* shifted back to its original median.

    Local contrast is enhanced (texture, lesion borders) while the median L* and b* -- and so
    the ITA skin-tone angle -- stay where they were; a* and b* are never changed. Plain
    ``A.CLAHE`` also equalises L*, which moves a uniform skin patch's ITA by ~10 degrees.
    """

    def __init__(self, clip_limit: tuple[float, float] = (1.0, 2.5), tile_grid_size: tuple[int, int] = (8, 8),
                 p: float = 0.5):
        super().__init__(p=p)
        self.clip_limit = (float(clip_limit[0]), float(clip_limit[1]))
        self.tile_grid_size = (int(tile_grid_size[0]), int(tile_grid_size[1]))

    def get_params(self) -> dict[str, Any]:
        return {"clip": self.py_random.uniform(*self.clip_limit)}

    def apply(self, img: np.ndarray, clip: float = 2.0, **params: Any) -> np.ndarray:
        lab = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2LAB)
        light = lab[..., 0]
        eq = cv2.createCLAHE(clipLimit=float(clip), tileGridSize=self.tile_grid_size).apply(light)
        shift = float(np.median(light)) - float(np.median(eq))
        lab[..., 0] = np.clip(eq.astype(np.int16) + int(round(shift)), 0, 255).astype(np.uint8)
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("clip_limit", "tile_grid_size")


def check_color_constancy(name: str | None) -> str:
    """``name`` as one of :data:`COLOR_CONSTANCY` (``None`` is ``none``); anything else is refused in one line."""
    c = "none" if name is None else str(name).strip().lower().replace("-", "_")
    if c not in COLOR_CONSTANCY:
        raise AugmentError(f"unknown color_constancy {name!r} (choose from: {', '.join(COLOR_CONSTANCY)})")
    return c


def shades_of_gray(rgb: np.ndarray, power: int = SHADES_OF_GRAY_POWER) -> np.ndarray:
    """Shades-of-gray colour constancy (Finlayson and Trezzi, 2004) of an RGB uint8 image, as uint8.

    The light's colour is estimated as each channel's Minkowski ``power``-norm mean (p = 1 is gray-world, p = inf
    max-RGB); each channel is scaled so that this estimate becomes grey with the same length, then rounded and
    clipped to 0-255. An image with no light at all (every pixel black) is returned unchanged.

    Written here because neither albumentations nor OpenCV's main modules have it (OpenCV's gray-world balance is
    p = 1 only and lives in the contrib ``xphoto`` module, which this package does not install).
    """
    img = np.asarray(rgb)
    x = img.astype(np.float64)
    light = np.power(np.mean(np.power(x, power), axis=(0, 1)), 1.0 / power)
    norm = float(np.sqrt(np.sum(light ** 2)))
    if not np.isfinite(norm) or norm <= 0 or np.any(light <= 0):
        return img.copy()
    gain = norm / (light * np.sqrt(3.0))
    return np.clip(np.rint(x * gain), 0, 255).astype(np.uint8)


class ShadesOfGray(A.ImageOnlyTransform):
    """:func:`shades_of_gray` as a deterministic albumentations op (always applied)."""

    def __init__(self, power: int = SHADES_OF_GRAY_POWER, p: float = 1.0):
        super().__init__(p=p)
        self.power = int(power)

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        return shades_of_gray(img, self.power)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("power",)


def color_ops(color_constancy: str | None) -> list[Any]:
    """The colour-constancy op of ``color_constancy`` (none: no op)."""
    return [ShadesOfGray()] if check_color_constancy(color_constancy) == "shades_of_gray" else []


def _geometric(img_size: int) -> list[Any]:
    return [
        A.Affine(
            scale=(0.85, 1.15),
            translate_percent=(-0.06, 0.06),
            rotate=(-25, 25),
            shear=(-8, 8),
            border_mode=cv2.BORDER_REFLECT_101,
            p=0.8,
        ),
        A.RandomResizedCrop(
            size=(img_size, img_size), scale=(0.7, 1.0), ratio=(0.85, 1.18), interpolation=cv2.INTER_AREA, p=0.5
        ),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.25),
    ]


def preset_ops(preset: str, img_size: int) -> list[Any]:
    """The random operations of a preset (no resize, no normalisation)."""
    p = _check(preset)
    if p == "none":
        return []
    ops = _geometric(img_size)
    if p == "color":
        ops += [
            A.RGBShift(r_shift_limit=(-15, 15), g_shift_limit=(-15, 15), b_shift_limit=(-15, 15), p=0.5),
            A.RandomBrightnessContrast(brightness_limit=(-0.15, 0.15), contrast_limit=(-0.15, 0.15), p=0.5),
        ]
    elif p == "tone_preserving":
        ops += [ToneSafeCLAHE(clip_limit=(1.0, 2.5), tile_grid_size=(8, 8), p=0.5)]
    elif p == "strong":  # self-training's: the model must not simply agree with its own pseudo-labels
        ops += [
            A.RGBShift(r_shift_limit=(-20, 20), g_shift_limit=(-20, 20), b_shift_limit=(-20, 20), p=0.6),
            A.RandomBrightnessContrast(brightness_limit=(-0.25, 0.25), contrast_limit=(-0.25, 0.25), p=0.7),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 7)), A.GaussNoise(std_range=(0.02, 0.08)),
                     A.ImageCompression(quality_range=(40, 90))], p=0.5),
            A.CoarseDropout(num_holes_range=(1, 6), hole_height_range=(0.05, 0.15), hole_width_range=(0.05, 0.15),
                            p=0.5),
        ]
    return ops


def _resize(img_size: int) -> Any:
    return A.Resize(img_size, img_size, interpolation=cv2.INTER_AREA)


#: The interpolations an evaluation geometry may name (OpenCV flags; shrinking always uses ``INTER_AREA``).
INTERPOLATIONS = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


def scale_size(img_size: int, crop_pct: float) -> int:
    """The size an image is resized to before the centre crop of ``img_size``: timm's ``floor(img_size / crop_pct)``."""
    return int(img_size) if crop_pct == 1.0 else max(int(img_size), math.floor(int(img_size) / crop_pct))


def is_square_area(geometry: Mapping[str, Any] | None) -> bool:
    """Whether ``geometry`` is the square area resize to ``img_size`` with no colour constancy (``None`` is): the
    transform and the image cache of every model before geometries existed."""
    g = dict(geometry or {})
    return (g.get("resize", "square"), float(g.get("crop_pct", 1.0)), g.get("interpolation", "area"),
            check_color_constancy(g.get("color_constancy"))) == ("square", 1.0, "area", "none")


def fit_ops(img_size: int, geometry: Mapping[str, Any] | None = None) -> list[Any]:
    """The deterministic resize and centre crop that bring any image to ``img_size`` x ``img_size``: ``geometry``
    ``{"resize": "square" | "shorter_side", "crop_pct": c, "interpolation": "area" | "bilinear" | "bicubic"}`` resizes
    the image (squashed to a square, or its shorter side) to ``floor(img_size / c)`` with the interpolation (area
    when shrinking) and crops the centre; ``None`` is the square area resize. ``"color_constancy"`` (when not
    ``none``) adds its op on the fitted image (:func:`color_ops`)."""
    g = dict(geometry or {})
    colour = color_ops(g.get("color_constancy"))
    if is_square_area({**g, "color_constancy": "none"}):
        return [_resize(img_size), *colour]
    scale = scale_size(img_size, float(g.get("crop_pct", 1.0)))
    flag = INTERPOLATIONS[str(g.get("interpolation", "area"))]
    if g.get("resize", "square") == "square":
        resize = A.Resize(scale, scale, interpolation=flag, area_for_downscale="image")
    else:
        resize = A.SmallestMaxSize(max_size=scale, interpolation=flag, area_for_downscale="image")
    return [resize, A.CenterCrop(img_size, img_size), *colour]


def _normalize(mean: Sequence[float], std: Sequence[float]) -> Any:
    return A.Normalize(mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std), max_pixel_value=255.0)


def train_transform(
    preset: str, img_size: int, mean: Sequence[float], std: Sequence[float], seed: int | None = 0,
    color_constancy: str | None = "none",
) -> A.Compose:
    """Resize (area) + the model's colour constancy (:func:`color_ops`) + preset ops + normalise + ``ToTensorV2``;
    ``seed`` fixes the random sequence."""
    ops = [_resize(img_size), *color_ops(color_constancy), *preset_ops(preset, img_size), _normalize(mean, std),
           ToTensorV2()]
    return A.Compose(ops, seed=seed)


def eval_transform(img_size: int, mean: Sequence[float], std: Sequence[float],
                   geometry: Mapping[str, Any] | None = None) -> A.Compose:
    """:func:`fit_ops` (``geometry``; default the square ``INTER_AREA`` resize) + normalise + ``ToTensorV2``: the same
    numbers as :func:`auxiliary.models.preprocess.preprocess` with the spec of that geometry."""
    return A.Compose([*fit_ops(img_size, geometry), _normalize(mean, std), ToTensorV2()], seed=0)


def normalize_transform(mean: Sequence[float], std: Sequence[float]) -> A.Compose:
    """Normalise + ``ToTensorV2`` alone: the evaluation transform of images already fitted to the model's input
    (an evaluation loader's image cache holds them so)."""
    return A.Compose([_normalize(mean, std), ToTensorV2()], seed=0)


def fit_transform(img_size: int, geometry: Mapping[str, Any] | None = None) -> A.Compose:
    """:func:`fit_ops` alone, on uint8 RGB (what an evaluation loader's image cache stores)."""
    return A.Compose(fit_ops(img_size, geometry), seed=0)


def augment_only(preset: str, img_size: int | None = None, seed: int | None = 0) -> A.Compose:
    """The preset's random ops on uint8 RGB (no normalisation), optionally resized first.

    Used for montages and for the offline oversampling copies (written as PNG).
    """
    size = int(img_size) if img_size else 0
    ops = ([_resize(size)] if size else []) + preset_ops(preset, size or 256)
    if not size:  # keep the source size: the crop must not change it
        ops = [o for o in ops if not isinstance(o, A.RandomResizedCrop)]
    return A.Compose(ops, seed=seed)


def augment_image(rgb: np.ndarray, preset: str, seed: int | None = 0) -> np.ndarray:
    """One augmented uint8 copy of ``rgb`` at its own size (``RandomResizedCrop`` uses that size)."""
    img = np.ascontiguousarray(rgb)
    h, w = img.shape[:2]
    ops = preset_ops(preset, max(h, w))
    for i, op in enumerate(ops):
        if isinstance(op, A.RandomResizedCrop):
            ops[i] = A.RandomResizedCrop(
                size=(h, w), scale=(0.7, 1.0), ratio=(0.85, 1.18), interpolation=cv2.INTER_AREA, p=0.5
            )
    return A.Compose(ops, seed=seed)(image=img)["image"]
