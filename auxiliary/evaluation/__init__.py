"""Evaluation from arrays and tables, never from a model: metrics, calibration, fairness, operating points (notebooks 03 and 05).

Modules, one job each:

Each module serves both tasks (one class per image, several labels per image); which of its functions a run
uses is the run's task's choice (:mod:`auxiliary.tasks`), which this room never looks up: it takes plain arrays.

- ``arrays``: checking labels, probability arrays and group values (what every metric takes).
- ``metrics``: summary and per-class metrics, confusion, PR and ROC curves; per-label AUROC/AP/F1/precision at
  high recall, macro and micro, subset accuracy, Hamming loss (scikit-learn does the arithmetic).
- ``calibration``: softmax with one temperature, sigmoids with one temperature per label, fitting them, ECE
  (top-label and per label) and reliability tables.
- ``thresholds``: decision thresholds fitted on validation, globally and per group: on P(positive classes), or
  per label and per (tone group, label); the dict a multi-label checkpoint records.
- ``operating_point``: a high-recall threshold with bootstrap intervals.
- ``prior_shift``: a stored operating point of a single-label model (one log-prior shift per class, fitted under
  recall floors on held-out probabilities), its decisions and their report.
- ``fairness``: every metric by skin-tone group (per class or per label), gaps between groups, the F1 gap between
  the darkest and the intermediate tone group before and after per-group thresholds.
- ``conformal``: conformal prediction thresholds; ``report``: every metric of one set of predictions (per class,
  or per label, per group and label, thresholds, the gap).
- ``comparison_table``: the long (model, split, group, metric) table that compares models (with a ``label``
  level for multi-label models), and the model-selection table's columns.
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
from auxiliary.evaluation.fairness import gaps, group_metrics
from auxiliary.evaluation.metrics import confusion, per_class_metrics, summary_metrics
from auxiliary.evaluation.operating_point import high_recall_operating_point
from auxiliary.evaluation.report import evaluate_predictions
from auxiliary.evaluation.thresholds import fit_group_thresholds

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
