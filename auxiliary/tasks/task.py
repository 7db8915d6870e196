"""The task abstraction: what differs between one class per image and several labels per image, in one place.

A :class:`Task` is chosen once (:func:`auxiliary.tasks.task_named`, from a split's ``classes.json``, a
checkpoint's ``task`` entry or ``train.task``) and handed down to whatever needs it: the training loop, the
predictor, the sorter, the evaluation and comparison steps, the data steps. Code outside :mod:`auxiliary.tasks`
asks the task (``task.probabilities(logits, calibration)``, ``task.placement(...)``) instead of testing which
task it is. A new task is one more subclass, registered in :data:`auxiliary.tasks.TASKS`.

What a task owns:

* **training**: the losses it accepts (``losses``, the first its default), the metrics a run may watch
  (``monitors``, the first its default), the columns of ``logs/metrics.csv`` (``metric_columns``), the loss
  (:meth:`Task.criterion`), the metrics of an evaluation pass (:meth:`Task.pass_metrics`), the training
  accuracy (:meth:`Task.correct`), its epoch row and console line;
* **calibration and decisions**: what a checkpoint records besides the weights (:meth:`Task.calibrate`:
  a temperature, or per-label temperatures and thresholds), calibrated probabilities
  (:meth:`Task.probabilities`) and the decision rule (:meth:`Task.decide`);
* **predictions and metrics**: the predictions tables (:meth:`Task.predictions_frame`), test metrics,
  ``summary.json`` fields, its headline metrics (``key_metrics``);
* **data**: the loader targets of a table (:meth:`Task.targets`);
* **sorting**: which folders an image is copied into (:meth:`Task.placement`).

``calibration`` below is always the dict of a checkpoint's entries (or a run's ``best.pt`` info), so that a
checkpoint, once opened, carries everything its task needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from auxiliary.base.config import TrainConfig
from auxiliary.base.errors import TrainError


class Task:
    """One kind of labelling. Subclasses fill in the class attributes and the methods that raise here."""

    #: ``classes.json`` / checkpoint / ``train.task`` name.
    name: ClassVar[str] = ""
    #: How a person calls it (messages).
    title: ClassVar[str] = ""
    #: Losses a run of this task accepts; the first is its default.
    losses: ClassVar[tuple[str, ...]] = ()
    #: Metrics a run may watch; the first is its default.
    monitors: ClassVar[tuple[str, ...]] = ()
    #: Columns of a run's ``logs/metrics.csv``.
    metric_columns: ClassVar[tuple[str, ...]] = ()
    #: Headline metrics of an evaluation or comparison; the first ranks models.
    key_metrics: ClassVar[tuple[str, ...]] = ()
    #: The validation column of ``logs/metrics.csv`` that model selection ranks runs by.
    selection_metric: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # ------------------------------------------------------------------ training settings
    def loss_name(self, tcfg: TrainConfig) -> str:
        """The loss a run trains with: ``tcfg.loss``, or this task's default when ``tcfg.loss`` is left at the
        config's default (so that choosing the task alone is enough); a loss of another task is refused."""
        if tcfg.loss in self.losses:
            return tcfg.loss
        if tcfg.loss == TrainConfig.loss:
            return self.losses[0]
        raise TrainError(f"loss {tcfg.loss} does not fit {self.title} data: use --loss "
                         f"{', '.join(self.losses[:-1])} or {self.losses[-1]}")

    def monitor(self, tcfg: TrainConfig) -> str:
        """The metric a run watches: ``tcfg.monitor``, or this task's default when left at the config's default;
        one that is no metric of this task is refused."""
        if tcfg.monitor in self.monitors:
            return tcfg.monitor
        if tcfg.monitor == TrainConfig.monitor:
            return self.monitors[0]
        raise TrainError(f"monitor {tcfg.monitor} is not a metric of a {self.title} run "
                         f"(choose from: {', '.join(self.monitors)})")

    # ------------------------------------------------------------------ training
    def criterion(self, tcfg: TrainConfig, table: pd.DataFrame | None, classes: Sequence[str],
                  balance: str) -> nn.Module:
        """The loss of ``self.loss_name(tcfg)`` for training on ``table`` (its weights or prior from the
        class or label shares the training batches see under ``balance``)."""
        raise NotImplementedError

    def targets(self, table: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        """Loader targets of ``table``'s rows: class indices (N,), or a 0/1 matrix (N, L)."""
        raise NotImplementedError

    def target_tensor(self, labels: np.ndarray) -> torch.Tensor:
        """``labels`` (as an evaluation pass gathers them) as the loss's target."""
        raise NotImplementedError

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """How many of a batch's images count as right (a float tensor): the training accuracy's numerator."""
        raise NotImplementedError

    def pass_metrics(self, labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
        """Metrics of an evaluation pass (uncalibrated logits), including ``acc``."""
        raise NotImplementedError

    def epoch_row(self, epoch: int, phase: str, tr: Mapping[str, Any], va: Mapping[str, Any],
                  seconds: float) -> dict[str, Any]:
        """One row of ``logs/metrics.csv`` (:attr:`metric_columns`)."""
        raise NotImplementedError

    def epoch_line(self, row: Mapping[str, Any], max_epochs: int, improved: bool) -> str:
        """The console line of one epoch."""
        raise NotImplementedError

    # ------------------------------------------------------------------ calibration and decisions
    def calibrate(self, logits: np.ndarray, labels: np.ndarray, classes: Sequence[str], groups: np.ndarray,
                  min_group_size: int) -> dict[str, Any]:
        """What a checkpoint records besides its weights, fitted on validation ``logits``: the entries that
        :meth:`probabilities` and :meth:`decide` read back (``groups``: the rows' tone groups)."""
        raise NotImplementedError

    def probabilities(self, logits: np.ndarray, calibration: Mapping[str, Any]) -> np.ndarray:
        """Calibrated probabilities of raw logits with a checkpoint's entries."""
        raise NotImplementedError

    def decide(self, probs: np.ndarray, calibration: Mapping[str, Any], classes: Sequence[str],
               groups: Sequence[str] | None = None) -> np.ndarray:
        """The decision of each row: a class index (N,), or 0/1 per label (N, L) at the checkpoint's
        thresholds (each row's tone group's with ``groups``)."""
        raise NotImplementedError

    def prediction_names(self, decisions: np.ndarray, classes: Sequence[str]) -> list[str]:
        """What each row is predicted to be, as text (``pred`` of the predictions tables)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ run outputs
    def predictions_frame(self, probs: np.ndarray, labels: np.ndarray, index: np.ndarray,
                          classes: Sequence[str], calibration: Mapping[str, Any],
                          table: pd.DataFrame | None = None) -> pd.DataFrame:
        """``val_predictions.csv`` / ``test_predictions.csv`` of a run, in table order."""
        raise NotImplementedError

    def test_metrics(self, labels: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                     calibration: Mapping[str, Any]) -> dict[str, float]:
        """A run's test metrics (``summary.json``'s ``test``) of calibrated probabilities."""
        raise NotImplementedError

    def predictions_auroc(self, pred: pd.DataFrame | None, classes: Sequence[str]) -> float:
        """Macro AUROC of a predictions table (NaN when there is none)."""
        raise NotImplementedError

    def summary_fields(self, history: Sequence[Mapping[str, Any]], best_epoch: int,
                       test: Mapping[str, Any] | None, calibration: Mapping[str, Any]) -> dict[str, Any]:
        """What ``summary.json`` records for this task besides what every run records."""
        raise NotImplementedError

    def run_files(self, calibration: Mapping[str, Any], classes: Sequence[str]) -> dict[str, Any]:
        """Extra JSON files of a run folder (name -> content), written beside ``best.pt``."""
        return {}
