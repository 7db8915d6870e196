"""Measuring a trained model for the comparison: its predictions with and without flip TTA, its size and its speed on PyTorch and ONNX Runtime, as rows of the comparison table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from auxiliary.base.images import ImageReadError, read_image
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


def predict_plain_and_tta(
    predictor: Any, paths_: Sequence[str], tta: bool = False, batch_size: int = 32, progress: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Calibrated probabilities without and (if ``tta``) with flip TTA, reading each image once.

    Same numbers as ``predictor.predict_paths(paths, tta=False/True)``; unreadable images get NaN rows.
    """

    n, c = len(paths_), len(predictor.classes)
    plain = np.full((n, c), np.nan)
    flipped = np.full((n, c), np.nan) if tta else None
    bar = tqdm(total=n, desc=f"predict {predictor.name}", unit="img", disable=not progress)
    for chunk in batched(range(n), batch_size):
        ok, arrays = [], []
        for i in chunk:
            try:
                arrays.append(preprocess(read_image(paths_[i]), predictor.img_size, predictor.mean, predictor.std))
                ok.append(i)
            except ImageReadError:
                pass
        if arrays:
            batch = np.stack(arrays)
            views = tta_views(batch) if tta else [batch]
            probs = [predictor.probabilities(predictor.logits(np.ascontiguousarray(v))) for v in views]
            plain[ok] = probs[0]
            if tta:
                flipped[ok] = np.mean(probs, axis=0)
        bar.update(len(chunk))
    bar.close()
    return plain, flipped


def prediction_table(
    table: pd.DataFrame, probs: np.ndarray, classes: Sequence[str], fairness_col: str | None = None
) -> pd.DataFrame:
    """One row per image: path, label, group column, pred, conf (top probability), correct, prob_<class>..."""
    out = pd.DataFrame({"path": table["path"].astype(str).to_numpy(), "label": table["label"].astype(str).to_numpy()})
    if fairness_col and fairness_col in table.columns:
        out[fairness_col] = table[fairness_col].to_numpy()
    ok = np.all(np.isfinite(probs), axis=1)
    idx = np.where(ok, np.nan_to_num(probs, nan=-1.0).argmax(axis=1), -1)
    out["pred"] = [classes[i] if i >= 0 else "" for i in idx]
    out["conf"] = np.where(ok, np.nan_to_num(probs, nan=0.0).max(axis=1), np.nan)
    out["correct"] = ok & (out["pred"] == out["label"]).to_numpy()
    for k, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, k]
    return out
