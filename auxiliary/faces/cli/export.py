"""``python -m auxiliary export``: its flags, one call into :func:`auxiliary.steps.export.export`, what it prints."""

from __future__ import annotations

import argparse
from typing import Any

import auxiliary.faces.cli.flags as arguments
from auxiliary.models.export import PARITY_ATOL
from auxiliary.models.onnx_model import DEFAULT_OPSET, INPUT_NAME, OUTPUT_NAME
from auxiliary.steps.export import export
from auxiliary.tasks import task_named


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint to export (runs/NAME/best.pt)")
    parser.add_argument("--out", default=None,
                        help="ONNX file to write (default: beside the checkpoint, runs/NAME/best.onnx, the file "
                             "sorting and evaluation with --backend onnx/auto use)")
    parser.add_argument("--images", default=None,
                        help="folder of images or CSV with a path column for the parity check "
                             "(default: the run's val_predictions.csv)")
    parser.add_argument("--opset", type=arguments.onnx_opset, default=DEFAULT_OPSET,
                        help=f"ONNX opset, 7 to 20 (default {DEFAULT_OPSET})")
    parser.add_argument("--atol", type=arguments.probability_tolerance, default=PARITY_ATOL,
                        help=f"largest allowed probability difference, above 0 and at most 1 (default {PARITY_ATOL:g})")
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help="where the parity check runs: auto (CUDA, then MPS, then CPU), cpu, cuda, mps "
                             "[default: eval.device, auto]")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing file that does not match the checkpoint (another checkpoint, "
                             "classes, input size or normalisation)")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    res = export(cfg, args.ckpt, args.out, images=args.images, opset=args.opset, atol=args.atol, device=args.device,
                 overwrite=args.overwrite)
    print(res)
    meta = res.metadata
    print(f"  {task_named(meta.get('task')).outputs_line(meta)}")
    print(f"  mean {meta.get('mean')}; std {meta.get('std')}; input {INPUT_NAME!r} (dynamic batch), "
          f"output {OUTPUT_NAME!r}")
    return 0
