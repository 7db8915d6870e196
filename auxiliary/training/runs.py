"""The run folder: its files, ``last.pt`` resume state, ``best.pt``, predictions, and whether a finished run matches a request.

Run folder (``runs/<name>/``)::

    best.pt              weights of the best epoch + model name, classes, img_size, mean/std, preprocessing,
                         temperature fitted on validation logits, config, metrics, versions
    last.pt              resume state: weights, optimizer, schedule, epoch, history, RNG states
    config.yaml          the resolved configuration
    logs/metrics.csv     epoch, phase, lr, train_loss, val_loss, train_acc, val_acc,
                         val_balanced_acc, val_macro_f1, seconds, images_per_second
    logs/loss_curve.png, logs/accuracy_curve.png, logs/confusion_matrix.png  (validation; written by
                         the auxiliary.viz.plots_training.RunFigures callback the steps pass to fit)
    val_predictions.csv  path, label, tone_group, prob_<class>... of the best model (calibrated)
    test_predictions.csv the same on the test split (when it is not empty)
    summary.json         task, best epoch and metrics, test metrics, epochs run, seconds, speed

A multi-label run (one sigmoid per label) also writes ``thresholds.json`` and records per-label temperatures
and thresholds in ``best.pt``; its metrics and predictions columns are its task's (:mod:`auxiliary.tasks`).

Every ``.pt`` file loads with ``torch.load(path, weights_only=True)``: only tensors and Python
literals (RNG states are stored as tensors).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from auxiliary.base.config import Config, TrainConfig, to_dict
from auxiliary.base.config_overrides import coerce, load_config
from auxiliary.base.errors import AuxiliaryError, TrainError
from auxiliary.base.files import read_csv, temp_path, write_csv_atomic, write_json_atomic
from auxiliary.base.layout import resolve_path, run_dir
from auxiliary.models.checkpoint import library_versions, save_checkpoint
from auxiliary.models.preprocess import Preprocessing
from auxiliary.models.pretrained import read_weights_file
from auxiliary.tasks import Task
from auxiliary.training.acceleration import precision_here
from auxiliary.training.optimization import WarmupCosine
from auxiliary.training.seeding import rng_state

#: Files and folders of a run that :func:`auxiliary.training.loop.fit` writes (and ``overwrite`` removes).
RUN_OUTPUTS: tuple[str, ...] = (
    "best.pt",
    "last.pt",
    "summary.json",
    "config.yaml",
    "val_predictions.csv",
    "test_predictions.csv",
    "thresholds.json",
    "logs",
)


#: Files whose presence means a folder holds a (possibly interrupted) run.
RUN_MARKERS: tuple[str, ...] = ("best.pt", "last.pt", "summary.json", "logs/metrics.csv")


STATE_FORMAT = 1


class RunExistsError(TrainError):
    """The run folder already holds a run and neither resume nor overwrite was asked for."""


# ====================================================================================== run folder
def prepare_run_dir(out_dir: str | Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Create ``out_dir``; refuse one holding a run unless ``resume`` or ``overwrite`` (which deletes
    only this module's outputs, never anything else in the folder)."""
    out = Path(out_dir)
    if secondary_rank():
        return out
    refuse_existing(out, resume, overwrite)
    existing = [name for name in RUN_OUTPUTS if (out / name).exists()]
    if existing and overwrite and not resume:
        for name in existing:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    return out


# ====================================================================================== naming, reuse and resume state of fit
def with_model(cfg: Config, model: str) -> Config:
    """``cfg`` with ``train.model`` replaced (e.g. by :func:`auxiliary.steps.select.selected_model`)."""
    return replace(cfg, train=replace(cfg.train, model=str(model)))


def run_name(cfg: Config) -> str:
    """Default run name ``<model>-<profile>``: the folder :func:`auxiliary.base.layout.run_dir` and notebook 05 use.

    The name does not hold the dataset: :func:`auxiliary.steps.train.ensure_run` retrains in place (saying so) when the
    folder holds a run made with other settings (e.g. ``DATA`` switched to HAM10000)."""
    return f"{cfg.train.model}-{cfg.profile}"


#: Settings that do not change what a run learns (ignored when deciding whether a run can be reused).
_REUSE_IGNORED = ("threads", "device", "devices", "num_nodes", "accelerator", "strategy", "compile", "channels_last",
                  "num_workers", "cache")


def _settings(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for sec in ("train", "data") + (("synth",) if str(cfg_dict["data"]["data"]).lower() == "synthetic" else ()):
        out[sec] = {k: v for k, v in cfg_dict[sec].items() if k not in _REUSE_IGNORED and not k.startswith("select_")}
    out["train"]["precision"] = precision_here(out["train"].get("precision", "32-true"))
    return out


def same_settings(run_dir: str | Path, cfg: Config) -> bool:
    """Whether the run in ``run_dir`` was made with the same learning-relevant settings as ``cfg``."""
    f = Path(run_dir) / "config.yaml"
    if not f.is_file():
        return False
    try:
        saved = to_dict(load_config(f))
    except (AuxiliaryError, ValueError, KeyError, TypeError, OSError):
        return False
    return _settings(saved) == _settings(to_dict(cfg))


def trained_checkpoint(cfg: Config, name: str | None = None) -> Path:
    """``best.pt`` of the run :func:`auxiliary.steps.train.ensure_run` would reuse for ``cfg``, without training; a one-line
    error saying what to do when there is none or it was trained with other settings."""
    out = run_dir(cfg, name or run_name(cfg))
    if not (out / "best.pt").is_file():
        raise TrainError(f"no trained run at {out}: train it with `python -m auxiliary train --profile "
                         f"{cfg.profile}` (or notebook 04), or pass --ckpt")
    if not same_settings(out, cfg):
        raise TrainError(f"{out} was trained with other settings than these: train it again with `python -m "
                         f"auxiliary train --profile {cfg.profile} --overwrite`, or pass --ckpt")
    return out / "best.pt"


def secondary_rank() -> bool:
    """True in the extra processes of a multi-process launch (DDP ranks > 0 re-run the same command)."""
    return any(os.environ.get(k, "0").strip() not in ("", "0")
               for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def recorded_split(run_dir: str | Path, split: str | Path | None = None) -> Path | None:
    """The split a run trained on: ``split`` when given, else its ``summary.json``'s ``split_dir`` when that folder
    still holds a split (None otherwise)."""
    if split:
        return resolve_path(split)
    try:
        recorded = json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8")).get("split_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(recorded) if recorded and (Path(recorded) / "classes.json").is_file() else None


def refuse_existing(out: Path, resume: bool, overwrite: bool) -> None:
    if secondary_rank():
        return  # rank 0 already checked (and prepared) the run folder
    existing = [name for name in RUN_MARKERS if (out / name).exists()]
    if existing and not (resume or overwrite):
        raise RunExistsError(
            f"run folder {out} already holds a run ({', '.join(existing)}); choose another name, "
            "or pass --resume (continue it) or --overwrite (start again)"
        )


#: Train settings a resumed run must share with the run it continues (others may change).
RESUME_KEYS: tuple[str, ...] = (
    "model", "pretrained", "img_size", "batch", "max_epochs", "freeze_epochs", "lr_head", "lr_ft",
    "weight_decay", "warmup_epochs", "accumulate", "grad_clip", "label_smoothing", "loss", "focal_gamma",
    "monitor", "seed", "ema_decay", "mixup", "cutmix", "color_constancy", "task",
)


def load_last(path: Path, tcfg: TrainConfig, classes: list[str]) -> dict[str, Any]:
    state = read_weights_file(path, what="resume state", error=TrainError,
                              hint=f"it was not written by this package's training: start again with --overwrite "
                                   f"(or remove {path.name})")
    if not isinstance(state, dict) or state.get("kind") != "last":
        raise TrainError(f"{path} is not a resume state of this project")
    if list(state.get("classes", [])) != classes:
        raise TrainError(f"cannot resume {path.parent}: its classes {state.get('classes')} differ from {classes}")
    saved = state.get("train", {})
    diffs = [f"{k}: {saved.get(k)!r} -> {getattr(tcfg, k)!r}" for k in RESUME_KEYS
             if k in saved and coerce(saved[k], type(getattr(tcfg, k)), k) != getattr(tcfg, k)]
    if diffs:
        raise TrainError(
            f"cannot resume {path.parent} with different settings ({'; '.join(diffs)}); "
            "use the original settings, or --overwrite to start again"
        )
    return state


def save_last(fabric: Any, path: Path, model: nn.Module, optimizer: Any, tcfg: TrainConfig, cfg: Config,
               classes: list[str], *, epoch: int, phase: str, phase_step: int, schedule: WarmupCosine,
               best_value: float, best_epoch: int, bad_epochs: int, history: list[dict[str, Any]],
               finished: bool, stopped_early: bool, img_size: int, mean: Sequence[float],
               std: Sequence[float], ema: Any = None) -> None:
    state = {
        "format": STATE_FORMAT,
        "kind": "last",
        "model_name": tcfg.model,
        "classes": list(classes),
        "img_size": int(img_size),
        "mean": list(mean),
        "std": list(std),
        "model": model,
        "ema": ema.module if ema is not None else None,
        "optimizer": optimizer,
        "scheduler": {**schedule.state_dict(), "step": int(phase_step), "phase": phase},
        "epoch": int(epoch),
        "phase": phase,
        "phase_step": int(phase_step),
        "best_value": float(best_value),
        "best_epoch": int(best_epoch),
        "bad_epochs": int(bad_epochs),
        "history": [dict(r) for r in history],
        "finished": bool(finished),
        "stopped_early": bool(stopped_early),
        "rng": rng_state(),
        "train": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(tcfg).items()},
        "config": to_dict(cfg),
        "versions": library_versions(),
    }
    tmp = temp_path(path)  # Fabric saves on rank 0 only; the rename makes it atomic
    fabric.save(tmp, state)
    if fabric.is_global_zero:
        tmp.replace(path)
    fabric.barrier()


def save_best(path: Path, out: Path, model: nn.Module, tcfg: TrainConfig, cfg: Config, classes: list[str],
              preprocessing: Preprocessing, va: dict[str, Any], row: dict[str, Any],
              val_table: Any, task: Task, trained_on: str | None = None) -> None:
    """``best.pt`` of the best epoch with its ``preprocessing`` (the spec its validation loader applied: the model's
    own), what its task fits on the validation pass ``va`` (a temperature; per-label temperatures and thresholds),
    what it was trained on (``trained_on``, :func:`training_source`), ``val_predictions.csv`` and the task's own files
    (``thresholds.json``)."""
    calibration = task.calibrate(va["logits"], va["labels"], classes, _tone_groups(val_table, va["index"]),
                                 cfg.eval.min_group_size)
    metrics = {k: v for k, v in row.items() if k != "phase"}
    metrics["val_macro_auroc"] = va["macro_auroc"]
    save_checkpoint(
        path, model, model_name=tcfg.model, classes=classes, img_size=preprocessing.img_size,
        preprocessing=preprocessing, config=to_dict(cfg), metrics=metrics,
        temperature=float(calibration.get("temperature", 1.0)),
        extra={"kind": "best", "epoch": int(row["epoch"]), "task": task.name,
               **{k: v for k, v in calibration.items() if k != "temperature"},
               **({"trained_on": trained_on} if trained_on else {})},
    )
    probs = task.probabilities(va["logits"], calibration)
    write_csv_atomic(out / "val_predictions.csv",
                     task.predictions_frame(probs, va["labels"], va["index"], classes, calibration, val_table))
    for name, content in task.run_files(calibration, classes).items():
        write_json_atomic(out / name, content)


def training_source(table: Any) -> str | None:
    """What a run's training images are, from their ``group`` column (the simulator names each image's subject):
    ``procedural`` (every one procedural synthetic skin: ``procedural-...``), ``synthetic`` (synthetic conditions,
    some on photos: ``photo:...``), ``mixed`` (synthetic and other images, e.g. merged corrections), or None
    (no table, no group column)."""
    if table is None or not len(table) or "group" not in table:
        return None
    groups = table["group"].astype(str)
    procedural = groups.str.startswith("procedural-")
    synthetic = procedural | groups.str.startswith("photo:")
    return "procedural" if procedural.all() else "synthetic" if synthetic.all() else "mixed"


def _tone_groups(table: Any, index: np.ndarray) -> np.ndarray:
    """The tone group of each validation row (``unknown`` without a table or column)."""
    if table is None or not len(table) or "tone_group" not in table:
        return np.full(len(index), "unknown", dtype=object)
    return table.reset_index(drop=True).iloc[index]["tone_group"].astype(str).to_numpy(dtype=object)


def write_metrics(history: list[dict[str, Any]], out: Path) -> None:
    """``logs/metrics.csv``: one row per epoch, the columns of the run's task (the rows' keys, in order)."""
    write_csv_atomic(out / "logs" / "metrics.csv", pd.DataFrame(history))


def read_predictions(path: Path, classes: Sequence[str]) -> Any:
    """A run's ``val_predictions.csv`` or ``test_predictions.csv`` (``None`` when absent), its cells as they were
    before :func:`auxiliary.base.files.write_csv_atomic` kept a spreadsheet from running them (a class ``=1+1``)."""
    if not path.is_file():
        return None
    return read_csv(path, keep_default_na=False, dtype={"label": str, "pred": str, "path": str})


# ====================================================================================== results
def load_run(run_dir: str | Path) -> dict[str, Any]:
    """A finished run's ``summary`` (dict), ``metrics`` (DataFrame of logs/metrics.csv),
    ``val_predictions`` and ``test_predictions`` (DataFrames or None), ``classes``."""
    run = Path(run_dir)
    if not (run / "summary.json").is_file():
        raise TrainError(f"{run} is not a finished training run (no summary.json)")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    classes = list(summary["classes"])
    metrics = read_csv(run / "logs" / "metrics.csv")
    return {
        "summary": summary,
        "classes": classes,
        "metrics": metrics,
        "val_predictions": read_predictions(run / "val_predictions.csv", classes),
        "test_predictions": read_predictions(run / "test_predictions.csv", classes),
        "run_dir": run,
    }


def per_class_recall(predictions: Any, classes: Sequence[str]) -> Any:
    """Recall, support and precision per class from a predictions frame (``label`` and ``prob_*``)."""
    probs = predictions[[f"prob_{c}" for c in classes]].to_numpy()
    pred = np.asarray(classes)[probs.argmax(axis=1)] if len(probs) else np.asarray([], dtype=str)
    label = predictions["label"].astype(str).to_numpy()
    rows = []
    for c in classes:
        pos = label == c
        predicted = pred == c
        rows.append({
            "class": c,
            "support": int(pos.sum()),
            "recall": float((pred[pos] == c).mean()) if pos.any() else float("nan"),
            "precision": float((label[predicted] == c).mean()) if predicted.any() else float("nan"),
        })
    return pd.DataFrame(rows).set_index("class")

def run_summary(out: Path, cfg: Config, classes: list[str], history: list[dict[str, Any]], *, best_epoch: int,
                best_value: float, stopped_early: bool, test: dict[str, Any] | None, val_auroc: float,
                temperature: float, split_dir: Any, seconds_this_call: float, device: str,
                world_size: int, task: str = "single", monitor: str | None = None) -> dict[str, Any]:
    """What ``summary.json`` records of a finished run: best epoch and metrics, test metrics, time, speed, versions."""
    tcfg = cfg.train
    best_row = next((r for r in history if int(r["epoch"]) == best_epoch), {})
    speeds = [float(r["images_per_second"]) for r in history if r.get("images_per_second")]
    summary = {
        "run_dir": str(out),
        "task": task,
        "model": tcfg.model,
        "pretrained": tcfg.pretrained,
        "classes": classes,
        "img_size": tcfg.img_size,
        "split_dir": str(split_dir) if split_dir else None,
        "epochs_run": len(history),
        "max_epochs": tcfg.max_epochs,
        "freeze_epochs": tcfg.freeze_epochs,
        "stopped_early": stopped_early,
        "monitor": monitor or tcfg.monitor,
        "best_epoch": best_epoch,
        "best_value": best_value,
        "best_val_balanced_acc": best_row.get("val_balanced_acc"),
        "best_val_macro_f1": best_row.get("val_macro_f1"),
        "best_val_acc": best_row.get("val_acc"),
        "best_val_loss": best_row.get("val_loss"),
        "val_macro_auroc": val_auroc,
        "temperature": temperature,
        "test_balanced_acc": test.get("balanced_acc") if test else None,
        "test_macro_f1": test.get("macro_f1") if test else None,
        "test_acc": test.get("acc") if test else None,
        "test_macro_auroc": test.get("macro_auroc") if test else None,
        "test": test,
        "seconds_training": float(sum(float(r["seconds"]) for r in history)),
        "seconds_this_call": seconds_this_call,
        "images_per_second": float(np.median(speeds)) if speeds else None,
        "precision": tcfg.precision,
        "accelerator": device,
        "world_size": world_size,
        "versions": library_versions(),
        "finished": True,
    }
    return summary
