"""The steps: one module per command-line verb, named after it, each with one public function of the same name that
the command line (``auxiliary.faces.cli.<verb>``), the notebook and the DVC stage all call.

- ``simulate`` (notebook 01): a config's synthetic dataset; ``ensure_synthetic`` makes it when missing.
- ``split`` (02): read, split, oversample and write the split folder, for one class or several labels per image;
  ``ensure_splits`` reuses a complete one.
- ``select`` (03): architectures on an equal budget and the winner, ranked by the split's task's metric.
- ``train`` (04): a training run; ``ensure_run`` is the one rule that reuses a run only when its recorded settings
  match.
- ``evaluate`` (03, 05): a checkpoint on any split or dataset, with whatever task it has.
- ``compare`` (05): models side by side (``Comparison``: a table with a ``label`` level for multi-label runs).
- ``export``: ONNX with a parity check.
- ``sort`` (06): new images copied into the folders the checkpoint's task names, ``low_confidence/`` and
  ``rejected.csv``.
- ``feedback`` (06): file a reviewed image, merge a feedback folder into a new training split version; the
  review queue, the simulated reviewer and the before/after of notebook 06's round.
- ``serve``: what the web demo does, without the web (the checkpoint opened once, analysis, model card).
- ``predict``: one photo or a few: calibrated classes or labels, the low-confidence flag, Grad-CAM, ``--face``.
- ``adapt``: a synthetic model adapted, without labels, to the photos it is about to sort (AdaBN, self-training).
- ``operating_point``: per-class decision shifts (a melanoma recall floor) fitted by k-fold on train + validation,
  stored in a copy of the checkpoint that every predicting step decides with.
- ``runs``: the finished runs from the run folders or the MLflow store.

Every notebook calls ``ensure_*`` for its inputs, so it also works opened alone: if the previous
notebook has not run with the same settings, its outputs are made here by the very same functions.

The names below are importable from ``auxiliary.steps`` (``from auxiliary.steps import ensure_splits``);
the verbs themselves are imported from their module (``from auxiliary.steps.sort import sort``), since a
module and its function share the name. They are looked up on first use, so that a command such as
``python -m auxiliary simulate`` loads only its own step, not PyTorch, ONNX Runtime and every other step.
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
    "ensure_run": "train",
    "train_run": "train",
    "run_report": "evaluate",
    "Comparison": "compare",
    "find_runs": "compare",
    "onnx_path_for": "compare",
    "review_queue": "feedback",
    "simulate_review": "feedback",
    "review_batch": "feedback",
    "review": "feedback",
    "new_batch": "feedback",
    "round_dir": "feedback",
    "new_synthetic_batch": "feedback",
    "sort_quality": "feedback",
    "retrain_after_merge": "feedback",
    "evaluate_split": "feedback",
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
