"""Evaluation from arrays and tables, never from a model: metrics, calibration, fairness, operating points (notebooks 03 and 05).

Modules, one job each:

- ``arrays``: checking labels and probability arrays (what every metric takes).
- ``metrics``: summary and per-class metrics, confusion, PR and ROC curves (scikit-learn does the arithmetic).
- ``calibration``: softmax with temperature, fitting it, ECE and reliability tables.
- ``operating_point``: a high-recall threshold with bootstrap intervals.
- ``fairness``: every metric by skin-tone group, gaps between groups, per-group thresholds.
- ``multilabel``: per-label AUROC/AP/F1/precision at high recall, macro and micro, subset accuracy, Hamming
  loss; ``multilabel_thresholds``: per-label and per (tone group, label) thresholds, the fairness gap;
  ``multilabel_calibration``: one sigmoid temperature per label, per-label ECE and reliability bins.
- ``conformal``: conformal prediction thresholds; ``report``: every metric of one set of predictions;
  ``multilabel_report``: the same for multi-label predictions (per label, per group and label, thresholds, the gap).
- ``comparison_table``: the long (model, split, group, metric) table that compares models (with a ``label``
  level for multi-label models).
- ``domain_gap``: the kernel inception distance between two feature sets (synthetic vs real images).

Public names used by the notebooks: ``summary_metrics``, ``per_class_metrics``, ``expected_calibration_error``,
``fit_temperature_probs``, ``apply_temperature``, ``high_recall_operating_point``, ``group_metrics``, ``gaps``,
``SPEED_METRICS``.
"""

from auxiliary.evaluation.arrays import labels_to_index
from auxiliary.evaluation.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature_probs,
    softmax,
)
from auxiliary.evaluation.comparison_table import LEVELS, SPEED_METRICS
from auxiliary.evaluation.conformal import Conformal, calibrate_conformal
from auxiliary.evaluation.fairness import fit_group_thresholds, gaps, group_metrics
from auxiliary.evaluation.metrics import confusion, per_class_metrics, summary_metrics
from auxiliary.evaluation.operating_point import high_recall_operating_point
from auxiliary.evaluation.report import evaluate_predictions

__all__ = [
    "apply_temperature",
    "calibrate_conformal",
    "Conformal",
    "confusion",
    "evaluate_predictions",
    "expected_calibration_error",
    "fit_group_thresholds",
    "fit_temperature_probs",
    "gaps",
    "group_metrics",
    "high_recall_operating_point",
    "labels_to_index",
    "LEVELS",
    "per_class_metrics",
    "softmax",
    "SPEED_METRICS",
    "summary_metrics",
]
