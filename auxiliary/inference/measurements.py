"""Measuring a trained model: the raw logits of image files (and of their flip views), its predictions with and without flip TTA, its size and its speed on PyTorch and ONNX Runtime, as rows of the comparison table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.progress import progress_bar
from auxiliary.evaluation.comparison_table import (
    metric_row,
)
from auxiliary.inference.backends import onnx_logits_fn, speed, torch_logits_fn
from auxiliary.models.factory import count_parameters
from auxiliary.models.preprocess import batched, preprocess, tta_views


def size_rows(model_label: str, split: str, model: Any, ckpt: Path, onnx_path: Path | None) -> list[dict[str, Any]]:
    """Parameters and MB on disk (10^6 bytes) of the checkpoint and the ONNX file."""
    rows: list[dict[str, Any]] = []
    metric_row(rows, model_label, split, "all", "parameters", count_parameters(model))
    metric_row(rows, model_label, split, "all", "checkpoint_mb", ckpt.stat().st_size / 1e6)
    metric_row(rows, model_label, split, "all", "onnx_mb", onnx_path.stat().st_size / 1e6 if onnx_path else math.nan)
    return rows


def speed_rows(
    model_label: str, split: str, model: Any, sess: Any, img_size: int, repeats: int
) -> list[dict[str, Any]]:
    """ms/image at batch 1 and images/s at batch 32, PyTorch eager and ONNX Runtime (median of repeats)."""
    rows: list[dict[str, Any]] = []
    backends = [("torch", torch_logits_fn(model))]
    if sess is not None:
        backends.append(("onnx", onnx_logits_fn(sess)))
    for name, fn in backends:
        b1 = speed(fn, img_size, 1, repeats=repeats)
        b32 = speed(fn, img_size, 32, repeats=repeats)
        metric_row(rows, model_label, split, "all", f"{name}_ms_per_image_b1", b1["ms_per_image"])
        metric_row(rows, model_label, split, "all", f"{name}_images_per_s_b32", b32["images_per_s"])
    if sess is None:
        metric_row(rows, model_label, split, "all", "onnx_ms_per_image_b1", math.nan)
        metric_row(rows, model_label, split, "all", "onnx_images_per_s_b32", math.nan)
    return rows


def view_logits(
    predictor: Any, paths_: Sequence[str], batch_size: int = 32, tta: bool = False, progress: bool = True
) -> tuple[np.ndarray, dict[int, str]]:
    """Raw logits of image files, reading each image once: (1, n, C), or with ``tta`` (4, n, C), one slice per flip
    view (:func:`auxiliary.models.preprocess.tta_views`, the plain image first). An unreadable image gets NaN rows
    and its reason in the dict. Raw, so that any calibration can be applied afterwards
    (``predictor.task.probabilities(logits, calibration)``): the checkpoint's, or one refitted on validation."""
    n, c = len(paths_), len(predictor.classes)
    out = np.full((4 if tta else 1, n, c), np.nan)
    errors: dict[int, str] = {}
    bar = progress_bar(total=n, desc=f"predict {predictor.name}", unit="img", disable=not progress)
    for chunk in batched(range(n), batch_size):
        ok, arrays = [], []
        for i in chunk:
            try:
                arrays.append(preprocess(read_image(paths_[i]), predictor.preprocessing))
                ok.append(i)
            except ImageReadError as exc:
                errors[i] = exc.reason
        if arrays:
            batch = np.stack(arrays)
            for v, view in enumerate(tta_views(batch) if tta else [batch]):
                out[v, ok] = predictor.logits(np.ascontiguousarray(view))
        bar.update(len(chunk))
    bar.close()
    return out, errors


def view_probabilities(task: Any, views: np.ndarray, calibration: Any) -> np.ndarray:
    """Calibrated probabilities of :func:`view_logits`' views, averaged over the views (flip TTA when several)."""
    return np.mean([task.probabilities(v, calibration) for v in views], axis=0)


def predict_plain_and_tta(
    predictor: Any, paths_: Sequence[str], tta: bool = False, batch_size: int = 32, progress: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Calibrated probabilities without and (if ``tta``) with flip TTA, reading each image once.

    Same numbers as ``predictor.predict_paths(paths, tta=False/True)``; unreadable images get NaN rows.
    """
    views, _ = view_logits(predictor, paths_, batch_size, tta, progress)
    plain = predictor.probabilities(views[0])
    return plain, (view_probabilities(predictor.task, views, predictor.info) if tta else None)
