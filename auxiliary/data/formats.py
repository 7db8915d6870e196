"""Dataset layouts on disk and how to list each one: class folders, CSV lists, HAM10000, ISIC 2018, MedMNIST, the synthetic folder.

Formats (:func:`detect_format` picks one for ``format="auto"``):

* ``folders``: ``root/<class>/*.jpg``, or an existing ``root/{train,val,test}/<class>/*`` split
  (kept as a ``split`` column).
* ``csv``: a list ``path,label[,group,...]`` whose paths are relative to the CSV's folder (or ``root=``).
* ``ham10000``: ``HAM10000_metadata.csv`` + images in ``HAM10000_images_part_1/2`` (or one folder);
  ``group`` = ``lesion_id``.
* ``isic2018``: ISIC 2018 Task 3: image folder + one-hot ground-truth CSV (image, MEL, NV, ...),
  with the lesion-groupings CSV used for ``group`` when present.
* ``medmnist``: a MedMNIST ``.npz`` (DermaMNIST): arrays are decoded once into PNGs under
  ``medmnist/`` of the cache folder (``auxiliary.base.layout.cache_dir``) so the table has paths; the file's own split is kept.
* ``synthetic``: a folder written by :mod:`auxiliary.synth.dataset` (``metadata.csv`` + class folders).

Each ``list_*`` function only lists (paths, labels, groups, the problems seen while listing);
:func:`auxiliary.data.readers.read_dataset` opens the images and builds the sample table.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.files import read_csv
from auxiliary.base.images import is_image_name
from auxiliary.data.report import DatasetError, Problem

FORMATS: tuple[str, ...] = ("auto", "folders", "csv", "ham10000", "isic2018", "medmnist", "synthetic")


SPLITS: tuple[str, ...] = ("train", "val", "test")

#: The sample table's columns, first in every table (see :func:`auxiliary.data.readers.finish_table`).
CORE_COLUMNS: tuple[str, ...] = (
    "path", "label", "group", "tone_group", "ita", "tone_group_est", "ita_est", "is_augmented",
)

_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                  "test": "test", "testing": "test"}


_PATH_COLS = ("path", "filepath", "file_path", "file", "filename", "image_path", "image", "img", "image_id")


_LABEL_COLS = ("label", "class", "target", "dx", "diagnosis", "category", "y")


_GROUP_COLS = ("group", "lesion_id", "patient_id", "patient", "subject", "subject_id")


# ----------------------------------------------------------------------------------- small helpers
def read_csv_text(path: Path, own: bool = False) -> pd.DataFrame:
    """A CSV with every cell as text (no NA guessing: a class called "none" or "NA" stays a label). ``own``: a CSV
    this package wrote (a synthetic ``metadata.csv``, a decoded MedMNIST listing), whose cells a spreadsheet could
    have run were written with a ``'`` in front (:func:`auxiliary.base.files.read_csv` takes it off again); a
    dataset's own CSV is read as it is."""
    try:
        return (read_csv if own else pd.read_csv)(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DatasetError(f"CSV file not found: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"cannot parse CSV {path}: {first}") from None


_NUMERIC_HINT = ("ita", "ita_est", "age", "strength", "seed", "height", "width", "acne_count", "size")


def infer_types(df: pd.DataFrame, text_cols: Sequence[str] = ()) -> pd.DataFrame:
    """Turn text columns back into numbers/bools where every non-empty cell parses."""
    out = df.copy()
    for col in out.columns:
        if col in text_cols or col in ("path", "label", "group", "tone_group", "tone_group_est", "split"):
            continue
        s = out[col].astype(str).str.strip()
        nonempty = s[s != ""]
        if str(col).lower().endswith("id") or nonempty.str.match(r"^[+-]?0\d").any():
            continue  # identifiers ("007", "HAM_0001") stay text
        low = nonempty.str.lower()
        if len(nonempty) and low.isin(["true", "false"]).all():
            out[col] = s.str.lower().map({"true": True, "false": False, "": False}).astype(bool)
            continue
        num = pd.to_numeric(s.replace({"": np.nan, "nan": np.nan, "NaN": np.nan}), errors="coerce")
        if col in _NUMERIC_HINT or (len(nonempty) and num.notna().sum() == len(nonempty)):
            out[col] = num
    return out


def _pick(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    low = {c.lower().strip(): c for c in columns}
    for cand in candidates:
        if cand in low:
            return low[cand]
    return None


def image_index(root: Path) -> tuple[dict[str, Path], list[str]]:
    """Map image file stem -> path for every image under ``root`` (recursive); duplicates noted."""
    index: dict[str, Path] = {}
    dups: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not is_image_name(name):
                continue
            stem = Path(name).stem
            p = Path(dirpath) / name
            if stem in index:
                dups.append(str(p))
                continue
            index[stem] = p
    return index, dups


#: What an entry that is neither a file nor a folder is (links followed), by its ``stat`` type.
SPECIAL_KINDS: dict[int, str] = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
                                 stat.S_IFBLK: "a device"}


def special_kind(path: str | Path) -> str | None:
    """``"a FIFO"``, ``"a socket"`` or ``"a device"`` when ``path`` (or a link's target) is one, else ``None``.

    Only ``stat`` is asked, the entry is never opened: opening a FIFO blocks until someone writes to it, a
    device may never end. Every listing of a folder of inputs asks this first and reports such an entry."""
    try:
        return SPECIAL_KINDS.get(stat.S_IFMT(os.stat(path).st_mode))
    except OSError:
        return None


def special_reason(kind: str) -> str:
    """The reason a report gives for a special entry (:func:`special_kind`)."""
    return f"{kind}, not a regular file (never opened)"


def abspath(p: str | Path) -> str:
    return os.path.normpath(os.path.abspath(os.fspath(p)))


def hash_strings(items: Sequence[str]) -> str:
    h = hashlib.sha1()
    for it in items:
        h.update(it.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------- format detection
def csv_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            line = fh.readline()
    except OSError:
        return []
    return [c.strip().strip('"').lower() for c in line.strip().split(",")]


def is_ham_header(h: Sequence[str]) -> bool:
    return "image_id" in h and "dx" in h


def is_isic_header(h: Sequence[str]) -> bool:
    return bool(h) and h[0] == "image" and sum(c in h for c in ("mel", "nv", "bcc", "akiec", "bkl", "df", "vasc")) >= 3


def is_list_header(h: Sequence[str]) -> bool:
    return _pick(h, _PATH_COLS) is not None and _pick(h, _LABEL_COLS) is not None


def is_headerless_list(path: Path) -> bool:
    h = csv_header(path)
    return len(h) >= 2 and is_image_name(h[0])


def find_csvs(root: Path, depth: int = 2) -> list[Path]:
    out = []
    for d in range(depth + 1):
        pattern = "/".join(["*"] * d + ["*.csv"])
        out += sorted(p for p in root.glob(pattern) if p.is_file() and not p.name.startswith("."))
    return out


def npz_files(root: Path) -> list[Path]:
    """The ``.npz`` files directly in ``root`` (a FIFO with that name is no file: never opened)."""
    return sorted(f for f in root.glob("*.npz") if f.is_file())


def _class_dirs(root: Path) -> list[Path]:
    return sorted(
        d for d in root.iterdir()
        if d.is_dir() and not d.name.startswith(".") and any(is_image_name(f.name) for f in d.iterdir() if f.is_file())
    )


def _split_layout(root: Path) -> dict[str, Path]:
    """``{split: folder}`` when ``root`` holds train/val(/test) folders of class folders."""
    found: dict[str, Path] = {}
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if d.is_dir() and d.name.lower() in _SPLIT_ALIASES and _class_dirs(d):
            found[_SPLIT_ALIASES[d.name.lower()]] = d
    return found if "train" in found or len(found) >= 2 else {}


def detect_format(source: str | Path) -> str:
    """Which layout ``source`` is: folders, csv, ham10000, isic2018, medmnist or synthetic."""
    p = Path(source).expanduser()
    if not p.exists():
        raise DatasetError(f"dataset not found: {p}")
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".npz":
            return "medmnist"
        if suffix in (".csv", ".txt"):
            h = csv_header(p)
            if is_ham_header(h):
                return "ham10000"
            if is_isic_header(h):
                return "isic2018"
            if is_list_header(h) or is_headerless_list(p):
                return "csv"
            raise DatasetError(
                f"{p}: CSV columns {h[:8]} are not a known layout (need path,label[,group]; HAM10000 metadata "
                "image_id,dx; or ISIC 2018 image,MEL,NV,...)"
            )
        raise DatasetError(f"{p}: unsupported dataset file type {suffix or '(none)'} (use a folder, .csv or .npz)")
    meta = p / "metadata.csv"
    if meta.is_file() and is_list_header(csv_header(meta)):
        return "synthetic"
    csvs = find_csvs(p)
    if any(is_ham_header(csv_header(c)) for c in csvs):
        return "ham10000"
    if any(is_isic_header(csv_header(c)) for c in csvs):
        return "isic2018"
    npz = npz_files(p)
    if len(npz) == 1:
        return "medmnist"
    if _split_layout(p) or _class_dirs(p):
        return "folders"
    lists = [c for c in csvs if c.parent == p and (is_list_header(csv_header(c)) or is_headerless_list(c))]
    if len(lists) == 1:
        return "csv"
    raise DatasetError(
        f"cannot tell the layout of {p}: expected class folders (root/<class>/*.jpg), a path,label CSV, "
        "HAM10000_metadata.csv, an ISIC 2018 ground-truth CSV, a .npz, or a synthetic metadata.csv"
    )


# ----------------------------------------------------------------------------------- format readers
# Each returns (listing DataFrame with 'path' (absolute, may not exist), 'label', 'group', extras;
#              problems found while listing; notes).
Listing = tuple[pd.DataFrame, list[Problem], list[str]]


def list_folders(root: Path) -> Listing:
    """The images of class folders (a FIFO, socket or device among them is listed with a problem, never opened)."""
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    notes: list[str] = []
    layout = _split_layout(root)
    parts = layout.items() if layout else [(None, root)]
    ignored = 0
    for split, base in parts:
        for cdir in _class_dirs(base):
            for f in sorted(cdir.iterdir()):
                kind = special_kind(f)
                if f.name.startswith(".") or not (f.is_file() or kind):
                    continue
                if not is_image_name(f.name) and not kind:
                    ignored += 1
                    continue
                row = {"path": abspath(f), "label": cdir.name, "group": f"{cdir.name}/{f.stem}"}
                if split:
                    row["split"] = split
                if kind:  # listed and dropped, so that the report accounts for every entry
                    problems.append(Problem("unreadable image", row["path"], special_reason(kind), len(rows)))
                rows.append(row)
    if layout:
        notes.append(f"kept the dataset's own split folders: {', '.join(layout)}")
    if ignored:
        notes.append(f"ignored {ignored} non-image files in class folders")
    loose = [f for f in root.iterdir() if f.is_file() and is_image_name(f.name)] if root.is_dir() else []
    if loose:
        notes.append(f"ignored {len(loose)} images directly in {root} (not in a class folder)")
    return pd.DataFrame(rows, columns=["path", "label", "group"] + (["split"] if layout else [])), problems, notes


def _resolve_listed(raw: str, root: Path) -> Path:
    p = Path(raw.strip()).expanduser()
    if not p.is_absolute():
        p = root / p
    if not p.suffix and not p.exists():
        for ext in (".jpg", ".png", ".jpeg"):
            if p.with_name(p.name + ext).exists():
                return p.with_name(p.name + ext)
    return p


def list_csv(csv_path: Path, root: Path | None, classes: Sequence[str] | None = None, own: bool = False) -> Listing:
    """A ``path,label[,group]`` list; ``own``: one this package wrote (:func:`read_csv_text`)."""
    df = read_csv_text(csv_path, own)
    if is_headerless_list(csv_path):
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, header=None)
        names = ["path", "label", "group"][: df.shape[1]] + [f"col{i}" for i in range(3, df.shape[1])]
        df.columns = names
    pcol, lcol = _pick(df.columns, _PATH_COLS), _pick(df.columns, _LABEL_COLS)
    if pcol is None or lcol is None:
        raise DatasetError(f"{csv_path}: needs a path column and a label column, found {list(df.columns)[:8]}")
    base = Path(root) if root else csv_path.parent
    out = df.rename(columns={pcol: "path", lcol: "label"})
    out["path"] = [abspath(_resolve_listed(v, base)) if v.strip() else "" for v in out["path"]]
    out["label"] = out["label"].astype(str).str.strip()
    gcol = _pick([c for c in out.columns if c not in ("path", "label")], _GROUP_COLS)
    if gcol is None:
        out["group"] = [Path(p).stem for p in out["path"]]
    elif gcol != "group":
        out["group"] = out[gcol].astype(str)
    problems: list[Problem] = []
    bad = out["label"] == ""
    if classes is not None:
        bad |= ~out["label"].isin(list(classes))
    for i in np.flatnonzero(bad.to_numpy()):
        lab = out["label"].iloc[i]
        problems.append(Problem("unknown label", out["path"].iloc[i], f"label {lab!r}" if lab else "empty label", int(i)))
    empty = out["path"] == ""
    for i in np.flatnonzero(empty.to_numpy()):
        problems.append(Problem("missing file", "(empty path)", "no path given", int(i)))
    return infer_types(out), problems, []


def list_synthetic(root: Path) -> Listing:
    return list_csv(root / "metadata.csv", root, own=True)


#: columns that only a multi-label synthetic metadata.csv has
MULTILABEL_MARKERS = frozenset({"hyperpigmentation", "wrinkles", "hyperpigmentation_strength"})
