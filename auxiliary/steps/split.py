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

from auxiliary.base.config import Config
from auxiliary.base.layout import resolve_path, split_dir
from auxiliary.data.balance import MULTILABEL_OVERSAMPLING, OversampleError, ensure_oversampled
from auxiliary.data.multilabel_read import multilabel_format, read_multilabel_dataset
from auxiliary.data.multilabel_split_folder import make_multilabel_splits
from auxiliary.data.readers import read_dataset, split_task
from auxiliary.data.report import DatasetReport
from auxiliary.data.splits import make_splits
from auxiliary.steps.simulate import ensure_synthetic


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


