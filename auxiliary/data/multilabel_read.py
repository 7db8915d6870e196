"""Reading a multi-label dataset of any supported layout into the checked sample table (what ``split`` reads).

Three layouts hold several labels per image (:func:`multilabel_format` tells them from single-label data):

* ``synthetic``: a folder written by ``simulate --task multilabel`` (``metadata.csv`` with the columns of
  :data:`~auxiliary.data.formats.MULTILABEL_MARKERS`); its labels are the 0/1 columns that have a
  ``<label>_strength`` beside them;
* ``csv``: a CSV file with a path column and either one 0/1 column per label and no single-label column,
  or a ``labels`` column (``acne|wrinkles``), or a ``label`` column that is exactly the joined 0/1 columns
  (a split list of this package) where some row has no label or several;
* ``medmnist``: a MedMNIST ``.npz`` whose label arrays are (n, labels) with at least two columns (ChestMNIST).

:func:`read_multilabel_dataset` lists it with :mod:`auxiliary.data.multilabel` and checks the listing
like every other dataset (:func:`auxiliary.data.readers.check_listing`: duplicate rows, missing and
unreadable files, hashes for the duplicate check, estimated tone). The table keeps one int 0/1 column per
label; ``label`` is the joined present labels (``none`` without any).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auxiliary.data.formats import (
    MULTILABEL_MARKERS,
    csv_header,
    find_csvs,
    is_list_header,
    read_csv_text,
)
from auxiliary.data.multilabel import (
    SEP,
    detect_label_columns,
    joined_labels,
    label_matrix,
    read_multilabel_csv,
    read_multilabel_npz,
)
from auxiliary.data.readers import check_listing, normalize_format
from auxiliary.data.report import DatasetError, DatasetReport, Problem

#: The formats that can hold a multi-label dataset.
MULTILABEL_FORMATS: tuple[str, ...] = ("synthetic", "csv", "medmnist")


# ----------------------------------------------------------------------------------- detection
def synthetic_labels(root: Path) -> list[str]:
    """The labels of a multi-label synthetic folder: the columns of its ``metadata.csv`` with a ``_strength`` twin."""
    header = csv_header(root / "metadata.csv")
    return [c for c in header if not c.endswith("_strength") and f"{c}_strength" in header]


def is_multilabel_csv(path: Path) -> bool:
    """Whether a CSV file is a multi-label list (see the module docstring)."""
    header = csv_header(path)
    if "path" not in header:
        return False
    if "labels" in header:
        return True
    try:
        df = read_csv_text(path)
    except DatasetError:
        return False
    df.columns = [str(c).strip().lower() for c in df.columns]
    cols = detect_label_columns(df)
    if not cols or len(df) == 0:
        return False
    if not is_list_header(header):
        return True
    if "label" not in df:
        return False
    Y = label_matrix(df, cols)
    same = list(df["label"].astype(str).str.strip()) == joined_labels(Y, cols)
    return bool(same and (Y.sum(axis=1) != 1).any())


def is_multilabel_npz(path: Path) -> bool:
    """Whether a ``.npz`` holds (n, labels) 0/1 label arrays with at least two labels."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            key = next((k for k in ("train_labels", "val_labels", "test_labels") if k in arrays.files), None)
            shape = arrays[key].shape if key else ()
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False
    return len(shape) == 2 and shape[1] >= 2


def multilabel_format(source: str | Path, format: str = "auto") -> str | None:
    """``synthetic``, ``csv`` or ``medmnist`` when ``source`` is a multi-label dataset in that layout, else ``None``
    (single-label data, or nothing readable: :func:`auxiliary.data.readers.read_dataset` then says what is wrong)."""
    src = Path(source).expanduser()
    fmt = normalize_format(format)
    if not src.exists() or fmt not in ("auto", *MULTILABEL_FORMATS):
        return None
    if src.is_dir():
        meta = src / "metadata.csv"
        if fmt in ("auto", "synthetic") and meta.is_file() and MULTILABEL_MARKERS <= set(csv_header(meta)):
            return "synthetic"
        if fmt == "csv":
            lists = [c for c in find_csvs(src, 0) if is_multilabel_csv(c)]
            return "csv" if len(lists) == 1 else None
        if fmt in ("auto", "medmnist"):
            npz = sorted(src.glob("*.npz"))
            return "medmnist" if len(npz) == 1 and is_multilabel_npz(npz[0]) else None
        return None
    suffix = src.suffix.lower()
    if suffix == ".npz" and fmt in ("auto", "medmnist"):
        return "medmnist" if is_multilabel_npz(src) else None
    if suffix in (".csv", ".txt") and fmt in ("auto", "csv"):
        return "csv" if is_multilabel_csv(src) else None
    return None


# ----------------------------------------------------------------------------------- reading
def read_multilabel_dataset(
    source: str | Path,
    format: str = "auto",
    drop_bad: bool = True,
    *,
    root: str | Path | None = None,
    labels: Sequence[str] | None = None,
    check_images: bool = True,
    progress: bool = True,
) -> tuple[pd.DataFrame, list[str], DatasetReport]:
    """A multi-label dataset -> (sample table with one int 0/1 column per label, labels, report).

    ``root``: base folder of relative paths in a CSV (default: the CSV's folder). ``labels`` fixes the
    label columns and their order (default: the synthetic labels, the CSV's detected 0/1 columns or
    ``labels`` names, the MedMNIST file's names). A MedMNIST file keeps its own split in a ``split``
    column. Problems are handled as by :func:`auxiliary.data.readers.read_dataset` (``drop_bad``).
    """
    src = Path(source).expanduser()
    if not src.exists():
        raise DatasetError(f"dataset not found: {src}")
    fmt = multilabel_format(src, format)
    if fmt is None:
        raise DatasetError(f"{src} is not a multi-label dataset (a simulate --task multilabel folder, a CSV with 0/1 "
                           f"label columns or a labels column like acne{SEP}wrinkles, or a multi-label MedMNIST .npz)")
    notes: list[str] = []
    if fmt == "synthetic":
        table, names = read_multilabel_csv(src / "metadata.csv", labels or synthetic_labels(src), root=src)
    elif fmt == "csv":
        csv = src if src.is_file() else next(c for c in find_csvs(src, 0) if is_multilabel_csv(c))
        table, names = read_multilabel_csv(csv, labels, root=root)
    else:
        npz = src if src.is_file() else sorted(src.glob("*.npz"))[0]
        table, names = read_multilabel_npz(npz, labels, progress=progress)
        notes.append(f"decoded {npz.name} once into PNG files (kept for later runs)")
    problems: list[Problem] = []
    out, report = check_listing(src, fmt, table, problems, notes, drop_bad, check_images=check_images,
                                progress=progress, labels=names)
    return out, names, report
