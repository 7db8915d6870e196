"""The multi-label side of ``compare`` (notebook 05): truths, predictions and table rows of multi-label runs.

:func:`auxiliary.steps.compare.compare_runs` calls these for a run whose checkpoint's task is
``multilabel``. The data is then a multi-label split list (one 0/1 column per label); probabilities are
the checkpoint's per-label sigmoids at its own temperatures, decisions its own per-label and per (tone
group, label) thresholds (global ones where it records none: 0.5). The table gains a ``label`` level
(:data:`auxiliary.evaluation.comparison_table.MULTILABEL_LEVELS`, rows from
:func:`auxiliary.evaluation.comparison_table.multilabel_metric_rows`)::

    model   split  group                          label     metric               value
    A       test   all                            acne      auroc                0.91
    A       test   all                            macro     f1                   0.74
    A       test   all                            micro     f1                   0.77
    A       test   all                            all       subset_accuracy      0.52
    A       test   tone_group:dark                wrinkles  f1                   0.70
    A       test   gap:tone_group                 macro     f1                   0.08
    A       test   dark-intermediate:tone_group   macro     f1_group_thresholds  -0.02
    A       test   all                            all       onnx_ms_per_image_b1 1.9

Single-label and multi-label runs are not compared in one table (refused in one line). The
predictions of each run are :func:`auxiliary.steps.evaluate_multilabel.prediction_frame` (``prob_`` and
``pred_`` per label); the error galleries, which rank single-label mistakes, are not drawn for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.data.multilabel import label_matrix
from auxiliary.data.report import DatasetError
from auxiliary.evaluation.comparison_table import CompareError, multilabel_metric_rows
from auxiliary.inference.predictor import Predictor
from auxiliary.steps.evaluate_multilabel import prediction_frame

#: The headline numbers of a multi-label model (columns of ``Comparison.wide()``; ``key_results``' default).
MULTILABEL_KEY_METRICS: tuple[str, ...] = (
    "macro_auroc", "macro_average_precision", "macro_f1", "micro_f1", "subset_accuracy", "hamming_loss", "macro_ece",
)


def check_same_task(tasks: dict[str, str]) -> None:
    """Refuse a comparison mixing single-label and multi-label runs (``tasks``: run label -> task)."""
    if len(set(tasks.values())) > 1:
        by = {t: [k for k, v in tasks.items() if v == t] for t in sorted(set(tasks.values()))}
        raise CompareError("cannot compare single-label and multi-label runs in one table: "
                           + "; ".join(f"{t}: {', '.join(runs)}" for t, runs in by.items()))


def multilabel_truth(table: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    """(n, L) 0/1 truths of ``labels`` in the split table; one-line :class:`CompareError` naming missing columns."""
    missing = [lab for lab in labels if lab not in table.columns]
    if missing:
        raise CompareError(f"the data has no 0/1 column for the labels {', '.join(missing)} of this "
                           "multi-label model (compare it on a multi-label split's test.csv)")
    try:
        return label_matrix(table, list(labels))
    except DatasetError as exc:
        raise CompareError(str(exc)) from None


def multilabel_predictions(predictor: Predictor, paths: list[str], tta: bool = False, progress: bool = True
                           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-label probabilities without and (if ``tta``) with flip TTA; unreadable images get NaN rows."""
    plain, _ = predictor.predict_paths(paths, tta=False, progress=progress)
    flipped = predictor.predict_paths(paths, tta=True, progress=False)[0] if tta else None
    return plain, flipped


def multilabel_run_rows(
    name: str, split: str, Y: np.ndarray, probs: np.ndarray, predictor: Predictor, table: pd.DataFrame,
    groups: Sequence[Any] | None, fairness_col: str, eval_cfg: Any,
) -> tuple[list[dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    """``(rows, worst groups, predictions)`` of one variant (plain or +tta) of a multi-label run."""
    thr = predictor.label_thresholds()
    rows, worst = multilabel_metric_rows(name, split, Y, probs, predictor.classes, thr, groups, fairness_col, eval_cfg,
                                         temperatures=predictor.temperatures)
    pred = prediction_frame(table, Y, probs, list(predictor.classes), thr,
                            fairness_col if fairness_col in table.columns else None)
    return rows, worst, pred
