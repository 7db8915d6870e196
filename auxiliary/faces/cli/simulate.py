"""``python -m auxiliary simulate``: its flags and its call into :mod:`auxiliary.steps.simulate`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from auxiliary.base.files import check_output_dir
from auxiliary.base.layout import synthetic_dir
from auxiliary.synth.dataset import generate_dataset


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "--out_dir", "--out-dir", dest="out", default=None, metavar="DIR",
                        help="output folder (default: data/synthetic/<profile>-<hash>, what notebook 02 reads)")
    parser.add_argument("--input", dest="input", default=None, metavar="DIR",
                        help="folder of your own clean face photos to simulate on (instead of procedural skin)")
    parser.add_argument("--overwrite", action="store_true", help="replace the synthetic images of a non-empty --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    if getattr(args, "input", None):
        cfg = replace(cfg, synth=replace(cfg.synth, input_dir=str(args.input)))
    out = (check_output_dir(args.out, inputs=(cfg.synth.input_dir,)) if args.out else synthetic_dir(cfg))
    table = generate_dataset(cfg.synth, out, overwrite=bool(args.overwrite), progress=not args.quiet)
    if args.quiet:
        print(table.attrs.get("summary", f"wrote {len(table)} images to {out}"))
    return 0

