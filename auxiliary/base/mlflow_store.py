"""The MLflow side of experiment tracking: where the store is, a config's experiment, runs written and read back.

* **Store**: ``track.tracking_uri``, by default a local SQLite store ``runs/mlruns/mlflow.db`` with
  artifacts under ``runs/mlruns/artifacts`` (no server; MLflow 3 no longer accepts a plain folder as
  a store). A path without a scheme is taken as such a folder; ``http://host:5000`` or
  ``databricks`` point at a server. Browse the local store with
  ``mlflow ui --backend-store-uri sqlite:///runs/mlruns/mlflow.db``.
* **Experiment**: ``track.experiment``, by default ``auxiliary-<profile>``: every step of a profile
  (the architectures of notebook 03, the runs of 04-06, the command line) lands in one experiment.
* ``mlflow`` is an optional extra (``pip install -e '.[tracking]'``), imported in one place
  (:func:`mlflow_module`); without it, asking for ``--tracking mlflow`` is a one-line error.

:class:`TrackedRun` writes one run (params, metrics, tags, files); :func:`search_runs` reads the
experiment back as ``mlflow.search_runs`` gives it (one row per run).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.config import Config
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.layout import runs_dir

#: MLflow's limits per ``log_batch`` call and per parameter value.
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_PARAM_CHARS = 500
#: Our statuses -> MLflow's.
STATUSES = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}


class TrackingError(AuxiliaryError):
    """A tracker that cannot be used (package missing, store unreachable), said in one line."""


def mlflow_module() -> Any:
    """The ``mlflow`` package, or a :class:`TrackingError` naming the extra to install."""
    try:
        import mlflow
    except ImportError:
        raise TrackingError("--tracking mlflow needs the mlflow package: pip install -e '.[tracking]'") from None
    for name in ("mlflow", "alembic"):  # the store's start-up chatter ("Creating initial MLflow database tables")
        logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


def default_store() -> Path:
    """``runs/mlruns``: the local store's folder."""
    return runs_dir() / "mlruns"


def store_uri(cfg: Config) -> str:
    """The tracking URI of ``cfg`` (see the module docstring)."""
    uri = cfg.track.tracking_uri
    if uri and ("://" in uri or uri == "databricks"):
        return str(uri)
    folder = Path(uri).expanduser().resolve() if uri else default_store()
    return f"sqlite:///{(folder / 'mlflow.db').as_posix()}"


def experiment_name(cfg: Config) -> str:
    return cfg.track.experiment or f"auxiliary-{cfg.profile}"


def _client(cfg: Config) -> tuple[Any, str]:
    """``(MlflowClient, experiment id)`` of ``cfg``, the experiment created when missing."""
    mlflow = mlflow_module()
    uri = store_uri(cfg)
    local = uri.startswith("sqlite:///")
    try:
        if local:
            folder = Path(uri[len("sqlite:///"):]).parent
            folder.mkdir(parents=True, exist_ok=True)
        client = mlflow.MlflowClient(tracking_uri=uri)
        name = experiment_name(cfg)
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return client, exp.experiment_id
        artifacts = (folder / "artifacts").as_uri() if local else None
        return client, client.create_experiment(name, artifact_location=artifacts)
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 - any store problem becomes one line
        raise TrackingError(f"cannot use the MLflow store {uri}: {str(exc).splitlines()[0][:200]}") from None


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "item"):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class TrackedRun:
    """One MLflow run: created (:meth:`start`) or continued (:meth:`resume`), then logged and ended."""

    def __init__(self, client: Any, run_id: str, experiment_id: str):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id

    @classmethod
    def start(cls, cfg: Config, name: str, tags: dict[str, Any] | None = None) -> TrackedRun:
        client, exp = _client(cfg)
        clean = {k: str(v) for k, v in (tags or {}).items() if v is not None}
        run = client.create_run(exp, tags=clean, run_name=name)
        return cls(client, run.info.run_id, exp)

    @classmethod
    def resume(cls, cfg: Config, run_id: str) -> TrackedRun | None:
        """The run ``run_id`` of ``cfg``'s store set running again, or None when the store does not hold it."""
        client, exp = _client(cfg)
        try:
            run = client.get_run(run_id)
        except Exception:  # noqa: BLE001 - a store without that run: start a new one
            return None
        client.update_run(run_id, status="RUNNING")
        return cls(client, run_id, run.info.experiment_id)

    def log_params(self, params: dict[str, Any]) -> None:
        mlflow = mlflow_module()
        items = [mlflow.entities.Param(str(k), str(v)[:MAX_PARAM_CHARS]) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i:i + MAX_PARAMS_PER_BATCH])

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Log the finite numbers of ``metrics`` (strings, None and NaN are left out)."""
        mlflow = mlflow_module()
        now = int(time.time() * 1000)
        items = [mlflow.entities.Metric(str(k), f, now, int(step or 0)) for k, v in metrics.items()
                 if (f := _number(v)) is not None]
        for i in range(0, len(items), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=items[i:i + MAX_METRICS_PER_BATCH])

    def set_tags(self, tags: dict[str, Any]) -> None:
        for k, v in tags.items():
            if v is not None:
                self.client.set_tag(self.run_id, str(k), str(v))

    def log_files(self, paths: Iterable[str | Path], artifact_path: str | None = None) -> list[str]:
        """Copy existing files into the run's artifacts (under ``artifact_path``); returns their names."""
        done = []
        for p in paths:
            p = Path(p)
            if p.is_file():
                self.client.log_artifact(self.run_id, str(p), artifact_path)
                done.append(f"{artifact_path}/{p.name}" if artifact_path else p.name)
        return done

    def end(self, status: str = "success") -> None:
        self.client.set_terminated(self.run_id, status=STATUSES.get(status.lower(), "FINISHED"))


def search_runs(cfg: Config) -> Any:
    """Every run of ``cfg``'s experiment as ``mlflow.search_runs`` returns them (a DataFrame, one row per run,
    newest first, columns ``run_id``, ``status``, ``start_time``, ``metrics.*``, ``params.*``, ``tags.*``);
    an empty frame when the local store or the experiment does not exist yet."""
    uri = store_uri(cfg)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return pd.DataFrame(columns=["run_id", "experiment_id", "status", "start_time", "end_time"])
    mlflow = mlflow_module()
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=[experiment_name(cfg)], order_by=["attributes.start_time DESC"])
    except Exception as exc:  # noqa: BLE001
        raise TrackingError(f"cannot read the MLflow store {uri}: {str(exc).splitlines()[0][:200]}") from None
