"""The sorting round of notebook 06 for a multi-label model: how the sort did, and what to review.

A multi-label sort (:mod:`auxiliary.inference.multilabel_sort`) copies an image into every label folder it
is positive for, or ``none/``, or sends it to ``low_confidence/`` when a label's probability sits near
its threshold. With the true labels of the inbox known (the notebook's simulated round):

* :func:`multilabel_sort_quality` - per label precision, recall and F1 of the decisions, on the images
  sorted into folders and on all readable ones; the share with every label right (exact match); how
  many images with a wrong label the low-confidence folder caught.
* :func:`multilabel_review_queue` - the images worth a look: every ``low_confidence`` image and the
  sorted ones with a wrong label, the smallest margin to a threshold first (the sort's own ``margin``).

* :func:`simulate_multilabel_review` - the notebook's simulated reviewer: every queued image filed under
  its true label set (``feedback/acne+wrinkles/``, ``feedback/none/``: :mod:`auxiliary.data.feedback_labels`),
  which :func:`auxiliary.data.merge.merge_feedback` adds to a new version of the multi-label training split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.data.feedback import file_image
from auxiliary.data.feedback_labels import label_set_folder
from auxiliary.evaluation.multilabel import f1_counts


def _merged(predictions: pd.DataFrame, truth: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Readable predictions joined with the truth's 0/1 label columns (by ``source``)."""
    df = predictions[predictions["decision"] != "rejected"].copy()
    t = truth.set_index(truth["source"].astype(str))[list(labels)]
    known = df["source"].astype(str).isin(t.index)
    df = df[known].copy()
    for lab in labels:
        df[f"true_{lab}"] = t.loc[df["source"].astype(str), lab].to_numpy(dtype=np.int64)
    return df


def _label_rows(df: pd.DataFrame, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    out = {}
    for lab in labels:
        y = df[f"true_{lab}"].to_numpy(dtype=np.int64)
        p = df[f"pred_{lab}"].astype("int64").to_numpy()
        out[str(lab)] = f1_counts(int(((y == 1) & (p == 1)).sum()), int(((y == 0) & (p == 1)).sum()),
                                  int(((y == 1) & (p == 0)).sum()))
    return out


def _wrong(df: pd.DataFrame, labels: Sequence[str]) -> pd.Series:
    return pd.concat([df[f"true_{lab}"] != df[f"pred_{lab}"].astype("int64") for lab in labels], axis=1).any(axis=1)


def multilabel_sort_quality(predictions: pd.DataFrame, truth: pd.DataFrame, labels: Sequence[str]) -> dict[str, Any]:
    """How a multi-label sort did against known labels (see the module docstring)."""
    df = _merged(predictions, truth, labels)
    sorted_ = df["decision"] == "sorted"
    low = df["decision"] == "low_confidence"
    wrong = _wrong(df, labels) if len(df) else pd.Series(dtype=bool)
    per_all = _label_rows(df, labels)
    per_sorted = _label_rows(df[sorted_], labels)
    return {
        "n_labelled": int(len(df)),
        "n_sorted": int(sorted_.sum()),
        "n_low_confidence": int(low.sum()),
        "exact_match_all": float((~wrong).mean()) if len(df) else math.nan,
        "exact_match_sorted": float((~wrong[sorted_]).mean()) if sorted_.any() else math.nan,
        "macro_f1_all": float(np.nanmean([r["f1"] for r in per_all.values()])) if len(df) else math.nan,
        "macro_f1_sorted": float(np.nanmean([r["f1"] for r in per_sorted.values()])) if sorted_.any() else math.nan,
        "per_label_sorted": per_sorted,
        "wrong_total": int(wrong.sum()),
        "wrong_in_label_folders": int((wrong & sorted_).sum()),
        "wrong_caught_by_low_confidence": int((wrong & low).sum()),
    }


def multilabel_review_queue(predictions: pd.DataFrame, truth: pd.DataFrame | None, labels: Sequence[str], *,
                            out_dir: str | Path | None = None) -> pd.DataFrame:
    """Images to review, smallest margin to a threshold first: every ``low_confidence`` image and, with
    ``truth``, the sorted images with a wrong label. Adds ``label`` (true labels joined, when known),
    ``mistake``, ``why``, ``rank`` and ``image`` (the first sorted copy when ``out_dir`` is given)."""
    if truth is not None:
        df = _merged(predictions, truth, labels)
        df["mistake"] = _wrong(df, labels)
        df["label"] = ["|".join(lab for lab in labels if r[f"true_{lab}"]) or "none" for _, r in df.iterrows()]
    else:
        df = predictions[predictions["decision"] != "rejected"].copy()
        df["mistake"] = False
        df["label"] = ""
    low = df["decision"] == "low_confidence"
    df = df[low | df["mistake"]].copy()
    low = df["decision"] == "low_confidence"
    df["why"] = np.where(low & df["mistake"], "low confidence + mistake", np.where(low, "low confidence", "mistake"))
    df = df.sort_values(["margin", "source"], kind="mergesort").reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    base = Path(out_dir) if out_dir is not None else None
    first = [str(d).split("|")[0] for d in df["destination"]]
    df["image"] = [str(base / d) if base is not None and d else s for s, d in zip(df["source"], first)]
    return df


def simulate_multilabel_review(queue: pd.DataFrame, feedback_dir: str | Path, labels: Sequence[str], *,
                               reviewer: str = "simulated") -> pd.DataFrame:
    """File every queued image whose truth is known under its true label set (what a reviewer would do);
    returns one row per filed image (``source``, ``label`` = the label-set folder, ``model_guess``, ``file``, ``why``)."""
    rows = []
    for _, r in queue.iterrows():
        if f"true_{labels[0]}" not in r or pd.isna(r[f"true_{labels[0]}"]):
            continue
        folder = label_set_folder([lab for lab in labels if int(r[f"true_{lab}"]) == 1], labels)
        guess = label_set_folder([lab for lab in labels if int(r[f"pred_{lab}"]) == 1], labels)
        dest = file_image(r["source"], folder, feedback_dir, source=r["source"], model_guess=guess,
                          probs={lab: r[f"prob_{lab}"] for lab in labels}, reviewer=reviewer, classes=labels)
        rows.append({"source": r["source"], "label": folder, "model_guess": guess, "file": str(dest),
                     "why": r.get("why", "")})
    return pd.DataFrame(rows, columns=["source", "label", "model_guess", "file", "why"])
