"""``python -m auxiliary split``: its flags and its call into :mod:`auxiliary.steps.split`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auxiliary.base.config import Config
from auxiliary.base.files import check_output_dir
from auxiliary.base.layout import split_dir
from auxiliary.data.balance import oversample
from auxiliary.data.duplicates import NEAR_THRESHOLD
from auxiliary.data.multilabel_split_folder import make_multilabel_splits
from auxiliary.data.multilabel_splits import label_shares
from auxiliary.data.readers import load_split
from auxiliary.data.report import DatasetProblemsError
from auxiliary.data.splits import SplitError, existing_split_outputs, make_splits, read_report, split_summary
from auxiliary.faces.cli import flags as arguments
from auxiliary.steps.split import dataset_source, read_source


def _split_multilabel(args: Any, cfg: Config, table: Any, labels: list[str], out: Path) -> int:
    d = cfg.data
    result = make_multilabel_splits(
        table, labels, out, val=d.val, test=d.test, group_col=d.group_col, seed=d.seed, overwrite=args.overwrite,
        use_existing=False if args.resplit else None, duplicate_threshold=args.near_threshold,
        check_duplicates=not args.no_duplicate_check,
    )
    rep = read_report(out)
    print(f"multi-label split ({len(labels)} labels: {', '.join(labels)}); share of images showing each label:")
    print(label_shares(result, labels).round(3).to_string())
    print(f"group leakage ({rep['group_col']}): {rep['leakage']}; cross-split duplicates: "
          f"{rep['duplicates']['exact']} exact, {rep['duplicates']['near']} near")
    print(f"wrote {out}/train.csv, val.csv, test.csv, classes.json (task multilabel), split_report.json")
    return 0



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
    d = cfg.data
    source = dataset_source(cfg)
    out = check_output_dir(args.out, inputs=(source,)) if args.out else split_dir(cfg)
    if out.is_dir() and existing_split_outputs(out) and not args.overwrite:
        raise SplitError(f"{out} already holds a split; pass --overwrite to replace it")
    try:
        table, report, labels = read_source(source, cfg, root=args.root)
    except DatasetProblemsError as exc:
        print(str(exc.report))
        if args.report:
            exc.report.to_frame().to_csv(args.report, index=False)
        raise
    print(str(report))
    if args.report:
        report.to_frame().to_csv(args.report, index=False)
    if labels is not None:
        return _split_multilabel(args, cfg, table, labels, out)
    result = make_splits(
        table, out, val=d.val, test=d.test, group_col=d.group_col, seed=d.seed, overwrite=args.overwrite,
        use_existing=False if args.resplit else None, duplicate_threshold=args.near_threshold,
        check_duplicates=not args.no_duplicate_check,
    )
    if d.oversample_to > 0 and len(result["train"]):
        new_train = oversample(out, d.oversample_to, preset=d.augment if d.augment != "none" else "geometric",
                                        seed=d.seed, overwrite=True)
        print(f"oversampled train to {d.oversample_to} per class: {int(new_train['is_augmented'].sum())} copies "
              f"under {out / 'oversampled'}")
    rep = read_report(out)
    _, classes = load_split(out)
    print(split_summary(load_split(out)[0], classes).to_string())
    print(f"group leakage ({rep['group_col']}): {rep['leakage']}; cross-split duplicates: "
          f"{rep['duplicates']['exact']} exact, {rep['duplicates']['near']} near")
    print(f"wrote {out}/train.csv, val.csv, test.csv, classes.json, split_report.json")
    return 0

