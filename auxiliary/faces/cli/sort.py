"""``python -m auxiliary sort``: its flags, one call into :func:`auxiliary.steps.sort.sort`, and what it prints."""

from __future__ import annotations

import argparse
from typing import Any

import auxiliary.faces.cli.flags as arguments
from auxiliary.base.config_overrides import coerce
from auxiliary.base.errors import SortError
from auxiliary.inference.shards import parse_shard
from auxiliary.steps.sort import sort
from auxiliary.tasks import task_named


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
    parser.add_argument("--tone-thresholds", action="store_true",
                        help="multi-label models: use the per-tone-group thresholds of each image's tone group, "
                             "estimated from its pixels (default: the global per-label thresholds)")
    parser.add_argument("--shard", type=shard_argument, default=None, metavar="I/N",
                        help="sort only shard I of N (0 <= I < N) into OUT/shards/I-of-N/, e.g. one process per "
                             "shard on a very large folder; then --merge")
    parser.add_argument("--merge", action="store_true",
                        help="gather the finished shards of OUT/shards/ into OUT, checking that every input of "
                             "--input is in exactly one shard (no --ckpt needed)")


def shard_argument(text: str) -> tuple[int, int]:
    """argparse ``type=`` of ``--shard``: a bad value is one line naming the option."""
    try:
        return parse_shard(text)
    except SortError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--shard ")) from None


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    recursive = None if args.recursive_flag is None else coerce(args.recursive_flag, bool, "--recursive")
    res = sort(cfg, args.ckpt, args.input, args.out, batch=args.batch_alias, recursive=recursive, calib=args.calib,
               tta=args.tta, tone_thresholds=args.tone_thresholds, shard=args.shard, merge=args.merge,
               progress=not args.quiet)
    sm = res.summary
    print(f"sorted {sm['n_inputs']} inputs with {sm['model']} ({sm['rule']}) into {res.out_dir}")
    for name, n in sm["counts"].items():
        print(f"  {name:>16}: {n}")
    d = sm["decisions"]  # inputs, whereas counts are files: a multi-label image is in each of its label folders
    print(f"  {task_named(sm['task']).title}: {d['sorted']} sorted, {d['low_confidence']} low confidence, "
          f"{d['rejected']} rejected")
    if sm.get("conformal"):
        c = sm["conformal"]
        print(f"  conformal: target coverage {c['coverage']:g}, checked on validation {c['empirical_coverage']:.3f}, "
              f"mean set size {c['mean_set_size']:.2f} (n={c['n_calib']})")
        if c.get("note"):
            print(f"  note: {c['note']}")
    print(f"  {sm['n_processed']} processed now, {sm['n_already_done']} already done, {sm['duplicates']} duplicate contents; "
          f"accounted for all: {sm['accounted_for_all']}")
    print(f"  predictions: {res.out_dir / 'predictions.csv'}; rejected: {res.out_dir / 'rejected.csv'}")
    for what in ("not_in_any_shard", "in_two_shards"):  # a merge that cannot account for every input
        if sm.get(what):
            print(f"  {what.replace('_', ' ')}: {', '.join(sm[what][:5])}" + (" ..." if len(sm[what]) > 5 else ""))
    return 0 if sm["accounted_for_all"] else 1
