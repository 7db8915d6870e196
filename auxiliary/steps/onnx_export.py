"""``python -m auxiliary export``: a checkpoint to ONNX with a parity check.
"""

from __future__ import annotations

import argparse
from typing import Any

from auxiliary.inference.export import PARITY_ATOL, export_onnx
from auxiliary.inference.onnx_model import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME
from auxiliary.layout import resolve_path


# ---------------------------------------------------------------------------------- CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint to export (runs/NAME/best.pt)")
    parser.add_argument("--out", default=None, help="ONNX file to write (default models/<run name>.onnx)")
    parser.add_argument("--images", default=None,
                        help="folder of images or CSV with a path column for the parity check "
                             "(default: the run's val_predictions.csv)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--atol", type=float, default=PARITY_ATOL,
                        help=f"largest allowed probability difference (default {PARITY_ATOL:g})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file exported from another checkpoint")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:

    ckpt = resolve_path(args.ckpt)
    out = resolve_path(args.out) if args.out else None
    res = export_onnx(ckpt, out, images=args.images, overwrite=args.overwrite, opset=args.opset, atol=args.atol)
    print(res)
    meta = res.metadata
    print(f"  classes: {meta.get('classes')}; img_size {meta.get('img_size')}; temperature {meta.get('temperature')}")
    print(f"  mean {meta.get('mean')}; std {meta.get('std')}; input {INPUT_NAME!r} (dynamic batch), output {OUTPUT_NAME!r}")
    return 0
