"""Model selection of multi-label runs: the validation columns of the selection table, and the default metric.

A multi-label candidate (``summary.json`` task ``multilabel``) is measured on its ``val_predictions.csv``
(per-label sigmoid probabilities at the run's per-label temperatures, one 0/1 column per label) with the
columns of the single-label table, meaning: ``val_macro_auroc`` (mean per-label AUROC),
``val_macro_f1`` (mean per-label F1 at the run's validation thresholds), ``val_acc`` (subset accuracy:
every label right), ``val_ece`` (mean per-label ECE), ``val_log_loss`` (mean binary cross entropy);
``val_balanced_acc`` has no multi-label meaning and stays empty. The selection metric left at the
single-label default (``val_balanced_acc``) becomes ``val_macro_auroc`` for a multi-label split, as the
training monitor does (:func:`auxiliary.training.engine.run_monitor`).

:func:`multilabel_run_report` gives every figure of a multi-label run's validation or test predictions
(notebooks 03 and 04).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.config import TrainConfig
from auxiliary.data.readers import split_task
from auxiliary.evaluation.comparison_table import SelectionError
from auxiliary.evaluation.multilabel import multilabel_summary
from auxiliary.evaluation.multilabel_calibration import label_calibration
from auxiliary.evaluation.multilabel_report import evaluate_multilabel_predictions
from auxiliary.evaluation.multilabel_thresholds import thresholds_from_dict

#: What a multi-label selection ranks by when the user kept the single-label default.
MULTILABEL_SELECT_METRIC = "val_macro_auroc"


def selection_metric(metric: str, split_dir: str | Path) -> str:
    """``metric``, or ``val_macro_auroc`` when it is the single-label default and the split is multi-label."""
    if metric == TrainConfig.select_metric and split_task(split_dir) == "multilabel":
        return MULTILABEL_SELECT_METRIC
    return metric


def multilabel_val_metrics(run_dir: str | Path, summary: dict[str, Any], n_bins: int = 15) -> dict[str, Any]:
    """The validation columns of a multi-label run's selection row (see the module docstring) and ``n_val``."""
    f = Path(run_dir) / "val_predictions.csv"
    labels = [str(x) for x in summary.get("labels") or []]
    if not f.is_file() or not labels:
        raise SelectionError(f"no multi-label validation predictions in {run_dir} (val_predictions.csv, labels)")
    df = pd.read_csv(f, keep_default_na=False, dtype={"label": str, "path": str, "pred": str})
    missing = [c for lab in labels for c in (lab, f"prob_{lab}") if c not in df.columns]
    if missing:
        raise SelectionError(f"{f} lacks the columns {', '.join(missing[:4])}")
    Y = df[labels].to_numpy(dtype=np.int64)
    P = df[[f"prob_{lab}" for lab in labels]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    glob = (summary.get("thresholds") or {}).get("global") or {}
    thresholds = [float(glob.get(lab, 0.5)) for lab in labels]
    s = multilabel_summary(Y, P, labels, thresholds)
    p = np.clip(P, 1e-7, 1 - 1e-7)
    bce = float(np.mean(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)))) if len(Y) else math.nan
    return {
        "val_balanced_acc": math.nan,
        "val_macro_auroc": s["macro_auroc"],
        "val_ece": float(label_calibration(Y, P, labels, n_bins=n_bins).loc["macro", "ece"]) if len(Y) else math.nan,
        "val_macro_f1": s["macro_f1"],
        "val_acc": s["subset_accuracy"],
        "val_log_loss": bce,
        "n_val": int(len(Y)),
        "n_labels": len(labels),
    }


def multilabel_run_report(run_dir: str | Path, cfg: Any, split: str = "val") -> dict[str, Any]:
    """Every figure of a multi-label run's ``<split>_predictions.csv`` (notebooks 03 and 04): the report of
    :func:`auxiliary.evaluation.multilabel_report.evaluate_multilabel_predictions` at the run's own
    thresholds, per ``cfg.eval.fairness_col`` group when the table has it, plus ``Y``, ``P``, ``labels``,
    ``table``, the run's per-label ``temperatures`` and ``fairness_col`` (None without groups)."""
    run = Path(run_dir)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    if summary.get("task") != "multilabel":
        raise SelectionError(f"{run} is not a multi-label run (summary.json task {summary.get('task', 'single')!r})")
    f = run / f"{split}_predictions.csv"
    if not f.is_file():
        raise SelectionError(f"{run} has no {split} predictions ({f.name} missing)")
    labels = [str(x) for x in summary["labels"]]
    table = pd.read_csv(f, keep_default_na=False, dtype={"label": str, "path": str, "pred": str, "tone_group": str})
    Y = table[labels].to_numpy(dtype=np.int64)
    P = table[[f"prob_{lab}" for lab in labels]].to_numpy(dtype=np.float64)
    col = cfg.eval.fairness_col
    groups = table[col] if col in table.columns else None
    thr = thresholds_from_dict(summary["thresholds"], labels) if summary.get("thresholds") else None
    report = evaluate_multilabel_predictions(Y, P, labels, cfg.eval, groups=groups, thresholds=thr)
    return {**report, "Y": Y, "P": P, "labels": labels, "table": table, "temperatures": summary.get("temperatures"),
            "fairness_col": col if groups is not None else None}
