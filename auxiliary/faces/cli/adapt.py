"""``python -m auxiliary adapt``: its flags, one call into :func:`auxiliary.steps.adapt.adapt`, what it prints."""

from __future__ import annotations

import argparse
from typing import Any

import auxiliary.faces.cli.flags as arguments
from auxiliary.base.bounds import Bounds
from auxiliary.steps.adapt import METHODS, adapt
from auxiliary.training.adaptation import PSEUDO_PRECISION


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="the synthetic model to adapt, e.g. runs/NAME/best.pt")
    parser.add_argument("--input", required=True, help="folder of the photos to adapt to (their labels are never read)")
    parser.add_argument("--out", required=True, metavar="RUN2", help="the adapted run folder (best.pt, summary.json...)")
    parser.add_argument("--method", choices=METHODS, default="self",
                        help="self (default): self-training on confident pseudo-labels; adabn: BatchNorm statistics "
                             "of the photos; adabn+self: both (benchmarks/adapt_runs.md: self 0.82, adabn 0.63, "
                             "both 0.67 from 0.69 on real photos of mixed sources)")
    parser.add_argument("--split", default=None,
                        help="the split the checkpoint was trained on (default: its summary.json's split_dir)")
    parser.add_argument("--epochs", type=arguments.bounded_number(int, Bounds(at_least=1, at_most=100)), default=3,
                        help="epochs of self-training, 1 to 100 (default 3)")
    parser.add_argument("--precision", type=arguments.probability_tolerance, default=PSEUDO_PRECISION,
                        help="how often the synthetic validation predictions above the pseudo-label threshold must "
                             f"be right, above 0 and at most 1 (default {PSEUDO_PRECISION})")
    parser.add_argument("--max-per-class", type=arguments.bounded_number(int, Bounds(at_least=1, at_most=10**6)),
                        default=None, help="at most this many pseudo-labelled photos per class")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier adapted run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    summary = adapt(cfg, args.ckpt, args.input, args.out, method=args.method, split=args.split, epochs=args.epochs,
                    precision=args.precision, max_per_class=args.max_per_class, overwrite=args.overwrite,
                    progress=not args.no_progress)
    a = summary["adaptation"]
    print(f"adapted {a['source']} to {a['target_images']} photos of {a['input_dir']} ({a['method']}) -> "
          f"{summary['run_dir']}")
    if "pseudo_labels" in a:
        print(f"  self-training on {a['pseudo_labels']} pseudo-labelled photos {a['pseudo_per_class']} "
              f"(threshold {a['pseudo_threshold']:.3f}, chosen on the synthetic validation list), {a['epochs']} epochs")
    print(f"  the run folder reads like any other: python -m auxiliary sort --ckpt {summary['run_dir']}/best.pt ...")
    return 0
