"""Notebook 02 and ``python -m auxiliary split``: the dataset the series trains on and its leakage-free split folder.

A multi-label dataset (a ``simulate --task multilabel`` folder, a CSV with 0/1 label columns or a ``labels``
column, a multi-label MedMNIST ``.npz``: :func:`auxiliary.data.multilabel_read.multilabel_format`) is split by
iterative stratification of whole groups (:mod:`auxiliary.data.multilabel_split_folder`); the command line
then prints the share of each label per split instead of the per-class table. Offline oversampling
(``data.oversample_to``) is refused for multi-label data, before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auxiliary.config import Config
from auxiliary.data.balance import MULTILABEL_OVERSAMPLING, OversampleError, ensure_oversampled, oversample
from auxiliary.data.duplicates import NEAR_THRESHOLD
from auxiliary.data.multilabel_read import multilabel_format, read_multilabel_dataset
from auxiliary.data.multilabel_split_folder import make_multilabel_splits
from auxiliary.data.multilabel_splits import label_shares
from auxiliary.data.readers import load_split, read_dataset, split_task
from auxiliary.data.report import DatasetProblemsError, DatasetReport
from auxiliary.data.splits import SplitError, existing_split_outputs, make_splits, read_report, split_summary
from auxiliary.files import check_output_dir
from auxiliary.layout import resolve_path, split_dir
from auxiliary.steps import arguments
from auxiliary.steps.synthesis import ensure_synthetic


# ------------------------------------------------------------------ 02 data
def dataset_source(cfg: Config) -> Path:
    """The dataset the series trains on: the synthetic default or ``cfg.data.data``."""
    if str(cfg.data.data).lower() == "synthetic":
        return ensure_synthetic(cfg)
    return resolve_path(cfg.data.data)


def ensure_splits(cfg: Config, progress: bool = True) -> Path:
    """The split folder (``train.csv``, ``val.csv``, ``test.csv``, ``classes.json``), made when missing
    (multi-label when the dataset is, e.g. ``synth.task: multilabel`` with the synthetic default)."""
    out = split_dir(cfg)
    if (out / "train.csv").is_file() and (out / "classes.json").is_file():
        if cfg.data.oversample_to > 0 and split_task(out) == "multilabel":
            raise OversampleError(MULTILABEL_OVERSAMPLING)
        return ensure_oversampled(out, cfg.data, progress=progress)
    table, _report, labels = read_source(dataset_source(cfg), cfg, progress=progress)
    if labels is not None:
        make_multilabel_splits(
            table, labels, out, val=cfg.data.val, test=cfg.data.test, group_col=cfg.data.group_col,
            seed=cfg.data.seed, overwrite=out.exists(), progress=progress,
        )
        return out
    make_splits(
        table, out, val=cfg.data.val, test=cfg.data.test, group_col=cfg.data.group_col, seed=cfg.data.seed,
        overwrite=out.exists(), progress=progress,
    )
    return ensure_oversampled(out, cfg.data, progress=progress)  # no-op unless data.oversample_to > 0


def read_source(source: Path, cfg: Config, *, root: str | None = None, progress: bool = True
                ) -> tuple[Any, DatasetReport, list[str] | None]:
    """``(table, report, labels)`` of a dataset: ``labels`` is ``None`` for single-label data, the label names of a
    multi-label dataset (whose table has one 0/1 column per label). Oversampling a multi-label dataset is refused here,
    before anything is written."""
    d = cfg.data
    if multilabel_format(source, d.format) is None:
        table, report = read_dataset(source, format=d.format, drop_bad=d.drop_bad, root=root, progress=progress)
        return table, report, None
    if d.oversample_to > 0:
        raise OversampleError(MULTILABEL_OVERSAMPLING)
    table, labels, report = read_multilabel_dataset(source, d.format, d.drop_bad, root=root, progress=progress)
    return table, report, labels


# ----------------------------------------------------------------------------------- CLI
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
