"""Every metric of one set of multi-label predictions: per label, macro and micro, calibration, per (group, label), thresholds, the fairness gap.

:func:`evaluate_multilabel_predictions` is the multi-label counterpart of
:func:`auxiliary.evaluation.report.evaluate_predictions`. It takes ``Y`` (n, L) 0/1 truths and ``P``
(n, L) calibrated per-label probabilities and returns tidy objects:

* ``thresholds`` (a :class:`~auxiliary.evaluation.multilabel_thresholds.LabelThresholds`) and
  ``threshold_source``: fitted on validation when ``Y_val`` / ``P_val`` are given (per label, and per
  (group, label) with ``groups_val``), else the ones passed in (a checkpoint's), else 0.5 per label;
* ``summary`` (:func:`~auxiliary.evaluation.multilabel.multilabel_summary` at the global per-label
  thresholds, plus ``macro_ece`` and ``macro_brier``) and ``metrics`` (one row per variant:
  ``global_thresholds``, and with groups ``group_thresholds``, each row's group's thresholds);
* ``per_label`` (:func:`~auxiliary.evaluation.multilabel.per_label_metrics` with ``ece`` and ``brier``);
* ``calibration`` (:func:`~auxiliary.evaluation.multilabel_calibration.label_calibration`, with the
  ``*_uncalibrated`` columns when the probabilities before the temperatures are given);
* with ``groups``: ``group_label_metrics`` (tidy (thresholds, group, label) rows, ``thresholds``
  ``global`` or ``per_group``) and ``fairness_gap``
  (:func:`~auxiliary.evaluation.multilabel_thresholds.fairness_gap`, darkest vs intermediate tone
  group, before (global thresholds) and after (per-group thresholds));
* ``notes``: what was skipped and why.

Precision "at high recall" is taken at ``eval_cfg.target_recall``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.config import EvalConfig
from auxiliary.evaluation.arrays import MetricsInputError
from auxiliary.evaluation.multilabel import multilabel_summary, per_label_metrics
from auxiliary.evaluation.multilabel_calibration import label_calibration
from auxiliary.evaluation.multilabel_thresholds import (
    DARKEST,
    MEDIUM,
    LabelThresholds,
    fairness_gap,
    fit_label_group_thresholds,
    fit_thresholds,
    group_values,
    per_group_label_metrics,
)

#: The threshold of a label when neither validation data nor a checkpoint gives one.
DEFAULT_LABEL_THRESHOLD: float = 0.5


def choose_thresholds(
    labels: Sequence[str],
    eval_cfg: EvalConfig | None = None,
    *,
    thresholds: LabelThresholds | None = None,
    Y_val: Any = None,
    P_val: Any = None,
    groups_val: Any = None,
) -> tuple[LabelThresholds, str]:
    """``(thresholds, where they come from)``: fitted on validation when given (per (group, label) too
    with ``groups_val``), else ``thresholds``, else 0.5 per label."""
    ec = eval_cfg or EvalConfig()
    names = [str(x) for x in labels]
    if Y_val is not None and P_val is not None:
        if groups_val is not None:
            thr = fit_label_group_thresholds(Y_val, P_val, groups_val, names, min_group_size=ec.min_group_size)
            return thr, "fitted on validation (per label, and per group and label)"
        return LabelThresholds(names, fit_thresholds(Y_val, P_val, names)), "fitted on validation (per label)"
    if thresholds is not None:
        missing = [lab for lab in names if lab not in thresholds.global_thresholds]
        if missing:
            raise MetricsInputError(f"no threshold for labels {missing}")
        return thresholds, "given"
    return LabelThresholds(names, {lab: DEFAULT_LABEL_THRESHOLD for lab in names}), \
        f"default {DEFAULT_LABEL_THRESHOLD:g} per label"


def calibration_table(Y: Any, P: Any, labels: Sequence[str], n_bins: int, P_uncalibrated: Any = None) -> pd.DataFrame:
    """Per label (and ``macro``): ECE, Brier, mean probability, prevalence; with ``P_uncalibrated`` also
    ``ece_uncalibrated``, ``brier_uncalibrated`` and ``mean_probability_uncalibrated``."""
    cal = label_calibration(Y, P, labels, n_bins)
    if P_uncalibrated is not None:
        raw = label_calibration(Y, P_uncalibrated, labels, n_bins)
        for col in ("ece", "brier", "mean_probability"):
            cal[f"{col}_uncalibrated"] = raw[col]
    return cal


def group_label_table(Y: Any, P: Any, groups: np.ndarray, labels: Sequence[str], thr: LabelThresholds,
                      min_group_size: int, target_recall: float) -> pd.DataFrame:
    """Tidy per (group, label) metrics with the global thresholds and with the per-group ones (column ``thresholds``)."""
    parts = []
    for kind, use in (("global", False), ("per_group", True)):
        long = per_group_label_metrics(Y, P, groups, labels, thr.for_rows(groups, use_groups=use),
                                       min_group_size=min_group_size, target_recall=target_recall)
        long.insert(0, "thresholds", kind)
        parts.append(long)
    return pd.concat(parts, ignore_index=True)


def evaluate_multilabel_predictions(
    Y: Any,
    P: Any,
    labels: Sequence[str],
    eval_cfg: EvalConfig | None = None,
    *,
    groups: Any = None,
    thresholds: LabelThresholds | None = None,
    Y_val: Any = None,
    P_val: Any = None,
    groups_val: Any = None,
    P_uncalibrated: Any = None,
    group_a: str = DARKEST,
    group_b: str = MEDIUM,
) -> dict[str, Any]:
    """All metrics of (already calibrated) multi-label probabilities (keys in the module docstring)."""
    ec = eval_cfg or EvalConfig()
    names = [str(x) for x in labels]
    P = np.asarray(P, dtype=np.float64)
    out: dict[str, Any] = {"notes": []}
    thr, source = choose_thresholds(names, ec, thresholds=thresholds, Y_val=Y_val, P_val=P_val, groups_val=groups_val)
    out["thresholds"], out["threshold_source"] = thr, source
    if source.startswith("default"):
        out["notes"].append(f"no thresholds given or fitted: {DEFAULT_LABEL_THRESHOLD:g} for every label "
                            "(pass validation data to fit them)")
    glob = thr.for_rows(None)
    cal = calibration_table(Y, P, names, ec.ece_bins, P_uncalibrated)
    per = per_label_metrics(Y, P, names, glob, ec.target_recall)
    per["ece"] = cal.loc[names, "ece"].to_numpy()
    per["brier"] = cal.loc[names, "brier"].to_numpy()
    summary = {**multilabel_summary(Y, P, names, glob, ec.target_recall),
               "macro_ece": float(cal.loc["macro", "ece"]), "macro_brier": float(cal.loc["macro", "brier"])}
    out.update(summary=summary, per_label=per, calibration=cal)
    rows = [{"variant": "global_thresholds", **summary}]
    if groups is not None:
        g = group_values(groups, len(P))
        rows.append({"variant": "group_thresholds", **multilabel_summary(Y, P, names, thr.for_rows(g), ec.target_recall),
                     "macro_ece": summary["macro_ece"], "macro_brier": summary["macro_brier"]})
        long = group_label_table(Y, P, g, names, thr, ec.min_group_size, ec.target_recall)
        out["group_label_metrics"] = long
        small = sorted(set(long.loc[long["flagged_small"], "group"]))
        if small:
            out["notes"].append(f"groups with fewer than {ec.min_group_size} samples are flagged small: "
                                f"{', '.join(small)}")
        if thr.fallback:
            out["notes"].append("per-group thresholds fall back to the global one for: " + "; ".join(
                f"{grp}: {', '.join(labs)}" for grp, labs in thr.fallback.items()))
        try:
            out["fairness_gap"] = fairness_gap(Y, P, g, names, thr, group_a=group_a, group_b=group_b)
        except MetricsInputError as exc:
            out["notes"].append(f"fairness gap ({group_a} vs {group_b}) skipped: {exc}")
    out["metrics"] = pd.DataFrame(rows).set_index("variant")
    return out
