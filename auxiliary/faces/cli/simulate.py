"""``python -m auxiliary simulate``: its flags and its one call into :func:`auxiliary.steps.simulate.simulate`."""

from __future__ import annotations

import argparse
from typing import Any

from auxiliary.steps.simulate import simulate


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "--out_dir", "--out-dir", dest="out", default=None, metavar="DIR",
                        help="output folder (default: data/synthetic/<profile>-<hash>, what notebook 02 reads)")
    parser.add_argument("--input", dest="input", default=None, metavar="DIR",
                        help="folder of your own clean face photos to simulate on (instead of procedural skin)")
    parser.add_argument("--overwrite", action="store_true", help="replace the synthetic images of a non-empty --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    table = simulate(cfg, args.out, input_dir=args.input, overwrite=bool(args.overwrite), progress=not args.quiet)
    if args.quiet:  # otherwise the step printed it under its progress bar
        print(table.attrs["summary"])
    return 0
