"""Notebook 02 and ``python -m auxiliary split``: the dataset the series trains on and its leakage-free split folder.

:func:`split` is the step, whatever the command line, notebook 02 or the DVC stage ``split`` asks: it reads the
dataset (any layout; one class per image, or several labels per image, told by the data itself:
:func:`auxiliary.data.readers.label_set_format`), splits it into train/val/test of whole groups (stratified by
class, or iteratively by label), oversamples the training list when ``data.oversample_to`` asks (one class per
image only: refused for label sets before anything is written) and writes the split folder. Its result
(:class:`SplitResult`) carries what each face shows: the dataset's report, the split's tables and the summary of
its task (:data:`SHOWN`). :func:`ensure_splits`, what the other notebooks and ``train`` call, reuses a complete
split folder of the config or makes it with :func:`split`; :func:`data_task` tells the task of the data before
anything is made, so that a setting that does not fit it is refused before the first write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.config import Config
from auxiliary.base.files import OutputPathError, check_output_dir, entry_kind, write_csv_atomic
from auxiliary.base.layout import resolve_path, split_dir, synthetic_dir
from auxiliary.data.balance import check_oversampling, ensure_oversampled
from auxiliary.data.duplicates import NEAR_THRESHOLD
from auxiliary.data.labels import LABEL_SET_TASK, SPLIT_TASKS
from auxiliary.data.readers import label_set_format, load_split, read_dataset, split_task
from auxiliary.data.report import DatasetProblemsError, DatasetReport
from auxiliary.data.splits import (
    SplitError,
    existing_split_outputs,
    label_shares,
    make_splits,
    read_report,
    split_summary,
)
from auxiliary.steps.simulate import ensure_synthetic
from auxiliary.tasks import Task, task_of_split


@dataclass(frozen=True)
class Shown:
    """How a split's classes are shown (command line, notebook 02): what they are called, what the table
    counts, and the table of the split's lists."""

    noun: str
    what: str
    table: Callable[[dict[str, pd.DataFrame], list[str]], pd.DataFrame]


#: How a split is shown, by its task. Label sets are shown as the share of images showing each label, the
#: prevalence every split keeps.
SHOWN: dict[str, Shown] = {
    "single": Shown("classes", "images per class and split", split_summary),
    "multilabel": Shown("labels", "share of images showing each label",
                        lambda tables, labels: label_shares(tables, labels).round(3)),
}


@dataclass
class SplitResult:
    """What :func:`split` read and wrote: the split folder ``out`` of the dataset at ``source`` (``table`` and
    ``report`` as read), its lists (``tables``, ``classes``, ``task``), ``split_report.json`` (``split_report``),
    whether it was written now (``made``; ``False``: an existing folder kept) and the oversampled copies in train."""

    out: Path
    source: Path
    table: pd.DataFrame
    report: DatasetReport
    tables: dict[str, pd.DataFrame]
    classes: list[str]
    task: Task
    split_report: dict[str, Any]
    made: bool
    oversampled: int

    def summary(self) -> pd.DataFrame:
        """The table of the split's task (:data:`SHOWN`): images per class, or the share showing each label."""
        return SHOWN[self.task.name].table(self.tables, self.classes)

    def lines(self) -> list[str]:
        """What the command line prints after the dataset's report."""
        shown = SHOWN[self.task.name]
        rep = self.split_report
        target = rep.get("oversampled", {}).get("target")
        out = [f"oversampled train to {target} per class: {self.oversampled} copies under "
               f"{self.out / 'oversampled'}"] if self.oversampled else []
        out += [f"{self.task.title} split ({len(self.classes)} {shown.noun}: {', '.join(self.classes)}); {shown.what}:",
                self.summary().to_string(),
                f"group leakage ({rep['group_col']}): {rep['leakage']}; cross-split duplicates: "
                f"{rep['duplicates']['exact']} exact, {rep['duplicates']['near']} near",
                f"wrote {self.out}/train.csv, val.csv, test.csv, classes.json (task {self.task.name}), "
                "split_report.json"]
        return out


# ------------------------------------------------------------------ 02 data
def is_synthetic(cfg: Config) -> bool:
    """Whether ``cfg`` trains on the synthetic default (made by ``simulate`` when missing)."""
    return str(cfg.data.data).lower() == "synthetic"


def dataset_source(cfg: Config) -> Path:
    """The dataset the series trains on: the synthetic default (made when missing) or ``cfg.data.data``."""
    return ensure_synthetic(cfg) if is_synthetic(cfg) else resolve_path(cfg.data.data)


def data_task(cfg: Config) -> str:
    """The task (:data:`~auxiliary.data.labels.SPLIT_TASKS`: ``single`` or ``multilabel``) of the data of ``cfg``,
    told without making or writing anything: a split folder's ``classes.json``, else the layout of the dataset
    (:func:`~auxiliary.data.readers.label_set_format`), else the task the synthetic default is simulated with."""
    if is_synthetic(cfg):
        return str(cfg.synth.task)
    src = resolve_path(cfg.data.data)
    if (src / "classes.json").is_file():
        return split_task(src)
    return LABEL_SET_TASK if label_set_format(src, cfg.data.format) else "single"


def report_file(path: str | Path, source: Path) -> Path:
    """Where ``--report`` writes the dataset's problems, checked before anything is written: a file name outside
    the dataset ``source`` (never among the user's own files)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputPathError(f"--report {path} is a folder: give the name of a CSV file (e.g. problems.csv)")
    if p.exists() and not p.is_file():  # a device or a FIFO: never replaced by the report
        raise OutputPathError(f"--report {path} is {entry_kind(p)}, not a file: give the name of a CSV file")
    check_output_dir(p.parent, inputs=(source,), option="--report")
    return p.resolve()


def split(
    cfg: Config,
    out: str | Path | None = None,
    *,
    root: str | Path | None = None,
    report_csv: str | Path | None = None,
    near_threshold: int = NEAR_THRESHOLD,
    check_duplicates: bool = True,
    resplit: bool = False,
    overwrite: bool = False,
    reuse: bool = False,
    progress: bool = True,
) -> SplitResult:
    """Read the dataset of ``cfg`` (:func:`dataset_source`) and write its split folder to ``out`` (default: the
    config's own, :func:`auxiliary.base.layout.split_dir`).

    ``root``: base folder of relative paths in a CSV list. ``report_csv``: also write the dataset's problems there
    (one row each), also when they stop the step (``data.drop_bad`` off). ``near_threshold``: perceptual-hash
    distance counted as a near-duplicate; ``check_duplicates`` off skips that check. ``resplit``: ignore a split
    the dataset already has (train/val folders, MedMNIST). An ``out`` that holds a split is refused unless
    ``overwrite`` (replace it) or ``reuse`` (keep it: the config's folder is named after its settings; the
    dataset is still read for its report). ``data.oversample_to`` > 0 oversamples the training list once.
    Every setting is checked before anything is written (the synthetic default made, a report, a split).
    """
    d = cfg.data
    if d.oversample_to:  # label sets: refused before anything is written
        check_oversampling(SPLIT_TASKS[data_task(cfg)].label_columns, d.oversample_to)
    where = synthetic_dir(cfg) if is_synthetic(cfg) else resolve_path(d.data)  # nothing made yet
    out_dir = check_output_dir(out, inputs=(where,)) if out else split_dir(cfg)
    report_path = report_file(report_csv, where) if report_csv else None
    held = out_dir.is_dir() and bool(existing_split_outputs(out_dir))
    if held and not (overwrite or reuse):
        raise SplitError(f"{out_dir} already holds a split; pass --overwrite to replace it")
    source = dataset_source(cfg)
    try:
        table, report = read_dataset(source, format=d.format, drop_bad=d.drop_bad, root=root, progress=progress)
    except DatasetProblemsError as exc:
        if report_path:
            write_csv_atomic(report_path, exc.report.to_frame())
        raise
    if report_path:
        write_csv_atomic(report_path, report.to_frame())
    check_oversampling(bool(report.labels), d.oversample_to)  # what the data turned out to be
    made = not (held and reuse and not overwrite and (out_dir / "classes.json").is_file())
    if made:
        make_splits(
            table, out_dir, val=d.val, test=d.test, group_col=d.group_col, seed=d.seed, overwrite=held,
            labels=report.labels or None, use_existing=False if resplit else None, duplicate_threshold=near_threshold,
            check_duplicates=check_duplicates, progress=progress,
        )
    ensure_oversampled(out_dir, d, progress=progress)  # no-op unless data.oversample_to > 0, once per target
    tables, classes = load_split(out_dir)
    return SplitResult(
        out=out_dir, source=source, table=table, report=report, tables=tables, classes=classes,
        task=task_of_split(out_dir), split_report=read_report(out_dir), made=made,
        oversampled=int(tables["train"]["is_augmented"].sum()),
    )


def ensure_splits(cfg: Config, progress: bool = True) -> Path:
    """The split folder of ``cfg`` (``train.csv``, ``val.csv``, ``test.csv``, ``classes.json``): kept when complete
    (oversampled once when ``data.oversample_to`` asks), else made by :func:`split`."""
    out = split_dir(cfg)
    if (out / "train.csv").is_file() and (out / "classes.json").is_file():
        return ensure_oversampled(out, cfg.data, progress=progress)
    return split(cfg, overwrite=out.exists(), progress=progress).out
