"""``python -m auxiliary compare``: its flags, one call into :func:`auxiliary.steps.compare.compare`, and what it prints."""

from __future__ import annotations

import argparse
from typing import Any

import matplotlib
import pandas as pd

from auxiliary.steps.compare import compare


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", nargs="+", required=True, metavar="RUN",
                        help="run folders (runs/NAME with best.pt) or checkpoint files to compare")
    parser.add_argument("--data", required=True,
                        help="split CSV to evaluate on (e.g. data/splits/.../test.csv) or a split folder (uses test.csv)")
    parser.add_argument("--out", required=True, help="output folder for comparison.csv/json, predictions and galleries")
    parser.add_argument("--split", default=None, help="split name in the table (default: the CSV's name)")
    parser.add_argument("--onnx-dir", default=None,
                        help="put the ONNX exports here, named <run>-<checkpoint hash>.onnx (default: beside "
                             "each checkpoint, runs/NAME/best.onnx)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX export and its speed rows")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurements")
    parser.add_argument("--no-galleries", action="store_true", help="skip the error-gallery figures")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing comparison, and ONNX files under --onnx-dir that do not match "
                             "their checkpoint")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    matplotlib.use("Agg")
    cmp = compare(cfg, args.runs, args.data, args.out, split=args.split, onnx_dir=args.onnx_dir,
                  export_onnx=not args.no_onnx, measure_speed=not args.no_speed, galleries=not args.no_galleries,
                  overwrite=args.overwrite)
    for note in cmp.notes:
        print(f"note: {note}")
    wide = cmp.wide()
    cols = [c for c in (*cmp.task.comparison_metrics, "parameters", "torch_ms_per_image_b1", "onnx_ms_per_image_b1")
            if c in wide.columns]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(wide[cols].round(4).to_string())
    if not args.no_speed:
        print("speed measured on: " + "; ".join(f"{k}: torch {v['torch_device']}, onnx {v['onnx_device'] or '-'}"
                                                for k, v in cmp.runs.items()))
    written = cmp.written
    print(f"\nwrote {written['csv']} ({len(cmp.table)} rows), {written['json']} and predictions/ in "
          f"{written['csv'].parent}")
    return 0
