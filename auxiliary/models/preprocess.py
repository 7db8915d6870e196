"""How an image becomes a model input: the model's preprocessing spec, resize/crop, normalise, flip views, batches.

A :class:`Preprocessing` is decided once, when a model is built for training
(:func:`auxiliary.models.factory.model_preprocessing`), and recorded in its checkpoint (``preprocessing``):

* a model that starts from pretrained weights gets timm's data config of the model (``resolve_data_config``): its
  shorter side resized to ``floor(img_size / crop_pct)`` with the model's interpolation, then the centre
  ``img_size`` square cropped (timm's evaluation transform: what the weights were trained and tested with), and the
  model's mean/std (fine-tuning one of this package's checkpoints further keeps that checkpoint's spec);
* a model trained from scratch, and every checkpoint that records no ``preprocessing`` (written before it existed),
  keeps the square area resize to ``img_size`` x ``img_size`` (:meth:`Preprocessing.of`: nothing re-interprets an
  old checkpoint).

:func:`preprocess` applies a spec; it is the one path of prediction, sorting, evaluation, the export's parity check,
Grad-CAM, the web demo and ``predict``. The validation and test loaders of training apply the same spec with
albumentations (:func:`auxiliary.data.augment.eval_transform`, ``geometry``), so that the epoch and the temperature
are chosen on the pixels the model later sees; the tests hold both to the same numbers.

Interpolation: ``bicubic`` and ``bilinear`` are OpenCV's when an image is enlarged and ``INTER_AREA`` when it is
shrunk, as albumentations' ``area_for_downscale="image"``: timm resizes with PIL, whose bicubic and bilinear filters
average over the source pixels when shrinking, which OpenCV's do not (they alias); ``area`` is ``INTER_AREA`` both
ways.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from auxiliary.base.errors import AuxiliaryError
from auxiliary.data.augment import INTERPOLATIONS, AugmentError, check_color_constancy, scale_size, shades_of_gray

#: How the image reaches ``scale_size`` before the centre crop: squashed to a square, or its shorter side.
RESIZES = ("square", "shorter_side")


class PreprocessingError(AuxiliaryError, ValueError):
    """A preprocessing spec that this package cannot apply (an unknown resize or interpolation, a bad crop)."""


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB image becomes a ``(3, img_size, img_size)`` input: resize to ``scale_size`` (``resize`` says how),
    crop the centre ``img_size`` square, colour constancy (``color_constancy``: ``none`` or ``shades_of_gray``,
    :func:`auxiliary.data.augment.shades_of_gray`), ``x / 255``, then ``(x - mean) / std``.

    ``Preprocessing(img_size, mean, std)`` is the square area resize that every model used before specs existed.
    """

    img_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = "square"
    crop_pct: float = 1.0
    interpolation: str = "area"
    color_constancy: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "img_size", int(self.img_size))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "crop_pct", float(self.crop_pct))
        try:
            object.__setattr__(self, "color_constancy", check_color_constancy(self.color_constancy))
        except AugmentError as exc:
            raise PreprocessingError(str(exc)) from None
        if self.resize not in RESIZES:
            raise PreprocessingError(f"unknown resize {self.resize!r} (one of: {', '.join(RESIZES)})")
        if self.interpolation not in INTERPOLATIONS:
            raise PreprocessingError(f"unknown interpolation {self.interpolation!r} "
                                     f"(one of: {', '.join(INTERPOLATIONS)})")
        if not (0.0 < self.crop_pct <= 1.0) or not math.isfinite(self.crop_pct):
            raise PreprocessingError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if self.img_size < 1 or len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise PreprocessingError(f"a preprocessing needs img_size >= 1 and three means and positive stds, got "
                                     f"{self.img_size}, {list(self.mean)}, {list(self.std)}")

    @classmethod
    def of(cls, info: Mapping[str, Any]) -> Preprocessing:
        """The spec of a checkpoint's entries (or an ONNX file's metadata): its ``preprocessing`` entry with its
        ``img_size``; without that entry (a checkpoint written before it existed), the square area resize with the
        recorded ``mean``/``std``."""
        entry = info.get("preprocessing")
        if not isinstance(entry, Mapping):
            return cls(info["img_size"], info["mean"], info["std"])
        return cls(info["img_size"], entry.get("mean", info["mean"]), entry.get("std", info["std"]),
                   resize=str(entry.get("resize", "square")), crop_pct=float(entry.get("crop_pct", 1.0)),
                   interpolation=str(entry.get("interpolation", "area")),
                   color_constancy=str(entry.get("color_constancy", "none")))

    def entry(self) -> dict[str, Any]:
        """What a checkpoint records under ``preprocessing`` (plain values: ``weights_only`` loads them; the
        ``img_size`` is its own entry)."""
        return {"resize": self.resize, "crop_pct": self.crop_pct, "interpolation": self.interpolation,
                "mean": list(self.mean), "std": list(self.std), "color_constancy": self.color_constancy}

    def geometry(self) -> dict[str, Any]:
        """The resize, crop and colour constancy (named only when not ``none``: the image caches of earlier versions
        stay valid), as the data loaders take them (``build_loader(geometry=...)``)."""
        g = {"resize": self.resize, "crop_pct": self.crop_pct, "interpolation": self.interpolation}
        return g if self.color_constancy == "none" else {**g, "color_constancy": self.color_constancy}

    def as_dict(self) -> dict[str, Any]:
        """Every field, ``Preprocessing(**d)`` rebuilds it."""
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @property
    def scale_size(self) -> int:
        """The size the image is resized to before the crop: timm's ``floor(img_size / crop_pct)``."""
        return scale_size(self.img_size, self.crop_pct)

    def resized_shape(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` of an image of ``height`` x ``width`` after the resize, before the crop (albumentations'
        rounding, so that loaders and :func:`preprocess` agree to the pixel)."""
        if self.resize == "square":
            return self.scale_size, self.scale_size
        s = self.scale_size / min(height, width)
        return max(1, round(height * s)), max(1, round(width * s))

    def source_box(self, height: int, width: int) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)``: the part of a ``height`` x ``width`` image that the model's input shows, in that
        image's pixels (the whole image for the square resize; the centre crop's region otherwise). Grad-CAM puts
        its map back there."""
        nh, nw = self.resized_shape(height, width)
        y0, x0 = (nh - self.img_size) // 2, (nw - self.img_size) // 2
        sy, sx = height / nh, width / nw
        return x0 * sx, y0 * sy, (x0 + self.img_size) * sx, (y0 + self.img_size) * sy

    def describe(self) -> str:
        """One line saying what the spec does (an ONNX file's ``resize`` metadata)."""
        colour = "" if self.color_constancy == "none" else ", then shades-of-gray colour constancy (p 6)"
        if self.resize == "square" and self.crop_pct == 1.0 and self.interpolation == "area":
            return "cv2.INTER_AREA to img_size x img_size" + colour
        how = "the whole image to a square" if self.resize == "square" else "the shorter side"
        return (f"{how} to {self.scale_size} px ({self.interpolation}; cv2.INTER_AREA when shrinking), then the centre "
                f"{self.img_size} x {self.img_size} crop (crop_pct {self.crop_pct:g})" + colour)


def fit_image(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> uint8 (img_size, img_size, 3): ``spec``'s resize, centre crop and colour constancy (no
    normalisation).

    The same pixels as the loaders' albumentations ops (``Resize`` / ``SmallestMaxSize`` with
    ``area_for_downscale="image"``, then ``CenterCrop``, then :class:`~auxiliary.data.augment.ShadesOfGray` when the
    spec names it); an image already at the resized shape is not resampled.
    """
    img = np.asarray(rgb)
    h, w = img.shape[:2]
    nh, nw = spec.resized_shape(h, w)
    if (nh, nw) != (h, w):
        shrink = (nh < h or nw < w) if spec.resize == "square" else spec.scale_size < min(h, w)
        flag = cv2.INTER_AREA if shrink else INTERPOLATIONS[spec.interpolation]
        img = cv2.resize(img, (nw, nh), interpolation=flag)
    y0, x0 = (nh - spec.img_size) // 2, (nw - spec.img_size) // 2
    img = img[y0:y0 + spec.img_size, x0:x0 + spec.img_size]
    return shades_of_gray(img) if spec.color_constancy == "shades_of_gray" else img


def preprocess(rgb: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (3, img_size, img_size): resized and cropped as ``spec`` says, normalised.

    The same numbers as the evaluation transform of :mod:`auxiliary.data.augment` with ``spec.geometry()`` (what the
    validation and test loaders of training use), so predictions match validation.
    """
    x = fit_image(rgb, spec).astype(np.float32) / 255.0
    x = (x - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def tta_views(batch: np.ndarray) -> list[np.ndarray]:
    """Flip views used by test-time augmentation: identity, horizontal, vertical, both."""
    return [batch, batch[..., ::-1], batch[..., ::-1, :], batch[..., ::-1, ::-1]]


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    buf: list[Any] = []
    for it in items:
        buf.append(it)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf

