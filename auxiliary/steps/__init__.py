"""The steps of the series, one module per notebook, composing the layers below; also the command line's steps.

- ``simulate`` (01, ``simulate``): the step ``simulate`` (a config's synthetic dataset), and ``ensure_synthetic``.
- ``split`` (02, ``split``): the step ``split`` (read, split, oversample, write the split folder, for one class or
  several labels per image), and ``ensure_splits``.
- ``select`` (03, ``select``): architectures on an equal budget, the winner (ranked as the split's task ranks).
- ``finetuning`` (04, ``train``): a training run, reused only when its recorded settings match.
- ``evaluate`` (03, ``evaluate``): a checkpoint on any dataset, with whatever task it has; ``compare`` (05,
  ``compare``): models side by side, its result (``Comparison``) a table with a ``label`` level for multi-label runs;
  ``onnx_export`` (``export``): ONNX with a parity check.
- ``sorting`` (06, ``sort``) and ``feedback_round`` (06, ``feedback``): sorting new images, learning from corrections;
  ``feedback_multilabel``: the sort quality, review queue and simulated reviewer of a multi-label model.
- ``records``: what every step and notebook logs to the trackers (MLflow, TensorBoard); ``run_list`` (``runs``):
  the finished runs from the run folders or the MLflow store.
- ``sort`` (06, ``sort``): new images copied into the folders the checkpoint's task names; ``export``
  (``export``): ONNX with a parity check; ``serve`` (``serve``): what the web demo does, without the web.

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
    "read_selection": "select",
    "selected_model": "select",
    "winner_run": "select",
    "train": "train",
    "ensure_run": "train",
    "train_run": "train",
    "run_report": "evaluate",
    "Comparison": "compare",
    "find_runs": "compare",
    "onnx_path_for": "compare",
    "feedback": "feedback",
    "review_queue": "feedback",
    "simulate_review": "feedback",
    "round_dir": "feedback",
    "new_synthetic_batch": "feedback",
    "sort_quality": "feedback",
    "retrain_after_merge": "feedback",
    "evaluate_split": "feedback",
    "runs": "runs",
    "tracked_runs": "runs",
    "metric_table": "runs",
    "analyse": "serve",
    "model_card": "serve",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module 'auxiliary.steps' has no attribute {name!r}")
    return getattr(importlib.import_module(f"auxiliary.steps.{EXPORTS[name]}"), name)
