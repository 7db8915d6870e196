"""The labelled images a model is measured on: a split list or any dataset, its labels renamed onto the model's.

``python -m auxiliary evaluate`` and the sim-to-real check (:mod:`auxiliary.inference.sim2real`) read their data
here, never modifying it. A split folder stands for one of its lists (:func:`is_split_folder`, :func:`split_list`:
``test.csv`` for ``--data``, ``val.csv`` for ``--val``), as ``python -m auxiliary compare`` reads it too:

* one class per image (:func:`load_eval_table`, :func:`read_class_list`): a split list (``test.csv``) is read as
  is, anything else through :func:`auxiliary.data.readers.read_dataset` (class folders, a CSV list, HAM10000...;
  unreadable images are dropped, counted in the notes and listed in ``table.attrs["dropped"]``). ``--label-map``
  renames the dataset's labels to the model's classes, which is how a model trained only on the synthetic default
  is checked on real photos whose folders are named otherwise; a label the model does not know is one line
  naming the fix.
* several labels per image (:func:`read_label_list`): a CSV list with one 0/1 column per label of the model (a
  multi-label split's ``test.csv``: ``path, label, group, tone_group, ..., acne, erythema, ...``; or a CSV with a
  ``labels`` column like ``acne|wrinkles``); ``--label-map OLD=NEW`` renames the data's label **columns**. A
  single-label list is refused in one line naming the missing label columns.

:data:`LABELLED_READERS` holds the reader of each task: the evaluate step reads with its checkpoint's task's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from auxiliary.data.formats import SPLITS, csv_header
from auxiliary.data.labels import joined_labels, label_matrix
from auxiliary.data.readers import read_dataset, read_multilabel_csv, read_table
from auxiliary.data.report import DatasetError
from auxiliary.evaluation.arrays import labels_to_index
from auxiliary.evaluation.report import EvaluationError
from auxiliary.tasks.task import Task


def parse_label_map(text: str | dict[str, str] | None) -> dict[str, str]:
    """``"rosacea=erythema,clear=none"`` (or a dict) -> ``{"rosacea": "erythema", "clear": "none"}``."""
    if not text:
        return {}
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = []
        for part in str(text).split(","):
            if not part.strip():
                continue
            if part.count("=") != 1:
                raise EvaluationError(f"label map entry {part.strip()!r} is not OLD=NEW (e.g. rosacea=erythema,clear=none)")
            old, new = (v.strip() for v in part.split("="))
            items.append((old, new))
    out: dict[str, str] = {}
    for old, new in items:
        old, new = str(old).strip(), str(new).strip()
        if not old or not new:
            raise EvaluationError(f"label map entry {old!r}={new!r} has an empty side")
        if old in out and out[old] != new:
            raise EvaluationError(f"label map gives {old!r} twice ({out[old]!r} and {new!r})")
        out[old] = new
    return out


def is_split_folder(path: Path) -> bool:
    """A folder the split step wrote (its ``classes.json``) or laid out like one (a ``train``/``val``/``test.csv``),
    as opposed to a dataset folder (class folders, a CSV list...) that :func:`read_dataset` reads."""
    return path.is_dir() and ((path / "classes.json").is_file() or any((path / f"{s}.csv").is_file() for s in SPLITS))


def split_list(data: str | Path, split: str | None = None,
               error: type[Exception] = EvaluationError) -> tuple[Path, str]:
    """The list ``data`` stands for and the split's name: a split folder's ``<split>.csv`` (default ``test``), or a
    CSV itself (named ``split``, else by its stem). ``error`` in one line when the folder has no such list. The one
    reading of a split folder that ``evaluate`` and ``compare`` share."""
    p = Path(data).expanduser()
    if not p.is_dir():
        return p, split or p.stem
    name = split or "test"
    csv = p / f"{name}.csv"
    if not csv.is_file():
        raise error(f"{p} has no {name}.csv (a split folder has train/val/test.csv)")
    return csv, name


def _is_split_list(path: Path) -> bool:
    """A CSV whose header has ``path`` and ``label`` (a split list or a CSV list: read as is)."""
    if not (path.is_file() and path.suffix.lower() == ".csv"):
        return False
    header = csv_header(path)
    return "path" in header and "label" in header


# ----------------------------------------------------------------------------- one class per image
def load_eval_table(
    source: str | Path, label_map: str | dict[str, str] | None = None, progress: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """The sample table to evaluate on, with labels renamed by ``label_map``; and notes.

    A split list is read as is; anything else goes through :func:`auxiliary.data.readers.read_dataset`
    (unreadable images are dropped and counted in the notes; every one of them is listed in
    ``table.attrs["dropped"]``: kind, path, detail). Never modifies the source.
    """
    src = Path(source).expanduser()
    notes: list[str] = []
    dropped = pd.DataFrame(columns=["kind", "path", "detail"])
    if _is_split_list(src):
        table = read_table(src)
    else:
        try:
            table, report = read_dataset(src, progress=progress)
        except DatasetError as exc:
            raise EvaluationError(str(exc)) from None
        notes.append(f"read {src} as format {report.format}: {report.summary()}")
        dropped = report.to_frame()[["kind", "path", "detail"]]
    mapping = parse_label_map(label_map)
    if mapping:
        missing = sorted(set(mapping) - set(table["label"].astype(str)))
        if missing:
            notes.append(f"label map: {', '.join(missing)} not found in {src}")
        table = table.copy()
        table["label"] = table["label"].astype(str).replace(mapping)
        notes.append("labels renamed: " + ", ".join(f"{k} -> {v}" for k, v in mapping.items()))
    table.attrs["dropped"] = dropped
    return table, notes


def label_names(table: pd.DataFrame, classes: list[str], where: str) -> np.ndarray:
    """Class indices of the table's labels (an empty label: -1); a label the model does not know is one line."""
    labels = table["label"].astype(str)
    unknown = sorted(set(labels) - set(classes) - {""})
    if unknown:
        raise EvaluationError(
            f"{where}: labels {', '.join(unknown[:5])} are not classes of the model {classes} "
            f"(evaluate on the classes it was trained for, or rename labels, e.g. --label-map {unknown[0]}={classes[-1]})"
        )
    return labels_to_index(list(labels), classes, unknown="minus_one")


def read_class_list(source: str | Path, classes: list[str], label_map: dict[str, str] | None = None,
                    progress: bool = True) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """``(table, class indices, notes)`` of any dataset for a single-label model (:func:`load_eval_table`)."""
    table, notes = load_eval_table(source, label_map, progress=progress)
    if len(table) == 0:
        raise EvaluationError(f"{source} lists no samples")
    return table, label_names(table, classes, str(source)), notes


# ----------------------------------------------------------------------------- several labels per image
def read_label_list(source: str | Path, labels: list[str], label_map: dict[str, str] | None = None,
                    progress: bool = True) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """``(table, Y (n, L) 0/1, notes)`` of a multi-label CSV list for the model's ``labels``; ``label_map``
    renames the data's label columns. One-line :class:`EvaluationError` when a label column is missing."""
    src = Path(source).expanduser()
    if not (src.is_file() and src.suffix.lower() == ".csv"):
        raise EvaluationError(f"{src}: a multi-label model is evaluated on a CSV list with one 0/1 column per label "
                              f"({', '.join(labels)}), e.g. a multi-label split's test.csv")
    header = csv_header(src)
    notes: list[str] = []
    try:
        if "path" in header and "label" in header:
            table = read_table(src)
        else:
            table, _ = read_multilabel_csv(src, labels if "labels" in header and not label_map else None)
    except DatasetError as exc:
        raise EvaluationError(str(exc)) from None
    if label_map:
        clash = [new for old, new in label_map.items() if old in table.columns and new in table.columns and old != new]
        if clash:
            raise EvaluationError(f"{src}: --label-map renames columns onto existing columns {', '.join(clash)}")
        absent = [old for old in label_map if old not in table.columns]
        if absent:
            notes.append(f"label map: no column {', '.join(absent)} in {src}")
        table = table.rename(columns=dict(label_map))
        notes.append("label columns renamed: " + ", ".join(f"{k} -> {v}" for k, v in label_map.items()))
    missing = [lab for lab in labels if lab not in table.columns]
    if missing:
        raise EvaluationError(
            f"{src} has no 0/1 column for the labels {', '.join(missing)} of the multi-label model (columns: "
            f"{', '.join(map(str, table.columns[:10]))}): evaluate it on a multi-label list such as a multi-label "
            "split's test.csv, or rename columns with --label-map OLD=NEW")
    if len(table) == 0:
        raise EvaluationError(f"{src} lists no samples")
    try:
        Y = label_matrix(table, labels)
    except DatasetError as exc:
        raise EvaluationError(f"{src}: {exc}") from None
    table = table.copy()
    table["label"] = joined_labels(Y, labels)
    return table, Y, notes


#: How the evaluate step reads its data, by task name: ``(source, the model's classes, label map, progress) ->
#: (table, truths, notes)``. A new task is one more entry.
LABELLED_READERS: dict[str, Callable[..., tuple[pd.DataFrame, np.ndarray, list[str]]]] = {
    "single": read_class_list,
    "multilabel": read_label_list,
}


def read_labelled(task: Task, source: str | Path, classes: list[str], label_map: dict[str, str] | None = None,
                  progress: bool = True) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """``(table, truths, notes)`` of the data a model of ``task`` is evaluated on (:data:`LABELLED_READERS`)."""
    return LABELLED_READERS[task.name](source, classes, label_map, progress)

