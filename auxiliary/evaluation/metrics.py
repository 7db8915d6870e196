"""Metrics a clinician would ask for, computed from predicted probabilities: one class per image, or several labels.

One class per image: every function takes integer labels ``y_true`` (index into ``classes``) and probabilities
``probs`` of shape (N, C) and returns plain floats or tidy pandas objects. scikit-learn does
the arithmetic wherever it has the function. Rows whose probabilities contain NaN (unreadable
images, see :meth:`auxiliary.inference.predictor.Predictor.predict_paths`) or whose label is
negative (unknown) are left out (:func:`auxiliary.evaluation.arrays.as_arrays`).

Conventions for undefined values: a metric that cannot be computed (no sample, a class absent
so its recall or AUROC has no meaning) is ``NaN``, never a silent 0. Macro averages run over
the classes where the per-class value is defined: balanced accuracy and macro AUROC over the
classes present in ``y_true``; macro-F1 over the classes present in ``y_true`` or predicted
(a class predicted but never true scores F1 = 0), as scikit-learn does by default.

Several labels per image (``Y`` (n, L) 0/1 truths and ``P`` (n, L) per-label probabilities):

* :func:`per_label_metrics` - per label: support, prevalence, AUROC, average precision, the threshold,
  precision / recall / F1 of ``P >= threshold``, and the best precision at a recall of at least
  ``target_recall`` (0.9 by default);
* :func:`multilabel_summary` - macro (mean over labels where defined) and micro (all (row, label) pairs pooled)
  AUROC, average precision and F1, subset accuracy (every label of a row right) and Hamming loss (share of
  wrong (row, label) decisions).

Their thresholds are one number for every label, one per label (sequence, or a mapping label -> threshold),
default 0.5, or per row (n, L), e.g. per tone group
(:meth:`auxiliary.evaluation.thresholds.LabelThresholds.for_rows`). The same conventions hold: AUROC and AP are
NaN without positives (AUROC also without negatives), recall and F1 without positives, precision with nothing
flagged; macro averages skip NaN. AUROC and AP of one column of scores are :func:`label_auroc` and
:func:`label_average_precision`, for a class (one vs rest) as for a label.

Elsewhere: calibration (ECE, reliability tables, temperature scaling, per-label ECE) in
:mod:`auxiliary.evaluation.calibration`; decision thresholds in
:mod:`auxiliary.evaluation.thresholds`; the high-recall operating point in
:mod:`auxiliary.evaluation.operating_point`; metrics by group in :mod:`auxiliary.evaluation.fairness`;
the figures in :mod:`auxiliary.viz.plots_evaluation`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from auxiliary.evaluation.arrays import MetricsInputError, as_arrays, prepared
from auxiliary.evaluation.calibration import expected_calibration_error, log_loss

SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auroc", "ece", "log_loss")


#: Metrics where lower is better (everything else: higher is better).
LOWER_IS_BETTER = frozenset({"ece", "log_loss", "brier"})


MULTILABEL_SUMMARY_KEYS = (
    "macro_auroc", "micro_auroc", "macro_ap", "micro_ap", "macro_f1", "micro_f1", "micro_precision",
    "micro_recall", "macro_precision_at_recall", "subset_accuracy", "hamming_loss",
)


# ----------------------------------------------------------------------------- scores of one column
def label_auroc(y: np.ndarray, p: np.ndarray) -> float:
    """AUROC of one column of scores against 0/1 truths (NaN without positives or without negatives)."""
    if y.size == 0 or y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, p))


def label_average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision of one column of scores against 0/1 truths (NaN without positives)."""
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


# ----------------------------------------------------------------------------- one class per image


def per_class_auroc(y_true: Any, probs: Any, classes: Sequence[str]) -> pd.Series:
    """One-vs-rest AUROC of each class (NaN when the class is absent or is every sample)."""
    y, p = as_arrays(y_true, probs, len(classes))
    return pd.Series([label_auroc(y == k, p[:, k]) for k in range(len(classes))], index=list(classes), name="auroc")


def summary_metrics(y_true: Any, probs: Any, classes: Sequence[str], n_bins: int = 15) -> dict[str, float]:
    """accuracy, balanced_accuracy, macro_f1, macro_auroc, ece, log_loss (NaN where undefined).

    >>> summary_metrics([0, 1], [[0.9, 0.1], [0.2, 0.8]], ["a", "b"])["accuracy"]
    1.0
    """
    y, p = as_arrays(y_true, probs, len(classes))
    if len(y) == 0:
        return {k: math.nan for k in SUMMARY_KEYS}
    pred = p.argmax(axis=1)
    present = np.unique(y)
    recalls = [float(np.mean(pred[y == k] == k)) for k in present]
    labels_f1 = np.union1d(present, np.unique(pred))
    aurocs = [label_auroc(y == k, p[:, k]) for k in present]
    aurocs = [a for a in aurocs if not math.isnan(a)]
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(np.mean(recalls)),
        "macro_f1": float(f1_score(y, pred, labels=labels_f1, average="macro", zero_division=0)),
        "macro_auroc": float(np.mean(aurocs)) if aurocs else math.nan,
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
        "log_loss": log_loss(y, p),
    }


def per_class_metrics(y_true: Any, probs: Any, classes: Sequence[str]) -> pd.DataFrame:
    """precision, recall, f1, support, auroc, average_precision per class (index = class name).

    Precision is NaN for a class never predicted, recall/F1/AUROC/AP NaN for a class absent.
    """
    y, p = as_arrays(y_true, probs, len(classes))
    pred = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=int)
    rows = []
    for k, name in enumerate(classes):
        tp = int(np.sum((pred == k) & (y == k)))
        n_pred = int(np.sum(pred == k))
        n_true = int(np.sum(y == k))
        prec = tp / n_pred if n_pred else math.nan
        rec = tp / n_true if n_true else math.nan
        if n_true == 0:
            f1 = math.nan
        elif n_pred == 0 or tp == 0:
            f1 = 0.0
        else:
            f1 = 2 * prec * rec / (prec + rec)
        rows.append(
            {
                "class": str(name),
                "precision": prec,
                "recall": rec,
                "f1": f1,
                "support": n_true,
                "auroc": label_auroc(y == k, p[:, k]) if len(p) else math.nan,
                "average_precision": label_average_precision(y == k, p[:, k]) if len(p) else math.nan,
            }
        )
    df = pd.DataFrame(rows).set_index("class")
    df["support"] = df["support"].astype(int)
    return df


def confusion(y_true: Any, probs: Any, classes: Sequence[str], normalize: str | None = None) -> pd.DataFrame:
    """Confusion matrix as a DataFrame: rows = true class, columns = predicted class.

    ``normalize="true"`` divides each row by its count (recall on the diagonal).
    """
    y, p = as_arrays(y_true, probs, len(classes))
    k = len(classes)
    if len(y):
        cm = confusion_matrix(y, p.argmax(axis=1), labels=list(range(k))).astype(float if normalize else int)
    else:
        cm = np.zeros((k, k), dtype=float if normalize else int)
    if normalize == "true":
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = cm / cm.sum(axis=1, keepdims=True)
    elif normalize not in (None, "none"):
        raise MetricsInputError(f"normalize must be None or 'true', got {normalize!r}")
    return pd.DataFrame(
        cm, index=pd.Index([str(c) for c in classes], name="true"), columns=pd.Index([str(c) for c in classes], name="predicted")
    )


def pr_curves(y_true: Any, probs: Any, classes: Sequence[str]) -> pd.DataFrame:
    """Tidy one-vs-rest precision-recall curves: class, threshold, precision, recall."""
    y, p = as_arrays(y_true, probs, len(classes))
    parts = []
    for k, name in enumerate(classes):
        if not np.any(y == k):
            continue
        prec, rec, thr = precision_recall_curve(y == k, p[:, k])
        parts.append(pd.DataFrame({"class": str(name), "threshold": np.append(thr, np.nan), "precision": prec, "recall": rec}))
    if not parts:
        return pd.DataFrame(columns=["class", "threshold", "precision", "recall"])
    return pd.concat(parts, ignore_index=True)


def roc_curves(y_true: Any, probs: Any, classes: Sequence[str]) -> pd.DataFrame:
    """Tidy one-vs-rest ROC curves: class, threshold, fpr, tpr."""
    y, p = as_arrays(y_true, probs, len(classes))
    parts = []
    for k, name in enumerate(classes):
        yb = y == k
        if not yb.any() or yb.all():
            continue
        fpr, tpr, thr = roc_curve(yb, p[:, k])
        parts.append(pd.DataFrame({"class": str(name), "threshold": thr, "fpr": fpr, "tpr": tpr}))
    if not parts:
        return pd.DataFrame(columns=["class", "threshold", "fpr", "tpr"])
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- several labels per image
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
