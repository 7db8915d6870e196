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
* :func:`per_group_label_metrics` - several labels per image: tidy (group, label) table of support, AUROC, AP,
  F1... at given thresholds (global, or each row's group's).
* :func:`fairness_gap` - several labels per image: per label and macro, F1 of ``group_a`` minus F1 of
  ``group_b`` (default darkest vs intermediate tone group), with the global thresholds and with the per-group
  ones. The gap is signed (negative when ``group_a`` does worse); compare its absolute value with a target such
  as 0.15.

Decision thresholds chosen per group (and what they change per group) are :mod:`auxiliary.evaluation.thresholds`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.tone import TONE_GROUPS
from auxiliary.evaluation.arrays import (
    MetricsInputError,
    finite_rows,
    group_order,
    group_values,
    grouped_arrays,
    prepared,
)
from auxiliary.evaluation.metrics import (
    LOWER_IS_BETTER,
    per_class_metrics,
    per_label_metrics,
    summary_metrics,
)
from auxiliary.evaluation.thresholds import LabelThresholds

#: Default groups of :func:`fairness_gap`: the darkest tone group and a medium one.
DARKEST: str = TONE_GROUPS[-1]
MEDIUM: str = "intermediate"

GROUP_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auroc", "ece", "log_loss")


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
    y, p, g = grouped_arrays(y_true, probs, groups, len(classes))
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
    y, p, g = grouped_arrays(y_true, probs, groups, len(classes))
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


# ----------------------------------------------------------------------------- several labels per image
def per_group_label_metrics(
    Y: Any,
    P: Any,
    groups: Any,
    labels: Sequence[str],
    thresholds: Any = 0.5,
    min_group_size: int = 20,
    target_recall: float = 0.9,
) -> pd.DataFrame:
    """Tidy table, one row per (group, label): group, label, support (rows of the group),
    n_positives, flagged_small, auroc, average_precision, threshold, precision, recall, f1,
    precision_at_recall. ``thresholds``: a :class:`~auxiliary.evaluation.thresholds.LabelThresholds`
    (each row's group's thresholds) or anything :func:`auxiliary.evaluation.metrics.per_label_metrics` takes."""
    g_all = group_values(groups, len(np.asarray(P)))
    t_all = thresholds.for_rows(g_all) if isinstance(thresholds, LabelThresholds) else thresholds
    y, p, t = prepared(Y, P, labels, t_all)
    g = g_all[finite_rows(P)]
    parts = []
    for grp in group_order(g):
        m = g == grp
        per = per_label_metrics(y[m], p[m], labels, t[m], target_recall).reset_index()
        per = per.rename(columns={"support": "n_positives"})
        per.insert(0, "group", grp)
        per.insert(2, "support", int(m.sum()))
        per.insert(4, "flagged_small", bool(m.sum() < min_group_size))
        parts.append(per.drop(columns=["prevalence"]))
    cols = ["group", "label", "support", "n_positives", "flagged_small", "auroc", "average_precision",
            "threshold", "precision", "recall", "f1", "precision_at_recall"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def fairness_gap(
    Y: Any,
    P: Any,
    groups: Any,
    labels: Sequence[str],
    thresholds: LabelThresholds,
    group_a: str = DARKEST,
    group_b: str = MEDIUM,
) -> pd.DataFrame:
    """Per label (and ``macro``, the mean over labels where both F1 are defined): F1 of ``group_a``
    and ``group_b`` and the gap F1(a) - F1(b), with the global thresholds (``*_global``) and the
    per-group ones (``*_group``); n_positives_a / n_positives_b say what each F1 rests on."""
    g_all = group_values(groups, len(np.asarray(P)))
    for name in (group_a, group_b):
        if name not in set(g_all):
            raise MetricsInputError(f"group {name!r} has no sample (groups: {', '.join(group_order(g_all))})")
    tables = {}
    for kind, use in (("global", False), ("group", True)):
        long = per_group_label_metrics(Y, P, g_all, labels, thresholds.for_rows(g_all, use_groups=use))
        tables[kind] = long.set_index(["group", "label"])
    names = [str(x) for x in labels]
    out = pd.DataFrame(index=pd.Index(names, name="label"))
    pos = tables["global"]["n_positives"]
    out["n_positives_a"] = [int(pos.get((group_a, lab), 0)) for lab in names]
    out["n_positives_b"] = [int(pos.get((group_b, lab), 0)) for lab in names]
    for kind, tab in tables.items():
        f1 = tab["f1"]
        out[f"f1_a_{kind}"] = [float(f1.get((group_a, lab), math.nan)) for lab in names]
        out[f"f1_b_{kind}"] = [float(f1.get((group_b, lab), math.nan)) for lab in names]
        out[f"gap_{kind}"] = out[f"f1_a_{kind}"] - out[f"f1_b_{kind}"]
    both = out[["f1_a_global", "f1_b_global", "f1_a_group", "f1_b_group"]].notna().all(axis=1)
    macro = out.loc[both].mean(numeric_only=True)
    macro[["n_positives_a", "n_positives_b"]] = out[["n_positives_a", "n_positives_b"]].sum()
    for kind in tables:
        macro[f"gap_{kind}"] = macro[f"f1_a_{kind}"] - macro[f"f1_b_{kind}"]
    out.loc["macro"] = macro
    out[["n_positives_a", "n_positives_b"]] = out[["n_positives_a", "n_positives_b"]].astype(int)
    out.attrs.update(group_a=str(group_a), group_b=str(group_b))
    return out
