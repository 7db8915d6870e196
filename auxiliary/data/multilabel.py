"""Reading multi-label tables: several conditions per image, one 0/1 column per label.

Two CSV layouts are read into the same table (:func:`read_multilabel_csv`):

* one 0/1 column per label: ``path,acne,hyperpigmentation,wrinkles[,group,tone_group,...]``;
* a ``labels`` column naming the conditions present, separated by ``|``: ``acne|wrinkles``; an
  empty cell (or ``none``) means no condition.

A MedMNIST multi-label ``.npz`` (``train_images`` / ``train_labels`` with a 2-D 0/1 label array,
e.g. ChestMNIST) is decoded once into PNG files, like the single-label reader of
:mod:`auxiliary.data.public_sets` (:func:`read_multilabel_npz`); the file's own split is kept in
a ``split`` column.

The result is the sample table of :mod:`auxiliary.data.readers` (``path``, ``label``, ``group``,
tone columns...) plus one **int 0/1 column per label**; ``label`` holds the present labels joined
by ``|`` (``none`` without any), so split CSVs keep a readable label and the single-label tools
still find one. Every function returns ``(table, labels)``. Values other than 0/1, missing or
unknown label columns, unknown label names and tables without labels are refused with one-line
:class:`~auxiliary.data.report.DatasetError` messages.

When no label list is given to a 0/1 CSV, the label columns are the columns whose every value is
0 or 1 (also ``0.0``/``1.0``/``true``/``false``), leaving out the sample-table columns and
bookkeeping columns (:data:`NOT_LABELS`, ``*_strength``, ``*_count``, ``*_est``, ``*_visible``).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from auxiliary.base.images import write_png
from auxiliary.base.layout import data_dir
from auxiliary.data.formats import SPLITS, abspath, hash_strings, infer_types, read_csv_text
from auxiliary.data.readers import CORE_COLUMNS, finish_table
from auxiliary.data.report import DatasetError

#: Text of the ``label`` column (and of a ``labels`` cell) for an image without any condition.
NO_LABEL = "none"
#: Separator of label names in a ``labels`` cell and in the joined ``label`` column.
SEP = "|"
#: Columns never taken as label columns when the labels are detected.
NOT_LABELS: frozenset[str] = frozenset(
    [*CORE_COLUMNS, "labels", "split", "lesion_id", "patient_id", "patient", "subject", "subject_id",
     "image_id", "md5", "phash", "dhash", "height", "width", "source_path", "seed"]
)
_NOT_LABEL_SUFFIXES = ("_strength", "_count", "_est", "_visible")
_ONE = {"1", "1.0", "true"}
_ZERO = {"0", "0.0", "false"}
#: Label names of MedMNIST multi-label files (ChestMNIST: the 14 NIH ChestX-ray14 findings).
MEDMNIST_LABELS: dict[str, tuple[str, ...]] = {
    "chestmnist": ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
                   "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"),
}


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


def _zero_one(values: pd.Series, name: str) -> np.ndarray:
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
    return np.stack([_zero_one(table[lab], lab) for lab in labels], axis=1) if len(table) else \
        np.zeros((0, len(labels)), dtype=np.int64)


# ----------------------------------------------------------------------------------- tables
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


def multilabel_table(df: pd.DataFrame, labels: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """A frame with ``path`` and label columns (or a ``labels`` column) -> (sample table, labels).

    ``labels`` fixes the label columns and their order; otherwise they are detected (see the
    module docstring). With a ``labels`` column, any 0/1 column of the same name must agree with it.
    """
    if "path" not in df:
        raise DatasetError(f"a multi-label table needs a path column, found {list(map(str, df.columns))[:8]}")
    out = df.copy()
    if "labels" in out:
        Y, names = parse_label_lists(out["labels"].astype(str).tolist(), labels)
        for j, name in enumerate(names):
            if name in out and not np.array_equal(_zero_one(out[name], name), Y[:, j]):
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
    out = infer_types(out, text_cols=(*names, "lesion_id", "patient_id", "image_id"))
    return finish_table(out), names


def read_multilabel_csv(
    csv_path: str | Path, labels: Sequence[str] | None = None, root: str | Path | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Read a multi-label CSV (0/1 columns or a ``labels`` column); paths relative to its folder (or ``root``)."""
    p = Path(csv_path)
    df = read_csv_text(p)
    df.columns = [str(c).strip() for c in df.columns]
    lower = {c.lower(): c for c in df.columns}
    if "path" not in df and "path" in lower:
        df = df.rename(columns={lower["path"]: "path"})
    if "path" not in df:
        raise DatasetError(f"{p}: a multi-label CSV needs a path column, found {list(df.columns)[:8]}")
    base = Path(root) if root else p.parent
    df["path"] = [abspath(v if os.path.isabs(v) else base / v.strip()) for v in df["path"]]
    try:
        return multilabel_table(df, labels)
    except DatasetError as exc:
        raise DatasetError(f"{p}: {exc}") from None


# ----------------------------------------------------------------------------------- MedMNIST
def read_multilabel_npz(
    npz: str | Path,
    labels: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """A MedMNIST multi-label ``.npz`` -> (table, labels), images decoded once to PNG under ``out_dir``.

    ``out_dir`` defaults to ``data_dir()/medmnist/<stem>-<key>`` (the key follows the file's path,
    size and mtime, as for single-label files); a folder already holding ``listing.csv`` is reused.
    Label names: ``labels``, the known names of the file (:data:`MEDMNIST_LABELS`), else ``label_<k>``.
    """
    src = Path(npz)
    try:
        arrays = np.load(src, allow_pickle=False)
        keys = set(arrays.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"cannot read MedMNIST file {src}: {str(exc).splitlines()[0][:120]}") from None
    splits = [s for s in SPLITS if f"{s}_images" in keys and f"{s}_labels" in keys]
    if not splits:
        raise DatasetError(f"{src}: not a MedMNIST file (no train_images/train_labels arrays; found {sorted(keys)[:6]})")
    Ys = {s: np.asarray(arrays[f"{s}_labels"]) for s in splits}
    for s, Y in Ys.items():
        if Y.ndim != 2 or Y.shape[1] < 2:
            raise DatasetError(f"{src}: {s}_labels has shape {Y.shape}, not (n, labels): a single-label file "
                               "(read it with read_dataset)")
        if not np.isin(Y, (0, 1)).all():
            raise DatasetError(f"{src}: {s}_labels holds values other than 0/1 ({np.unique(Y)[:5].tolist()})")
    n_labels = {Y.shape[1] for Y in Ys.values()}
    if len(n_labels) != 1:
        raise DatasetError(f"{src}: the splits have different label counts {sorted(n_labels)}")
    L = n_labels.pop()
    known = next((v for k, v in MEDMNIST_LABELS.items() if src.stem.lower().startswith(k) and len(v) == L), None)
    names = check_label_names(labels if labels is not None else (known or [f"label_{k}" for k in range(L)]))
    if len(names) != L:
        raise DatasetError(f"{src}: {L} label columns but {len(names)} label names given")
    if out_dir is None:
        st = src.stat()
        key = hash_strings([abspath(src), str(st.st_size), str(st.st_mtime_ns)])[:10]
        out_dir = data_dir() / "medmnist" / f"{src.stem}-{key}"
    out = Path(out_dir)
    listing = out / "listing.csv"
    if not listing.is_file():
        tmp = out.with_name(out.name + ".partial")
        rows = []
        with tqdm(total=sum(len(Y) for Y in Ys.values()), desc=f"decoding {src.name}", disable=not progress,
                  leave=False) as bar:
            for s in splits:
                for i, img in enumerate(np.asarray(arrays[f"{s}_images"])):
                    rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
                    rel = Path(s) / f"{s}_{i:05d}.png"
                    write_png(tmp / rel, np.ascontiguousarray(rgb.astype(np.uint8)))
                    rows.append({"path": rel.as_posix(), "group": f"{s}_{i:05d}", "split": s})
                    bar.update(1)
        tmp.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows, columns=["path", "group", "split"]).to_csv(tmp / "listing.csv", index=False)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    df = read_csv_text(listing)
    df["path"] = [abspath(out / p) for p in df["path"]]
    Y = np.concatenate([Ys[s] for s in splits]).astype(np.int64)
    if len(Y) != len(df):
        raise DatasetError(f"{out}: listing.csv has {len(df)} rows but {src} has {len(Y)} images; delete the folder")
    for j, name in enumerate(names):
        df[name] = Y[:, j]
    return multilabel_table(df, names)


def read_multilabel(
    source: str | Path, labels: Sequence[str] | None = None, *, out_dir: str | Path | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """A multi-label ``.csv`` or MedMNIST ``.npz`` -> (table, labels) (by the file's suffix)."""
    src = Path(source).expanduser()
    if not src.is_file():
        raise DatasetError(f"multi-label table not found: {src}")
    if src.suffix.lower() == ".npz":
        return read_multilabel_npz(src, labels, out_dir=out_dir, progress=progress)
    if src.suffix.lower() in (".csv", ".txt"):
        return read_multilabel_csv(src, labels)
    raise DatasetError(f"{src}: a multi-label table is a .csv or a MedMNIST .npz, not {src.suffix or '(no suffix)'}")
