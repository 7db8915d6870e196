"""Multi-label metrics from arrays: ``Y`` (n, L) 0/1 truths and ``P`` (n, L) per-label probabilities.

* :func:`per_label_metrics` - per label: support, prevalence, AUROC, average precision, the
  threshold, precision / recall / F1 of ``P >= threshold``, and the best precision at a recall of
  at least ``target_recall`` (0.9 by default).
* :func:`multilabel_summary` - macro (mean over labels where defined) and micro (all (row,
  label) pairs pooled) AUROC, average precision and F1, subset accuracy (every label of a row
  right) and Hamming loss (share of wrong (row, label) decisions).

Thresholds (``thresholds``): one number for every label, one per label (sequence, or a mapping
label -> threshold), default 0.5; per-row thresholds (n, L), e.g. per tone group, come from
:func:`auxiliary.evaluation.multilabel_thresholds.LabelThresholds.for_rows`.

Conventions as in :mod:`auxiliary.evaluation.metrics`: undefined is ``NaN``, never 0 - AUROC
and AP without positives (AUROC also without negatives), recall and F1 without positives,
precision with nothing flagged; macro averages skip NaN. Rows whose probabilities hold NaN are
left out. scikit-learn does the arithmetic of AUROC, AP and the PR curve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from auxiliary.evaluation.arrays import MetricsInputError

MULTILABEL_SUMMARY_KEYS = (
    "macro_auroc", "micro_auroc", "macro_ap", "micro_ap", "macro_f1", "micro_f1", "micro_precision",
    "micro_recall", "macro_precision_at_recall", "subset_accuracy", "hamming_loss",
)


# ----------------------------------------------------------------------------- inputs
def multilabel_arrays(Y: Any, P: Any, labels: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Checked (Y int 0/1, P float) with rows holding a non-finite probability removed."""
    y = np.asarray(Y, dtype=np.float64)
    p = np.asarray(P, dtype=np.float64)
    if y.ndim != 2 or p.ndim != 2 or y.shape != p.shape:
        raise MetricsInputError(f"labels {y.shape} and probabilities {p.shape} must both be (n, L) arrays")
    if labels is not None and len(labels) != p.shape[1]:
        raise MetricsInputError(f"probabilities have {p.shape[1]} columns but there are {len(labels)} labels")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise MetricsInputError("multi-label truths must be 0/1")
    keep = np.all(np.isfinite(p), axis=1)
    return y[keep].astype(np.int64), p[keep]


def threshold_matrix(thresholds: Any, labels: Sequence[str], n: int) -> np.ndarray:
    """Thresholds as an (n, L) array: from a number, a per-label sequence or mapping, or an (n, L) array."""
    L = len(labels)
    if isinstance(thresholds, Mapping):
        missing = [lab for lab in labels if lab not in thresholds]
        if missing:
            raise MetricsInputError(f"no threshold for labels {missing}")
        t = np.asarray([float(thresholds[lab]) for lab in labels])
    else:
        t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(L, float(t))
    if t.ndim == 1:
        if len(t) != L:
            raise MetricsInputError(f"{len(t)} thresholds for {L} labels")
        t = np.broadcast_to(t, (n, L))
    if t.shape != (n, L):
        raise MetricsInputError(f"thresholds of shape {t.shape} do not fit {n} rows and {L} labels")
    return np.asarray(t, dtype=np.float64)


def prepared(Y: Any, P: Any, labels: Sequence[str], thresholds: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Y, P, thresholds (n, L)) with the rows holding a non-finite probability removed from all three."""
    y, p = multilabel_arrays(Y, P, labels)
    p_all = np.asarray(P, dtype=np.float64)
    keep = np.all(np.isfinite(p_all), axis=1)
    return y, p, threshold_matrix(thresholds, labels, len(p_all))[keep]


def decisions(P: Any, thresholds: Any = 0.5, labels: Sequence[str] | None = None) -> np.ndarray:
    """Boolean (n, L): ``P >= threshold`` per label (NaN probabilities are never positive)."""
    p = np.asarray(P, dtype=np.float64)
    names = list(labels) if labels is not None else [str(j) for j in range(p.shape[1])]
    return np.nan_to_num(p, nan=-np.inf) >= threshold_matrix(thresholds, names, len(p))


# ----------------------------------------------------------------------------- scores
def label_auroc(y: np.ndarray, p: np.ndarray) -> float:
    """AUROC of one label (NaN without positives or without negatives)."""
    if y.size == 0 or y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, p))


def label_average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision of one label (NaN without positives)."""
    if y.size == 0 or not y.any():
        return math.nan
    return float(average_precision_score(y, p))


def precision_at_recall(y: np.ndarray, p: np.ndarray, target_recall: float = 0.9) -> float:
    """Best precision among thresholds whose recall is at least ``target_recall`` (NaN without positives)."""
    if y.size == 0 or not y.any():
        return math.nan
    prec, rec, _ = precision_recall_curve(y, p)
    ok = rec >= float(target_recall) - 1e-12
    return float(prec[ok].max())


def f1_counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    """precision, recall, F1 from counts (NaN where undefined: recall and F1 without positives)."""
    prec = tp / (tp + fp) if tp + fp else math.nan
    rec = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fn else math.nan
    return {"precision": prec, "recall": rec, "f1": f1}


def per_label_metrics(
    Y: Any, P: Any, labels: Sequence[str], thresholds: Any = 0.5, target_recall: float = 0.9
) -> pd.DataFrame:
    """One row per label (index ``label``): support, prevalence, auroc, average_precision,
    threshold (mean over rows when per-row), precision, recall, f1, precision_at_recall."""
    y, p, t = prepared(Y, P, labels, thresholds)
    flag = p >= t
    rows = []
    for j, name in enumerate(labels):
        yj, fj = y[:, j].astype(bool), flag[:, j]
        counts = f1_counts(int((yj & fj).sum()), int((~yj & fj).sum()), int((yj & ~fj).sum()))
        rows.append({
            "label": str(name),
            "support": int(yj.sum()),
            "prevalence": float(yj.mean()) if len(yj) else math.nan,
            "auroc": label_auroc(yj, p[:, j]),
            "average_precision": label_average_precision(yj, p[:, j]),
            "threshold": _column_threshold(t[:, j]),
            **counts,
            "precision_at_recall": precision_at_recall(yj, p[:, j], target_recall),
        })
    df = pd.DataFrame(rows).set_index("label")
    df.attrs["target_recall"] = float(target_recall)
    return df


def _column_threshold(t: np.ndarray) -> float:
    """The threshold of one label: itself when every row shares it, else the mean over rows."""
    if not len(t):
        return math.nan
    return float(t[0]) if np.all(t == t[0]) else float(t.mean())


def _nanmean(values: Any) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else math.nan


def multilabel_summary(
    Y: Any, P: Any, labels: Sequence[str], thresholds: Any = 0.5, target_recall: float = 0.9
) -> dict[str, float]:
    """Macro and micro AUROC / AP / F1, micro precision and recall, macro precision at
    ``target_recall``, subset accuracy and Hamming loss (keys :data:`MULTILABEL_SUMMARY_KEYS`, plus ``n``)."""
    y, p, t = prepared(Y, P, labels, thresholds)
    if len(y) == 0:
        return {**{k: math.nan for k in MULTILABEL_SUMMARY_KEYS}, "n": 0}
    per = per_label_metrics(Y, P, labels, thresholds, target_recall)
    flag = p >= t
    yb = y.astype(bool)
    micro = f1_counts(int((yb & flag).sum()), int((~yb & flag).sum()), int((yb & ~flag).sum()))
    return {
        "macro_auroc": _nanmean(per["auroc"]),
        "micro_auroc": label_auroc(yb.ravel(), p.ravel()),
        "macro_ap": _nanmean(per["average_precision"]),
        "micro_ap": label_average_precision(yb.ravel(), p.ravel()),
        "macro_f1": _nanmean(per["f1"]),
        "micro_f1": micro["f1"],
        "micro_precision": micro["precision"],
        "micro_recall": micro["recall"],
        "macro_precision_at_recall": _nanmean(per["precision_at_recall"]),
        "subset_accuracy": float(np.all(flag == yb, axis=1).mean()),
        "hamming_loss": float((flag != yb).mean()),
        "n": int(len(y)),
    }
