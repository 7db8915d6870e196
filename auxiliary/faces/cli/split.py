"""``python -m auxiliary split``: its flags and its one call into :func:`auxiliary.steps.split.split`."""

from __future__ import annotations

from typing import Any

import auxiliary.faces.cli.flags as arguments
from auxiliary.data.duplicates import NEAR_THRESHOLD
from auxiliary.data.report import DatasetProblemsError
from auxiliary.steps.split import split


def configure_parser(parser: Any) -> None:
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="split folder to write (default: data/splits/<dataset>-<profile>-<hash>)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing split in --out")
    parser.add_argument("--resplit", action="store_true",
                        help="ignore a split the dataset already has (train/val folders, MedMNIST) and split anew")
    parser.add_argument("--root", default=None, metavar="DIR", help="base folder of relative paths in a CSV list")
    parser.add_argument("--near-threshold", type=arguments.hash_bits, default=NEAR_THRESHOLD, metavar="BITS",
                        help=f"perceptual-hash distance counted as near-duplicate, 0 to 64 bits (default {NEAR_THRESHOLD})")
    parser.add_argument("--no-duplicate-check", action="store_true", help="skip the perceptual-hash duplicate check")
    parser.add_argument("--report", default=None, metavar="FILE.csv", help="also write the dataset problem report here")


def run_cli(args: Any, cfg: Any) -> int:
    try:
        result = split(cfg, args.out, root=args.root, report_csv=args.report, near_threshold=args.near_threshold,
                       check_duplicates=not args.no_duplicate_check, resplit=args.resplit, overwrite=args.overwrite)
    except DatasetProblemsError as exc:
        print(str(exc.report))  # every problem row, before the one-line error
        raise
    print(str(result.report))
    print("\n".join(result.lines()))
    return 0
