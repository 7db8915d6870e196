"""``python -m auxiliary select``: its flags and its call into :mod:`auxiliary.steps.select`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from auxiliary.base.config import Config
from auxiliary.base.files import check_output_dir
from auxiliary.base.layout import default_out_root, resolve_path
from auxiliary.steps.select import (
    run_selection,
)
from auxiliary.steps.split import ensure_splits
from auxiliary.training.records import record_step
from auxiliary.viz.plots_evaluation import plot_selection


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default=None, metavar="DIR",
                        help="split folder (default: the one notebook 02 makes for the configured dataset)")
    parser.add_argument("--out", default=None, metavar="DIR", help="folder of the candidate runs (default runs/select-<profile>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    split = resolve_path(args.split) if args.split else ensure_splits(cfg, progress=not args.quiet)
    if args.out:
        check_output_dir(args.out, inputs=(split,))
    table = run_selection(cfg, split, args.out, progress=not args.quiet)
    root = Path(args.out) if args.out else default_out_root(cfg)
    fig = plot_selection(table)
    fig.savefig(root / "selection.png", dpi=150, bbox_inches="tight")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        cols = ["model", "val_balanced_acc", "val_macro_auroc", "val_ece", "params", "train_seconds",
                "train_img_per_s", "infer_img_per_s", "reused"]
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"table: {root / 'selection.csv'}; chart: {root / 'selection.png'}; winner: {table.attrs['winner']}")
    record_step(cfg, "select", root, tables={"selection": table}, split_dir=split, tags={"winner": table.attrs["winner"]},
                metrics={f"winner_{table.attrs['metric']}": table.attrs["value"]})
    return 0

