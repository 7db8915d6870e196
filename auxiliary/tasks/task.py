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
* **evaluation**: what an evaluation of a checkpoint reports (:meth:`Task.evaluate`, refitting its calibration on
  validation with :meth:`Task.refit`), the truths of a labelled table (:meth:`Task.truths`), a model's rows of the
  comparison table (:meth:`Task.comparison_rows`), a run's validation columns in model selection
  (:meth:`Task.selection_columns`) and what selection ranks by (:meth:`Task.select_metric`);
* **inference**: what an ONNX export records (:meth:`Task.onnx_metadata`), how a sort decides where an image
  goes (:meth:`Task.sort_rule`, a :class:`~auxiliary.tasks.placement.SortRule`) and what its ``predictions.csv`` holds, how the web demo
  presents one image's result (:meth:`Task.analysis`, :meth:`Task.card_lines`).

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
from auxiliary.tasks.placement import LOW_CONFIDENCE, SortRule

#: The web demo's banner title for such an image.
LOW_CONFIDENCE_TITLE = "Low confidence — have it reviewed"
#: The web demo's words when a model that looks for several conditions finds none.
NO_CONDITION = "No condition found"


class Task:
    """One kind of labelling. Subclasses fill in the class attributes and the methods that raise here."""

    #: ``classes.json`` / checkpoint / ``train.task`` name.
    name: ClassVar[str] = ""
    #: How a person calls it (messages).
    title: ClassVar[str] = ""
    #: What its data is, in a message (``the data has one class per image``).
    data_phrase: ClassVar[str] = ""
    #: Losses a run of this task accepts; the first is its default.
    losses: ClassVar[tuple[str, ...]] = ()
    #: Losses that can train on the soft targets of Mixup/CutMix (``train.mixup``, ``train.cutmix``); none: no mixing.
    mix_losses: ClassVar[tuple[str, ...]] = ()
    #: Whether Mixup/CutMix mixes 0/1 label rows (several labels per image) rather than class indices.
    mix_label_rows: ClassVar[bool] = False
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
        raise TrainError(f"loss {tcfg.loss} does not fit {self.title} data ({self.data_phrase}): use --loss "
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

    def mixing(self, tcfg: TrainConfig, criterion: nn.Module) -> tuple[float, nn.Module]:
        """What Mixup/CutMix of this task's batches needs (:func:`auxiliary.training.mixing.batch_mix`): the label
        smoothing folded into the mixed targets and the loss that reads them (``criterion`` is the run's own).
        A loss that cannot read soft targets is refused."""
        loss = self.loss_name(tcfg)
        if loss not in self.mix_losses:
            raise TrainError(f"mixup/cutmix train on mixed (soft) targets, which loss {loss} of a {self.title} run "
                             f"cannot read: use --loss {' or '.join(self.mix_losses)}, or mixup 0 and cutmix 0")
        return self._mixing(tcfg, criterion)

    def _mixing(self, tcfg: TrainConfig, criterion: nn.Module) -> tuple[float, nn.Module]:
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

    # ------------------------------------------------------------------ after sorting: quality and review
    def sort_quality(self, predictions: pd.DataFrame, truth: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
        """How a sort (its ``predictions.csv``) did against known labels (``truth``: ``source`` and the labels)."""
        raise NotImplementedError

    def review_queue(self, predictions: pd.DataFrame, truth: pd.DataFrame | None, classes: Sequence[str], *,
                     order: str = "margin", include_mistakes: bool = True) -> pd.DataFrame:
        """The sorted images worth a reviewer's look, most informative first, with ``label`` (the truth, when
        known), ``mistake``, ``why`` and ``rank``."""
        raise NotImplementedError

    def review_filing(self, row: Mapping[str, Any], classes: Sequence[str]) -> tuple[str, str, dict[str, float]] | None:
        """What a reviewer who knows a queued image's truth files: ``(feedback folder, model guess, probabilities)``;
        ``None`` when its truth is unknown."""
        raise NotImplementedError

    def uncertainty(self, probs: np.ndarray, calibration: Mapping[str, Any], classes: Sequence[str]) -> np.ndarray:
        """How unsure the model is of each row, from 0 (sure) to 1 (on the fence): what active learning ranks by
        (NaN for a row without probabilities)."""
        raise NotImplementedError

    def test_line(self, summary: Mapping[str, Any]) -> str:
        """The end of ``train``'s ``done:`` line: the run's test metrics (empty without a test split)."""
        raise NotImplementedError

    def run_files(self, calibration: Mapping[str, Any], classes: Sequence[str]) -> dict[str, Any]:
        """Extra JSON files of a run folder (name -> content), written beside ``best.pt``."""
        return {}

    # ------------------------------------------------------------------ inference: ONNX, sorting, the web demo
    #: Folders a sort fills besides one per class (or label); ``low_confidence`` last.
    sort_folders: ClassVar[tuple[str, ...]] = (LOW_CONFIDENCE,)
    #: Whether an image is described by one class (the web demo files feedback only then: one folder per class).
    one_class_per_image: ClassVar[bool] = True
    #: How the web demo shows an image's probabilities (a view of :mod:`auxiliary.faces.webapp`).
    probability_view: ClassVar[str] = ""

    def onnx_metadata(self, calibration: Mapping[str, Any], classes: Sequence[str]) -> dict[str, Any]:
        """What an ONNX export records for this task besides classes, preprocessing and ``temperature`` (values
        JSON can hold; ``output`` says what the outputs mean). An exported file stands in for a checkpoint only
        when these entries, other than ``output``, match the checkpoint's."""
        return {}

    def outputs_line(self, meta: Mapping[str, Any]) -> str:
        """One line on an exported file's classes and probabilities, from its metadata (``export`` prints it)."""
        raise NotImplementedError

    def sort_rule(self, calibration: Mapping[str, Any], classes: Sequence[str], conf: float, *,
                  coverage: float | None = None, tone_thresholds: bool = False) -> SortRule:
        """How a sort with a checkpoint's entries decides (``conf``: the review threshold or band); what this task
        cannot sort by (an option, a class named like one of :attr:`sort_folders`) is a :class:`SortError` here,
        before anything is read."""
        raise NotImplementedError

    def sort_columns(self, classes: Sequence[str]) -> list[str]:
        """The columns of a sort's ``predictions.csv``."""
        raise NotImplementedError

    def sort_row(self, rec: Mapping[str, Any], n_classes: int) -> list[Any]:
        """One journal record as a row of :meth:`sort_columns`."""
        raise NotImplementedError

    def analysis(self, probs: Mapping[str, float], calibration: Mapping[str, Any], classes: Sequence[str],
                 conf: float) -> dict[str, Any]:
        """What the web demo shows for one image's calibrated probabilities (class -> p, in class order):
        ``probs`` in the order shown, ``top``/``top_prob``, ``low_confidence``, ``detail``, ``message`` and
        ``banner`` (kind, title, body), plus what the task's view needs."""
        raise NotImplementedError

    def card_lines(self, calibration: Mapping[str, Any], conf: float) -> list[str]:
        """The web demo's model card (Markdown lines) before the metrics: the model, its calibration, the review rule."""
        raise NotImplementedError

    def sample_weights(self, table: pd.DataFrame, classes: Sequence[str], balance: str) -> np.ndarray | None:
        """Per-row weights of the balanced training sampler under ``balance`` (``data.balance``; ``None``: plain
        shuffling), what :func:`auxiliary.data.loaders.build_loader` draws rows with."""
        raise NotImplementedError

    # ------------------------------------------------------------------ evaluation: evaluate, compare, select
    #: The headline columns of a comparison of models of this task (``Comparison.wide()``, ``key_results``).
    comparison_metrics: ClassVar[tuple[str, ...]] = ()

    def select_metric(self, tcfg: TrainConfig) -> str:
        """What model selection ranks runs by: ``tcfg.select_metric``, or :attr:`selection_metric` when it is left at
        the config's default (so that choosing the task alone is enough)."""
        return self.selection_metric if tcfg.select_metric == TrainConfig.select_metric else tcfg.select_metric

    def truths(self, table: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        """What a labelled table says each row is, as the metrics take it: class indices, or 0/1 per label; a
        table that does not fit the model (a label it does not know, a missing label column) is one line."""
        raise NotImplementedError

    def prediction_arrays(self, predictions: pd.DataFrame, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(truths, probabilities)`` of a predictions table (a run's ``val_predictions.csv``: ``label`` or one 0/1
        column per label, ``prob_<class>``...); an unknown label is -1, a missing probability NaN."""
        raise NotImplementedError

    def refit(self, logits: np.ndarray, truths: np.ndarray) -> dict[str, Any]:
        """The calibration entries an evaluation fits on validation logits (``evaluate --val``), in place of the
        checkpoint's; rows with a NaN logit (unreadable images) or an unknown label are left out."""
        raise NotImplementedError

    def evaluate(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str], eval_cfg: Any, *,
                 calibration: Mapping[str, Any], groups: Any = None, val: tuple[Any, Any, Any] | None = None,
                 val_name: str | None = None, uncalibrated: np.ndarray | None = None,
                 tta: np.ndarray | None = None) -> dict[str, Any]:
        """Every metric of calibrated probabilities (:mod:`auxiliary.evaluation.report`): tables (DataFrames, the
        evaluate step's CSV files), ``summary``, ``metrics`` (one row per variant: the ``uncalibrated`` and ``tta``
        probabilities among them), ``files`` (JSON beside them), ``notes``. ``val`` = (truths, probabilities,
        groups) of the validation list ``val_name`` that decision thresholds are fitted on."""
        raise NotImplementedError

    def evaluation_summary(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """What an evaluation's ``summary.json`` records of :meth:`evaluate`'s report besides its settings."""
        raise NotImplementedError

    def prediction_columns(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                           report: Mapping[str, Any]) -> pd.DataFrame:
        """The columns of an evaluation's ``predictions.csv`` after path, label and group (decided as the report
        decides); an unreadable image's row (NaN probabilities) predicts nothing."""
        raise NotImplementedError

    def gradcam_rows(self, truths: np.ndarray, readable: np.ndarray, n: int) -> list[int] | None:
        """The rows (at most ``n``) an evaluation explains with Grad-CAM, or ``None``: its evaluation shows none."""
        return None

    def comparison_rows(self, model: str, split: str, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                        calibration: Mapping[str, Any], groups: Sequence[Any] | None, fairness_col: str,
                        eval_cfg: Any) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """One model's rows of the comparison table (:mod:`auxiliary.evaluation.comparison_table`) and the worst
        group of each gap."""
        raise NotImplementedError

    def comparison_predictions(self, table: pd.DataFrame, truths: np.ndarray, probs: np.ndarray,
                               classes: Sequence[str], calibration: Mapping[str, Any],
                               fairness_col: str) -> pd.DataFrame:
        """One model's predictions in a comparison (``predictions/<model>.csv``, what its figures pick from)."""
        raise NotImplementedError

    def comparison_wide(self, table: pd.DataFrame, group: str = "all", label: str | None = None) -> pd.DataFrame:
        """model x metric of a comparison table of this task, for one group (and label, where the table has them)."""
        raise NotImplementedError

    def selection_columns(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                          calibration: Mapping[str, Any], n_bins: int) -> dict[str, Any]:
        """The validation columns of a model-selection row (``val_balanced_acc``, ``val_macro_auroc``, ``val_ece``,
        ``val_macro_f1``, ``val_acc``, ``val_log_loss``; NaN where the task has no such measure) and ``n_val``, of a
        run's calibrated validation predictions."""
        raise NotImplementedError

    def split_metrics(self, table: pd.DataFrame, probs: np.ndarray, classes: Sequence[str],
                      calibration: Mapping[str, Any]) -> dict[str, float]:
        """The summary metrics of a checkpoint's calibrated probabilities on one labelled split list (notebook 06's
        before and after a feedback round), decided as the checkpoint decides (``calibration``)."""
        raise NotImplementedError
