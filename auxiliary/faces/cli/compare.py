"""``python -m auxiliary compare``: its flags and its call into :mod:`auxiliary.steps.compare`."""

from __future__ import annotations

import argparse
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from auxiliary.base.files import check_output_dir, label_slug
from auxiliary.base.layout import resolve_path
from auxiliary.evaluation.comparison_table import (
    CompareError,
)
from auxiliary.steps import comparison_multilabel as ml
from auxiliary.steps.compare import (
    compare_runs,
)
from auxiliary.training.records import record_step
from auxiliary.viz.plots_comparison import plot_error_gallery


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

    runs = [resolve_path(r) for r in args.runs]
    out = check_output_dir(resolve_path(args.out), inputs=(args.data,))
    if (out / "comparison.csv").exists() and not args.overwrite:
        raise CompareError(f"{out / 'comparison.csv'} exists; pass --overwrite to replace it")
    cmp = compare_runs(
        runs, resolve_path(args.data), cfg, split=args.split,
        onnx_dir=resolve_path(args.onnx_dir) if args.onnx_dir else None,
        export_onnx=not args.no_onnx, measure_speed=not args.no_speed, overwrite=args.overwrite,
    )
    written = cmp.save(out, overwrite=args.overwrite)
    if cmp.multilabel and not args.no_galleries:
        print("error galleries skipped: they rank single-label mistakes (multi-label runs: see evaluate's Grad-CAM per label)")
    elif not args.no_galleries:
        for label in cmp.predictions:
            if label.endswith("+tta"):
                continue
            for kind in ("mistakes", "low_confidence"):
                fig = plot_error_gallery(cmp, label, kind, gallery_size=cfg.eval.gallery_size)
                fig.savefig(out / f"gallery_{kind}_{label_slug(label)}.png", dpi=120, bbox_inches="tight")
                plt.close(fig)
    headline = ml.MULTILABEL_KEY_METRICS if cmp.multilabel else ("balanced_accuracy", "macro_f1", "macro_auroc", "ece")
    cols = [c for c in (*headline, "parameters", "torch_ms_per_image_b1", "onnx_ms_per_image_b1")
            if c in cmp.wide().columns]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(cmp.wide()[cols].round(4).to_string())
    if not args.no_speed:
        print("speed measured on: " + "; ".join(f"{k}: torch {v['torch_device']}, onnx {v['onnx_device'] or '-'}"
                                                for k, v in cmp.runs.items()))
    print(f"\nwrote {written['csv']} ({len(cmp.table)} rows), {written['json']} and predictions/ in {out}")
    record_step(cfg, "compare", out, tables={"wide": cmp.wide()}, tags={"models": ",".join(cmp.models)},
                split_dir=resolve_path(args.data).parent)
    return 0

