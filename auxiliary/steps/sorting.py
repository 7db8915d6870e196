"""Notebook 06 and ``python -m auxiliary sort``: copy new images into class folders and ``low_confidence/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from auxiliary.config_overrides import coerce
from auxiliary.inference.sorter import sort_folder
from auxiliary.layout import resolve_path
from auxiliary.steps import arguments
from auxiliary.steps.finetuning import trained_checkpoint


# ============================================================================ CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", default=None,
                        help="checkpoint to sort with, e.g. runs/NAME/best.pt (default: runs/<model>-<profile>/best.pt)")
    parser.add_argument("--input", required=True, help="folder of new images (never modified)")
    parser.add_argument("--out", required=True, help="output folder: <class>/, low_confidence/, predictions.csv, rejected.csv")
    parser.add_argument("--batch", type=arguments.batch_size, default=None, dest="batch_alias",
                        help="batch size of inference, 1 to 4096 (same as --sort-batch)")
    parser.add_argument("--calib", default=None, metavar="VAL.csv",
                        help="labelled CSV calibrating conformal sets (default: val_predictions.csv beside the checkpoint)")
    parser.add_argument("--tta", action="store_true", help="average the probabilities of flipped views")
    parser.add_argument("--recursive", nargs="?", const="true", default=None, dest="recursive_flag", metavar="BOOL",
                        help="also sort the images in sub-folders of --input [sort.recursive]")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    s = cfg.sort
    batch = args.batch_alias if args.batch_alias is not None else s.sort_batch
    recursive = s.recursive if args.recursive_flag is None else coerce(args.recursive_flag, bool, "--recursive")
    ckpt = resolve_path(args.ckpt) if args.ckpt else trained_checkpoint(cfg)
    res = sort_folder(
        ckpt, Path(args.input).expanduser(), Path(args.out).expanduser(),
        conf=s.conf, batch=batch, recursive=recursive, coverage=s.coverage,
        calib=Path(args.calib).expanduser() if args.calib else None, tta=args.tta, backend=s.backend,
        progress=not args.quiet,
    )
    sm = res.summary
    print(f"sorted {sm['n_inputs']} inputs with {sm['model']} ({sm['rule']}) into {res.out_dir}")
    for name, n in sm["counts"].items():
        print(f"  {name:>16}: {n}")
    if sm.get("conformal"):
        c = sm["conformal"]
        print(f"  conformal: target coverage {c['coverage']:g}, checked on validation {c['empirical_coverage']:.3f}, "
              f"mean set size {c['mean_set_size']:.2f} (n={c['n_calib']})")
        if c.get("note"):
            print(f"  note: {c['note']}")
    print(f"  {sm['n_processed']} processed now, {sm['n_already_done']} already done, {sm['duplicates']} duplicate contents; "
          f"accounted for all: {sm['accounted_for_all']}")
    print(f"  predictions: {res.out_dir / 'predictions.csv'}; rejected: {res.out_dir / 'rejected.csv'}")
    return 0 if sm["accounted_for_all"] else 1
