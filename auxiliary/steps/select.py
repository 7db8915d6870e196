"""Notebook 03 and ``python -m auxiliary select``: model selection on an equal budget, and its recorded winner.

:func:`select` is the one step both call. Every architecture of ``cfg.train.select_models`` is trained by
:func:`auxiliary.steps.train.train_run` (:func:`auxiliary.training.loop.fit`) on the same
split, with the same seed, image size, batch and schedule, for ``cfg.train.select_epochs``
epochs. Each run's validation predictions (calibrated, ``val_predictions.csv``) give its validation columns as
its checkpoint's task measures them (:meth:`auxiliary.tasks.task.Task.selection_columns`: balanced accuracy,
macro AUROC, ECE, macro-F1, accuracy and log loss of one class per image; for several labels per image macro
AUROC, macro F1 at the run's thresholds, subset accuracy, mean per-label ECE and binary cross entropy, balanced
accuracy left empty); ``summary.json`` gives the training time and speed;
parameters are counted on the architecture and inference speed is timed on the best checkpoint.
The table's columns and metric names are :mod:`auxiliary.evaluation.comparison_table`. The winner
by ``cfg.train.select_metric`` (left at its default: the split's task's own, :meth:`~auxiliary.tasks.task.Task.
select_metric`, val_macro_auroc for multi-label data) is written to :func:`auxiliary.base.layout.selection_file`,
where notebook 04 reads its default model (:func:`selected_model`).

Runs live in ``runs/select-<profile>/<model>-<hash>``, the hash covering every setting that
changes what a run learns (train and data sections, the split's content), so re-running skips
models already trained with the same settings, resumes interrupted ones and never mixes
profiles.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import timm

from auxiliary.base import layout
from auxiliary.base.config import Config, TrainConfig, section_hash
from auxiliary.base.devices import device_label, resolve_device
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import check_output_dir, jsonable, write_json_atomic
from auxiliary.base.layout import default_out_root, resolve_path, selection_file
from auxiliary.evaluation.comparison_table import TABLE_COLUMNS, SelectionError, metric_column, ok_rows
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.models.factory import count_parameters, create_model, parse_pretrained
from auxiliary.steps.split import ensure_splits
from auxiliary.steps.train import train_run
from auxiliary.tasks import task_of_split
from auxiliary.training.acceleration import precision_here
from auxiliary.training.records import record_step
from auxiliary.training.runs import RUN_MARKERS
from auxiliary.viz.plots_evaluation import plot_selection


# ----------------------------------------------------------------------------- configs and folders
def model_config(cfg: Config, model: str) -> Config:
    """The config one candidate is trained with: ``model`` and ``max_epochs = select_epochs``.

    Frozen-backbone epochs: none when ``pretrained`` is false (a random backbone is not worth
    freezing: the whole budget trains everything), else at most ``select_epochs - 1`` so that every
    candidate gets at least one fine-tuning epoch when the budget allows it."""
    t = cfg.train
    epochs = int(t.select_epochs)
    if parse_pretrained(t.pretrained, model) is False:
        freeze = 0
    else:
        freeze = min(int(t.freeze_epochs), epochs - 1) if epochs > 1 else int(t.freeze_epochs)
    return replace(cfg, train=replace(t, model=str(model), max_epochs=epochs, freeze_epochs=max(freeze, 0)))


def split_fingerprint(split_dir: str | Path) -> str:
    """Hash of a split's lists (classes.json, train.csv, val.csv): the same data gives the same key."""
    d = Path(split_dir)
    h = hashlib.sha1()
    for name in ("classes.json", "train.csv", "val.csv"):
        f = d / name
        h.update(name.encode())
        h.update(f.read_bytes() if f.is_file() else b"-")
    return h.hexdigest()[:12]


#: Settings that do not change what a run learns (speed/placement only).
_IGNORED = ("threads", "device", "devices", "num_nodes", "accelerator", "strategy", "compile", "channels_last",
            "num_workers", "cache")


def run_key(cfg_model: Config, split_dir: str | Path) -> str:
    """:func:`auxiliary.base.config.section_hash` of the learning-relevant train settings, the data settings and the split."""
    tcfg = cfg_model.train
    reset = {f: getattr(TrainConfig(), f) for f in ("select_models", "select_epochs", "select_metric")}
    reset.update({f: getattr(TrainConfig(), f) for f in _IGNORED if hasattr(tcfg, f)})
    reset["precision"] = precision_here(tcfg.precision)  # auto on this CPU = 32-true: the same run
    data_items = {k: v for k, v in vars(cfg_model.data).items() if k not in _IGNORED}
    return section_hash(
        replace(tcfg, **reset), {"__data__": json.dumps(data_items, sort_keys=True, default=str),
                                 "__split__": split_fingerprint(split_dir)}
    )


def candidate_dir(cfg: Config, model: str, split_dir: str | Path, out_root: str | Path | None = None) -> Path:
    """Run folder of one candidate: ``<out_root>/<model>-<hash>``."""
    root = Path(out_root) if out_root else default_out_root(cfg)
    return root / f"{model}-{run_key(model_config(cfg, model), split_dir)}"


def _finished(run: Path) -> bool:
    return all((run / f).is_file() for f in ("best.pt", "summary.json", "val_predictions.csv"))


# ----------------------------------------------------------------------------- measurements
def load_val_predictions(run_dir: str | Path, checkpoint: Checkpoint) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """``(truths, probs, table)`` of a run's ``val_predictions.csv``, as the checkpoint's task reads it."""
    f = Path(run_dir) / "val_predictions.csv"
    if not f.is_file():
        raise SelectionError(f"no validation predictions in {run_dir} (val_predictions.csv missing)")
    df = pd.read_csv(f, keep_default_na=False, dtype={"label": str, "path": str, "pred": str, "tone_group": str})
    try:
        truths, probs = checkpoint.task.prediction_arrays(df, checkpoint.classes)
    except (KeyError, AuxiliaryError) as exc:
        raise SelectionError(f"{f} lacks the columns of the model's classes {checkpoint.classes}: {exc}") from None
    return truths, probs, df


def architecture_parameters(model_name: str, num_classes: int) -> int:
    """Parameters of ``model_name`` with a ``num_classes`` head (no weights loaded)."""
    return int(count_parameters(create_model(model_name, num_classes=num_classes, pretrained=False)))


def inference_speed(ckpt: Checkpoint | str | Path, batch: int = 16, repeats: int = 3, device: str = "auto") -> float:
    """Images per second of the checkpoint's model on random input (median of ``repeats`` timed batches) on
    ``device`` (the one device rule; the copy of the logits back to the CPU waits for a GPU)."""
    pred = Predictor.from_checkpoint(ckpt, device=device)
    x = np.random.default_rng(0).normal(size=(batch, 3, pred.img_size, pred.img_size)).astype(np.float32)
    pred.logits(x[:2])  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        pred.logits(x)
        times.append(time.perf_counter() - t0)
    return float(batch / np.median(times))


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


ROW_FILE = "selection_row.json"


def measure_run(run_dir: str | Path, model: str, n_bins: int = 15, speed_repeats: int = 3,
                device: str = "auto") -> dict[str, Any]:
    """One table row from a finished run folder (cached in ``selection_row.json`` beside the run's summary, for
    the same inference device: ``infer_device`` and ``train_device`` say where the speeds were measured)."""
    run = Path(run_dir)
    device = resolve_device(device)
    cache = run / ROW_FILE
    if cache.is_file() and cache.stat().st_mtime >= (run / "summary.json").stat().st_mtime:
        try:
            saved = json.loads(cache.read_text(encoding="utf-8"))
            if (saved.get("ece_bins") == n_bins and saved["row"].get("model") == model
                    and saved["row"].get("infer_device") == device_label(device)):
                row = dict(saved["row"])
                row["run_dir"] = str(run)
                return {k: (math.nan if v is None else v) for k, v in row.items()}
        except (ValueError, KeyError, TypeError):
            pass
    row = _measure(run, model, n_bins, speed_repeats, device)

    write_json_atomic(cache, {"ece_bins": n_bins, "row": row}, indent=None)
    return row


def _measure(run: Path, model: str, n_bins: int, speed_repeats: int, device: str) -> dict[str, Any]:
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    checkpoint = Checkpoint.open(run / "best.pt")
    truths, probs, _ = load_val_predictions(run, checkpoint)
    val = checkpoint.task.selection_columns(truths, probs, checkpoint.classes, checkpoint.info, n_bins)
    return {
        "model": model,
        **{k: v for k, v in val.items() if k != "n_val"},
        "params": architecture_parameters(model, len(checkpoint.classes)),
        "train_seconds": _num(summary.get("seconds_training", summary.get("train_seconds"))),
        "train_img_per_s": _num(summary.get("images_per_second")),
        "infer_img_per_s": inference_speed(checkpoint, repeats=speed_repeats, device=device),
        "train_device": str(summary.get("device") or summary.get("accelerator") or ""),
        "infer_device": device_label(device),
        "epochs": int(summary.get("epochs_run", summary.get("max_epochs", 0)) or 0),
        "n_val": val["n_val"],
        "run_dir": str(run),
        "error": "",
    }


# ----------------------------------------------------------------------------- selection
def pick_winner(table: pd.DataFrame, metric: str) -> tuple[str, float]:
    """``(model, value)`` best by ``metric``; ties broken by macro AUROC, then fewer parameters."""
    col, higher = metric_column(metric)
    ok = table[table[col].notna() & ok_rows(table)] if col in table else table.iloc[0:0]
    if ok.empty:
        raise SelectionError(f"no model has a value for {col}: nothing to select")
    keys = [col] + [c for c in ("val_macro_auroc", "params") if c in ok and c != col]
    asc = [not higher] + [c == "params" for c in keys[1:]]
    best = ok.sort_values(keys, ascending=asc, na_position="last", kind="stable").iloc[0]
    return str(best["model"]), float(best[col])


def run_selection(
    cfg: Config, split_dir: str | Path, out_root: str | Path | None = None, *, progress: bool = True
) -> pd.DataFrame:
    """Train every model of ``cfg.train.select_models`` on an equal budget, tabulate, pick and record the winner.

    Returns the table (one row per model, columns
    :data:`~auxiliary.evaluation.comparison_table.TABLE_COLUMNS`, ``table.attrs["winner"]`` and
    ``["metric"]``) and writes ``selection.csv`` under ``out_root`` and the winner JSON to
    :func:`auxiliary.base.layout.selection_file`. A model already trained with the same settings
    is reused (``reused`` = True); an interrupted one is resumed. A model that fails (e.g. an
    architecture that does not accept the image size) gets its error in the table and the
    others go on; if every model fails, :class:`~auxiliary.evaluation.comparison_table.SelectionError`.
    """
    models_ = [str(m) for m in cfg.train.select_models]
    if not models_:
        raise SelectionError("select_models is empty: name at least one timm architecture")
    if len(set(models_)) != len(models_):
        raise SelectionError(f"select_models lists a model twice: {models_}")
    if cfg.train.select_epochs < 1:
        raise SelectionError(f"select_epochs must be at least 1 (got {cfg.train.select_epochs})")
    split = Path(split_dir)
    if not (split / "classes.json").is_file():
        raise SelectionError(f"{split} is not a split folder (no classes.json); make one with `python -m auxiliary split`")
    metric = task_of_split(split).select_metric(cfg.train)  # the task's own when left at the default
    col, _ = metric_column(metric)  # fail before any training

    unknown = [m for m in models_ if not timm.is_model(m)]
    if unknown:
        raise SelectionError(f"unknown timm model(s) in select_models: {', '.join(unknown)}")
    root = Path(out_root) if out_root else default_out_root(cfg)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, name in enumerate(models_, 1):
        cfg_m = model_config(cfg, name)
        run = candidate_dir(cfg, name, split, root)
        reused = _finished(run)
        label = f"[{i}/{len(models_)}] {name}"
        try:
            if reused:
                print(f"{label}: reusing {run} (same settings)")
            else:
                resume = (run / "last.pt").is_file()
                started = any((run / f).exists() for f in RUN_MARKERS)
                print(f"{label}: {'resuming' if resume else 'training'} {cfg_m.train.max_epochs} epoch(s) into {run}", flush=True)
                train_run(cfg_m, split, run, resume=resume, overwrite=started and not resume, progress=progress)
            row = measure_run(run, name, n_bins=cfg.eval.ece_bins, speed_repeats=cfg.eval.speed_repeats,
                              device=cfg.eval.device)
        except AuxiliaryError as exc:
            print(f"{label}: failed: {exc}")
            row = {"model": name, "run_dir": str(run), "error": str(exc).splitlines()[0][:300]}
        except (RuntimeError, ValueError, AssertionError) as exc:  # an architecture that cannot run these settings
            print(f"{label}: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            row = {"model": name, "run_dir": str(run), "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
        row["reused"] = bool(reused)
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=list(TABLE_COLUMNS))
    table["error"] = table["error"].astype(object).where(table["error"].notna(), "")
    if not ok_rows(table).any():
        raise SelectionError("every model failed: " + "; ".join(f"{m}: {e}" for m, e in zip(table["model"], table["error"])))
    winner, value = pick_winner(table, metric)
    table.attrs.update(winner=winner, metric=col, value=value)
    table.to_csv(root / "selection.csv", index=False)
    write_selection(cfg, table, winner, col, value, split)
    print(f"winner by {col}: {winner} ({value:.4f}) -> {selection_file(cfg)}")
    return table


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return jsonable(table.to_dict(orient="records"))


def write_selection(cfg: Config, table: pd.DataFrame, winner: str, metric: str, value: float, split_dir: Any) -> Path:
    """Write ``{"model", "metric", "value", "table", ...}`` to :func:`auxiliary.base.layout.selection_file` (atomically)."""
    out = selection_file(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": winner,
        "metric": metric,
        "value": value,
        "profile": cfg.profile,
        "select_epochs": int(cfg.train.select_epochs),
        "split_dir": str(split_dir),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "table": _records(table),
    }
    write_json_atomic(out, payload)
    return out


def read_selection(cfg: Config) -> dict[str, Any]:
    """The recorded selection of this profile (winner, metric, value, table) or an error saying how to make it."""
    f = selection_file(cfg)
    if not f.is_file():
        raise SelectionError(f"no model selection recorded at {f}; run notebook 03 or `python -m auxiliary select`")
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except ValueError:
        raise SelectionError(f"{f} is not valid JSON; run the selection again") from None


def current_selection(cfg: Config, split_dir: str | Path | None = None) -> dict[str, Any] | None:
    """The recorded selection of this profile when it was made with ``cfg``'s settings, else ``None``
    (saying why): same candidates and budget, the same split (``split_dir``, by default the one ``cfg``
    describes), and every recorded run folder the one :func:`candidate_dir` names for ``cfg`` now (same
    learning-relevant settings, same data)."""
    try:
        sel = read_selection(cfg)
    except SelectionError:
        return None
    rows = sel.get("table", [])
    split = Path(str(sel.get("split_dir", "")))
    why = None
    if sorted(str(r.get("model")) for r in rows) != sorted(cfg.train.select_models):
        why = "other candidate models"
    elif int(sel.get("select_epochs", -1)) != int(cfg.train.select_epochs):
        why = "another epoch budget"
    elif split != Path(split_dir if split_dir is not None else layout.split_dir(cfg)) or not split.is_dir():
        why = "another dataset or split"
    elif any(r.get("run_dir") and Path(r["run_dir"]).name != candidate_dir(cfg, str(r["model"]), split).name
             for r in rows):
        why = "other training settings"
    if why:
        print(f"the recorded model selection ({selection_file(cfg)}) was made with {why}: not used")
        return None
    return sel


def latest_runs(cfg: Config, split_dir: str | Path | None = None) -> dict[str, Path]:
    """Model -> run folder of this profile's selection when it matches ``cfg`` (:func:`current_selection`;
    runs with an error or a missing ``best.pt`` left out). Empty when none matches."""
    sel = current_selection(cfg, split_dir)
    out: dict[str, Path] = {}
    for row in (sel or {}).get("table", []):
        run = row.get("run_dir")
        if run and not row.get("error") and (Path(run) / "best.pt").is_file():
            out[str(row["model"])] = Path(run)
    return out


def winner_run(table: pd.DataFrame) -> Path:
    """Run folder of the winner of a :func:`run_selection` table."""
    winner = table.attrs.get("winner")
    if winner is None:
        winner = pick_winner(table, "val_balanced_acc")[0]
    return Path(table.loc[table["model"] == winner, "run_dir"].iloc[0])


def selected_model(cfg: Config, split_dir: str | Path | None = None) -> str:
    """The winner of notebook 03 for ``cfg`` (:func:`current_selection`), else ``cfg.train.model``."""
    sel = current_selection(cfg, split_dir)
    return str(sel["model"]) if sel and sel.get("model") else cfg.train.model


def select(cfg: Config, split: str | Path | None = None, out: str | Path | None = None, *,
           progress: bool = True) -> pd.DataFrame:
    """The ``select`` step: :func:`run_selection` on ``split`` (default: the split folder of ``cfg``'s dataset,
    made when missing, :func:`auxiliary.steps.split.ensure_splits`) into ``out`` (default ``runs/select-<profile>``),
    the chart ``selection.png`` beside ``selection.csv``, and the step recorded for the trackers. Returns the table
    (``attrs``: ``winner``, ``metric``, ``value``, ``root``: the folder of the runs)."""
    split_dir = Path(resolve_path(split)) if split else ensure_splits(cfg, progress=progress)
    if out:
        check_output_dir(out, inputs=(split_dir,))
    root = Path(out) if out else default_out_root(cfg)
    made = not root.exists()
    try:
        table = run_selection(cfg, split_dir, out, progress=progress)
    except AuxiliaryError:  # every model failed (exit code 2): the candidates' folders of this call go too
        if made:
            shutil.rmtree(root, ignore_errors=True)
        raise
    fig = plot_selection(table)
    fig.savefig(root / "selection.png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    table.attrs["root"] = root
    record_step(cfg, "select", root, tables={"selection": table}, split_dir=split_dir,
                tags={"winner": table.attrs["winner"]}, metrics={f"winner_{table.attrs['metric']}": table.attrs["value"]})
    return table
