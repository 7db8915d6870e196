"""The steps of the series, one module per notebook, composing the layers below; also the command line's steps.

- ``synthesis`` (01, ``simulate``): the synthetic dataset of a config, made when missing.
- ``datasets`` (02, ``split``): the dataset the series trains on and its split folder.
- ``sim2real`` (01, ``benchmarks/bench_sim2real.py``): synthetic images next to the user's real photos (KID,
  the figures of a synthetic-trained model on them).
- ``selection`` (03, ``select``): architectures on an equal budget, the winner; ``selection_multilabel``: its
  validation columns and default metric for multi-label runs.
- ``finetuning`` (04, ``train``): a training run, reused only when its recorded settings match.
- ``evaluate`` (``evaluate``): a checkpoint on any dataset, ``evaluate_multilabel`` when the checkpoint is
  multi-label; ``comparison`` (05, ``compare``): models side by side, ``comparison_result`` its result
  (``Comparison``), ``comparison_multilabel`` its rows of multi-label runs (a ``label`` level);
  ``onnx_export`` (``export``): ONNX with a parity check.
- ``sorting`` (06, ``sort``) and ``feedback_round`` (06, ``feedback``): sorting new images, learning from corrections;
  ``feedback_multilabel``: the sort quality, review queue and simulated reviewer of a multi-label model.
- ``records``: what every step and notebook logs to the trackers (MLflow, TensorBoard); ``run_list`` (``runs``):
  the finished runs from the run folders or the MLflow store.
- ``demo``: what the web demo does, without the web (``demo_labels``: for a multi-label model); ``arguments``:
  the command line's ``--field-name`` flags.

Every notebook calls ``ensure_*`` for its inputs, so it also works opened alone: if the previous
notebook has not run with the same settings, its outputs are made here by the very same functions.

The names below are importable from ``auxiliary.steps`` (``from auxiliary.steps import ensure_splits``).
They are looked up in their module on first use, so that a command such as ``python -m auxiliary
simulate`` loads only its own step, not PyTorch, ONNX Runtime and every other step.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the step module that defines it
EXPORTS: dict[str, str] = {
    "ensure_synthetic": "simulate",
    "dataset_source": "split",
    "ensure_splits": "split",
    "read_source": "split",
    "read_real": "sim2real",
    "domain_gap": "sim2real",
    "real_scores": "sim2real",
    "run_selection": "select",
    "read_selection": "select",
    "selected_model": "select",
    "winner_run": "select",
    "multilabel_run_report": "selection_multilabel",
    "ensure_run": "train",
    "train_run": "train",
    "evaluate_checkpoint": "evaluate",
    "predict_csv": "evaluate",
    "Comparison": "compare",
    "compare_runs": "compare",
    "find_runs": "compare",
    "onnx_path_for": "compare",
    "review_queue": "feedback",
    "simulate_review": "feedback",
    "round_dir": "feedback",
    "new_synthetic_batch": "feedback",
    "sort_quality": "feedback",
    "multilabel_sort_quality": "feedback_multilabel",
    "multilabel_review_queue": "feedback_multilabel",
    "simulate_multilabel_review": "feedback_multilabel",
    "retrain_after_merge": "feedback",
    "evaluate_split": "feedback",
    "list_runs": "runs",
    "tracked_runs": "runs",
    "metric_table": "runs",
    "analyse": "demo",
    "model_card": "demo",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module 'auxiliary.steps' has no attribute {name!r}")
    return getattr(importlib.import_module(f"auxiliary.steps.{EXPORTS[name]}"), name)
