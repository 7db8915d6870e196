"""What a reviewer sees after a sort, for each task: how the sort did against known labels, the queue of images worth
a look, and what a reviewer who knows an image's truth files.

The Task methods :meth:`~auxiliary.tasks.Task.sort_quality`, :meth:`~auxiliary.tasks.Task.review_queue` and
:meth:`~auxiliary.tasks.Task.review_filing` are these functions: ``class_*`` for one class per image (a mistake is
another class; the queue is ordered by the margin between the two top probabilities, or their entropy), ``label_*``
for several labels per image (a mistake is any wrong label; the queue is ordered by the sort's margin to the
thresholds; a reviewer files an image under its label set's folder, ``acne+wrinkles`` or ``none``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.errors import AuxiliaryError
from auxiliary.data.feedback import FeedbackError
from auxiliary.data.labels import NO_LABEL, SEP, label_set_folder
from auxiliary.evaluation.metrics import f1_counts


def class_sort_quality(predictions: pd.DataFrame, truth: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy of the images sorted into class folders and of all readable images, and how many mistakes the
    low-confidence folder caught."""
    lab = dict(zip(truth["source"].astype(str), truth["label"].astype(str)))
    df = predictions[predictions["decision"] != "rejected"].copy()
    df["label"] = [lab.get(str(s), "") for s in df["source"]]
    df = df[df["label"] != ""]
    correct = df["predicted"] == df["label"]
    sorted_ = df["decision"] == "sorted"
    low = df["decision"] == "low_confidence"
    return {
        "n_labelled": int(len(df)),
        "accuracy_all": float(correct.mean()) if len(df) else math.nan,
        "n_sorted": int(sorted_.sum()),
        "accuracy_sorted": float(correct[sorted_].mean()) if sorted_.any() else math.nan,
        "n_low_confidence": int(low.sum()),
        "mistakes_total": int((~correct).sum()),
        "mistakes_in_class_folders": int((~correct & sorted_).sum()),
        "mistakes_caught_by_low_confidence": int((~correct & low).sum()),
    }


def class_review_queue(predictions: pd.DataFrame, truth: pd.DataFrame | None, classes: Sequence[str], *,
                 order: str = "margin", include_mistakes: bool = True) -> pd.DataFrame:
    """Every ``low_confidence`` image and, with ``truth``, the confident mistakes; ``order``: ``margin``
    (smallest gap between the top two probabilities first) or ``entropy`` (highest first); adds ``margin``
    and ``entropy``."""
    if order not in ("margin", "entropy"):
        raise FeedbackError(f"review order must be margin or entropy, got {order!r}")
    df = predictions[predictions["decision"] != "rejected"].copy()
    p = df[[c for c in df.columns if c.startswith("prob_")]].to_numpy(dtype=np.float64)
    top2 = -np.sort(-p, axis=1)[:, :2] if len(df) else np.zeros((0, 2))
    df["margin"] = top2[:, 0] - (top2[:, 1] if p.shape[1] > 1 else 0.0)
    q = np.clip(p, 1e-12, 1.0)
    df["entropy"] = -(q * np.log(q)).sum(axis=1) if len(df) else []
    if truth is not None:
        mapping = dict(zip(truth["source"].astype(str), truth["label"]))
        df["label"] = [mapping.get(str(s), "") for s in df["source"]]
        df["mistake"] = (df["label"] != "") & (df["label"] != df["predicted"])
    else:
        df["label"] = ""
        df["mistake"] = False
    low = df["decision"] == "low_confidence"
    keep = low | (df["mistake"] & include_mistakes)
    df = df[keep].copy()
    df["why"] = np.where(low[keep] & df["mistake"], "low confidence + mistake",
                         np.where(low[keep], "low confidence", "mistake"))
    df = df.sort_values(["margin", "source"] if order == "margin" else ["entropy", "source"],
                        ascending=[order == "margin", True], kind="mergesort").reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    return df


def class_review_filing(row: Mapping[str, Any], classes: Sequence[str]) -> tuple[str, str, dict[str, float]] | None:
    """The true class (``label``), the model's class, its probabilities."""
    label = str(row.get("label", "") or "")
    if not label:
        return None
    return label, str(row["predicted"]), {c[5:]: row[c] for c in row.keys() if str(c).startswith("prob_")}


def label_sort_quality(predictions: pd.DataFrame, truth: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
    """Per label precision, recall and F1 of the decisions on the images sorted into folders and on all readable
    ones; the share with every label right (exact match); how many images with a wrong label the
    low-confidence folder caught."""
    labels = [str(c) for c in classes]
    df = _with_truth(predictions, truth, labels)
    sorted_ = df["decision"] == "sorted"
    low = df["decision"] == "low_confidence"
    wrong = _wrong(df, labels) if len(df) else pd.Series(dtype=bool)
    per_all = _label_counts(df, labels)
    per_sorted = _label_counts(df[sorted_], labels)
    return {
        "n_labelled": int(len(df)),
        "n_sorted": int(sorted_.sum()),
        "n_low_confidence": int(low.sum()),
        "exact_match_all": float((~wrong).mean()) if len(df) else math.nan,
        "exact_match_sorted": float((~wrong[sorted_]).mean()) if sorted_.any() else math.nan,
        "macro_f1_all": float(np.nanmean([r["f1"] for r in per_all.values()])) if len(df) else math.nan,
        "macro_f1_sorted": (float(np.nanmean([r["f1"] for r in per_sorted.values()])) if sorted_.any()
                            else math.nan),
        "per_label_sorted": per_sorted,
        "wrong_total": int(wrong.sum()),
        "wrong_in_label_folders": int((wrong & sorted_).sum()),
        "wrong_caught_by_low_confidence": int((wrong & low).sum()),
    }


def label_review_queue(predictions: pd.DataFrame, truth: pd.DataFrame | None, classes: Sequence[str], *,
                 order: str = "margin", include_mistakes: bool = True) -> pd.DataFrame:
    """Every ``low_confidence`` image and, with ``truth``, the sorted images with a wrong label, the smallest
    margin to a threshold first (the sort's own ``margin``; ``order`` must be ``margin``); ``label`` is the
    true label set joined by ``|``."""
    if order != "margin":
        raise AuxiliaryError(f"a multi-label review queue is ordered by the margin to the thresholds, not {order!r}")
    labels = [str(c) for c in classes]
    if truth is not None:
        df = _with_truth(predictions, truth, labels)
        df["mistake"] = _wrong(df, labels)
        df["label"] = [SEP.join(lab for lab in labels if r[f"true_{lab}"]) or NO_LABEL for _, r in df.iterrows()]
    else:
        df = predictions[predictions["decision"] != "rejected"].copy()
        df["mistake"] = False
        df["label"] = ""
    low = df["decision"] == "low_confidence"
    df = df[low | (df["mistake"] & include_mistakes)].copy()
    low = df["decision"] == "low_confidence"
    df["why"] = np.where(low & df["mistake"], "low confidence + mistake",
                         np.where(low, "low confidence", "mistake"))
    df = df.sort_values(["margin", "source"], kind="mergesort").reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    return df


def label_review_filing(row: Mapping[str, Any], classes: Sequence[str]) -> tuple[str, str, dict[str, float]] | None:
    """The true label set's folder (``acne+wrinkles``, ``none``), the model's, the per-label probabilities."""
    labels = [str(c) for c in classes]
    if f"true_{labels[0]}" not in row or pd.isna(row[f"true_{labels[0]}"]):
        return None
    folder = label_set_folder([lab for lab in labels if int(row[f"true_{lab}"]) == 1], labels)
    guess = label_set_folder([lab for lab in labels if int(row[f"pred_{lab}"]) == 1], labels)
    return folder, guess, {lab: row[f"prob_{lab}"] for lab in labels}


def _with_truth(predictions: pd.DataFrame, truth: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Readable sort predictions joined with the truth's 0/1 label columns (``true_<label>``, by ``source``)."""
    df = predictions[predictions["decision"] != "rejected"].copy()
    t = truth.set_index(truth["source"].astype(str))[list(labels)]
    df = df[df["source"].astype(str).isin(t.index)].copy()
    for lab in labels:
        df[f"true_{lab}"] = t.loc[df["source"].astype(str), lab].to_numpy(dtype=np.int64)
    return df


def _label_counts(df: pd.DataFrame, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    out = {}
    for lab in labels:
        y = df[f"true_{lab}"].to_numpy(dtype=np.int64)
        p = df[f"pred_{lab}"].astype("int64").to_numpy()
        out[str(lab)] = f1_counts(int(((y == 1) & (p == 1)).sum()), int(((y == 0) & (p == 1)).sum()),
                                  int(((y == 1) & (p == 0)).sum()))
    return out


def _wrong(df: pd.DataFrame, labels: Sequence[str]) -> pd.Series:
    return pd.concat([df[f"true_{lab}"] != df[f"pred_{lab}"].astype("int64") for lab in labels], axis=1).any(axis=1)
