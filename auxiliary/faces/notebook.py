"""What every notebook does first and last: resolve its config, show it, record its results.

A notebook's figures (:func:`save_figure`) carry their provenance (:mod:`auxiliary.base.provenance`): the
notebook, the run id, the config hash and the data version, in the PNG and in a ``.png.json`` sidecar.
With ``track.tracking`` asking for MLflow or TensorBoard, the notebook is also one run there
(:class:`auxiliary.training.records.StepRecord`): its figures as they are saved, its results at :func:`finish`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib
import seaborn as sns
import yaml

from auxiliary.base.config import Config, save, to_dict
from auxiliary.base.config_overrides import from_notebook, notebook_overrides
from auxiliary.base.files import jsonable, write_json_atomic
from auxiliary.base.layout import figures_dir, output_root, results_path, runs_dir, split_dir, synthetic_dir
from auxiliary.base.provenance import config_hash, data_version, record, save_figure_with_provenance
from auxiliary.training.records import StepRecord, local_run_id, tracks

#: The notebook running in this kernel (set by :func:`setup`): name, config, run id, tracker record.
_SESSION: dict[str, Any] = {}


def setup(namespace: dict[str, Any], notebook: str) -> Config:
    """Resolve the config from the parameters cell (PROFILE, CONFIG, UPPER_CASE overrides),
    save it under ``runs/<notebook>/config.yaml``, set plotting defaults and print a summary."""
    cfg = from_notebook(namespace)
    out = runs_dir() / notebook
    out.mkdir(parents=True, exist_ok=True)
    save(cfg, out / "config.yaml")
    _SESSION.clear()
    _SESSION.update(notebook=notebook, cfg=cfg, run_id=local_run_id(notebook), record=None)
    if not _in_notebook():
        matplotlib.use("Agg")
    sns.set_theme(context="notebook", style="whitegrid")
    overrides = notebook_overrides(namespace)
    print(f"profile: {cfg.profile}; overrides: {overrides or 'none'}; outputs under {output_root()}")
    return cfg


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and "IPKernelApp" in ip.config
    except ImportError:  # pragma: no cover
        return False


def _tracked() -> StepRecord | None:
    """The notebook's run in the trackers, started with its first figure or result (None when csv only)."""
    cfg = _SESSION.get("cfg")
    if _SESSION.get("record") is None and cfg is not None and (tracks(cfg, "mlflow") or tracks(cfg, "tensorboard")):
        rec = StepRecord(cfg, _SESSION["notebook"], out_dir=runs_dir() / _SESSION["notebook"], split_dir=_data_dir(cfg))
        _SESSION.update(record=rec, run_id=rec.run_id)
    return _SESSION.get("record")


def _data_dir(cfg: Config) -> Path | None:
    """The split folder of ``cfg`` once it exists, else the synthetic dataset (notebook 01), else None."""
    for d in (split_dir(cfg), synthetic_dir(cfg)):
        if d.is_dir():
            return d
    return None


def _run_provenance(run: str | Path) -> dict[str, Any]:
    """Run id (MLflow's when tracked, else the folder's name), config hash and data version of a training run."""
    run = Path(run)
    try:
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = {}
    try:
        tracked = json.loads((run / "logs" / "tracking.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tracked = {}
    cfg_file = run / "config.yaml"
    return {"run_id": tracked.get("mlflow_run_id") or run.name, "training_run": str(run),
            "config_hash": config_hash(yaml.safe_load(cfg_file.read_text(encoding="utf-8"))) if cfg_file.is_file() else None,
            "data_version": data_version(summary.get("split_dir"))}


def save_figure(fig: Any, name: str, run: str | Path | None = None) -> Path:
    """Save a matplotlib figure as ``figures/<name>.png`` (150 dpi, tight) with its provenance record (PNG
    metadata and ``<name>.png.json``: notebook, run id, config hash, data version) and return the path.

    ``run``: the training run folder the figure shows (its run id, config and data version are named then)."""
    out = figures_dir() / (name if name.endswith(".png") else f"{name}.png")
    cfg = _SESSION.get("cfg")
    rec = _tracked()
    own = {"run_id": _SESSION.get("run_id"), "config_hash": config_hash(cfg) if cfg else None,
           "data_version": data_version(_data_dir(cfg)) if cfg else None}
    about = _run_provenance(run) if run is not None else {}
    prov = record(_SESSION.get("notebook"), about.get("run_id", own["run_id"]), about.get("config_hash", own["config_hash"]),
                  about.get("data_version", own["data_version"]), training_run=about.get("training_run"),
                  notebook_run_id=own["run_id"] if run is not None else None)
    save_figure_with_provenance(fig, out, prov)
    if rec is not None:
        rec.log_files([out], "figures")
    return out


def finish(notebook: str, values: dict[str, Any], cfg: Config) -> Path:
    """Record the notebook's key results to ``runs/<notebook>/results.json`` (the tests read them), and to the
    notebook's run in the trackers (numbers as metrics, ``results.json`` and ``config.yaml`` as artifacts)."""
    same = _SESSION.get("notebook") == notebook
    rec = _tracked() if same else None
    path = record_results(notebook, {**values, "run_id": _SESSION.get("run_id")} if same else values, cfg)
    if rec is not None:
        rec.log_metrics({k: v for k, v in values.items() if isinstance(v, (int, float))})
        rec.log_files([path, path.parent / "config.yaml"])
        rec.end("success")
        _SESSION["record"] = None
    print(f"results recorded in {path}" + (f" (run {_SESSION.get('run_id')})" if same else ""))
    return path


def record_results(notebook: str, results: dict[str, Any], config: Any = None) -> Path:
    """Write ``results`` (plus a timestamp and the resolved config) for ``notebook``."""
    out = results_path(notebook)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"notebook": notebook, "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    payload.update(jsonable(results))
    if config is not None:
        payload["config"] = to_dict(config)
        save(config, out.parent / "config.yaml")
    write_json_atomic(out, payload)
    return out


def load_results(notebook: str) -> dict[str, Any]:
    return json.loads(results_path(notebook).read_text(encoding="utf-8"))
