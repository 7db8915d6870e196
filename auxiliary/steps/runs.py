"""``python -m auxiliary runs``: the training runs there are (id, model, data, key metrics, when), read from the
run folders alone (no MLflow needed), and the same runs read back from the MLflow store.

* :func:`runs`: one row per finished run folder under ``runs/`` (``summary.json``), newest first;
  notebook 04 shows it, ``runs`` prints it.
* :func:`metric_table`: those runs as the four-level table of notebook 05 (``model, split, group,
  metric`` -> ``value``), from the run folders (:func:`runs`) or from the MLflow store
  (:func:`tracked_runs`, ``mlflow.search_runs``), so the two sources line up row for row.
* ``runs --figure figures/NAME.png`` prints which notebook, run, config and data version made a figure
  (:func:`auxiliary.base.provenance.figure_provenance`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.config import Config
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.layout import runs_dir
from auxiliary.base.mlflow_store import TrackingError, search_runs
from auxiliary.base.provenance import data_version

#: (split, metric) of notebook 05's table <- the key of summary.json (its MLflow metric is ``final_<key>``).
SUMMARY_METRICS: dict[tuple[str, str], str] = {
    ("val", "balanced_accuracy"): "best_val_balanced_acc",
    ("val", "macro_f1"): "best_val_macro_f1",
    ("val", "accuracy"): "best_val_acc",
    ("val", "macro_auroc"): "val_macro_auroc",
    ("test", "balanced_accuracy"): "test_balanced_acc",
    ("test", "macro_f1"): "test_macro_f1",
    ("test", "accuracy"): "test_acc",
    ("test", "macro_auroc"): "test_macro_auroc",
}
COLUMNS: tuple[str, ...] = ("id", "model", "data", "data_version", "val_balanced_acc", "test_balanced_acc",
                            "test_macro_auroc", "epochs", "when", "mlflow_run_id")


class RunListError(AuxiliaryError):
    """No folder of runs where one was asked for."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _run_row(summary_file: Path, root: Path) -> dict[str, Any] | None:
    s = _read_json(summary_file)
    if not s.get("finished"):
        return None
    run = summary_file.parent
    split = s.get("split_dir")
    return {
        "id": run.relative_to(root).as_posix(),
        "model": s.get("model"),
        "data": Path(split).name if split else None,
        "data_version": data_version(split) if split else None,
        "val_balanced_acc": s.get("best_val_balanced_acc"),
        "test_balanced_acc": s.get("test_balanced_acc"),
        "test_macro_auroc": s.get("test_macro_auroc"),
        "epochs": s.get("epochs_run"),
        "when": datetime.fromtimestamp(summary_file.stat().st_mtime, timezone.utc).replace(microsecond=0),
        "mlflow_run_id": _read_json(run / "logs" / "tracking.json").get("mlflow_run_id"),
        "summary": s,
    }


def runs(root: str | Path | None = None, limit: int | None = None) -> pd.DataFrame:
    """Finished runs under ``root`` (default ``runs/``; selection runs in sub-folders too), newest first:
    the columns of :data:`COLUMNS` (``summary`` holds each run's whole ``summary.json``)."""
    base = Path(root) if root is not None else runs_dir(create=False)
    if not base.is_dir():
        raise RunListError(f"--root {base}: no such folder of runs")
    skip = {"mlruns", "notebooks"}
    rows = [r for f in sorted(base.rglob("summary.json"))
            if not skip & set(f.relative_to(base).parts) and (r := _run_row(f, base)) is not None]
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "summary"])
    frame = frame.sort_values("when", ascending=False, kind="stable").reset_index(drop=True)
    return frame.head(limit) if limit else frame


def tracked_runs(cfg: Config) -> pd.DataFrame:
    """The training runs of ``cfg``'s MLflow experiment (``mlflow.search_runs``), the latest per run folder;
    an empty frame, saying why, when MLflow is not installed or its store cannot be read."""
    try:
        found = search_runs(cfg)
    except TrackingError as exc:
        print(f"the MLflow store was not read: {exc}")
        return pd.DataFrame()
    if "tags.step" not in found.columns or found.empty:
        return found.iloc[0:0]
    found = found[found["tags.step"] == "train"]
    key = "tags.run_dir" if "tags.run_dir" in found.columns else "run_id"
    return found.drop_duplicates(subset=[key], keep="first").reset_index(drop=True)


def metric_table(frame: pd.DataFrame, source: str = "folders") -> pd.DataFrame:
    """Runs as notebook 05's table: index ``(model, split, group, metric)``, one ``value`` column; ``model`` is
    the run's folder name. ``frame``: :func:`runs` (``source="folders"``) or :func:`tracked_runs`
    (``source="mlflow"``)."""
    rows = []
    for _, r in frame.iterrows():
        if source == "mlflow":
            label = Path(str(r.get("tags.run_dir") or r.get("tags.mlflow.runName"))).name
            values = {k: r.get(f"metrics.final_{v}") for k, v in SUMMARY_METRICS.items()}
        else:
            label = Path(str(r["id"])).name
            values = {k: r["summary"].get(v) for k, v in SUMMARY_METRICS.items()}
        rows += [{"model": label, "split": split, "group": "all", "metric": metric, "value": float(v)}
                 for (split, metric), v in values.items() if v is not None and pd.notna(v)]
    table = pd.DataFrame(rows, columns=["model", "split", "group", "metric", "value"])
    return table.set_index(["model", "split", "group", "metric"]).sort_index()
