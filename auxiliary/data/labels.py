"""Labels as data: what a sample table's rows show, as columns and as text, and what a split's task means for them.

A table with one class per image names it in ``label``. A table with **several labels per image** (a label set)
adds one int 0/1 column per label, and ``label`` holds the labels present joined by ``|`` (``none`` without any),
so split CSVs keep a readable label and the tools that read ``label`` still find one. Label sets are read from
0/1 columns or from a ``labels`` column naming them (``acne|wrinkles``; an empty cell or ``none``: no label):
:func:`label_set_table`. Values other than 0/1, unknown label names and tables without labels are refused with
one-line :class:`~auxiliary.data.report.DatasetError` messages.

When no label list is given to a 0/1 table, the label columns are the columns whose every value is 0 or 1 (also
``0.0``/``1.0``/``true``/``false``), leaving out the sample-table and bookkeeping columns (:data:`NOT_LABELS`,
``*_strength``, ``*_count``, ``*_est``, ``*_visible``).

:func:`label_outcomes` is the one view of both kinds that counting code needs (split summaries, label shares,
expected sampler draws): one 0/1 column per class, plus ``no label`` for label sets.

In a feedback folder an image's labels are its folder's name: the class (``feedback/acne/``), or the whole label
set joined by ``+`` in the split's label order (``feedback/acne+wrinkles/``, ``feedback/none/``:
:func:`label_set_folder`, :func:`parse_label_folder`). :data:`SPLIT_TASKS` says, per task a split folder's
``classes.json`` may name, whether its lists hold label columns and how a feedback folder's name reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.data.formats import CORE_COLUMNS, infer_types
from auxiliary.data.report import DatasetError

#: Text of the ``label`` column (and of a ``labels`` cell, and the feedback folder) of an image without any label.
NO_LABEL = "none"
#: Separator of label names in a ``labels`` cell and in the joined ``label`` column.
SEP = "|"
#: Separator of the labels in a feedback folder name (``|`` is not safe in folder names everywhere).
LABEL_SET_SEP = "+"
#: The row (or entry) counting the images that show none of the labels.
NO_LABEL_ROW = "no label"
#: Columns never taken as label columns when the labels are detected.
NOT_LABELS: frozenset[str] = frozenset(
    [*CORE_COLUMNS, "labels", "split", "lesion_id", "patient_id", "patient", "subject", "subject_id",
     "image_id", "md5", "phash", "dhash", "height", "width", "source_path", "seed"]
)
_NOT_LABEL_SUFFIXES = ("_strength", "_count", "_est", "_visible")
_ONE = {"1", "1.0", "true"}
_ZERO = {"0", "0.0", "false"}


# ----------------------------------------------------------------------------------- checks
def check_label_names(labels: Sequence[str]) -> list[str]:
    """Label names as a list; refuses none, duplicates, and names that clash with the table's columns."""
    names = [str(x).strip() for x in labels]
    if not names:
        raise DatasetError("a multi-label table needs at least one label")
    bad = [x for x in names if not x or SEP in x or x.lower() == NO_LABEL or x in NOT_LABELS]
    if bad:
        raise DatasetError(f"label names {bad} are not allowed (empty, containing {SEP!r}, {NO_LABEL!r}, "
                           "or a column of the sample table)")
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise DatasetError(f"label names given twice: {', '.join(dup)}")
    return names


def zero_one(values: pd.Series, name: str) -> np.ndarray:
    """A column as int 0/1, refusing anything else (with the first bad values)."""
    text = values.astype(str).str.strip().str.lower()
    ok = text.isin(_ONE | _ZERO)
    if not ok.all():
        bad = list(dict.fromkeys(values[~ok].astype(str)))[:3]
        rows = np.flatnonzero(~ok.to_numpy())[:3].tolist()
        raise DatasetError(f"label column {name!r} must hold 0 or 1, found {bad} (data rows {rows})")
    return text.isin(_ONE).to_numpy().astype(np.int64)


def detect_label_columns(df: pd.DataFrame) -> list[str]:
    """The columns of ``df`` whose every value is 0 or 1, leaving out :data:`NOT_LABELS` and bookkeeping columns."""
    out = []
    for col in df.columns:
        low = str(col).lower()
        if low in NOT_LABELS or low.endswith(_NOT_LABEL_SUFFIXES):
            continue
        text = df[col].astype(str).str.strip().str.lower()
        if len(text) and text.isin(_ONE | _ZERO).all():
            out.append(str(col))
    return out


# ----------------------------------------------------------------------------------- label sets
def joined_labels(Y: np.ndarray, labels: Sequence[str]) -> list[str]:
    """The ``label`` text of each row: present labels joined by ``|``, ``none`` without any."""
    return [SEP.join(lab for lab, v in zip(labels, row) if v) or NO_LABEL for row in np.asarray(Y)]


def label_matrix(table: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    """The (n, L) int 0/1 matrix of ``labels`` in ``table`` (columns checked)."""
    missing = [lab for lab in labels if lab not in table]
    if missing:
        raise DatasetError(f"label columns {missing} not in the table (columns: {', '.join(map(str, table.columns))})")
    if not len(labels):
        raise DatasetError("a multi-label table needs at least one label")
    return np.stack([zero_one(table[lab], lab) for lab in labels], axis=1) if len(table) else \
        np.zeros((0, len(labels)), dtype=np.int64)


def parse_label_lists(cells: Sequence[str], labels: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """``["acne|wrinkles", "", ...]`` -> ((n, L) 0/1 matrix, labels); unknown names refused when ``labels`` is given."""
    parts = [[p.strip() for p in str(c).split(SEP) if p.strip() and p.strip().lower() != NO_LABEL]
             for c in cells]
    seen = list(dict.fromkeys(p for row in parts for p in row))
    if labels is None:
        names = check_label_names(sorted(seen))
    else:
        names = check_label_names(labels)
        unknown = [p for p in seen if p not in names]
        if unknown:
            raise DatasetError(f"labels column names unknown labels {unknown[:5]} (known: {', '.join(names)})")
    col = {n: j for j, n in enumerate(names)}
    Y = np.zeros((len(parts), len(names)), dtype=np.int64)
    for i, row in enumerate(parts):
        for p in row:
            Y[i, col[p]] = 1
    return Y, names


def label_set_table(df: pd.DataFrame, labels: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A listing with ``path`` and label columns (or a ``labels`` column) -> (listing with one int 0/1 column
    per label and the joined ``label``, labels).

    ``labels`` fixes the label columns and their order; otherwise they are detected (see the module docstring).
    With a ``labels`` column, any 0/1 column of the same name must agree with it.
    """
    if "path" not in df:
        raise DatasetError(f"a multi-label table needs a path column, found {list(map(str, df.columns))[:8]}")
    out = df.copy()
    if "labels" in out:
        Y, names = parse_label_lists(out["labels"].astype(str).tolist(), labels)
        for j, name in enumerate(names):
            if name in out and not np.array_equal(zero_one(out[name], name), Y[:, j]):
                raise DatasetError(f"column {name!r} disagrees with the labels column")
        out = out.drop(columns=["labels"])
    else:
        names = check_label_names(labels) if labels is not None else detect_label_columns(out)
        if not names:
            raise DatasetError("no label columns found: give one 0/1 column per label, or a labels column "
                               f"like 'acne{SEP}wrinkles' (columns: {', '.join(map(str, df.columns))})")
        names = check_label_names(names)
        Y = label_matrix(out, names)
    for j, name in enumerate(names):
        out[name] = Y[:, j]
    out["label"] = joined_labels(Y, names)
    return infer_types(out, text_cols=(*names, "lesion_id", "patient_id", "image_id")), names


def label_outcomes(table: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """What each row shows, one int 0/1 column per class (the table's index kept).

    A table with a 0/1 column for every class holds label sets: those columns, plus :data:`NO_LABEL_ROW` for the
    rows showing none. Otherwise each row shows the class named in ``label`` (a label outside ``classes``: none).
    """
    names = [str(c) for c in classes]
    if names and all(c in table for c in names):
        Y = label_matrix(table, names)
        return pd.DataFrame(np.c_[Y, Y.sum(axis=1) == 0].astype(np.int64), index=table.index,
                            columns=[*names, NO_LABEL_ROW])
    lab = table["label"].astype(str).to_numpy()
    return pd.DataFrame((lab[:, None] == np.asarray(names, dtype=object)[None, :]).astype(np.int64),
                        index=table.index, columns=names)


# ----------------------------------------------------------------------------------- feedback folders
def label_set_folder(present: Iterable[str], labels: Sequence[str]) -> str:
    """``acne+wrinkles`` for the labels ``present`` (in the order of ``labels``), ``none`` for none;
    a label that is not one of ``labels`` raises ``ValueError``."""
    chosen = {str(x) for x in present}
    unknown = sorted(chosen - {str(x) for x in labels})
    if unknown:
        raise ValueError(f"unknown label(s) {', '.join(unknown)} (labels: {', '.join(map(str, labels))})")
    names = [str(x) for x in labels if str(x) in chosen]
    return LABEL_SET_SEP.join(names) if names else NO_LABEL


def parse_label_folder(name: str, labels: Sequence[str]) -> list[str] | None:
    """The labels of a label-set folder name (``[]`` for ``none``); ``None`` when a part is not a label,
    repeats, or the order differs from ``labels`` (one folder per label set)."""
    if name == NO_LABEL:
        return []
    parts = str(name).split(LABEL_SET_SEP)
    order = [str(x) for x in labels]
    if any(p not in order for p in parts) or len(set(parts)) != len(parts):
        return None
    return parts if parts == [x for x in order if x in parts] else None


def label_set_columns(name: str, labels: Sequence[str]) -> dict[str, object]:
    """``{"label": "acne|wrinkles", "acne": 1, "erythema": 0, ...}`` of a valid label-set folder name."""
    present = parse_label_folder(name, labels)
    if present is None:
        raise ValueError(f"{name!r} is not a label set of {', '.join(map(str, labels))}")
    return {"label": SEP.join(present) or NO_LABEL, **{str(x): int(str(x) in present) for x in labels}}


def class_folder(name: str, classes: Sequence[str]) -> tuple[list[str], dict[str, Any]] | None:
    """A class folder's (classes shown, split-table fields): ``(["acne"], {"label": "acne"})``; ``None`` for a
    folder that is not one of ``classes``."""
    return ([name], {"label": name}) if name in [str(c) for c in classes] else None


def label_set_folder_fields(name: str, labels: Sequence[str]) -> tuple[list[str], dict[str, Any]] | None:
    """A label-set folder's (labels shown, split-table fields: the joined ``label`` and one 0/1 column per label);
    ``None`` for a name that is not a label set of ``labels``."""
    present = parse_label_folder(name, labels)
    return None if present is None else (present, label_set_columns(name, labels))


# ----------------------------------------------------------------------------------- split tasks
@dataclass(frozen=True)
class SplitTask:
    """What a split folder's task (``classes.json``'s ``task``) means for the data: whether its lists hold one int
    0/1 column per class, and how a feedback folder's name reads (``folder``: name, classes -> (classes shown,
    split-table fields) or ``None``; ``unknown_folder``: why another name is dropped, with ``{name}`` and
    ``{classes}``)."""

    label_columns: bool
    folder: Callable[[str, Sequence[str]], tuple[list[str], dict[str, Any]] | None]
    unknown_folder: str


#: The task of a split whose lists hold label columns (several labels per image).
LABEL_SET_TASK = "multilabel"

#: Every task a split folder's ``classes.json`` may name (absent: ``single``), in one place.
SPLIT_TASKS: dict[str, SplitTask] = {
    "single": SplitTask(False, class_folder, "unknown class {name!r} (classes: {classes})"),
    LABEL_SET_TASK: SplitTask(True, label_set_folder_fields,
                            "unknown label set {name!r} (labels joined by " + LABEL_SET_SEP
                            + " in the order {classes}, or none)"),
}
