"""``python -m auxiliary runs``: its flags and its call into :mod:`auxiliary.steps.runs`."""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

import auxiliary.faces.cli.flags as arguments
from auxiliary.base.bounds import Bounds
from auxiliary.base.layout import resolve_path, runs_dir
from auxiliary.base.provenance import figure_provenance
from auxiliary.steps.runs import COLUMNS, runs


def _fmt(frame: pd.DataFrame) -> str:
    shown = frame[list(COLUMNS)].copy()
    shown["when"] = shown["when"].map(lambda t: t.strftime("%Y-%m-%d %H:%M") if pd.notna(t) else "")
    shown["mlflow_run_id"] = shown["mlflow_run_id"].map(lambda v: str(v)[:8] if isinstance(v, str) else "-")
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
        return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")



def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=None, metavar="DIR", help="folder of run folders (default runs/)")
    parser.add_argument("--limit", type=arguments.bounded_number(int, Bounds(at_least=1, at_most=100_000)),
                        default=None, metavar="N", help="show the newest N runs only")
    parser.add_argument("--figure", default=None, metavar="PNG",
                        help="instead: which notebook, run, config hash and data version made this figure")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    if args.figure:
        rec = figure_provenance(resolve_path(args.figure))
        for k, v in rec.items():
            print(f"{k:>14}: {v}")
        return 0
    frame = runs(resolve_path(args.root) if args.root else None, args.limit)
    if frame.empty:
        print(f"no finished runs under {args.root or runs_dir(create=False)}")
        return 0
    print(_fmt(frame))
    return 0

