"""A high-recall operating point: the threshold on the positive classes' score that reaches a target recall, with bootstrap intervals.

For a positive class or a group of classes (malignant = mel+bcc+akiec on HAM10000, acne on the
synthetic set), :func:`high_recall_operating_point` gives the highest threshold on the summed
positive probability that still reaches the target recall, its precision and specificity,
bootstrap confidence intervals and the number of positives it rests on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from auxiliary.evaluation.arrays import MetricsInputError, as_arrays, class_indices


# ----------------------------------------------------------------------------- high-recall operating point
def positive_score(probs: Any, classes: Sequence[str], positive_classes: Sequence[str] | str) -> np.ndarray:
    """Summed probability of the positive classes (e.g. P(mel)+P(bcc)+P(akiec))."""
    idx = class_indices(classes, positive_classes)
    return np.asarray(probs, dtype=np.float64)[:, idx].sum(axis=1)


def recall_threshold(y_bin: np.ndarray, score: np.ndarray, target_recall: float) -> float:
    """Highest threshold t with recall(score >= t) >= target_recall (NaN without positives).

    With n positives at most ``floor(n * (1 - target_recall))`` may be missed, so the threshold
    is the (misses+1)-th lowest positive score.
    """
    pos = np.sort(np.asarray(score)[np.asarray(y_bin, dtype=bool)])
    if pos.size == 0:
        return math.nan
    misses = int(math.floor(pos.size * (1.0 - float(target_recall)) + 1e-9))
    return float(pos[min(misses, pos.size - 1)])


def confusion_rates(y_bin: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(flagged & y_bin))
    fp = int(np.sum(flagged & ~y_bin))
    fn = int(np.sum(~flagged & y_bin))
    tn = int(np.sum(~flagged & ~y_bin))
    prec = tp / (tp + fp) if tp + fp else math.nan
    rec = tp / (tp + fn) if tp + fn else math.nan
    spec = tn / (tn + fp) if tn + fp else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return {"precision": prec, "recall": rec, "specificity": spec, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def binary_rates(y_bin: Any, score: Any, threshold: float) -> dict[str, float]:
    """precision, recall, specificity, F1 and counts of ``score >= threshold``."""
    yb = np.asarray(y_bin, dtype=bool)
    return confusion_rates(yb, np.asarray(score) >= threshold)


def _ci(values: list[float], level: float) -> tuple[float, float]:
    v = np.asarray([x for x in values if not math.isnan(x)])
    if v.size == 0:
        return (math.nan, math.nan)
    a = (1 - level) / 2
    return (float(np.quantile(v, a)), float(np.quantile(v, 1 - a)))


def high_recall_operating_point(
    y_true: Any,
    probs: Any,
    classes: Sequence[str],
    positive_classes: Sequence[str] | str,
    target_recall: float = 0.999,
    n_bootstrap: int = 200,
    seed: int = 0,
    ci_level: float = 0.95,
) -> dict[str, Any]:
    """The threshold on P(positive classes) reaching ``target_recall``, with precision, specificity and bootstrap CIs.

    Returns threshold, precision, recall, specificity, n_positives, n_negatives, n_flagged,
    allowed_misses, threshold_ci and precision_ci (``ci_level`` percentile intervals over
    ``n_bootstrap`` resamples, each re-choosing its threshold) and a plain-language ``note``.
    """
    if not 0 < target_recall <= 1:
        raise MetricsInputError(f"target_recall must be in (0, 1], got {target_recall}")
    y, p = as_arrays(y_true, probs, len(classes))
    idx = class_indices(classes, positive_classes)
    y_bin = np.isin(y, idx)
    score = p[:, idx].sum(axis=1)
    n_pos, n_neg = int(y_bin.sum()), int((~y_bin).sum())
    pos_names = [str(classes[i]) for i in idx]
    out: dict[str, Any] = {
        "positive_classes": pos_names,
        "target_recall": float(target_recall),
        "n_positives": n_pos,
        "n_negatives": n_neg,
        "allowed_misses": int(math.floor(n_pos * (1.0 - target_recall) + 1e-9)),
        "ci_level": ci_level,
        "n_bootstrap": int(n_bootstrap),
    }
    if n_pos == 0:
        out.update(
            threshold=math.nan, precision=math.nan, recall=math.nan, specificity=math.nan, n_flagged=0,
            threshold_ci=(math.nan, math.nan), precision_ci=(math.nan, math.nan),
            note=f"no samples of {'+'.join(pos_names)}: no operating point can be chosen",
        )
        return out
    thr = recall_threshold(y_bin, score, target_recall)
    r = confusion_rates(y_bin, score >= thr)
    rng = np.random.default_rng(seed)
    thrs, precs = [], []
    for _ in range(int(n_bootstrap)):
        b = rng.integers(0, len(y_bin), len(y_bin))
        yb = y_bin[b]
        if not yb.any():
            continue
        t_b = recall_threshold(yb, score[b], target_recall)
        thrs.append(t_b)
        precs.append(confusion_rates(yb, score[b] >= t_b)["precision"])
    pct = f"{target_recall * 100:g}%"
    if out["allowed_misses"] == 0 and target_recall >= 1:
        note = f"with {n_pos} positives, recall 1 means missing none: the threshold is the lowest score of any positive ({thr:.4g})"
    elif out["allowed_misses"] == 0:
        note = (
            f"with {n_pos} positives, recall >= {target_recall:g} means missing none: the threshold is the lowest "
            f"score of any positive ({thr:.4g}); {pct} recall can only be estimated with at least "
            f"{math.ceil(round(1 / max(1 - target_recall, 1e-12), 6))} positives"
        )
    else:
        note = (
            f"with {n_pos} positives, recall >= {target_recall:g} allows missing at most {out['allowed_misses']} of them"
        )
    if n_neg == 0:
        note += "; no negatives, so precision is 1 and specificity undefined"
    out.update(
        threshold=thr,
        precision=r["precision"],
        recall=r["recall"],
        specificity=r["specificity"],
        n_flagged=int(r["tp"] + r["fp"]),
        threshold_ci=_ci(thrs, ci_level),
        precision_ci=_ci(precs, ci_level),
        note=note,
    )
    return out
