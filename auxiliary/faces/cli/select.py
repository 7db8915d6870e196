"""``python -m auxiliary select``: its flags, one call into :func:`auxiliary.steps.select.select`, and what it prints."""

from __future__ import annotations

import argparse

import pandas as pd

from auxiliary.base.config import Config
from auxiliary.steps.select import select


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default=None, metavar="DIR",
                        help="split folder (default: the one notebook 02 makes for the configured dataset)")
    parser.add_argument("--out", default=None, metavar="DIR", help="folder of the candidate runs (default runs/select-<profile>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    table = select(cfg, args.split, args.out, progress=not args.quiet)
    root = table.attrs["root"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        cols = ["model", "val_balanced_acc", "val_macro_auroc", "val_ece", "params", "train_seconds",
                "train_img_per_s", "infer_img_per_s", "reused"]
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"table: {root / 'selection.csv'}; chart: {root / 'selection.png'}; winner: {table.attrs['winner']}")
    return 0
