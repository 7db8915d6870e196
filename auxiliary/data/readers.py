"""Reading any supported dataset into one sample table, and the split CSVs of a split folder.

Every supported layout becomes the same table (see CONTRACT "Data contracts")::

    path (absolute) | label | group | tone_group | ita | tone_group_est | ita_est | is_augmented | extras...

The layouts and how each is listed (``format="auto"`` detects them) are in :mod:`auxiliary.data.formats`.
A dataset with **several labels per image** (:func:`label_set_format`) is read by the same :func:`read_dataset`:

* ``synthetic``: a folder written by ``simulate --task multilabel`` (``metadata.csv`` with the columns of
  :data:`~auxiliary.data.formats.MULTILABEL_MARKERS`); its labels are the 0/1 columns that have a
  ``<label>_strength`` beside them;
* ``csv``: a CSV file with a path column and either one 0/1 column per label and no single-label column,
  or a ``labels`` column (``acne|wrinkles``), or a ``label`` column that is exactly the joined 0/1 columns
  (a split list of this package) where some row has no label or several;
* ``medmnist``: a MedMNIST ``.npz`` whose label arrays are (n, labels) with at least two columns (ChestMNIST).

Its table keeps one int 0/1 column per label (:mod:`auxiliary.data.labels`), its report names them
(``report.labels``; empty for one class per image) and counts positives per label.
:func:`read_dataset` opens every image once (:func:`auxiliary.data.probe.probe_images`, cached by path,
size and mtime in the cache folder, :func:`auxiliary.base.layout.cache_dir`): missing files, unknown labels, duplicate rows and unreadable
images are listed in one :class:`~auxiliary.data.report.DatasetReport` and dropped (``drop_bad=True``)
or refused with a one-line :class:`~auxiliary.data.report.DatasetProblemsError`. The same pass stores
perceptual hashes (duplicate check) and an *estimated* skin tone (``tone_group_est``, ITA over skin
pixels away from the image centre): real photos carry no Fitzpatrick label, so this is an estimate,
moved by lighting, white balance and the lesion itself.

:func:`read_table` / :func:`write_table` convert a split CSV (paths relative to its folder) and
:func:`load_split` reads a whole split folder; :func:`split_task` says whether it is single- or multi-label
(``classes.json``'s ``task``, what it means for the lists: :data:`auxiliary.data.labels.SPLIT_TASKS`).
The image Dataset and its loaders are in :mod:`auxiliary.data.loaders`, balancing in :mod:`auxiliary.data.balance`.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auxiliary.base.files import entry_kind, read_csv, write_csv_atomic
from auxiliary.base.tone import TONE_GROUPS, ita_group
from auxiliary.data.formats import (
    CORE_COLUMNS,
    FORMATS,
    MULTILABEL_MARKERS,
    SPLITS,
    abspath,
    csv_header,
    detect_format,
    find_csvs,
    infer_types,
    is_headerless_list,
    is_list_header,
    list_csv,
    list_folders,
    list_synthetic,
    npz_files,
    read_csv_text,
    special_kind,
    special_reason,
)
from auxiliary.data.labels import (
    SPLIT_TASKS,
    detect_label_columns,
    joined_labels,
    label_matrix,
    label_set_table,
)
from auxiliary.data.probe import probe_images
from auxiliary.data.public_sets import list_ham, list_isic, list_medmnist, list_medmnist_label_sets
from auxiliary.data.report import DatasetError, DatasetProblemsError, DatasetReport, Problem

#: The formats that can hold a dataset with several labels per image.
LABEL_SET_FORMATS: tuple[str, ...] = ("synthetic", "csv", "medmnist")


# ----------------------------------------------------------------------------------- the table
def finish_table(df: pd.DataFrame) -> pd.DataFrame:
    """Add missing core columns with their defaults and put them first."""
    out = df.copy()
    out["path"] = out["path"].astype(str)
    out["label"] = out["label"].astype(str)
    if "group" not in out:
        out["group"] = [Path(p).stem for p in out["path"]]
    out["group"] = out["group"].astype(str)
    if "tone_group" not in out:
        out["tone_group"] = "unknown"
    out["tone_group"] = out["tone_group"].fillna("unknown").astype(str).replace({"": "unknown", "nan": "unknown"})
    out.loc[~out["tone_group"].isin(TONE_GROUPS), "tone_group"] = "unknown"
    out["ita"] = pd.to_numeric(out["ita"], errors="coerce") if "ita" in out else np.nan
    if "ita_est" in out:
        out["ita_est"] = pd.to_numeric(out["ita_est"], errors="coerce")
    else:
        out["ita_est"] = np.nan
    if out["ita_est"].notna().any() or "tone_group_est" not in out:
        # one definition everywhere: the group of our own pixel estimate (replaces a source's column)
        out["tone_group_est"] = [ita_group(v) for v in out["ita_est"]]
    out["tone_group_est"] = out["tone_group_est"].fillna("unknown").astype(str)
    if "is_augmented" not in out:
        out["is_augmented"] = False
    out["is_augmented"] = out["is_augmented"].map(
        lambda v: str(v).strip().lower() in ("true", "1", "1.0", "yes")
    ).astype(bool)
    cols = list(CORE_COLUMNS) + [c for c in out.columns if c not in CORE_COLUMNS]
    return out[cols].reset_index(drop=True)


def read_dataset(
    source: str | Path,
    format: str = "auto",
    drop_bad: bool = True,
    *,
    root: str | Path | None = None,
    classes: Sequence[str] | None = None,
    check_images: bool = True,
    progress: bool = True,
) -> tuple[pd.DataFrame, DatasetReport]:
    """Read any supported dataset into the sample table, with a report of what was wrong.

    ``root``: base folder of relative paths in a CSV list (default: the CSV's folder).
    ``classes``: allowed labels of a CSV list (others are "unknown label"); for a dataset with several labels
    per image, its label columns and their order (default: the synthetic labels, the CSV's detected 0/1 columns
    or ``labels`` names, the MedMNIST file's names; ``report.labels`` names them).
    ``check_images``: open every image (unreadable ones become problems; perceptual hash and
    estimated tone are stored). Raises :class:`~auxiliary.data.report.DatasetError` (unreadable layout) or,
    with ``drop_bad=False``, :class:`~auxiliary.data.report.DatasetProblemsError` naming the problems.
    """
    src = Path(source).expanduser()
    fmt = normalize_format(format)
    if not src.exists():
        raise DatasetError(f"dataset not found: {src}")
    kind = special_kind(src)
    if kind:  # never opened: a FIFO would block the read
        raise DatasetError(f"dataset {src} is {kind}, not a folder or a file: pass a dataset folder, a CSV list or a .npz")
    sets = label_set_format(src, fmt)
    if sets is not None:
        listing, labels, notes = list_label_sets(src, sets, root=root, labels=classes, progress=progress)
        return check_listing(src, sets, listing, [], notes, drop_bad, check_images=check_images, progress=progress,
                             labels=labels)
    if fmt == "auto":
        fmt = detect_format(src)
    if fmt == "folders":
        if not src.is_dir():
            raise DatasetError(f"format folders needs a folder, got the file {src}")
        listing, problems, notes = list_folders(src)
    elif fmt == "csv":
        if src.is_dir():
            lists = [c for c in find_csvs(src, 0) if is_list_header(csv_header(c)) or is_headerless_list(c)]
            if len(lists) != 1:
                raise DatasetError(f"format csv: give the CSV file itself (found {len(lists)} list CSVs in {src})")
            src_csv = lists[0]
        else:
            src_csv = src
        listing, problems, notes = list_csv(src_csv, Path(root) if root else None, classes)
    elif fmt == "ham10000":
        listing, problems, notes = list_ham(src)
    elif fmt == "isic2018":
        listing, problems, notes = list_isic(src)
    elif fmt == "medmnist":
        listing, problems, notes = list_medmnist(src, progress=progress)
    else:  # synthetic
        if not (src / "metadata.csv").is_file():
            raise DatasetError(f"{src} has no metadata.csv: not a synthetic dataset folder (run notebook 01)")
        listing, problems, notes = list_synthetic(src)
    return check_listing(src, fmt, listing, problems, notes, drop_bad, check_images=check_images, progress=progress)


def normalize_format(format: str | None) -> str:
    """A ``format`` name as :data:`~auxiliary.data.formats.FORMATS` spells it (``npz`` -> ``medmnist``...);
    an unknown one is refused with one line."""
    fmt = str(format or "auto").strip().lower().replace("-", "").replace("_", "")
    fmt = {"folder": "folders", "classfolders": "folders", "ham": "ham10000", "isic": "isic2018",
           "npz": "medmnist", "dermamnist": "medmnist", "list": "csv"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise DatasetError(f"unknown dataset format {format!r} (choose from: {', '.join(FORMATS)})")
    return fmt


def check_listing(
    src: Path,
    fmt: str,
    listing: pd.DataFrame,
    problems: list[Problem],
    notes: list[str],
    drop_bad: bool = True,
    *,
    check_images: bool = True,
    progress: bool = True,
    labels: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, DatasetReport]:
    """The checked sample table and report of a listing (what :func:`read_dataset` does after listing):
    duplicate rows, missing and unreadable files, probe columns (hashes, estimated tone).

    ``labels``: the label columns of a listing with several labels per image; the report then names them and
    counts positives per label instead of rows per class."""
    report = DatasetReport(source=str(src), format=fmt, n_listed=len(listing), dropped=drop_bad, notes=notes,
                           labels=list(labels or []))
    if listing.empty:
        raise DatasetError(f"no images found in {src} (format {fmt})")
    listing = listing.reset_index(drop=True)
    bad = np.zeros(len(listing), dtype=bool)
    for pr in problems:
        if pr.row is not None:
            bad[pr.row] = True
    # duplicate rows: the same file listed again (the first listing is kept)
    dup = listing["path"].duplicated(keep="first").to_numpy() & (listing["path"] != "").to_numpy()
    for i in np.flatnonzero(dup & ~bad):
        first = int(np.flatnonzero((listing["path"] == listing["path"].iloc[i]).to_numpy())[0])
        other = listing["label"].iloc[first]
        detail = f"same file as row {first}" + (f" (which says {other!r})" if other != listing["label"].iloc[i] else "")
        problems.append(Problem("duplicate row", listing["path"].iloc[i], detail, int(i)))
        bad[i] = True
    # files: missing / unreadable
    todo = np.flatnonzero(~bad)
    if check_images:
        probe = probe_images(listing["path"].iloc[todo].tolist(), progress=progress)
        for j, rec in zip(todo, probe.to_dict("records")):
            if not rec["ok"]:
                kind = "missing file" if rec["reason"] == "file not found" else "unreadable image"
                problems.append(Problem(kind, listing["path"].iloc[j], "" if kind == "missing file" else rec["reason"], int(j)))
                bad[j] = True
        for col in ("height", "width", "md5", "phash", "dhash", "ita_est"):
            vals = pd.Series([np.nan] * len(listing), dtype=object if col in ("md5", "phash", "dhash") else float)
            vals.iloc[todo] = probe[col].to_numpy()
            listing[col] = vals.astype("Int64") if col in ("height", "width") else vals
    else:
        for j in todo:
            path = listing["path"].iloc[j]
            if not os.path.isfile(path):
                kind = special_kind(path)
                problems.append(Problem("unreadable image", path, special_reason(kind), int(j)) if kind
                                else Problem("missing file", path, "", int(j)))
                bad[j] = True
    problems.sort(key=lambda p: (p.row if p.row is not None else -1))
    report.problems = problems
    if problems and not drop_bad:
        raise DatasetProblemsError(report)
    table = finish_table(listing.loc[~bad])
    if table.empty:
        raise DatasetError(f"no usable images in {src}: {report.summary()}")
    report.n_kept = len(table)
    if labels:
        report.class_counts = {str(lab): int(pd.to_numeric(table[lab]).sum()) for lab in labels}
        absent = [lab for lab, n in report.class_counts.items() if n == 0]
        if absent:
            report.notes.append(f"no image shows {', '.join(absent)}: nothing to learn for that label")
    else:
        report.class_counts = {str(k): int(v) for k, v in table["label"].value_counts().sort_index().items()}
        if table["label"].nunique() < 2:
            report.notes.append(f"only one class ({table['label'].iloc[0]}): a classifier needs at least two")
    if check_images and (table["tone_group"] == "unknown").all():
        known = int((table["tone_group_est"] != "unknown").sum())
        report.notes.append(
            f"no skin-tone labels: tone_group_est is an ESTIMATE from pixels (ITA away from the centre) for {known} images"
        )
    return table, report


# ----------------------------------------------------------------------------------- split CSVs
def read_table(csv_path: str | Path) -> pd.DataFrame:
    """Read a split CSV (paths relative to its folder) into the sample table with absolute paths; its cells come back
    as they were before :func:`write_table` kept a spreadsheet from running them (:func:`auxiliary.base.files.read_csv`)."""
    p = Path(csv_path)
    if not p.is_file():
        raise DatasetError(f"split list {p} is {entry_kind(p)}, not a CSV file (never opened)" if p.exists()
                           else f"split list not found: {p}")
    try:
        df = read_csv(p, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=list(CORE_COLUMNS))
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot parse {p}: {str(exc).strip().splitlines()[0]}") from None
    if "path" not in df or "label" not in df:
        raise DatasetError(f"{p}: a split list needs path and label columns, found {list(df.columns)[:8]}")
    base = p.parent
    df["path"] = [abspath(v if os.path.isabs(v) else base / v) for v in df["path"]]
    df = infer_types(df, text_cols=("md5", "phash", "dhash", "lesion_id", "image_id", "dx", "dx_type", "sex", "localization"))
    return finish_table(df)


def write_table(table: pd.DataFrame, csv_path: str | Path) -> Path:
    """Write a sample table with paths relative to the CSV's folder (atomically; a cell a spreadsheet would run,
    such as a class named ``=1+1``, is written with a ``'`` in front: :func:`auxiliary.base.files.write_csv_atomic`)."""
    p = Path(csv_path)
    out = table.copy()
    out["path"] = [os.path.relpath(v, p.parent) for v in out["path"]]
    write_csv_atomic(p, out)
    return p


def _classes_doc(split_dir: str | Path) -> dict:
    d = Path(split_dir)
    cls_file = d / "classes.json"
    if not cls_file.is_file():
        raise DatasetError(f"{d} is not a split folder (no classes.json); make one with `python -m auxiliary split`")
    try:
        doc = json.loads(cls_file.read_text(encoding="utf-8"))
        doc["classes"] = [str(c) for c in doc["classes"]]
    except (ValueError, KeyError, TypeError):
        raise DatasetError(f"{cls_file} is not valid: expected {{\"classes\": [names...]}}") from None
    task = str(doc.get("task", "single"))
    if task not in SPLIT_TASKS:
        raise DatasetError(f"{cls_file}: unknown task {task!r} (choose from: {', '.join(SPLIT_TASKS)})")
    doc["task"] = task
    return doc


def split_task(split_dir: str | Path) -> str:
    """``single`` or ``multilabel``: the ``task`` of a split folder's ``classes.json`` (absent: ``single``)."""
    return str(_classes_doc(split_dir)["task"])


def _int_label_columns(table: pd.DataFrame, labels: Sequence[str], where: Path) -> pd.DataFrame:
    """The 0/1 label columns of a multi-label split table as ints (refusing anything else; none: unchanged)."""
    out = table.copy()
    for lab in labels:
        if lab not in out:
            if len(out):
                raise DatasetError(f"{where}: a multi-label split list needs one 0/1 column per label; "
                                   f"{lab!r} is missing")
            out[lab] = pd.Series(dtype=np.int64)
            continue
        vals = pd.to_numeric(out[lab].astype(str).str.strip().str.lower().replace({"true": "1", "false": "0"}),
                             errors="coerce")
        if not vals.isin([0, 1]).all():
            raise DatasetError(f"{where}: label column {lab!r} must hold 0 or 1")
        out[lab] = vals.astype(np.int64)
    return out


def load_split(split_dir: str | Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """``({"train": df, "val": df, "test": df}, classes)`` from a split folder.

    A multi-label split (``classes.json`` task ``multilabel``, :func:`split_task`) has one int 0/1 column per
    class (label) in every table; ``label`` holds the present labels joined by ``|`` (``none``)."""
    d = Path(split_dir)
    doc = _classes_doc(d)
    classes = doc["classes"]
    columns = classes if SPLIT_TASKS[doc["task"]].label_columns else []
    tables = {}
    for s in SPLITS:
        f = d / f"{s}.csv"
        table = read_table(f) if f.is_file() else finish_table(pd.DataFrame(columns=["path", "label"]))
        tables[s] = _int_label_columns(table, columns, f)
    return tables, classes


# ----------------------------------------------------------------------------------- several labels per image
def synthetic_labels(root: Path) -> list[str]:
    """The labels of a multi-label synthetic folder: the columns of its ``metadata.csv`` with a ``_strength`` twin."""
    header = csv_header(root / "metadata.csv")
    return [c for c in header if not c.endswith("_strength") and f"{c}_strength" in header]


def is_label_set_csv(path: Path) -> bool:
    """Whether a CSV file lists several labels per image (see the module docstring)."""
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


def is_label_set_npz(path: Path) -> bool:
    """Whether a ``.npz`` holds (n, labels) 0/1 label arrays with at least two labels."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            key = next((k for k in ("train_labels", "val_labels", "test_labels") if k in arrays.files), None)
            shape = arrays[key].shape if key else ()
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False
    return len(shape) == 2 and shape[1] >= 2


def label_set_format(source: str | Path, format: str = "auto") -> str | None:
    """``synthetic``, ``csv`` or ``medmnist`` when ``source`` holds several labels per image in that layout, else
    ``None`` (one class per image, or nothing readable: :func:`read_dataset` then says what is wrong)."""
    src = Path(source).expanduser()
    fmt = normalize_format(format)
    if not src.exists() or special_kind(src) or fmt not in ("auto", *LABEL_SET_FORMATS):
        return None  # a FIFO or device is never opened: read_dataset says what it is
    if src.is_dir():
        meta = src / "metadata.csv"
        if fmt in ("auto", "synthetic") and meta.is_file() and MULTILABEL_MARKERS <= set(csv_header(meta)):
            return "synthetic"
        if fmt == "csv":
            lists = [c for c in find_csvs(src, 0) if is_label_set_csv(c)]
            return "csv" if len(lists) == 1 else None
        if fmt in ("auto", "medmnist"):
            npz = npz_files(src)
            return "medmnist" if len(npz) == 1 and is_label_set_npz(npz[0]) else None
        return None
    suffix = src.suffix.lower()
    if suffix == ".npz" and fmt in ("auto", "medmnist"):
        return "medmnist" if is_label_set_npz(src) else None
    if suffix in (".csv", ".txt") and fmt in ("auto", "csv"):
        return "csv" if is_label_set_csv(src) else None
    return None


def list_label_set_csv(csv_path: str | Path, labels: Sequence[str] | None = None, root: str | Path | None = None,
                       own: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """The listing of a CSV with several labels per image (0/1 columns or a ``labels`` column) and its labels;
    paths relative to its folder (or ``root``). ``own``: a CSV this package wrote (a synthetic ``metadata.csv``)."""
    p = Path(csv_path)
    df = read_csv_text(p, own)
    df.columns = [str(c).strip() for c in df.columns]
    lower = {c.lower(): c for c in df.columns}
    if "path" not in df and "path" in lower:
        df = df.rename(columns={lower["path"]: "path"})
    if "path" not in df:
        raise DatasetError(f"{p}: a multi-label CSV needs a path column, found {list(df.columns)[:8]}")
    base = Path(root) if root else p.parent
    df["path"] = [abspath(v if os.path.isabs(v) else base / v.strip()) for v in df["path"]]
    try:
        return label_set_table(df, labels)
    except DatasetError as exc:
        raise DatasetError(f"{p}: {exc}") from None


def read_multilabel_csv(csv_path: str | Path, labels: Sequence[str] | None = None, root: str | Path | None = None
                        ) -> tuple[pd.DataFrame, list[str]]:
    """A CSV with several labels per image as (sample table with one int 0/1 column per label, labels), its
    images not opened (:func:`read_dataset` checks them)."""
    listing, names = list_label_set_csv(csv_path, labels, root)
    return finish_table(listing), names


def list_label_sets(src: Path, fmt: str, *, root: str | Path | None = None, labels: Sequence[str] | None = None,
                    progress: bool = True) -> tuple[pd.DataFrame, list[str], list[str]]:
    """``(listing, labels, notes)`` of a dataset with several labels per image in layout ``fmt``
    (:data:`LABEL_SET_FORMATS`)."""
    if fmt == "synthetic":
        listing, names = list_label_set_csv(src / "metadata.csv", labels or synthetic_labels(src), root=src, own=True)
        return listing, names, []
    if fmt == "csv":
        csv = src if src.is_file() else next(c for c in find_csvs(src, 0) if is_label_set_csv(c))
        listing, names = list_label_set_csv(csv, labels, root=root)
        return listing, names, []
    npz = src if src.is_file() else npz_files(src)[0]
    listing, names = list_medmnist_label_sets(npz, labels, progress=progress)
    return listing, names, [f"decoded {npz.name} once into PNG files (kept for later runs)"]
