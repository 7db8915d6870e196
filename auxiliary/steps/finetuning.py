"""Notebook 04 and ``python -m auxiliary train``: a training run for a config, reused only when its recorded settings match.

A multi-label split (``classes.json`` task ``multilabel``) trains one sigmoid per label (``--loss bce``,
``asymmetric`` or ``focal_bce``; :mod:`auxiliary.training.multilabel_run`); its run folder gets the loss curve
(:class:`LossCurve`) instead of the single-label accuracy curves and confusion matrix.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from auxiliary.config import TRAIN_TASKS, Config, TrainConfig, field_docs
from auxiliary.data.readers import split_task
from auxiliary.errors import TrainError
from auxiliary.files import check_output_dir
from auxiliary.layout import resolve_path, run_dir, selection_file
from auxiliary.steps.datasets import ensure_splits
from auxiliary.steps.records import run_callbacks
from auxiliary.training.engine import check_config, resolve_task, run_monitor
from auxiliary.training.loop import fit
from auxiliary.training.runs import (
    RUN_MARKERS,
    refuse_existing,
    run_name,
    same_settings,
    secondary_rank,
    with_model,
)
from auxiliary.viz.plots_training import RunFigures, plot_curves


def ensure_run(cfg: Config, name: str | None = None, progress: bool = True,
               split_dir: str | Path | None = None) -> Path:
    """The run folder of ``cfg`` (``runs/<name or run_name(cfg)>``) with a finished run: reused when it was
    made with the same settings (and, when ``split_dir`` is given, on that split), resumed when
    interrupted, otherwise trained (an existing run with other settings is replaced, with a message
    saying so). ``split_dir`` defaults to the configured dataset's split (:func:`ensure_splits`).

    This is the one rule every notebook and step uses to reuse a trained run."""
    out = run_dir(cfg, name or run_name(cfg))
    same = same_settings(out, cfg)
    if same and (out / "summary.json").is_file() and (out / "best.pt").is_file():
        trained_on = json.loads((out / "summary.json").read_text(encoding="utf-8")).get("split_dir")
        if split_dir is None or trained_on is None or Path(trained_on) == Path(split_dir):
            print(f"reusing the finished run {out} (same settings)")
            return out
        same = False
    resume = same and (out / "last.pt").is_file()
    exists = any((out / n).exists() for n in RUN_MARKERS)
    if exists and not resume:
        print(f"{out} holds a run with other settings: training again in its place")
    split = Path(split_dir) if split_dir is not None else ensure_splits(cfg, progress=progress)
    train_run(cfg, split, out, resume=resume, overwrite=exists and not resume, progress=progress)
    return out


def trained_checkpoint(cfg: Config, name: str | None = None) -> Path:
    """``best.pt`` of the run :func:`ensure_run` would reuse for ``cfg``, without training; a one-line
    error saying what to do when there is none or it was trained with other settings."""
    out = run_dir(cfg, name or run_name(cfg))
    if not (out / "best.pt").is_file():
        raise TrainError(f"no trained run at {out}: train it with `python -m auxiliary train --profile "
                         f"{cfg.profile}` (or notebook 04), or pass --ckpt")
    if not same_settings(out, cfg):
        raise TrainError(f"{out} was trained with other settings than these: train it again with `python -m "
                         f"auxiliary train --profile {cfg.profile} --overwrite`, or pass --ckpt")
    return out / "best.pt"


class LossCurve:
    """A Fabric callback for multi-label runs: ``logs/loss_curve.png`` (the accuracy curves and the confusion
    matrix of :class:`~auxiliary.viz.plots_training.RunFigures` are single-label figures)."""

    def on_run_end(self, run_dir: Path, history: list[dict[str, Any]], val_predictions: Any,
                   classes: Any) -> None:
        fig = plot_curves(pd.DataFrame(history), "loss")
        fig.savefig(Path(run_dir) / "logs" / "loss_curve.png", dpi=120, bbox_inches="tight")
        plt.close(fig)


def train_run(cfg: Config, split_dir: str | Path, out_dir: str | Path, **kwargs: Any) -> dict[str, Any]:
    """:func:`auxiliary.training.loop.fit` plus the run's figures under ``logs/`` (loss and accuracy
    curves, validation confusion matrix; the loss curve of a multi-label run) and what its trackers need
    (:func:`auxiliary.steps.records.run_callbacks`): how every step trains. Returns the run's summary."""
    figures = LossCurve() if split_task(split_dir) == "multilabel" else RunFigures()
    return fit(cfg, split_dir, out_dir, callbacks=[figures, *run_callbacks(cfg)], **kwargs)


def selection_winner(cfg: Config, split: Path) -> str:
    """The model ``select`` recorded for this profile on ``split`` (``train --from-selection``; the DVC pipeline)."""
    f = selection_file(cfg, create=False)
    try:
        sel = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise TrainError(f"--from-selection: no readable model selection at {f}; run `python -m auxiliary select` "
                         "first") from None
    if Path(str(sel.get("split_dir"))).resolve() != Path(split).resolve() or not sel.get("model"):
        raise TrainError(f"--from-selection: {f} was made on another split ({sel.get('split_dir')}); run "
                         f"`python -m auxiliary select --split {split}` first")
    return str(sel["model"])


# ====================================================================================== CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="a split folder (train.csv, classes.json...) or any dataset auxiliary.data reads "
                             "(then split with the data settings); default: the configured dataset")
    parser.add_argument("--out", default=None, metavar="runs/NAME",
                        help="run folder (default runs/<model>-<profile>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument("--from-selection", action="store_true",
                        help="train the winner `select` recorded for this profile and split (instead of --model)")
    parser.add_argument("--no-progress", "--no_progress", dest="no_progress", action="store_true",
                        help="no progress bars")
    # train.task only: the flag built from the config would also set synth.task (a bare key sets every section)
    parser.add_argument("--task", dest="cfg__train.task", choices=TRAIN_TASKS, default=argparse.SUPPRESS,
                        metavar="TASK", help=f"{field_docs(TrainConfig)['task']} [train.task, default 'auto']")


def resolve_split(cfg: Config, data_arg: str | None, progress: bool = True) -> Path:
    """A split folder for ``--data``: the folder itself when it is one, else the dataset split with
    ``cfg.data`` settings into ``data/splits/`` (re-used when it exists)."""
    if data_arg:
        d = resolve_path(data_arg)
        if (d / "train.csv").is_file() and (d / "classes.json").is_file():
            return d
        if not d.exists():
            raise TrainError(f"--data {data_arg}: not found ({d})")
        cfg = replace(cfg, data=replace(cfg.data, data=str(d)))
    return ensure_splits(cfg, progress=progress)


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    progress = not getattr(args, "no_progress", False)
    out = check_output_dir(resolve_path(args.out), inputs=(args.data,)) if args.out else run_dir(cfg)
    refuse_existing(out, args.resume, args.overwrite)
    if args.resume and not (out / "last.pt").is_file():
        raise TrainError(f"nothing to resume in {out} (no last.pt)")
    split = resolve_split(cfg, args.data, progress=progress)
    if getattr(args, "from_selection", False):
        cfg = with_model(cfg, selection_winner(cfg, split))
        out = out if args.out else run_dir(cfg)
        refuse_existing(out, args.resume, args.overwrite)
    check_config(cfg.train)
    run_monitor(cfg.train, resolve_task(cfg.train, split_task(split)))  # a loss or task that does not fit: one line
    if not secondary_rank():  # the other processes of a multi-process run re-run this command
        print(f"training {cfg.train.model} on {split} -> {out}")
    summary = train_run(cfg, split, out, resume=args.resume, overwrite=args.overwrite, progress=progress)
    if secondary_rank():
        return 0
    if summary.get("task") == "multilabel":
        print(f"done: {summary['epochs_run']} epochs, best {summary['monitor']} {summary['best_value']:.3f} "
              f"at epoch {summary['best_epoch']}"
              + (f"; test macro AUROC {summary['test_macro_auroc']:.3f}, macro F1 {summary['test_macro_f1']:.3f} "
                 "(at the validation thresholds)" if summary.get("test_macro_auroc") is not None else ""))
        print(f"run folder: {out} (best.pt, thresholds.json, logs/, val_predictions.csv, summary.json)")
        return 0
    print(
        f"done: {summary['epochs_run']} epochs, best {summary['monitor']} {summary['best_value']:.3f} "
        f"at epoch {summary['best_epoch']}"
        + (f"; test balanced accuracy {summary['test_balanced_acc']:.3f}, macro AUROC "
           f"{summary['test_macro_auroc']:.3f}" if summary.get("test_balanced_acc") is not None else "")
    )
    print(f"run folder: {out} (best.pt, logs/, val_predictions.csv, summary.json)")
    return 0
