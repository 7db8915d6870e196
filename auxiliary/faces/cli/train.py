"""``python -m auxiliary train``: its flags and its call into :mod:`auxiliary.steps.train`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from auxiliary.base.config import TRAIN_TASKS, Config, TrainConfig, field_docs
from auxiliary.base.errors import TrainError
from auxiliary.base.files import check_output_dir
from auxiliary.base.layout import resolve_path, run_dir
from auxiliary.data.readers import split_task
from auxiliary.steps.split import ensure_splits
from auxiliary.steps.train import selection_winner, train_run
from auxiliary.tasks import choose_task
from auxiliary.training.engine import check_config
from auxiliary.training.runs import (
    refuse_existing,
    secondary_rank,
    with_model,
)


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
    choose_task(cfg.train, split_task(split))  # a loss, monitor or task that does not fit: one line
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

