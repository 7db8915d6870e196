"""Fairness: every metric broken down by a group column, the gaps between groups, per-group thresholds.

Groups are any column of the sample table: ``tone_group`` on the synthetic set (the simulated
skin tone), ``tone_group_est`` (tone estimated from the image), ``sex``, an age band or the
localisation on HAM10000. Groups with fewer than ``min_group_size`` samples are kept in the
tables but **flagged** (``flagged_small``) and left out of the gaps, which list them, so a
group of three images never decides a headline number silently.

* :func:`group_metrics` - one row per group: support, accuracy, balanced accuracy, macro-F1,
  macro AUROC, ECE, log loss.
* :func:`group_metrics_long` - tidy per-group, per-class precision/recall/F1/support/AUROC/AP.
* :func:`gaps` - per metric: max, min, gap (max - min), ratio (min / max), best and worst group.
* :func:`fit_group_thresholds` / :func:`apply_group_thresholds` / :func:`evaluate_group_thresholds` -
  binary decision thresholds on P(positive classes) chosen per group on validation (maximum
  F1, or the highest threshold reaching a target recall) and evaluated on test beside the
  single global threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.tone import TONE_GROUPS
from auxiliary.evaluation.arrays import MetricsInputError, as_arrays, class_indices
from auxiliary.evaluation.metrics import LOWER_IS_BETTER, per_class_metrics, summary_metrics
from auxiliary.evaluation.operating_point import confusion_rates, positive_score, recall_threshold

#: Key of the threshold used for every sample in the single-threshold baseline, and as the
#: fallback for groups too small (or without positives) to get their own.
GLOBAL = "__global__"


#: Row label of the whole test set in :func:`evaluate_group_thresholds`.
ALL = "all groups"


UNKNOWN = "unknown"


class GroupThresholds(dict):
    """``{GLOBAL: t, group: t_group}``; ``.fallback`` names the groups given the global threshold."""

    def __init__(self, *args: Any, fallback: Sequence[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fallback = set(fallback)


GROUP_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auroc", "ece", "log_loss")


# ----------------------------------------------------------------------------- helpers
def _groups(groups: Any, n: int) -> np.ndarray:
    g = pd.Series(groups, dtype="object") if not isinstance(groups, pd.Series) else groups.astype("object")
    if len(g) != n:
        raise MetricsInputError(f"{len(g)} group values but {n} samples")
    g = g.where(g.notna(), UNKNOWN).map(lambda v: UNKNOWN if str(v).strip() in ("", "nan", "None") else str(v))
    return g.to_numpy(dtype=object)


def _prepare(y_true: Any, probs: Any, groups: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, p, g) with rows that have NaN probabilities or an unknown (negative) label removed."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    if p.ndim != 2 or len(y) != len(p):
        raise MetricsInputError(f"{len(y)} labels but probabilities of shape {p.shape}")
    g = _groups(groups, len(y))
    y = np.where(pd.isna(y), -1, y).astype(np.int64) if y.dtype.kind == "f" else y.astype(np.int64)
    keep = (y >= 0) & np.all(np.isfinite(p), axis=1)
    y, p, g = y[keep], p[keep], g[keep]
    as_arrays(y, p, n_classes)  # shape / range checks
    return y, p, g


def group_order(values: Sequence[Any]) -> list[str]:
    """Groups in a natural order: the tone scale for tone groups, else sorted; ``unknown`` last."""
    uniq = list(dict.fromkeys(str(v) for v in values))
    tone = [t for t in TONE_GROUPS if t in uniq]
    rest = sorted(v for v in uniq if v not in tone and v != UNKNOWN)
    return tone + rest + ([UNKNOWN] if UNKNOWN in uniq else [])


# ----------------------------------------------------------------------------- per-group metrics
def group_metrics(
    y_true: Any,
    probs: Any,
    classes: Sequence[str],
    groups: Any,
    min_group_size: int = 20,
    n_bins: int = 15,
) -> pd.DataFrame:
    """One row per group (index ``group``): support, flagged_small and :func:`auxiliary.evaluation.metrics.summary_metrics`."""
    y, p, g = _prepare(y_true, probs, groups, len(classes))
    rows = []
    for name in group_order(g):
        m = g == name
        row: dict[str, Any] = {"group": name, "support": int(m.sum()), "flagged_small": bool(m.sum() < min_group_size)}
        row.update(summary_metrics(y[m], p[m], classes, n_bins=n_bins))
        rows.append(row)
    cols = ["group", "support", "flagged_small", *GROUP_METRICS]
    df = pd.DataFrame(rows, columns=cols).set_index("group")
    df.attrs["min_group_size"] = int(min_group_size)
    return df


def group_metrics_long(
    y_true: Any, probs: Any, classes: Sequence[str], groups: Any, min_group_size: int = 20
) -> pd.DataFrame:
    """Tidy per-group, per-class metrics: columns group, class, metric, value, flagged_small.

    Metrics: precision, recall, f1, support, auroc, average_precision (from
    :func:`auxiliary.evaluation.metrics.per_class_metrics` on each group's samples).
    """
    y, p, g = _prepare(y_true, probs, groups, len(classes))
    parts = []
    for name in group_order(g):
        m = g == name
        per = per_class_metrics(y[m], p[m], classes).astype(float)
        long = per.reset_index().melt(id_vars="class", var_name="metric", value_name="value")
        long.insert(0, "group", name)
        long["flagged_small"] = bool(m.sum() < min_group_size)
        parts.append(long)
    if not parts:
        return pd.DataFrame(columns=["group", "class", "metric", "value", "flagged_small"])
    return pd.concat(parts, ignore_index=True)


def _long_to_wide(long: pd.DataFrame) -> pd.DataFrame:
    wide = long.pivot_table(index="group", columns=["metric", "class"], values="value", aggfunc="first", sort=False)
    wide.columns = [f"{metric}[{cls}]" for metric, cls in wide.columns]
    if "flagged_small" in long.columns:
        wide.insert(0, "flagged_small", long.groupby("group", sort=False)["flagged_small"].first())
    return wide


def gaps(group_df: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Across groups, per metric (index): max, min, gap = max - min, ratio = min / max, best/worst group.

    Groups flagged as too small (``flagged_small``) and groups where the metric is NaN are left
    out; the ``excluded`` column lists them. For ECE and log loss lower is better, so the worst
    group is the one with the maximum. Accepts :func:`group_metrics` output or the long form of
    :func:`group_metrics_long` (metrics then named ``recall[acne]`` etc.).
    """
    df = _long_to_wide(group_df) if {"group", "metric", "value"} <= set(group_df.columns) else group_df
    if metrics is None:
        metrics = [c for c in df.columns if c not in ("support", "flagged_small") and pd.api.types.is_numeric_dtype(df[c])]
    small = df.index[df["flagged_small"].astype(bool)] if "flagged_small" in df.columns else pd.Index([])
    rows = []
    for metric in metrics:
        if metric not in df.columns:
            raise MetricsInputError(f"no metric {metric!r} in the group table (columns: {', '.join(map(str, df.columns))})")
        vals = pd.to_numeric(df[metric], errors="coerce").drop(index=small, errors="ignore").dropna()
        undefined = [str(i) for i in df.index if i not in small and i not in vals.index]
        excluded = [f"{s} (small)" for s in small] + [f"{u} (undefined)" for u in undefined]
        base = metric.split("[")[0]
        lower_better = base in LOWER_IS_BETTER
        if len(vals) == 0:
            rows.append({"metric": metric, "max": math.nan, "min": math.nan, "gap": math.nan, "ratio": math.nan,
                         "best_group": None, "worst_group": None, "n_groups": 0, "excluded": ", ".join(excluded)})
            continue
        hi, lo = float(vals.max()), float(vals.min())
        rows.append(
            {
                "metric": metric,
                "max": hi,
                "min": lo,
                "gap": hi - lo,
                "ratio": lo / hi if hi > 0 else math.nan,
                "best_group": str(vals.idxmin() if lower_better else vals.idxmax()),
                "worst_group": str(vals.idxmax() if lower_better else vals.idxmin()),
                "n_groups": int(len(vals)),
                "excluded": ", ".join(excluded),
            }
        )
    out = pd.DataFrame(rows, columns=["metric", "max", "min", "gap", "ratio", "best_group", "worst_group", "n_groups", "excluded"])
    out = out.set_index("metric")
    out.attrs["excluded_small"] = [str(s) for s in small]
    return out


# ----------------------------------------------------------------------------- per-group thresholds
def best_f1_threshold(y_bin: Any, score: Any) -> float:
    """Threshold t maximising F1 of ``score >= t`` (the lowest such t on ties; NaN without positives)."""
    yb = np.asarray(y_bin, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    if not yb.any():
        return math.nan
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], yb[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(~y_sorted)
    # cut only where the next score differs (all tied scores are flagged together)
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    f1 = 2 * tp / (tp + fp + yb.sum())
    f1 = np.where(last_of_tie, f1, -1.0)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)[-1]
    return float(s_sorted[best])


def _threshold(y_bin: np.ndarray, score: np.ndarray, objective: str, target_recall: float) -> float:
    if objective == "f1":
        return best_f1_threshold(y_bin, score)
    return recall_threshold(y_bin, score, target_recall)


def fit_group_thresholds(
    y_true_val: Any,
    probs_val: Any,
    groups_val: Any,
    classes: Sequence[str],
    positive_classes: Sequence[str] | str,
    objective: str = "f1",
    target_recall: float | None = None,
    min_group_size: int = 20,
) -> GroupThresholds:
    """Thresholds on P(positive classes) chosen on validation: ``{GLOBAL: t, group: t_group, ...}``.

    ``objective="f1"`` maximises each group's F1; ``objective="recall"`` takes the highest
    threshold whose recall reaches ``target_recall`` (default 0.999). A group smaller than
    ``min_group_size`` or without positives gets the global threshold (see
    :func:`evaluate_group_thresholds`, which flags it).
    """
    if objective not in ("f1", "recall"):
        raise MetricsInputError(f"objective must be 'f1' or 'recall', got {objective!r}")
    target = 0.999 if target_recall is None else float(target_recall)
    if objective == "recall" and not 0 < target <= 1:
        raise MetricsInputError(f"target_recall must be in (0, 1], got {target}")
    y, p, g = _prepare(y_true_val, probs_val, groups_val, len(classes))
    pos_idx = class_indices(classes, positive_classes)
    y_bin = np.isin(y, pos_idx)
    score = p[:, pos_idx].sum(axis=1)
    t_global = _threshold(y_bin, score, objective, target)
    if math.isnan(t_global):
        raise MetricsInputError(f"no validation samples of {positive_classes}: cannot choose a threshold")
    out = GroupThresholds({GLOBAL: t_global})
    for name in group_order(g):
        m = g == name
        t = _threshold(y_bin[m], score[m], objective, target) if m.sum() >= min_group_size else math.nan
        if math.isnan(t):
            out.fallback.add(name)
        out[name] = t_global if math.isnan(t) else t
    return out


def apply_group_thresholds(
    probs: Any,
    groups: Any,
    classes: Sequence[str],
    positive_classes: Sequence[str] | str,
    thresholds: dict[str, float],
    use_groups: bool = True,
) -> np.ndarray:
    """Boolean "positive" decision per sample: P(positive classes) >= its group's threshold
    (the global one for groups not in ``thresholds``, or for every sample when ``use_groups=False``)."""
    p = np.asarray(probs, dtype=np.float64)
    g = _groups(groups, len(p))
    score = positive_score(p, classes, positive_classes)
    t_global = thresholds[GLOBAL]
    thr = np.array([thresholds.get(x, t_global) if use_groups else t_global for x in g], dtype=np.float64)
    return np.nan_to_num(score, nan=-np.inf) >= thr


def evaluate_group_thresholds(
    y_true: Any,
    probs: Any,
    groups: Any,
    classes: Sequence[str],
    positive_classes: Sequence[str] | str,
    thresholds: dict[str, float],
    min_group_size: int = 20,
) -> pd.DataFrame:
    """Per group (and ``all groups``): precision/recall/F1 with the single global threshold beside
    the same with per-group thresholds; ``fallback`` marks groups that use the global threshold."""
    y, p, g = _prepare(y_true, probs, groups, len(classes))
    pos_idx = class_indices(classes, positive_classes)
    y_bin = np.isin(y, pos_idx)
    score = p[:, pos_idx].sum(axis=1)
    t_global = thresholds[GLOBAL]
    thr_group = np.array([thresholds.get(x, t_global) for x in g], dtype=np.float64)
    flag_global = score >= t_global
    flag_group = score >= thr_group
    rows = []
    for name in [*group_order(g), ALL]:
        m = np.ones(len(g), dtype=bool) if name == ALL else g == name
        r_g = confusion_rates(y_bin[m], flag_global[m])
        r_p = confusion_rates(y_bin[m], flag_group[m])
        t_own = thresholds.get(name, t_global) if name != ALL else math.nan
        rows.append(
            {
                "group": name,
                "support": int(m.sum()),
                "n_positives": int(y_bin[m].sum()),
                "flagged_small": bool(m.sum() < min_group_size) if name != ALL else False,
                "fallback": bool(name != ALL and (name not in thresholds or name in getattr(thresholds, "fallback", ()))),
                "threshold_global": t_global,
                "threshold_group": t_own,
                "precision_global": r_g["precision"],
                "recall_global": r_g["recall"],
                "f1_global": r_g["f1"],
                "precision_group": r_p["precision"],
                "recall_group": r_p["recall"],
                "f1_group": r_p["f1"],
                "f1_change": r_p["f1"] - r_g["f1"],
            }
        )
    return pd.DataFrame(rows).set_index("group")


def group_threshold_report(
    y_val: Any,
    probs_val: Any,
    groups_val: Any,
    y_test: Any,
    probs_test: Any,
    groups_test: Any,
    classes: Sequence[str],
    positive_classes: Sequence[str] | str,
    objective: str = "f1",
    target_recall: float | None = None,
    min_group_size: int = 20,
) -> pd.DataFrame:
    """Fit thresholds on validation (:func:`fit_group_thresholds`) and evaluate them on test."""
    thr = fit_group_thresholds(
        y_val, probs_val, groups_val, classes, positive_classes, objective=objective, target_recall=target_recall,
        min_group_size=min_group_size,
    )
    table = evaluate_group_thresholds(y_test, probs_test, groups_test, classes, positive_classes, thr, min_group_size)
    table.attrs["thresholds"] = thr
    table.attrs["objective"] = objective
    return table
