"""Every step records its run: what ``select``, ``evaluate``, ``compare``, ``sort``, ``feedback`` and each
notebook log to the trackers of ``cfg.track.tracking``, beside the training runs of the Fabric loggers.

* ``mlflow``: one MLflow run per step call in the profile's experiment
  (:mod:`auxiliary.base.mlflow_store`), tagged ``step``, ``profile``, ``config_hash``,
  ``data_version`` and ``model_arch`` when known, with the step's numbers as metrics, its tables as
  CSV artifacts and its figures and files as artifacts: MLflow's compare view shows the
  architectures of notebook 03 next to the runs of 04-06 and of the command line.
* ``tensorboard``: the same numbers, tables (as text) and figures (as images) in
  ``<the step's output folder>/tensorboard`` through Fabric's ``TensorBoardLogger``.
* ``csv`` alone (the default): nothing more is written; the step's own files are its record.

:class:`StepRecord` is one such run (a notebook keeps one open from ``setup`` to ``finish``);
:func:`record_step` records a finished step in one call. :class:`OnnxArtifact` is the callback that
exports a finished training run's ``best.onnx`` when MLflow tracks it (the training layer cannot
export: ONNX is inference's).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightning_fabric.loggers import TensorBoardLogger
from PIL import Image

from auxiliary.base.config import Config
from auxiliary.base.files import csv_text
from auxiliary.base.mlflow_store import TrackedRun
from auxiliary.base.provenance import config_hash, data_version
from auxiliary.models.export import ensure_onnx
from auxiliary.training.tracking import flat_config

#: Files of a step's output folder recorded by default (top level only: never the sorted images).
RECORDED_FILES: tuple[str, ...] = ("*.csv", "*.json", "*.png")


def local_run_id(step: str) -> str:
    """An id for a run no tracker numbers: ``<step>-<UTC time>-<pid>``."""
    return f"{step}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}"


def tracks(cfg: Config, tracker: str) -> bool:
    return tracker in cfg.track.tracking


class StepRecord:
    """One step's run in the trackers of ``cfg`` (see the module docstring); ``run_id`` is the MLflow run id
    when MLflow tracks, else :func:`local_run_id`."""

    def __init__(self, cfg: Config, step: str, *, name: str | None = None, out_dir: str | Path | None = None,
                 split_dir: str | Path | None = None, tags: dict[str, Any] | None = None):
        self.cfg, self.step = cfg, step
        self.data_version = data_version(split_dir)
        self.mlflow: TrackedRun | None = None
        self.tensorboard: TensorBoardLogger | None = None
        self.run_id = local_run_id(step)
        self.logged_files: list[str] = []
        all_tags = {"step": step, "profile": cfg.profile, "config_hash": config_hash(cfg),
                    "data_version": self.data_version, **(tags or {})}
        if tracks(cfg, "mlflow"):
            self.mlflow = TrackedRun.start(cfg, name or step, all_tags)
            self.mlflow.log_params(flat_config(cfg))
            self.run_id = self.mlflow.run_id
        if tracks(cfg, "tensorboard") and out_dir is not None:
            self.tensorboard = TensorBoardLogger(root_dir=str(out_dir), name="tensorboard", version="",
                                                 default_hp_metric=False)
            self.tensorboard.experiment.add_text("tags", "    " + "\n    ".join(f"{k}: {v}" for k, v in all_tags.items()))

    @property
    def active(self) -> bool:
        return self.mlflow is not None or self.tensorboard is not None

    def log_metrics(self, metrics: dict[str, Any], step: int = 0) -> None:
        numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float, np.number))
                   and not isinstance(v, bool) and np.isfinite(v)}
        if self.mlflow is not None:
            self.mlflow.log_metrics(numbers, step)
        if self.tensorboard is not None:
            self.tensorboard.log_metrics(numbers, step)

    def log_table(self, name: str, table: pd.DataFrame) -> None:
        if self.mlflow is not None:
            self.mlflow.client.log_text(self.mlflow.run_id, csv_text(table, index=True), f"tables/{name}.csv")
        if self.tensorboard is not None:
            self.tensorboard.experiment.add_text(f"tables/{name}", "    " + table.to_string().replace("\n", "\n    "))

    def log_files(self, paths: Iterable[str | Path], artifact_path: str | None = None) -> None:
        files = [Path(p) for p in paths if Path(p).is_file()]
        if self.mlflow is not None:
            self.logged_files += self.mlflow.log_files(files, artifact_path)
        if self.tensorboard is not None:
            for f in files:
                if f.suffix.lower() == ".png":
                    with Image.open(f) as im:
                        self.tensorboard.experiment.add_image(f"figures/{f.stem}", np.asarray(im.convert("RGB")),
                                                              0, dataformats="HWC")

    def end(self, status: str = "success") -> None:
        if self.mlflow is not None:
            self.mlflow.end(status)
        if self.tensorboard is not None:
            self.tensorboard.finalize(status)


def step_files(out_dir: str | Path) -> list[Path]:
    """The files a step's output folder holds at its top level (:data:`RECORDED_FILES`)."""
    d = Path(out_dir)
    return sorted({f for pattern in RECORDED_FILES for f in d.glob(pattern) if f.is_file()}) if d.is_dir() else []


def record_step(cfg: Config, step: str, out_dir: str | Path | None, *, metrics: dict[str, Any] | None = None,
                tables: dict[str, pd.DataFrame] | None = None, files: Iterable[str | Path] | None = None,
                split_dir: str | Path | None = None, tags: dict[str, Any] | None = None,
                name: str | None = None) -> str | None:
    """Record a finished step in one call: its metrics, tables, and files (default: :func:`step_files` of
    ``out_dir``). Returns the MLflow run id (or the local id when only TensorBoard tracks); None when
    ``csv`` is the only tracker (nothing to do)."""
    if not (tracks(cfg, "mlflow") or tracks(cfg, "tensorboard")):
        return None
    rec = StepRecord(cfg, step, name=name, out_dir=out_dir, split_dir=split_dir, tags=tags)
    try:
        rec.log_metrics(metrics or {})
        for tname, table in (tables or {}).items():
            rec.log_table(tname, table)
        rec.log_files(step_files(out_dir) if files is None and out_dir is not None else (files or []))
    except BaseException:
        rec.end("failed")
        raise
    rec.end("success")
    where = f"MLflow run {rec.run_id}" if rec.mlflow else f"TensorBoard events in {Path(str(out_dir)) / 'tensorboard'}"
    print(f"recorded {step}: {where}")
    return rec.run_id


class OnnxArtifact:
    """A Fabric callback: a finished run's ``best.onnx`` beside ``best.pt`` (parity-checked by
    :func:`auxiliary.models.export.ensure_onnx`), so that MLflow logs it with the run."""

    def on_run_end(self, run_dir: Path, history: Any, val_predictions: Any, classes: Any) -> None:
        try:
            ensure_onnx(Path(run_dir) / "best.pt")
        except Exception as exc:  # noqa: BLE001 - an architecture ONNX cannot export must not fail the run
            print(f"note: no ONNX artifact for {run_dir}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}")


def run_callbacks(cfg: Config) -> list[Any]:
    """Callbacks a training run needs for its trackers (:class:`OnnxArtifact` when MLflow tracks)."""
    return [OnnxArtifact()] if tracks(cfg, "mlflow") else []

