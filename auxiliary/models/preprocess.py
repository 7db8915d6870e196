"""How an image becomes a model input: resize, normalise, flip views for TTA, batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np


def preprocess(rgb: np.ndarray, img_size: int, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (3, img_size, img_size), area-resized and normalised.

    Identical to the evaluation transform of :mod:`auxiliary.data.augment` (``A.Resize`` with
    ``INTER_AREA`` then ``A.Normalize``), so predictions match validation.
    """
    img = np.asarray(rgb)
    if img.shape[0] != img_size or img.shape[1] != img_size:
        img = cv2.resize(img, (img_size, img_size), interpolation=cv2.INTER_AREA)
    x = img.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
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
