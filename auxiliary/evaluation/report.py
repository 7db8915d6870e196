"""Every metric of one set of predictions: summary, per class, calibration and fairness by group.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auxiliary.base.config import EvalConfig
from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation.arrays import MetricsInputError
from auxiliary.evaluation.calibration import reliability_table
from auxiliary.evaluation.fairness import gaps, group_metrics, group_metrics_long, group_threshold_report
from auxiliary.evaluation.metrics import confusion, per_class_metrics, summary_metrics
from auxiliary.evaluation.operating_point import high_recall_operating_point


class EvaluationError(AuxiliaryError):
    """Evaluation cannot run (missing files, labels the model does not know...)."""


# ----------------------------------------------------------------------------- pure evaluation
def evaluate_predictions(
    y: Any,
    probs: Any,
    classes: list[str],
    eval_cfg: EvalConfig | None = None,
    *,
    groups: Any = None,
    y_val: Any = None,
    probs_val: Any = None,
    groups_val: Any = None,
) -> dict[str, Any]:
    """All metrics of (already calibrated) probabilities as tidy objects.

    Keys: summary (dict), per_class, confusion, reliability (DataFrames), high_recall (dict),
    and with ``groups``: group_metrics, group_metrics_long, gaps; with validation data and
    groups too: group_thresholds. ``notes`` lists sections skipped and why.
    """
    ec = eval_cfg or EvalConfig()
    if ec.threshold_objective not in ("f1", "recall"):
        raise EvaluationError(f"threshold_objective must be f1 or recall, got {ec.threshold_objective!r}")
    y = np.asarray(y)
    probs = np.asarray(probs, dtype=np.float64)
    out: dict[str, Any] = {"notes": []}
    out["summary"] = summary_metrics(y, probs, classes, n_bins=ec.ece_bins)
    out["per_class"] = per_class_metrics(y, probs, classes)
    out["confusion"] = confusion(y, probs, classes)
    out["reliability"] = reliability_table(y, probs, n_bins=ec.ece_bins)
    positives = [c for c in ec.positive_classes if c in classes]
    if ec.positive_classes and len(positives) == len(ec.positive_classes):
        out["high_recall"] = high_recall_operating_point(
            y, probs, classes, list(ec.positive_classes), target_recall=ec.target_recall,
            n_bootstrap=ec.n_bootstrap, seed=0,
        )
    else:
        out["notes"].append(
            f"high-recall operating point skipped: positive classes {list(ec.positive_classes)} are not all among "
            f"the classes {classes} (set positive_classes, e.g. --positive-classes mel,bcc,akiec)"
        )
        positives = []
    if groups is not None:
        out["group_metrics"] = group_metrics(y, probs, classes, groups, ec.min_group_size, n_bins=ec.ece_bins)
        out["group_metrics_long"] = group_metrics_long(y, probs, classes, groups, ec.min_group_size)
        out["gaps"] = gaps(out["group_metrics"])
        small = out["group_metrics"].index[out["group_metrics"]["flagged_small"]].tolist()
        if small:
            out["notes"].append(
                f"groups with fewer than {ec.min_group_size} samples are flagged and left out of the gaps: {', '.join(small)}"
            )
        if probs_val is not None and groups_val is not None and positives:
            try:
                out["group_thresholds"] = group_threshold_report(
                    y_val, probs_val, groups_val, y, probs, groups, classes, positives, objective=ec.threshold_objective,
                    target_recall=ec.target_recall, min_group_size=ec.min_group_size,
                )
            except MetricsInputError as exc:
                out["notes"].append(f"per-group thresholds skipped: {exc}")
    return out
