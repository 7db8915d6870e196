"""A stored operating point for a single-label model: one log-prior shift per class.

The decision is ``argmax_k (log p_k + b_k)`` instead of ``argmax_k p_k``: adding ``b_k`` is what the Bayes rule
does when class ``k``'s prior is ``exp(b_k)`` times larger, so one vector moves every boundary that involves a class
at once (a melanoma shift takes images from each of the six other classes). It is fitted on **held-out**
probabilities (the out-of-fold predictions of k models trained on the other folds of train + validation, see
:mod:`auxiliary.steps.operating_point`), never on test rows: :func:`fit_prior_shift` maximises balanced accuracy
subject to a minimum recall per named class (``{"mel": 0.7}``), and :func:`kfold_prior_shift` estimates how a
fitted shift holds on rows it was not fitted on (fit on k-1 folds of the held-out probabilities, score the last).

Why by hand: scikit-learn's threshold tuning (``TunedThresholdClassifierCV``) is for binary classifiers only, and
no library fits a multi-class prior shift under recall constraints. The search is coordinate ascent over a grid
of shifts, a few rounds: each step changes one class's shift to the grid value that most improves the objective.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from auxiliary.evaluation.arrays import MetricsInputError

#: the shifts tried for each class (natural log units: +1.0 multiplies the class's odds by e)
GRID: np.ndarray = np.round(np.arange(-3.0, 3.0001, 0.1), 2)
#: probabilities are floored here before the logarithm
EPS = 1e-12


def shifted_decisions(probs: Any, shift: Sequence[float] | None) -> np.ndarray:
    """``argmax(log p + shift)`` per row (the plain argmax without a shift)."""
    p = np.asarray(probs, dtype=np.float64)
    if shift is None:
        return p.argmax(axis=-1)
    b = np.asarray(shift, dtype=np.float64)
    if b.shape != p.shape[-1:]:
        raise MetricsInputError(f"a shift of {b.size} values for {p.shape[-1]} classes")
    return (np.log(np.maximum(p, EPS)) + b).argmax(axis=-1)


def recalls(labels: np.ndarray, decisions: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall of each class (NaN for a class without rows)."""
    y = np.asarray(labels)
    out = np.full(n_classes, np.nan)
    for k in range(n_classes):
        m = y == k
        if m.any():
            out[k] = float(np.mean(decisions[m] == k))
    return out


def _objective(rec: np.ndarray, floors: np.ndarray) -> float:
    """Balanced accuracy, minus 10 per unit of recall missing under a floor (a floor met costs nothing)."""
    short = np.nansum(np.maximum(floors - rec, 0.0))
    return float(np.nanmean(rec)) - 10.0 * short


def fit_prior_shift(labels: Any, probs: Any, classes: Sequence[str], min_recall: Mapping[str, float] | None = None,
                    *, rounds: int = 4, grid: np.ndarray = GRID) -> dict[str, Any]:
    """The per-class shift that maximises balanced accuracy with every class in ``min_recall`` at least at its floor.

    ``labels``: class indices; ``probs``: held-out probabilities (rows x classes). Returns ``shift`` (class -> b,
    centred on 0), ``min_recall``, ``recall`` (class -> recall at the shift), ``balanced_acc``, ``met`` (every floor
    reached) and ``n`` (rows it was fitted on). A floor that cannot be met is approached as near as the grid allows.
    """
    y = np.asarray(labels).astype(int)
    p = np.asarray(probs, dtype=np.float64)
    names = [str(c) for c in classes]
    if p.ndim != 2 or p.shape[1] != len(names) or len(y) != len(p):
        raise MetricsInputError(f"probabilities of shape {p.shape} for {len(y)} labels and {len(names)} classes")
    if not len(y):
        raise MetricsInputError("no held-out rows to fit an operating point on")
    floors = np.zeros(len(names))
    for c, r in (min_recall or {}).items():
        if c not in names:
            raise MetricsInputError(f"unknown class {c!r} in min_recall (classes: {', '.join(names)})")
        if not 0.0 <= float(r) <= 1.0:
            raise MetricsInputError(f"min_recall {c}={r}: a recall is between 0 and 1")
        floors[names.index(c)] = float(r)
    present = np.array([np.any(y == k) for k in range(len(names))])
    floors = np.where(present, floors, 0.0)
    logp = np.log(np.maximum(p, EPS))
    b = np.zeros(len(names))

    def score(v: np.ndarray) -> float:
        return _objective(recalls(y, (logp + v).argmax(axis=1), len(names)), floors)

    best = score(b)
    for _ in range(max(1, rounds)):
        moved = False
        for k in range(len(names)):
            trial = b.copy()
            vals = []
            for g in grid:
                trial[k] = g
                vals.append(score(trial))
            j = int(np.argmax(vals))  # the first best: the smallest shift that reaches it
            if vals[j] > best + 1e-12:
                best, b[k], moved = vals[j], float(grid[j]), True
        if not moved:
            break
    b -= b.mean()
    rec = recalls(y, (logp + b).argmax(axis=1), len(names))
    return {
        "shift": {c: round(float(v), 4) for c, v in zip(names, b)},
        "min_recall": {c: float(floors[i]) for i, c in enumerate(names) if floors[i] > 0},
        "recall": {c: (None if math.isnan(r) else round(float(r), 4)) for c, r in zip(names, rec)},
        "balanced_acc": round(float(np.nanmean(rec)), 4),
        "met": bool(np.all(np.nan_to_num(rec, nan=1.0) >= floors - 1e-12)),
        "n": int(len(y)),
    }


def shift_vector(operating_point: Mapping[str, Any] | None, classes: Sequence[str]) -> np.ndarray | None:
    """The stored ``shift`` of an operating point as a vector in ``classes`` order (None without one)."""
    if not operating_point or not operating_point.get("shift"):
        return None
    shift = operating_point["shift"]
    missing = [c for c in classes if str(c) not in shift]
    if missing:
        raise MetricsInputError(f"the operating point has no shift for {missing} (it was fitted for other classes)")
    return np.array([float(shift[str(c)]) for c in classes])


def kfold_prior_shift(labels: Any, probs: Any, classes: Sequence[str], min_recall: Mapping[str, float] | None = None,
                      *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """How a shift fitted on held-out probabilities holds on rows it did not see: fitted on k-1 folds, applied to
    the k-th, for each k; the pooled recalls and balanced accuracy of those decisions (``recall``,
    ``balanced_acc``), and each fold's shift (``shifts``). Stratified folds (scikit-learn)."""
    y = np.asarray(labels).astype(int)
    p = np.asarray(probs, dtype=np.float64)
    names = [str(c) for c in classes]
    k = int(min(folds, np.bincount(y, minlength=len(names))[np.bincount(y, minlength=len(names)) > 0].min()))
    if k < 2:
        raise MetricsInputError("too few rows of some class for two folds")
    dec = np.zeros(len(y), dtype=int)
    shifts = []
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(p, y):
        fit = fit_prior_shift(y[tr], p[tr], names, min_recall)
        b = np.array([fit["shift"][c] for c in names])
        dec[te] = shifted_decisions(p[te], b)
        shifts.append(fit["shift"])
    rec = recalls(y, dec, len(names))
    return {"folds": k, "recall": {c: (None if math.isnan(r) else round(float(r), 4)) for c, r in zip(names, rec)},
            "balanced_acc": round(float(np.nanmean(rec)), 4), "shifts": shifts}


def operating_point_report(labels: Any, probs: Any, classes: Sequence[str], operating_point: Mapping[str, Any]
                           ) -> dict[str, Any]:
    """Decisions at a stored operating point on labelled rows: ``per_class`` (class -> precision, recall, support),
    ``balanced_acc``, ``accuracy``, the ``shift`` and the recall floors it was fitted for (``min_recall``)."""
    y = np.asarray(labels).astype(int)
    p = np.asarray(probs, dtype=np.float64)
    names = [str(c) for c in classes]
    ok = (y >= 0) & np.isfinite(p).all(axis=1)
    y, p = y[ok], p[ok]
    dec = shifted_decisions(p, shift_vector(operating_point, names))
    per: dict[str, dict[str, Any]] = {}
    for k, c in enumerate(names):
        tp = int(np.sum((dec == k) & (y == k)))
        said, support = int(np.sum(dec == k)), int(np.sum(y == k))
        per[c] = {"precision": round(tp / said, 4) if said else None, "recall": round(tp / support, 4) if support
                  else None, "support": support}
    rec = [v["recall"] for v in per.values() if v["recall"] is not None]
    return {"per_class": per, "balanced_acc": round(float(np.mean(rec)), 4) if rec else None,
            "accuracy": round(float(np.mean(dec == y)), 4) if len(y) else None,
            "shift": dict(operating_point.get("shift", {})), "min_recall": dict(operating_point.get("min_recall", {}))}
