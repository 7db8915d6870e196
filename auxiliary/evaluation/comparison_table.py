"""The tables that compare models: the long (model, split, group, metric) table and the selection table's columns.

:func:`metric_rows` and :func:`to_frame` build the comparison of notebook 05 from prediction arrays
(:mod:`auxiliary.steps.comparison` writes it and describes its rows); :data:`METRIC_COLUMNS`,
:func:`metric_column` and :data:`TABLE_COLUMNS` name the columns of the model-selection table of
notebook 03 (:mod:`auxiliary.steps.selection`); :func:`most_confident_mistakes`,
:func:`low_confidence_rows` and :func:`sample_rows` pick the rows the galleries show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.errors import AuxiliaryError
from auxiliary.evaluation.fairness import gaps, group_metrics
from auxiliary.evaluation.metrics import per_class_metrics, summary_metrics


class SelectionError(AuxiliaryError):
    """Model selection cannot run or produced nothing usable (one line)."""


#: select_metric spelling -> table column, and whether higher is better.
METRIC_COLUMNS: dict[str, tuple[str, bool]] = {
    "val_balanced_acc": ("val_balanced_acc", True),
    "val_macro_auroc": ("val_macro_auroc", True),
    "val_macro_f1": ("val_macro_f1", True),
    "val_acc": ("val_acc", True),
    "val_ece": ("val_ece", False),
    "val_log_loss": ("val_log_loss", False),
    "params": ("params", False),
    "train_seconds": ("train_seconds", False),
    "train_img_per_s": ("train_img_per_s", True),
    "infer_img_per_s": ("infer_img_per_s", True),
}


#: Other accepted spellings of the selection metric.
METRIC_ALIASES: dict[str, str] = {
    "balanced_acc": "val_balanced_acc",
    "balanced_accuracy": "val_balanced_acc",
    "val_balanced_accuracy": "val_balanced_acc",
    "macro_auroc": "val_macro_auroc",
    "auroc": "val_macro_auroc",
    "val_auroc": "val_macro_auroc",
    "macro_f1": "val_macro_f1",
    "accuracy": "val_acc",
    "acc": "val_acc",
    "val_accuracy": "val_acc",
    "ece": "val_ece",
    "log_loss": "val_log_loss",
    "val_loss": "val_log_loss",
    "parameters": "params",
    "training_time": "train_seconds",
    "images_per_second": "train_img_per_s",
}


TABLE_COLUMNS = (
    "model", "val_balanced_acc", "val_macro_auroc", "val_ece", "val_macro_f1", "val_acc", "val_log_loss",
    "params", "train_seconds", "train_img_per_s", "infer_img_per_s", "train_device", "infer_device", "epochs", "n_val",
    "reused", "run_dir", "error",
)


def metric_column(name: str) -> tuple[str, bool]:
    """``(table column, higher_is_better)`` of a selection metric name; one-line error when unknown."""
    key = str(name).strip().lower().replace("-", "_")
    key = METRIC_ALIASES.get(key, key)
    if key not in METRIC_COLUMNS:
        raise SelectionError(
            f"unknown select_metric {name!r} (choose from: {', '.join(METRIC_COLUMNS)})"
        )
    return METRIC_COLUMNS[key]


def ok_rows(table: pd.DataFrame) -> pd.Series:
    """Rows without an error (the error column may come back from CSV as all-NaN floats)."""
    if "error" not in table:
        return pd.Series(True, index=table.index)
    err = table["error"].astype(object)
    return err.isna() | (err.astype(str).str.strip() == "")


LEVELS = ("model", "split", "group", "metric")


SIZE_METRICS = ("parameters", "checkpoint_mb", "onnx_mb")


SPEED_METRICS = ("torch_ms_per_image_b1", "torch_images_per_s_b32", "onnx_ms_per_image_b1", "onnx_images_per_s_b32")


GAP_STATS = ("gap", "ratio", "min", "max")


class CompareError(AuxiliaryError, ValueError):
    """Bad runs or data given to the comparison (missing checkpoint, labels the models do not know...)."""


# ----------------------------------------------------------------------------- rows
def metric_row(rows: list[dict[str, Any]], model: str, split: str, group: str, metric: str, value: Any) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    rows.append({"model": model, "split": split, "group": group, "metric": metric, "value": v})


def metric_rows(
    model: str,
    split: str,
    y: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    groups: Sequence[Any] | None,
    fairness_col: str,
    min_group_size: int,
    n_bins: int = 15,
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Tidy rows of summary, per-class, per-group and gap metrics; plus the gaps' worst groups."""
    rows: list[dict[str, Any]] = []
    keep = np.all(np.isfinite(probs), axis=1)
    metric_row(rows, model, split, "all", "n_images", int(keep.sum()))
    metric_row(rows, model, split, "all", "n_unreadable", int((~keep).sum()))
    for k, v in summary_metrics(y[keep], probs[keep], classes, n_bins=n_bins).items():
        metric_row(rows, model, split, "all", k, v)
    per = per_class_metrics(y[keep], probs[keep], classes)
    for cls, r in per.iterrows():
        for k, v in r.items():
            metric_row(rows, model, split, f"class:{cls}", str(k), v)
    worst = pd.DataFrame(columns=["model", "split", "metric", "worst_group", "best_group", "excluded"])
    if groups is not None:
        g = np.asarray(pd.Series(list(groups), dtype="object"), dtype=object)[keep]
        gm = group_metrics(y[keep], probs[keep], classes, g, min_group_size=min_group_size, n_bins=n_bins)
        for grp, r in gm.iterrows():
            for k, v in r.items():
                metric_row(rows, model, split, f"{fairness_col}:{grp}", str(k), float(v))
        gp = gaps(gm)
        for metric, r in gp.iterrows():
            for stat in GAP_STATS:
                metric_row(rows, model, split, f"{stat}:{fairness_col}", str(metric), r[stat])
        worst = pd.DataFrame(
            {
                "model": model,
                "split": split,
                "metric": gp.index.astype(str),
                "worst_group": gp["worst_group"].to_numpy(),
                "best_group": gp["best_group"].to_numpy(),
                "excluded": gp["excluded"].to_numpy(),
            }
        )
    return rows, worst


def to_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy rows -> the comparison DataFrame (MultiIndex model, split, group, metric; column value), sorted."""
    df = pd.DataFrame(list(rows), columns=[*LEVELS, "value"])
    df["value"] = df["value"].astype(float)
    return df.set_index(list(LEVELS)).sort_index()


# ----------------------------------------------------------------------------- error analysis
def _per_class_top(df: pd.DataFrame, n: int, ascending: bool, by: str = "label") -> pd.DataFrame:
    if df.empty:
        return df
    df = df.sort_values("conf", ascending=ascending, kind="stable")
    return df.groupby(by, sort=True, group_keys=False).head(n)


def most_confident_mistakes(pred: pd.DataFrame, n: int = 8, per_class: bool = True) -> pd.DataFrame:
    """Wrong predictions with the highest confidence (``n`` per true class, or ``n`` overall)."""
    wrong = pred[(~pred["correct"]) & pred["conf"].notna()]
    if per_class:
        return _per_class_top(wrong, n, ascending=False)
    return wrong.sort_values("conf", ascending=False, kind="stable").head(n)


def low_confidence_rows(pred: pd.DataFrame, conf: float = 0.6, n: int = 8, per_class: bool = True) -> pd.DataFrame:
    """The ``low_confidence`` band: top probability below ``conf`` (the sorting threshold),
    least confident first (``n`` per true class, or ``n`` overall)."""
    band = pred[pred["conf"] < conf]
    if per_class:
        return _per_class_top(band, n, ascending=True)
    return band.sort_values("conf", ascending=True, kind="stable").head(n)


def sample_rows(pred: pd.DataFrame, n: int = 8, seed: int = 0) -> pd.DataFrame:
    """``n`` images spread over the true classes (round robin), reproducibly."""
    per = max(1, math.ceil(n / max(1, pred["label"].nunique())))
    shuffled = pred.sample(frac=1.0, random_state=seed)
    return shuffled.groupby("label", sort=True).head(per).sort_values("label", kind="stable").head(n)
