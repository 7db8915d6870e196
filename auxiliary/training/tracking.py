"""Experiment tracking of a training run through Lightning Fabric's loggers (``track.tracking``, ``--tracking``).

The loop hands Fabric the loggers of :func:`run_loggers` and logs through them, never to a
tracker directly:

* ``csv`` (always on): :class:`RunCSVLogger` writes ``logs/metrics.csv``, the same file as ever (one row
  per epoch, the columns of :attr:`auxiliary.tasks.Task.metric_columns` of the run's task), rewritten atomically; a
  resumed run keeps its earlier rows). Fabric's own ``CSVLogger`` is not used: it sorts the columns,
  adds a ``step`` column, appends in place and deletes an existing ``metrics.csv`` when it starts.
* ``tensorboard``: Fabric's ``TensorBoardLogger`` into ``logs/tensorboard/`` of the run folder
  (``tensorboard --logdir runs`` shows every run): each epoch's metrics and learning rate, the
  config as text and, at the end, as hyperparameters with the final metrics, the figures as
  images and the per-tone-group table as text.
* ``mlflow``: :class:`MlflowLogger`, a Fabric logger over :class:`auxiliary.base.mlflow_store.TrackedRun`:
  the epoch metrics, the resolved config as parameters, the tags ``model_arch``, ``balance``,
  ``task`` (the classes), ``profile``, ``data_version`` (the split's hash,
  :func:`auxiliary.base.provenance.data_version`) and, at the end, the final metrics and the artifacts:
  figures, ``logs/tone_groups.csv`` (per tone group and label for a multi-label run), ``metrics.csv``,
  ``best.pt``, ``thresholds.json`` (multi-label), ``best.onnx`` (exported by the
  steps layer's callback), ``config.yaml``, ``summary.json``. The run id is kept in
  ``logs/tracking.json``, so a resumed run continues the same MLflow run.

Fabric's loggers log on rank 0 only (``rank_zero_only``): a DDP run is one tracked run.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from lightning_fabric.loggers import Logger, TensorBoardLogger
from lightning_fabric.loggers.logger import rank_zero_experiment
from lightning_fabric.utilities.rank_zero import rank_zero_only
from PIL import Image

from auxiliary.base.config import Config, to_dict
from auxiliary.base.files import write_csv_atomic, write_json_atomic
from auxiliary.base.mlflow_store import TrackedRun, TrackingError
from auxiliary.base.provenance import config_hash, data_version
from auxiliary.evaluation.arrays import labels_to_index
from auxiliary.evaluation.fairness import group_metrics, per_group_label_metrics
from auxiliary.training.runs import write_metrics

#: Files of a finished run logged as MLflow artifacts (figures and tables under ``logs/``).
RUN_ARTIFACTS: tuple[str, ...] = ("best.pt", "best.onnx", "config.yaml", "summary.json", "thresholds.json")
LOG_ARTIFACTS: tuple[str, ...] = ("*.png", "*.csv")
#: Final metrics taken from ``summary.json``.
FINAL_METRICS: tuple[str, ...] = (
    "best_value", "best_val_balanced_acc", "best_val_macro_f1", "best_val_acc", "val_macro_auroc", "temperature",
    "test_balanced_acc", "test_macro_f1", "test_acc", "test_macro_auroc", "epochs_run", "seconds_training",
    "best_val_macro_auroc", "best_val_hamming_loss", "test_micro_auroc", "test_subset_accuracy", "test_hamming_loss",
)


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a row, without ``epoch`` (the step every value is logged at)."""
    return {k: float(v) for k, v in metrics.items() if k != "epoch"
            and isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and np.isfinite(v)}


def flat_config(cfg: Config) -> dict[str, Any]:
    """``{"train.model": ..., "data.balance": ..., "profile": ...}``: the resolved config as parameters."""
    d = to_dict(cfg)
    out: dict[str, Any] = {"profile": d.pop("profile")}
    for sec, values in d.items():
        out.update({f"{sec}.{k}": (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in values.items()})
    return out


class RunCSVLogger(Logger):
    """``logs/metrics.csv`` of a run folder: one row per epoch (the key ``epoch`` of each logged row)."""

    def __init__(self, run_dir: str | Path):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.rows: dict[int, dict[str, Any]] = {}

    @property
    def name(self) -> str:
        return "csv"

    @property
    def version(self) -> str:
        return ""

    @property
    def root_dir(self) -> str:
        return str(self.run_dir / "logs")

    def seed(self, history: Sequence[dict[str, Any]]) -> None:
        """Start from the rows of a resumed run."""
        self.rows = {int(r["epoch"]): dict(r) for r in history}

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if "epoch" not in metrics:
            return  # final metrics live in summary.json
        self.rows[int(metrics["epoch"])] = dict(metrics)
        write_metrics([self.rows[k] for k in sorted(self.rows)], self.run_dir)

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass  # the run folder's config.yaml holds them


class RunTensorBoardLogger(TensorBoardLogger):
    """Fabric's TensorBoard logger into ``<run>/logs/tensorboard``, given numbers only (the ``phase`` text is left out)."""

    def __init__(self, run_dir: str | Path):
        super().__init__(root_dir=str(Path(run_dir) / "logs"), name="tensorboard", version="", default_hp_metric=False)

    @rank_zero_only
    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        super().log_metrics(_numbers(dict(metrics)), step)


def _saved_run_id(path: Path) -> str | None:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("mlflow_run_id")
    except (OSError, ValueError, AttributeError):
        return None


class MlflowLogger(Logger):
    """A Fabric logger writing one MLflow run per run folder; the run starts at the first log call (rank 0)."""

    def __init__(self, cfg: Config, run_dir: str | Path):
        super().__init__()
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self._run: TrackedRun | None = None

    @property
    def name(self) -> str:
        return "mlflow"

    @property
    def version(self) -> str:
        return self._run.run_id if self._run else ""

    @property
    def state_file(self) -> Path:
        return self.run_dir / "logs" / "tracking.json"

    @property
    @rank_zero_experiment
    def experiment(self) -> TrackedRun:
        if self._run is None:
            saved = _saved_run_id(self.state_file)
            self._run = TrackedRun.resume(self.cfg, saved) if saved else None
            if self._run is None:
                self._run = TrackedRun.start(self.cfg, self.run_dir.name, {"step": "train", "run_dir": str(self.run_dir)})
            write_json_atomic(self.state_file, {"mlflow_run_id": self._run.run_id, "experiment_id":
                                                self._run.experiment_id, "tracking_uri": self._run.client.tracking_uri})
        return self._run

    @property
    def started(self) -> bool:
        return self._run is not None

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.experiment.log_metrics(_numbers(metrics), step)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        self.experiment.log_params(params)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._run is not None:
            self._run.end(status)


def run_loggers(cfg: Config, run_dir: str | Path) -> list[Logger]:
    """The Fabric loggers of ``cfg.track.tracking`` for the run folder ``run_dir`` (csv always first)."""
    loggers: list[Logger] = [RunCSVLogger(run_dir)]
    for tracker in dict.fromkeys(cfg.track.tracking):
        if tracker == "tensorboard":
            if importlib.util.find_spec("tensorboard") is None:
                raise TrackingError("--tracking tensorboard needs the tensorboard package: pip install -e '.[tracking]'")
            loggers.append(RunTensorBoardLogger(run_dir))
        elif tracker == "mlflow":
            loggers.append(MlflowLogger(cfg, run_dir))
    return loggers


def _of(fabric: Any, kind: type) -> list[Any]:
    return [lg for lg in fabric.loggers if isinstance(lg, kind)]


def run_tags(cfg: Config, classes: Sequence[str], split_dir: Any) -> dict[str, Any]:
    return {"model_arch": cfg.train.model, "balance": cfg.data.balance, "task": "/".join(map(str, classes)),
            "profile": cfg.profile, "data_version": data_version(split_dir), "config_hash": config_hash(cfg),
            "dataset": Path(str(cfg.data.data)).name}


def log_start(fabric: Any, cfg: Config, history: Sequence[dict[str, Any]], classes: Sequence[str],
                   split_dir: Any) -> None:
    """Before the first epoch: the CSV keeps a resumed run's rows; TensorBoard gets the config as text,
    MLflow the config as parameters and the run's tags."""
    for lg in _of(fabric, RunCSVLogger):
        lg.seed(history)
    if not fabric.is_global_zero:
        return
    for lg in _of(fabric, RunTensorBoardLogger):
        lg.experiment.add_text("config", "    " + yaml.safe_dump(to_dict(cfg), sort_keys=False).replace("\n", "\n    "))
    for lg in _of(fabric, MlflowLogger):
        lg.log_hyperparams(flat_config(cfg))
        lg.experiment.set_tags(run_tags(cfg, classes, split_dir))


def log_epoch(fabric: Any, row: dict[str, Any]) -> None:
    """One epoch's row (metrics.csv's columns, learning rate included) to every logger, step = epoch."""
    fabric.log_dict(row, step=int(row["epoch"]))


def tone_table(cfg: Config, classes: Sequence[str], predictions: dict[str, Any],
               thresholds: dict[str, float] | None = None) -> pd.DataFrame | None:
    """Metrics per tone group (:func:`auxiliary.evaluation.fairness.group_metrics`) of each split's predictions;
    with a multi-label run's global ``thresholds`` (label -> threshold), per tone group and label
    (:func:`auxiliary.evaluation.fairness.per_group_label_metrics`)."""
    parts = {}
    for split, pred in predictions.items():
        if pred is None or not len(pred) or "tone_group" not in pred:
            continue
        if thresholds is not None:  # multi-label: per (tone group, label), at the run's global thresholds
            parts[split] = per_group_label_metrics(
                pred[list(classes)].to_numpy(dtype=int), pred[[f"prob_{c}" for c in classes]].to_numpy(dtype=float),
                pred["tone_group"].astype(str).to_numpy(), list(classes), thresholds,
                min_group_size=cfg.eval.min_group_size).set_index(["group", "label"])
            continue
        y = labels_to_index(list(pred["label"]), classes, unknown="minus_one")
        probs = pred[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
        keep = y >= 0
        parts[split] = group_metrics(y[keep], probs[keep], classes, pred["tone_group"].astype(str).to_numpy()[keep],
                                     min_group_size=cfg.eval.min_group_size, n_bins=cfg.eval.ece_bins)
    return pd.concat(parts, names=["split"]) if parts else None


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def log_end(fabric: Any, run_dir: Path, cfg: Config, summary: dict[str, Any], classes: Sequence[str],
                    predictions: dict[str, Any]) -> None:
    """After the figures and ``summary.json``: final metrics, the per-tone-group table, figures and files."""
    trackers = _of(fabric, RunTensorBoardLogger) + _of(fabric, MlflowLogger)
    if not fabric.is_global_zero or not trackers:
        return
    logs = Path(run_dir) / "logs"
    final = {f"final_{k}": summary.get(k) for k in FINAL_METRICS}
    step = int(summary.get("epochs_run") or 0)
    tones = tone_table(cfg, classes, predictions, (summary.get("thresholds") or {}).get("global"))
    if tones is not None:
        write_csv_atomic(logs / "tone_groups.csv", tones.reset_index())
    figures = sorted(logs.glob("*.png"))
    for lg in _of(fabric, RunTensorBoardLogger):
        lg.log_hyperparams(flat_config(cfg), metrics=_numbers(final), step=step)
        for f in figures:
            lg.experiment.add_image(f"figures/{f.stem}", _png(f), step, dataformats="HWC")
        if tones is not None:
            lg.experiment.add_text("tone_groups", "    " + tones.to_string().replace("\n", "\n    "), step)
        lg.finalize("success")
    for lg in _of(fabric, MlflowLogger):
        run = lg.experiment
        run.log_metrics(final, step)
        run.log_files([f for pattern in LOG_ARTIFACTS for f in sorted(logs.glob(pattern))], "logs")
        run.log_files([Path(run_dir) / name for name in RUN_ARTIFACTS])
        lg.finalize("success")


def log_abort(loggers: Sequence[Any], status: str) -> None:
    """End the trackers a failed or interrupted run had started (``failed`` / ``killed``); never raises again."""
    for lg in loggers:
        if isinstance(lg, MlflowLogger) and lg.started:
            try:
                lg.finalize(status)
            except Exception:  # noqa: BLE001 - the run's own error is the one to report
                pass
        elif isinstance(lg, RunTensorBoardLogger):
            lg.finalize(status)
