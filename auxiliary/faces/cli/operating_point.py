"""``python -m auxiliary operating-point``: its flags, one call into :func:`auxiliary.steps.operating_point.operating_point`,
what it prints."""

from __future__ import annotations

import argparse
from typing import Any

import auxiliary.faces.cli.flags as arguments
from auxiliary.base.bounds import Bounds
from auxiliary.steps.operating_point import operating_point


def recall_floors(text: str) -> dict[str, float]:
    """``mel=0.7,bcc=0.6`` -> {"mel": 0.7, "bcc": 0.6} (argparse's type: a mistake is one line)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        name, sep, value = part.partition("=")
        try:
            r = float(value)
        except ValueError:
            r = -1.0
        if not sep or not name.strip() or not 0.0 <= r <= 1.0:
            raise argparse.ArgumentTypeError(f"{part!r}: write CLASS=RECALL with a recall from 0 to 1, e.g. mel=0.7")
        out[name.strip()] = r
    if not out:
        raise argparse.ArgumentTypeError("no CLASS=RECALL given, e.g. mel=0.7")
    return out


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="the trained model, e.g. runs/NAME/best.pt (read, never changed)")
    parser.add_argument("--out", required=True, metavar="RUN_OP",
                        help="folder of the new best.pt with the operating point, the folds and their predictions")
    parser.add_argument("--min-recall", required=True, type=recall_floors, metavar="CLASS=RECALL[,...]",
                        help="the recall each named class must reach, e.g. mel=0.7 (balanced accuracy is maximised "
                             "under these floors)")
    parser.add_argument("--folds", type=arguments.bounded_number(int, Bounds(at_least=2, at_most=20)), default=3,
                        help="k of the k-fold on train + validation: k trainings of the run's recipe (default 3)")
    parser.add_argument("--split", default=None,
                        help="the split the checkpoint was trained on (default: its summary.json's split_dir)")
    parser.add_argument("--seed", type=arguments.bounded_number(int, Bounds(at_least=0, at_most=2**31 - 1)), default=0,
                        help="seed of the fold assignment (default 0)")
    parser.add_argument("--oof", default=None, metavar="OP/oof_predictions.csv",
                        help="fit on the out-of-fold predictions of an earlier operating-point of the same recipe "
                             "(another seed's run) instead of training the folds again")
    parser.add_argument("--overwrite", action="store_true", help="fit again into an --out that holds one")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    rec = operating_point(args.ckpt, args.out, min_recall=args.min_recall, folds=args.folds, split=args.split,
                          seed=args.seed, oof=args.oof, overwrite=args.overwrite, progress=not args.no_progress)
    shift = ", ".join(f"{c} {v:+.2f}" for c, v in rec["shift"].items())
    print(f"operating point of {rec['source']} on {rec['n']} out-of-fold predictions ({rec['folds']} folds): "
          f"log-prior shift {shift}")
    print("  out-of-fold recall at it: " + ", ".join(f"{c} {v:.3f}" for c, v in rec["recall"].items() if v is not None)
          + f"; balanced accuracy {rec['balanced_acc']:.3f}" + ("" if rec["met"] else " (a floor is not reached)"))
    chk = rec["kfold_check"]
    print(f"  the fit checked by {chk['folds']}-fold on those predictions: balanced accuracy {chk['balanced_acc']:.3f}, "
          + ", ".join(f"{c} recall {chk['recall'][c]:.3f}" for c in rec["min_recall"]))
    print(f"  -> {args.out}/best.pt (evaluate, sort, predict and serve decide with it)")
    return 0
