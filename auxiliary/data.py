"""Reading datasets into one sample table, the image Dataset with its uint8 cache, loaders and balancing.

Every supported layout becomes the same table (see CONTRACT "Data contracts")::

    path (absolute) | label | group | tone_group | ita | tone_group_est | ita_est | is_augmented | extras...

Formats (``format="auto"`` detects them):

* ``folders``: ``root/<class>/*.jpg``, or an existing ``root/{train,val,test}/<class>/*`` split
  (kept as a ``split`` column).
* ``csv``: a list ``path,label[,group,...]`` whose paths are relative to the CSV's folder (or ``root=``).
* ``ham10000``: ``HAM10000_metadata.csv`` + images in ``HAM10000_images_part_1/2`` (or one folder);
  ``group`` = ``lesion_id``.
* ``isic2018``: ISIC 2018 Task 3: image folder + one-hot ground-truth CSV (image, MEL, NV, ...),
  with the lesion-groupings CSV used for ``group`` when present.
* ``medmnist``: a MedMNIST ``.npz`` (DermaMNIST): arrays are decoded once into PNGs under
  ``paths.data_dir()/medmnist`` so the table has paths; the file's own split is kept.
* ``synthetic``: a folder written by :mod:`auxiliary.synth` (``metadata.csv`` + class folders).

Every image is opened once (results cached by path, size and mtime under ``data/cache``):
missing files, unknown labels, duplicate rows and unreadable images are listed in one
:class:`DatasetReport` and dropped (``drop_bad=True``) or refused with a one-line
:class:`DatasetProblemsError`. The same pass stores perceptual hashes (duplicate check) and
an *estimated* skin tone (``tone_group_est``, ITA over skin pixels away from the image
centre): real photos carry no Fitzpatrick label, so this is an estimate, moved by lighting,
white balance and the lesion itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import paths
from .errors import AuxiliaryError
from .imageio import ImageReadError, is_image_name, read_image
from .tone import TONE_GROUPS, estimate_ita, ita_group

FORMATS: tuple[str, ...] = ("auto", "folders", "csv", "ham10000", "isic2018", "medmnist", "synthetic")
SPLITS: tuple[str, ...] = ("train", "val", "test")
BALANCE_MODES: tuple[str, ...] = ("none", "class", "tone", "both")
CORE_COLUMNS: tuple[str, ...] = (
    "path", "label", "group", "tone_group", "ita", "tone_group_est", "ita_est", "is_augmented",
)
#: HAM10000 / ISIC 2018 diagnosis codes (also DermaMNIST's label order 0..6).
HAM_CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
HAM_NAMES: dict[str, str] = {
    "akiec": "actinic keratoses / intraepithelial carcinoma",
    "bcc": "basal cell carcinoma",
    "bkl": "benign keratosis-like lesions",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "melanocytic nevi",
    "vasc": "vascular lesions",
}
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                  "test": "test", "testing": "test"}
_PATH_COLS = ("path", "filepath", "file_path", "file", "filename", "image_path", "image", "img", "image_id")
_LABEL_COLS = ("label", "class", "target", "dx", "diagnosis", "category", "y")
_GROUP_COLS = ("group", "lesion_id", "patient_id", "patient", "subject", "subject_id")


# ----------------------------------------------------------------------------------- errors, report
class DatasetError(AuxiliaryError):
    """The dataset cannot be read (not found, unknown layout, no usable image...)."""


class DatasetProblemsError(DatasetError):
    """Rows with problems were found and ``drop_bad`` is off; ``.report`` lists them all."""

    def __init__(self, report: DatasetReport):
        self.report = report
        super().__init__(
            f"{report.summary()} -- fix them or drop them (drop_bad=True, --drop-bad true); "
            "report.to_frame() lists every row"
        )


@dataclass
class Problem:
    kind: str  # missing file | unreadable image | unknown label | duplicate row
    path: str
    detail: str = ""
    row: int | None = None  # line of the listing (0-based data row), when there is one


@dataclass
class DatasetReport:
    """What reading a dataset found: problems (one per row), notes, and the counts."""

    source: str
    format: str
    n_listed: int = 0
    n_kept: int = 0
    dropped: bool = True
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per problem: kind, path, detail, row."""
        return pd.DataFrame(
            [{"kind": p.kind, "path": p.path, "detail": p.detail, "row": p.row} for p in self.problems],
            columns=["kind", "path", "detail", "row"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "format": self.format, "n_listed": self.n_listed, "n_kept": self.n_kept,
            "problems": self.counts(), "notes": list(self.notes), "class_counts": dict(self.class_counts),
        }

    def summary(self) -> str:
        """One line: source, format and the problem counts with a few examples."""
        if not self.problems:
            return f"{self.source} ({self.format}): {self.n_kept} images, no problems"
        parts = []
        for kind, n in self.counts().items():
            ex = [p for p in self.problems if p.kind == kind][:2]
            examples = "; ".join(f"{Path(p.path).name or p.path}" + (f": {p.detail}" if p.detail else "") for p in ex)
            parts.append(f"{n} {kind}{'s' if n > 1 else ''} (e.g. {examples})")
        return f"{len(self.problems)} problem rows in {self.source} ({self.format}): " + ", ".join(parts)

    def __str__(self) -> str:
        lines = [f"dataset {self.source} read as {self.format}: {self.n_listed} listed, {self.n_kept} kept"]
        if self.class_counts:
            lines.append("  classes: " + ", ".join(f"{k} {v}" for k, v in self.class_counts.items()))
        if self.problems:
            verb = "dropped" if self.dropped else "NOT dropped"
            lines.append(f"  {len(self.problems)} problem rows ({verb}): "
                         + ", ".join(f"{n} {k}" for k, n in self.counts().items()))
            for p in self.problems[:20]:
                where = f" (row {p.row})" if p.row is not None else ""
                lines.append(f"    - {p.kind}: {p.path}{where}" + (f" -- {p.detail}" if p.detail else ""))
            if len(self.problems) > 20:
                lines.append(f"    ... {len(self.problems) - 20} more (report.to_frame() lists all)")
        else:
            lines.append("  no problems found")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        import html

        return "<pre>" + html.escape(str(self)) + "</pre>"


# ----------------------------------------------------------------------------------- small helpers
def _read_csv_text(path: Path) -> pd.DataFrame:
    """A CSV with every cell as text (no NA guessing: a class called "none" or "NA" stays a label)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DatasetError(f"CSV file not found: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"cannot parse CSV {path}: {first}") from None


_NUMERIC_HINT = ("ita", "ita_est", "age", "strength", "seed", "height", "width", "acne_count", "size")


def _infer_types(df: pd.DataFrame, text_cols: Sequence[str] = ()) -> pd.DataFrame:
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


def _image_index(root: Path) -> tuple[dict[str, Path], list[str]]:
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


def _abspath(p: str | Path) -> str:
    return os.path.normpath(os.path.abspath(os.fspath(p)))


def _hash_strings(items: Sequence[str]) -> str:
    h = hashlib.sha1()
    for it in items:
        h.update(it.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------- format detection
def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            line = fh.readline()
    except OSError:
        return []
    return [c.strip().strip('"').lower() for c in line.strip().split(",")]


def _is_ham_header(h: Sequence[str]) -> bool:
    return "image_id" in h and "dx" in h


def _is_isic_header(h: Sequence[str]) -> bool:
    return bool(h) and h[0] == "image" and sum(c in h for c in ("mel", "nv", "bcc", "akiec", "bkl", "df", "vasc")) >= 3


def _is_list_header(h: Sequence[str]) -> bool:
    return _pick(h, _PATH_COLS) is not None and _pick(h, _LABEL_COLS) is not None


def _is_headerless_list(path: Path) -> bool:
    h = _csv_header(path)
    return len(h) >= 2 and is_image_name(h[0])


def _find_csvs(root: Path, depth: int = 2) -> list[Path]:
    out = []
    for d in range(depth + 1):
        pattern = "/".join(["*"] * d + ["*.csv"])
        out += sorted(p for p in root.glob(pattern) if p.is_file() and not p.name.startswith("."))
    return out


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
            h = _csv_header(p)
            if _is_ham_header(h):
                return "ham10000"
            if _is_isic_header(h):
                return "isic2018"
            if _is_list_header(h) or _is_headerless_list(p):
                return "csv"
            raise DatasetError(
                f"{p}: CSV columns {h[:8]} are not a known layout (need path,label[,group]; HAM10000 metadata "
                "image_id,dx; or ISIC 2018 image,MEL,NV,...)"
            )
        raise DatasetError(f"{p}: unsupported dataset file type {suffix or '(none)'} (use a folder, .csv or .npz)")
    meta = p / "metadata.csv"
    if meta.is_file() and _is_list_header(_csv_header(meta)):
        return "synthetic"
    csvs = _find_csvs(p)
    if any(_is_ham_header(_csv_header(c)) for c in csvs):
        return "ham10000"
    if any(_is_isic_header(_csv_header(c)) for c in csvs):
        return "isic2018"
    npz = sorted(p.glob("*.npz"))
    if len(npz) == 1:
        return "medmnist"
    if _split_layout(p) or _class_dirs(p):
        return "folders"
    lists = [c for c in csvs if c.parent == p and (_is_list_header(_csv_header(c)) or _is_headerless_list(c))]
    if len(lists) == 1:
        return "csv"
    raise DatasetError(
        f"cannot tell the layout of {p}: expected class folders (root/<class>/*.jpg), a path,label CSV, "
        "HAM10000_metadata.csv, an ISIC 2018 ground-truth CSV, a .npz, or a synthetic metadata.csv"
    )


# ----------------------------------------------------------------------------------- format readers
# Each returns (listing DataFrame with 'path' (absolute, may not exist), 'label', 'group', extras;
#              problems found while listing; notes).
_Listing = tuple[pd.DataFrame, list[Problem], list[str]]


def _list_folders(root: Path) -> _Listing:
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    layout = _split_layout(root)
    parts = layout.items() if layout else [(None, root)]
    ignored = 0
    for split, base in parts:
        for cdir in _class_dirs(base):
            for f in sorted(cdir.iterdir()):
                if not f.is_file() or f.name.startswith("."):
                    continue
                if not is_image_name(f.name):
                    ignored += 1
                    continue
                row = {"path": _abspath(f), "label": cdir.name, "group": f"{cdir.name}/{f.stem}"}
                if split:
                    row["split"] = split
                rows.append(row)
    if layout:
        notes.append(f"kept the dataset's own split folders: {', '.join(layout)}")
    if ignored:
        notes.append(f"ignored {ignored} non-image files in class folders")
    loose = [f for f in root.iterdir() if f.is_file() and is_image_name(f.name)] if root.is_dir() else []
    if loose:
        notes.append(f"ignored {len(loose)} images directly in {root} (not in a class folder)")
    return pd.DataFrame(rows, columns=["path", "label", "group"] + (["split"] if layout else [])), [], notes


def _resolve_listed(raw: str, root: Path) -> Path:
    p = Path(raw.strip()).expanduser()
    if not p.is_absolute():
        p = root / p
    if not p.suffix and not p.exists():
        for ext in (".jpg", ".png", ".jpeg"):
            if p.with_name(p.name + ext).exists():
                return p.with_name(p.name + ext)
    return p


def _list_csv(csv_path: Path, root: Path | None, classes: Sequence[str] | None = None) -> _Listing:
    df = _read_csv_text(csv_path)
    if _is_headerless_list(csv_path):
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, header=None)
        names = ["path", "label", "group"][: df.shape[1]] + [f"col{i}" for i in range(3, df.shape[1])]
        df.columns = names
    pcol, lcol = _pick(df.columns, _PATH_COLS), _pick(df.columns, _LABEL_COLS)
    if pcol is None or lcol is None:
        raise DatasetError(f"{csv_path}: needs a path column and a label column, found {list(df.columns)[:8]}")
    base = Path(root) if root else csv_path.parent
    out = df.rename(columns={pcol: "path", lcol: "label"})
    out["path"] = [_abspath(_resolve_listed(v, base)) if v.strip() else "" for v in out["path"]]
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
    return _infer_types(out), problems, []


def _list_ham(source: Path) -> _Listing:
    if source.is_file():
        meta, root = source, source.parent
    else:
        root = source
        cands = [c for c in _find_csvs(root) if _is_ham_header(_csv_header(c))]
        named = [c for c in cands if c.name.lower() == "ham10000_metadata.csv"]
        meta = (named or cands)[0]
    df = _read_csv_text(meta)
    df.columns = [c.strip().lower() for c in df.columns]
    index, dups = _image_index(root)
    notes = [f"metadata: {meta.name}; images found under {root} ({len(index)} files)"]
    if dups:
        notes.append(f"{len(dups)} image files share a name with another one (first kept), e.g. {dups[0]}")
    problems: list[Problem] = []
    paths_, labels = [], []
    for i, (iid, dx) in enumerate(zip(df["image_id"].str.strip(), df["dx"].str.strip().str.lower())):
        p = index.get(iid)
        paths_.append(_abspath(p) if p is not None else _abspath(root / f"{iid}.jpg"))
        labels.append(dx)
        if dx not in HAM_CLASSES:
            problems.append(Problem("unknown label", paths_[-1], f"dx {dx!r} is not one of {', '.join(HAM_CLASSES)}", i))
    out = df.copy()
    out.insert(0, "path", paths_)
    out.insert(1, "label", labels)
    lesion = out["lesion_id"].str.strip() if "lesion_id" in out else pd.Series([""] * len(out))
    out["group"] = np.where(lesion != "", lesion, out["image_id"])
    listed = set(df["image_id"].str.strip())
    unlisted = [s for s in index if s not in listed]
    if unlisted:
        notes.append(f"{len(unlisted)} images in the folder have no metadata row (not used), e.g. {unlisted[0]}")
    return _infer_types(out, text_cols=("lesion_id", "image_id", "dx", "dx_type", "sex", "localization")), problems, notes


def _list_isic(source: Path) -> _Listing:
    root = source.parent if source.is_file() else source
    if source.is_file():
        gt = source
    else:
        cands = [c for c in _find_csvs(root) if _is_isic_header(_csv_header(c))]
        named = [c for c in cands if "training" in c.name.lower()]
        gt = (named or cands)[0]
    df = _read_csv_text(gt)
    df.columns = [c.strip() for c in df.columns]
    img_col = df.columns[0]
    class_cols = [c for c in df.columns[1:]]
    onehot = df[class_cols].apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy()
    index, dups = _image_index(root)
    notes = [f"ground truth: {gt.name}; {len(class_cols)} classes {', '.join(c.lower() for c in class_cols)}"]
    if dups:
        notes.append(f"{len(dups)} image files share a name with another one (first kept)")
    groups: dict[str, str] = {}
    for c in _find_csvs(root):
        h = _csv_header(c)
        if "image" in h and "lesion_id" in h:
            g = _read_csv_text(c)
            g.columns = [x.strip().lower() for x in g.columns]
            groups.update(dict(zip(g["image"].str.strip(), g["lesion_id"].str.strip())))
            notes.append(f"lesion groups from {c.name}")
    problems: list[Problem] = []
    rows = []
    for i, iid in enumerate(df[img_col].str.strip()):
        p = index.get(iid)
        path = _abspath(p) if p is not None else _abspath(root / f"{iid}.jpg")
        hot = np.flatnonzero(onehot[i] >= 0.5)
        if len(hot) != 1:
            why = "no class marked" if len(hot) == 0 else f"several classes marked ({', '.join(class_cols[j] for j in hot)})"
            problems.append(Problem("unknown label", path, why, i))
            label = ""
        else:
            label = class_cols[hot[0]].lower()
        rows.append({"path": path, "label": label, "group": groups.get(iid) or iid, "image_id": iid})
    if not groups:
        notes.append("no lesion-groupings CSV found: each image is its own group")
    return pd.DataFrame(rows), problems, notes


def _medmnist_label_names(stem: str, n: int) -> list[str]:
    if stem.lower().startswith("dermamnist") and n == len(HAM_CLASSES):
        return list(HAM_CLASSES)
    return [f"class_{k}" for k in range(n)]


def _list_medmnist(source: Path, progress: bool = True) -> _Listing:
    npz = source if source.is_file() else sorted(source.glob("*.npz"))[0]
    import zipfile

    try:
        arrays = np.load(npz, allow_pickle=False)
        keys = set(arrays.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"cannot read MedMNIST file {npz}: {str(exc).splitlines()[0][:120]}") from None
    splits = [s for s in SPLITS if f"{s}_images" in keys and f"{s}_labels" in keys]
    if not splits:
        raise DatasetError(f"{npz}: not a MedMNIST file (no train_images/train_labels arrays; found {sorted(keys)[:6]})")
    all_labels = []
    for s in splits:
        lab = np.asarray(arrays[f"{s}_labels"])
        if lab.ndim == 2 and lab.shape[1] > 1:
            raise DatasetError(f"{npz}: multi-label MedMNIST files are not supported (labels shape {lab.shape})")
        all_labels.append(lab.reshape(-1).astype(int))
    n_classes = int(max(int(a.max()) for a in all_labels if a.size) + 1)
    names = _medmnist_label_names(npz.stem, n_classes)
    st = npz.stat()
    key = _hash_strings([_abspath(npz), str(st.st_size), str(st.st_mtime_ns)])[:10]
    out_dir = paths.data_dir() / "medmnist" / f"{npz.stem}-{key}"
    listing = out_dir / "listing.csv"
    if not listing.is_file():
        from tqdm.auto import tqdm

        from .imageio import write_png

        tmp = out_dir.with_name(out_dir.name + ".partial")
        rows = []
        total = sum(len(a) for a in all_labels)
        with tqdm(total=total, desc=f"decoding {npz.name}", disable=not progress, leave=False) as bar:
            for s, labels in zip(splits, all_labels):
                imgs = np.asarray(arrays[f"{s}_images"])
                for i, (img, lab) in enumerate(zip(imgs, labels)):
                    rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
                    rel = Path(s) / names[lab] / f"{s}_{i:05d}.png"
                    write_png(tmp / rel, np.ascontiguousarray(rgb.astype(np.uint8)))
                    rows.append({"path": rel.as_posix(), "label": names[lab], "group": f"{s}_{i:05d}", "split": s})
                    bar.update(1)
        pd.DataFrame(rows).to_csv(tmp / "listing.csv", index=False)
        if out_dir.exists():  # an older partial decode of the same file: replace it
            import shutil

            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    df = _read_csv_text(listing)
    df["path"] = [_abspath(out_dir / p) for p in df["path"]]
    notes = [f"decoded {len(df)} images of {npz.name} into {out_dir} (kept its splits: {', '.join(splits)})"]
    return df, [], notes


def _list_synthetic(root: Path) -> _Listing:
    df, problems, notes = _list_csv(root / "metadata.csv", root)
    return df, problems, notes


# ----------------------------------------------------------------------------------- probing images
def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels plausibly skin: not the black vignette of dermoscopy, not specular white, not dark hair."""
    import cv2

    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    v, s = hsv[..., 2].astype(np.int32), hsv[..., 1].astype(np.int32)
    return (v > 60) & ~((v > 245) & (s < 20))


def estimate_tone(rgb: np.ndarray, exclude_center: float = 0.5) -> float:
    """Estimated ITA (degrees) of an RGB image: median over skin pixels outside a central disc.

    An *estimate*: dermoscopic lighting, white balance and the lesion shift it. NaN if fewer than
    5 % of the pixels remain.
    """
    import cv2

    img = np.asarray(rgb)
    h, w = img.shape[:2]
    if max(h, w) > 96:
        scale = 96.0 / max(h, w)
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    mask = skin_mask(img)
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    r = exclude_center * min(img.shape[:2]) / 2.0
    outside = (yy - img.shape[0] / 2.0) ** 2 + (xx - img.shape[1] / 2.0) ** 2 > r * r
    if (mask & outside).sum() < 0.05 * mask.size:
        return float("nan")
    return float(estimate_ita(img, mask=mask, exclude_center=exclude_center))


def _probe_one(path: str) -> dict[str, Any]:
    import cv2
    import imagehash
    from PIL import Image

    try:
        rgb = read_image(path)
    except ImageReadError as exc:
        return {"ok": False, "reason": exc.reason}
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    with open(path, "rb") as fh:
        md5 = hashlib.md5(fh.read()).hexdigest()
    return {
        "ok": True, "reason": "", "height": h, "width": w, "md5": md5,
        "phash": str(imagehash.phash(Image.fromarray(small))), "dhash": str(imagehash.dhash(Image.fromarray(small))),
        "ita_est": estimate_tone(rgb),
    }


_PROBE_COLS = ("path", "size", "mtime_ns", "ok", "reason", "height", "width", "md5", "phash", "dhash", "ita_est")


def probe_images(paths_: Sequence[str], progress: bool = True, cache: bool = True) -> pd.DataFrame:
    """Open every image once: readable?, size, md5, perceptual hash, estimated ITA.

    Results are cached in ``data/cache/probe-*.csv`` keyed by path, file size and mtime, so a
    second read of the same dataset does not decode anything.
    """
    from tqdm.auto import tqdm

    paths_ = [str(p) for p in paths_]
    stats: list[tuple[int, int] | None] = []
    for p in paths_:
        try:
            st = os.stat(p)
            stats.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append(None)
    roots = sorted({os.path.dirname(os.path.dirname(p)) for p in paths_})
    cache_file = paths.data_dir() / "cache" / f"probe-{_hash_strings(roots[:50] + [str(len(roots))])}.csv"
    known: dict[tuple[str, int, int], dict[str, Any]] = {}
    if cache and cache_file.is_file():
        try:
            old = pd.read_csv(cache_file, dtype={"path": str, "md5": str, "phash": str, "dhash": str, "reason": str},
                              keep_default_na=False, na_values={"ita_est": [""], "height": [""], "width": [""]})
            for rec in old.to_dict("records"):
                if str(rec.get("ok")) in ("True", "1", "true") and not rec.get("dhash"):
                    continue  # written by an older version: probe again
                known[(rec["path"], int(rec["size"]), int(rec["mtime_ns"]))] = rec
        except (ValueError, KeyError, pd.errors.ParserError):
            known = {}
    rows: list[dict[str, Any]] = []
    todo = [i for i, (p, st) in enumerate(zip(paths_, stats)) if st is not None and (p, *st) not in known]
    new: dict[int, dict[str, Any]] = {}
    for i in tqdm(todo, desc="checking images", disable=not progress or len(todo) < 50, leave=False):
        new[i] = _probe_one(paths_[i])
    for i, (p, st) in enumerate(zip(paths_, stats)):
        if st is None:
            rows.append({"path": p, "ok": False, "reason": "file not found"})
            continue
        rec = new.get(i) or known[(p, *st)]
        rows.append({**rec, "path": p, "size": st[0], "mtime_ns": st[1], "ok": str(rec["ok"]) in ("True", "1", "true")})
    out = pd.DataFrame(rows)
    for c in _PROBE_COLS:
        if c not in out:
            out[c] = np.nan
    out["reason"] = out["reason"].fillna("").astype(str)
    out["ok"] = out["ok"].astype(bool)
    out["ita_est"] = pd.to_numeric(out["ita_est"], errors="coerce")
    if cache and new:
        merged = {**{k: v for k, v in known.items()}}
        for i, rec in new.items():
            st = stats[i]
            merged[(paths_[i], st[0], st[1])] = {**rec, "path": paths_[i], "size": st[0], "mtime_ns": st[1]}
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        pd.DataFrame(list(merged.values()), columns=list(_PROBE_COLS)).to_csv(tmp, index=False)
        tmp.replace(cache_file)
    return out[list(_PROBE_COLS)]


# ----------------------------------------------------------------------------------- the table
def _finish_table(df: pd.DataFrame) -> pd.DataFrame:
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
    ``classes``: allowed labels of a CSV list (others are "unknown label").
    ``check_images``: open every image (unreadable ones become problems; perceptual hash and
    estimated tone are stored). Raises :class:`DatasetError` (unreadable layout) or, with
    ``drop_bad=False``, :class:`DatasetProblemsError` naming the problems.
    """
    src = Path(source).expanduser()
    fmt = str(format or "auto").strip().lower().replace("-", "").replace("_", "")
    fmt = {"folder": "folders", "classfolders": "folders", "ham": "ham10000", "isic": "isic2018",
           "npz": "medmnist", "dermamnist": "medmnist", "list": "csv"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise DatasetError(f"unknown dataset format {format!r} (choose from: {', '.join(FORMATS)})")
    if not src.exists():
        raise DatasetError(f"dataset not found: {src}")
    if fmt == "auto":
        fmt = detect_format(src)
    if fmt == "folders":
        if not src.is_dir():
            raise DatasetError(f"format folders needs a folder, got the file {src}")
        listing, problems, notes = _list_folders(src)
    elif fmt == "csv":
        if src.is_dir():
            lists = [c for c in _find_csvs(src, 0) if _is_list_header(_csv_header(c)) or _is_headerless_list(c)]
            if len(lists) != 1:
                raise DatasetError(f"format csv: give the CSV file itself (found {len(lists)} list CSVs in {src})")
            src_csv = lists[0]
        else:
            src_csv = src
        listing, problems, notes = _list_csv(src_csv, Path(root) if root else None, classes)
    elif fmt == "ham10000":
        listing, problems, notes = _list_ham(src)
    elif fmt == "isic2018":
        listing, problems, notes = _list_isic(src)
    elif fmt == "medmnist":
        listing, problems, notes = _list_medmnist(src, progress=progress)
    else:  # synthetic
        if not (src / "metadata.csv").is_file():
            raise DatasetError(f"{src} has no metadata.csv: not a synthetic dataset folder (run notebook 01)")
        listing, problems, notes = _list_synthetic(src)
    report = DatasetReport(source=str(src), format=fmt, n_listed=len(listing), dropped=drop_bad, notes=notes)
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
            if not os.path.isfile(listing["path"].iloc[j]):
                problems.append(Problem("missing file", listing["path"].iloc[j], "", int(j)))
                bad[j] = True
    problems.sort(key=lambda p: (p.row if p.row is not None else -1))
    report.problems = problems
    if problems and not drop_bad:
        raise DatasetProblemsError(report)
    table = _finish_table(listing.loc[~bad])
    if table.empty:
        raise DatasetError(f"no usable images in {src}: {report.summary()}")
    report.n_kept = len(table)
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
    """Read a split CSV (paths relative to its folder) into the sample table with absolute paths."""
    p = Path(csv_path)
    if not p.is_file():
        raise DatasetError(f"split list not found: {p}")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=list(CORE_COLUMNS))
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot parse {p}: {str(exc).strip().splitlines()[0]}") from None
    if "path" not in df or "label" not in df:
        raise DatasetError(f"{p}: a split list needs path and label columns, found {list(df.columns)[:8]}")
    base = p.parent
    df["path"] = [_abspath(v if os.path.isabs(v) else base / v) for v in df["path"]]
    df = _infer_types(df, text_cols=("md5", "phash", "dhash", "lesion_id", "image_id", "dx", "dx_type", "sex", "localization"))
    return _finish_table(df)


def write_table(table: pd.DataFrame, csv_path: str | Path) -> Path:
    """Write a sample table with paths relative to the CSV's folder (atomically)."""
    p = Path(csv_path)
    p.parent.mkdir(parents=True, exist_ok=True)
    out = table.copy()
    out["path"] = [os.path.relpath(v, p.parent) for v in out["path"]]
    tmp = p.with_name(p.name + f".{os.getpid()}.tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(p)
    return p


def load_split(split_dir: str | Path) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """``({"train": df, "val": df, "test": df}, classes)`` from a split folder."""
    d = Path(split_dir)
    cls_file = d / "classes.json"
    if not cls_file.is_file():
        raise DatasetError(f"{d} is not a split folder (no classes.json); make one with `python -m auxiliary split`")
    try:
        classes = [str(c) for c in json.loads(cls_file.read_text(encoding="utf-8"))["classes"]]
    except (ValueError, KeyError, TypeError):
        raise DatasetError(f"{cls_file} is not valid: expected {{\"classes\": [names...]}}") from None
    tables = {}
    for s in SPLITS:
        f = d / f"{s}.csv"
        tables[s] = read_table(f) if f.is_file() else _finish_table(pd.DataFrame(columns=["path", "label"]))
    return tables, classes


# ----------------------------------------------------------------------------------- cache
class ImageCache:
    """Images decoded and area-resized once to ``size``×``size`` RGB uint8 in a memory-mapped file.

    The file name is a hash of the ordered file list, the size and every file's size and mtime,
    so a changed image or list gives a new cache; an unchanged one is reused across runs and
    across DataLoader workers (each opens the memmap lazily, read-only).
    """

    def __init__(self, paths_: Sequence[str], size: int, cache_dir: str | Path | None = None):
        self.paths = [str(p) for p in paths_]
        self.size = int(size)
        self.dir = Path(cache_dir) if cache_dir else paths.data_dir() / "cache"
        items = [f"v1|{self.size}"]
        for p in self.paths:
            try:
                st = os.stat(p)
                items.append(f"{p}|{st.st_size}|{st.st_mtime_ns}")
            except OSError:
                items.append(f"{p}|missing")
        self.key = _hash_strings(items)
        self.file = self.dir / f"images-{self.size}px-{len(self.paths)}-{self.key}.u8"
        self._mm: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, 3)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def exists(self) -> bool:
        return self.file.is_file() and self.file.stat().st_size == self.nbytes

    def build(self, progress: bool = True) -> ImageCache:
        """Decode everything once (skipped when the cache file already exists)."""
        if self.exists() or not self.paths:
            return self
        import cv2
        from tqdm.auto import tqdm

        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(self.file.name + f".{os.getpid()}.partial")
        arr = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=self.shape)
        failed: list[str] = []
        try:
            for i, p in enumerate(tqdm(self.paths, desc=f"caching images at {self.size}px", disable=not progress,
                                       leave=False)):
                try:
                    rgb = read_image(p)
                except ImageReadError as exc:
                    failed.append(f"{p}: {exc.reason}")
                    continue
                if rgb.shape[0] != self.size or rgb.shape[1] != self.size:
                    rgb = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
                arr[i] = rgb
            arr.flush()
        finally:
            del arr
        if failed:
            tmp.unlink(missing_ok=True)
            raise DatasetError(f"{len(failed)} images could not be read while caching, e.g. {failed[0]} "
                               "(read the dataset with data.read_dataset to drop them)")
        tmp.replace(self.file)
        return self

    def array(self) -> np.ndarray:
        if self._mm is None:
            if not self.exists():
                self.build(progress=False)
            self._mm = np.memmap(self.file, dtype=np.uint8, mode="r", shape=self.shape)
        return self._mm

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.array(self.array()[i])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_mm"] = None  # workers re-open the file instead of pickling the pixels
        return state


def clear_cache(cache_dir: str | Path | None = None) -> int:
    """Delete the decoded-image caches; returns the bytes freed."""
    d = Path(cache_dir) if cache_dir else paths.data_dir() / "cache"
    freed = 0
    for f in list(d.glob("images-*.u8")) + list(d.glob("images-*.partial")):
        freed += f.stat().st_size
        f.unlink()
    return freed


# ----------------------------------------------------------------------------------- Dataset
class ImageDataset(torch.utils.data.Dataset):
    """Samples of a table: ``(image tensor, class index, meta)``; meta has the row ``index``
    (position in ``table``), ``path``, ``group``, ``tone_group`` and ``is_augmented``.

    ``indices`` selects rows (e.g. a stratified fraction); ``cache`` (an :class:`ImageCache` over
    exactly those rows, in that order) replaces decoding; ``transform`` is an albumentations
    Compose (``augment.train_transform`` / ``eval_transform``) or ``None`` for raw uint8 HWC.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        classes: Sequence[str],
        transform: Any = None,
        *,
        indices: Sequence[int] | None = None,
        cache: ImageCache | None = None,
    ):
        self.classes = list(classes)
        lookup = {c: i for i, c in enumerate(self.classes)}
        labels = table["label"].astype(str).tolist()
        unknown = sorted({lab for lab in labels if lab not in lookup})
        if unknown:
            raise DatasetError(f"labels {unknown[:5]} are not in the class list {self.classes}")
        self.indices = np.arange(len(table)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.paths = table["path"].astype(str).to_numpy()
        self.targets = np.asarray([lookup[lab] for lab in labels], dtype=np.int64)
        self.groups = table["group"].astype(str).to_numpy() if "group" in table else self.paths
        self.tones = table["tone_group"].astype(str).to_numpy() if "tone_group" in table else None
        self.augmented = (table["is_augmented"].astype(bool).to_numpy() if "is_augmented" in table
                          else np.zeros(len(table), dtype=bool))
        self.transform = transform
        self.cache = cache
        if cache is not None and len(cache) != len(self.indices):
            raise ValueError("the cache must cover exactly the selected rows")

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, i: int) -> np.ndarray:
        """RGB uint8 of the ``i``-th selected sample (cached when a cache is set)."""
        if self.cache is not None:
            return self.cache[i]
        return read_image(self.paths[self.indices[i]])

    def __getitem__(self, i: int) -> tuple[Any, int, dict[str, Any]]:
        idx = int(self.indices[i])
        rgb = self.image(i)
        x = self.transform(image=rgb)["image"] if self.transform is not None else rgb
        meta = {
            "index": idx,
            "path": str(self.paths[idx]),
            "group": str(self.groups[idx]),
            "tone_group": str(self.tones[idx]) if self.tones is not None else "unknown",
            "is_augmented": bool(self.augmented[idx]),
        }
        return x, int(self.targets[idx]), meta


# ----------------------------------------------------------------------------------- balancing
def tone_column(table: pd.DataFrame) -> str:
    """``tone_group`` when any row has a known tone, else the estimate ``tone_group_est``."""
    if "tone_group" in table and (table["tone_group"].astype(str) != "unknown").any():
        return "tone_group"
    if "tone_group_est" in table:
        return "tone_group_est"
    return "tone_group"


def sample_weights(table: pd.DataFrame, balance: str) -> np.ndarray:
    """Per-row sampling weights (sum 1) for ``balance``: none, class, tone or both.

    ``class``: 1 / n(class); ``tone``: 1 / n(tone group) (tone_group, or the estimate when no row
    has a label); ``both``: the product of the two, so class and tone marginals are both evened
    out without letting a single rare (class, tone) cell dominate.
    """
    mode = str(balance).strip().lower()
    if mode not in BALANCE_MODES:
        raise DatasetError(f"unknown balance mode {balance!r} (choose from: {', '.join(BALANCE_MODES)})")
    n = len(table)
    if n == 0:
        return np.zeros(0)
    w = np.ones(n, dtype=np.float64)
    if mode in ("class", "both"):
        lab = table["label"].astype(str)
        w /= lab.map(lab.value_counts()).to_numpy(dtype=np.float64)
    if mode in ("tone", "both"):
        tone = table[tone_column(table)].astype(str) if tone_column(table) in table else pd.Series(["unknown"] * n)
        w /= tone.map(tone.value_counts()).to_numpy(dtype=np.float64)
    return w / w.sum()


def balanced_counts(table: pd.DataFrame, balance: str, by: str = "label") -> pd.Series:
    """Expected samples per value of ``by`` in one epoch (len(table) draws) under ``balance``."""
    w = sample_weights(table, balance)
    return pd.Series(w * len(table), index=table.index).groupby(table[by].astype(str).to_numpy()).sum()


def sampled_class_prior(table: pd.DataFrame, classes: Sequence[str], balance: str) -> torch.Tensor:
    """Share of each of ``classes`` in the training batches under ``balance`` (sums to 1; 0 for an absent class)."""
    counts = balanced_counts(table, balance) if len(table) else pd.Series(dtype=float)
    p = torch.tensor([float(counts.get(c, 0.0)) for c in classes], dtype=torch.float32)
    return p / p.sum() if float(p.sum()) > 0 else p


def make_sampler(table: pd.DataFrame, balance: str, seed: int = 0, num_samples: int | None = None):
    """``WeightedRandomSampler`` for ``balance`` (``None`` for ``none``: plain shuffling)."""
    if str(balance).strip().lower() == "none":
        sample_weights(table, "none")  # validates
        return None
    g = torch.Generator()
    g.manual_seed(int(seed))
    w = torch.as_tensor(sample_weights(table, balance), dtype=torch.double)
    return torch.utils.data.WeightedRandomSampler(w, num_samples=num_samples or len(table), replacement=True, generator=g)


def class_weights(table: pd.DataFrame, classes: Sequence[str]) -> torch.Tensor:
    """Loss weights n / (k * n_c) per class (scikit-learn's "balanced"); 0 for a class absent from ``table``."""
    counts = table["label"].astype(str).value_counts()
    n, k = len(table), len(classes)
    w = [n / (k * counts[c]) if counts.get(c, 0) > 0 else 0.0 for c in classes]
    return torch.tensor(w, dtype=torch.float32)


def stratified_subset(table: pd.DataFrame, fraction: float, seed: int = 0) -> np.ndarray:
    """Row positions of a stratified ``fraction`` of ``table`` (every class keeps at least one row)."""
    n = len(table)
    if not 0 < fraction <= 1:
        raise DatasetError(f"fraction must be in (0, 1], got {fraction}")
    if fraction >= 1 or n == 0:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    labels = table["label"].astype(str).to_numpy()
    for lab in sorted(set(labels)):
        pos = np.flatnonzero(labels == lab)
        k = max(1, int(round(fraction * len(pos))))
        keep += rng.choice(pos, size=k, replace=False).tolist()
    return np.sort(np.asarray(keep, dtype=np.int64))


# ----------------------------------------------------------------------------------- loader
def collate(batch: Sequence[tuple[Any, int, dict[str, Any]]]) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Stack ``(x, y, meta)`` samples. Images are stacked from their HWC memory (what
    ``ToTensorV2`` views) into an NCHW tensor in ``channels_last`` memory format: same shape and
    values, one plain copy instead of a transposing one."""
    xs, ys, metas = zip(*batch)
    if isinstance(xs[0], torch.Tensor) and xs[0].dim() == 3:
        x = torch.stack([t.permute(1, 2, 0) for t in xs]).permute(0, 3, 1, 2)
    else:
        x = torch.utils.data.default_collate(list(xs))
    y = torch.as_tensor(ys, dtype=torch.int64)
    return x, y, torch.utils.data.default_collate(list(metas))


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    tf = getattr(info.dataset, "transform", None) if info is not None else None
    if tf is not None and hasattr(tf, "set_random_seed"):
        tf.set_random_seed(int(torch.initial_seed() % 2**31))


def build_loader(
    table: pd.DataFrame,
    classes: Sequence[str],
    *,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    train: bool,
    data_cfg: Any,
    batch_size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    drop_last: bool = False,
    progress: bool = True,
) -> torch.utils.data.DataLoader:
    """DataLoader of ``(x float32 (B,3,S,S), y int64 (B,), meta)`` over ``table``.

    ``train=True``: ``data_cfg.augment`` preset and ``data_cfg.balance`` sampler (plain shuffling
    for ``none``). ``train=False``: area resize + normalise (same numbers as ``infer.preprocess``),
    table order, and oversampled rows (``is_augmented``) are refused. ``data_cfg.fraction`` keeps a
    stratified portion; ``data_cfg.cache`` decodes once into the uint8 memmap cache
    (``cache_dir``, default ``data/cache``).
    """
    from . import augment

    table = table.reset_index(drop=True)
    if not train and "is_augmented" in table and table["is_augmented"].astype(bool).any():
        n = int(table["is_augmented"].astype(bool).sum())
        raise DatasetError(f"{n} oversampled (is_augmented) rows in an evaluation table: they belong to train only")
    fraction = float(getattr(data_cfg, "fraction", 1.0))
    idx = stratified_subset(table, fraction, seed)
    if train and len(idx) == 0:
        raise DatasetError("the training table is empty: nothing to train on (check the split fractions)")
    if train:
        tf = augment.train_transform(getattr(data_cfg, "augment", "none"), img_size, mean, std, seed=seed)
    else:
        tf = augment.eval_transform(img_size, mean, std)
    cache = None
    if getattr(data_cfg, "cache", False) and len(idx):
        cache = ImageCache(table["path"].iloc[idx].tolist(), img_size, cache_dir).build(progress=progress)
    ds = ImageDataset(table, classes, tf, indices=idx, cache=cache)
    g = torch.Generator()
    g.manual_seed(int(seed))
    sampler = None
    shuffle = False
    if train:
        sampler = make_sampler(table.iloc[idx], getattr(data_cfg, "balance", "none"), seed)
        shuffle = sampler is None
    workers = int(getattr(data_cfg, "num_workers", 0))
    return torch.utils.data.DataLoader(
        ds,
        batch_size=int(batch_size),
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        collate_fn=collate,
        generator=g,
        worker_init_fn=_worker_init if workers > 0 else None,
        persistent_workers=workers > 0,
    )


# ----------------------------------------------------------------------------------- oversampling
class OversampleError(AuxiliaryError):
    """Offline oversampling refused (already done without overwrite, bad target...)."""


def oversample(
    split_dir: str | Path,
    target: int,
    *,
    preset: str = "geometric",
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Write augmented copies of train images of classes below ``target`` until each has ``target``.

    Copies go to ``split_dir/oversampled/<class>/`` as PNG, rows are appended to ``train.csv``
    with ``is_augmented=True``, ``source_path`` and the source's ``group`` (so they stay in train
    with their original). Val and test are never touched. Returns the new train table.
    """
    from tqdm.auto import tqdm

    from . import augment
    from .imageio import write_png

    d = Path(split_dir)
    tables, classes = load_split(d)
    train = tables["train"]
    if int(target) <= 0:
        raise OversampleError(f"oversampling target must be a positive count, got {target}")
    if train["is_augmented"].any():
        if not overwrite:
            raise OversampleError(f"{d}/train.csv already has {int(train['is_augmented'].sum())} oversampled rows "
                                  "(pass overwrite=True / --overwrite to redo them)")
        train = train.loc[~train["is_augmented"]].reset_index(drop=True)
    out_root = d / "oversampled"
    if out_root.exists():
        import shutil

        shutil.rmtree(out_root)
    rng = np.random.default_rng(seed)
    new_rows: list[dict[str, Any]] = []
    plan = {c: int(target) - int((train["label"] == c).sum()) for c in classes}
    plan = {c: k for c, k in plan.items() if k > 0 and (train["label"] == c).any()}
    total = sum(plan.values())
    with tqdm(total=total, desc="oversampling", disable=not progress or total == 0, leave=False) as bar:
        for c, k in plan.items():
            src = train.loc[train["label"] == c]
            picks = rng.choice(len(src), size=k, replace=True)
            for j, pos in enumerate(picks):
                row = src.iloc[int(pos)].to_dict()
                rgb = read_image(row["path"])
                aug = augment.augment_image(rgb, preset, seed=int(rng.integers(0, 2**31 - 1)))
                out = out_root / c / f"{Path(row['path']).stem}_aug{j:05d}.png"
                write_png(out, aug)
                row.update(path=_abspath(out), is_augmented=True, source_path=row["path"])
                for col in ("md5", "phash", "dhash", "height", "width"):
                    row.pop(col, None)
                new_rows.append(row)
                bar.update(1)
    new_train = pd.concat([train, pd.DataFrame(new_rows)], ignore_index=True) if new_rows else train
    new_train = _finish_table(new_train)
    write_table(new_train, d / "train.csv")
    rep_file = d / "split_report.json"
    if rep_file.is_file():
        rep = json.loads(rep_file.read_text(encoding="utf-8"))
        rep["oversampled"] = {"target": int(target), "preset": preset, "added": plan, "total_added": total}
        rep.setdefault("counts", {}).setdefault("train", {})
        rep["counts"]["train_with_oversampled"] = {
            str(k): int(v) for k, v in new_train["label"].value_counts().sort_index().items()
        }
        rep_file.write_text(json.dumps(rep, indent=2), encoding="utf-8")
    return new_train


def ensure_oversampled(split_dir: str | Path, data_cfg: Any, progress: bool = True) -> Path:
    """Apply ``data_cfg.oversample_to`` to a split folder once (no-op when 0 or already done
    with that target); returns the folder. Used by ``pipeline.ensure_splits``."""
    d = Path(split_dir)
    target = int(getattr(data_cfg, "oversample_to", 0) or 0)
    if target <= 0:
        return d
    rep_file = d / "split_report.json"
    done = None
    if rep_file.is_file():
        try:
            done = json.loads(rep_file.read_text(encoding="utf-8")).get("oversampled", {}).get("target")
        except ValueError:
            done = None
    if done != target:
        preset = getattr(data_cfg, "augment", "geometric")
        oversample(d, target, preset=preset if preset != "none" else "geometric",
                   seed=int(getattr(data_cfg, "seed", 0)), overwrite=True, progress=progress)
    return d


# ----------------------------------------------------------------------------------- plots
def plot_distribution(
    table: pd.DataFrame,
    by: str = "label",
    hue: str | None = None,
    balance: str | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Bar plot (seaborn) of samples per ``by`` (coloured by ``hue``); with ``balance`` the expected
    draws per epoch under that sampler instead of raw counts. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    w = sample_weights(table, balance) * len(table) if balance else np.ones(len(table))
    df = pd.DataFrame({by: table[by].astype(str).to_numpy(), "n": w})
    keys = [by]
    if hue:
        df[hue] = table[hue].astype(str).to_numpy()
        keys.append(hue)
    agg = df.groupby(keys, as_index=False)["n"].sum()
    order = [t for t in (*TONE_GROUPS, "unknown") if t in set(agg[by])] if by.startswith("tone_group") else None
    hue_order = [t for t in (*TONE_GROUPS, "unknown") if t in set(agg[hue])] if hue and hue.startswith("tone") else None
    sns.barplot(data=agg, x=by, y="n", hue=hue, order=order, hue_order=hue_order, ax=ax, errorbar=None)
    ax.set_ylabel("expected draws per epoch" if balance else "images")
    ax.set_title(title or (f"{by} after balance={balance}" if balance else f"{by} counts"))
    ax.tick_params(axis="x", rotation=30)
    return fig


def plot_balance(table: pd.DataFrame, balance: str, title: str | None = None) -> Any:
    """2×2 figure: images per class and per tone group, as stored (left) and as drawn per epoch by
    the ``balance`` sampler (right). The tone is ``tone_group`` or, without labels, the estimate."""
    import matplotlib.pyplot as plt

    tcol = tone_column(table)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    plot_distribution(table, "label", title="classes (stored)", ax=axes[0, 0])
    plot_distribution(table, "label", balance=balance, title=f"classes drawn per epoch (balance={balance})",
                      ax=axes[0, 1])
    plot_distribution(table, tcol, title=f"{tcol} (stored)", ax=axes[1, 0])
    plot_distribution(table, tcol, balance=balance, title=f"{tcol} drawn per epoch (balance={balance})", ax=axes[1, 1])
    for row in axes:
        top = max(a.get_ylim()[1] for a in row)
        for a in row:
            a.set_ylim(0, top)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_tone_estimate(table: pd.DataFrame, ax: Any = None) -> Any:
    """Known tone group vs the pixel estimate (heat map of counts) when labels exist, else a
    histogram of the estimated ITA with the group boundaries. Returns the figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .tone import ITA_BOUNDS

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    order = [*TONE_GROUPS, "unknown"]
    known = table[table["tone_group"] != "unknown"]
    if len(known):
        ct = pd.crosstab(known["tone_group"], known["tone_group_est"])
        ct = ct.reindex(index=[g for g in order if g in ct.index], columns=[g for g in order if g in ct.columns])
        sns.heatmap(ct, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
        ax.set_xlabel("estimated from pixels (tone_group_est)")
        ax.set_ylabel("known (tone_group)")
        ax.set_title("skin tone: label vs estimate")
    else:
        vals = table["ita_est"].dropna()
        sns.histplot(vals, bins=40, ax=ax)
        for g, (lo, _hi) in ITA_BOUNDS.items():
            if lo > -90:
                ax.axvline(lo, color="grey", lw=0.8, ls="--")
            ax.text(np.clip(lo + 2, vals.min() if len(vals) else -60, 85), ax.get_ylim()[1] * 0.9, g,
                    rotation=90, fontsize=7, va="top")
        ax.set_xlabel("estimated ITA (degrees) -- an estimate, not a Fitzpatrick label")
        ax.set_title("estimated skin tone (ITA outside the image centre)")
    return fig


def plot_samples(table: pd.DataFrame, n: int = 8, size: int = 96, title: str | None = None, ax: Any = None) -> Any:
    """A row of up to ``n`` images from ``table`` with their labels. Returns the figure."""
    import cv2
    import matplotlib.pyplot as plt

    rows = table.head(n)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.5 * max(1, len(rows)), 2))
    else:
        fig = ax.figure
    pad = 4
    canvas = np.full((size, max(1, len(rows)) * (size + pad) - pad, 3), 255, dtype=np.uint8)
    for k, p in enumerate(rows["path"]):
        try:
            img = cv2.resize(read_image(p), (size, size), interpolation=cv2.INTER_AREA)
        except ImageReadError:
            continue
        canvas[:, k * (size + pad) : k * (size + pad) + size] = img
    ax.imshow(canvas)
    ax.set_xticks([(k + 0.5) * (size + pad) for k in range(len(rows))])
    ax.set_xticklabels([f"{lab}\n{t}" for lab, t in zip(rows["label"], rows.get("tone_group", rows["label"]))],
                       fontsize=7)
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title)
    return fig


def browser(table: pd.DataFrame, n: int = 8, size: int = 96, group_col: str | None = None) -> Any:
    """An ipywidgets browser: pick a class and a tone/group value, see ``n`` matching images.

    Built without displaying anything, so it also works under papermill (returns the widget box;
    ``None`` if ipywidgets is missing).
    """
    try:
        import ipywidgets as widgets
    except ImportError:  # pragma: no cover
        return None
    import matplotlib.pyplot as plt

    gcol = group_col or tone_column(table)
    classes = ["(all)"] + sorted(table["label"].astype(str).unique())
    groups = ["(all)"] + sorted(table[gcol].astype(str).unique())
    cls_dd = widgets.Dropdown(options=classes, description="class")
    grp_dd = widgets.Dropdown(options=groups, description=gcol[:12])
    status = widgets.Label()
    out = widgets.Image(format="png")

    # The view is a PNG in an Image widget (a widget state update), not output captured by an
    # Output widget: the latter has hung papermill's notebook client on a busy machine.
    def _show(*_: Any) -> None:
        import io

        sel = table
        if cls_dd.value != "(all)":
            sel = sel[sel["label"].astype(str) == cls_dd.value]
        if grp_dd.value != "(all)":
            sel = sel[sel[gcol].astype(str) == grp_dd.value]
        if sel.empty:
            status.value = "no image matches"
            out.value = b""
            return
        status.value = f"{len(sel)} images: class={cls_dd.value}, {gcol}={grp_dd.value}"
        fig = plot_samples(sel, n=n, size=size, title=status.value)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        out.value = buf.getvalue()

    cls_dd.observe(_show, names="value")
    grp_dd.observe(_show, names="value")
    box = widgets.VBox([widgets.HBox([cls_dd, grp_dd]), status, out])
    box.refresh = _show  # type: ignore[attr-defined]
    return box


def tone_agreement(table: pd.DataFrame) -> dict[str, Any]:
    """How often the estimated tone group equals the known one (rows with both), and the mean |ΔITA|."""
    known = table[(table["tone_group"] != "unknown") & (table["tone_group_est"] != "unknown")]
    if known.empty:
        return {"n": 0, "exact": None, "within_one": None, "mean_abs_ita_error": None}
    order = {g: i for i, g in enumerate(TONE_GROUPS)}
    a = known["tone_group"].map(order).to_numpy()
    b = known["tone_group_est"].map(order).to_numpy()
    err = (known["ita"] - known["ita_est"]).abs()
    return {
        "n": int(len(known)),
        "exact": float(np.mean(a == b)),
        "within_one": float(np.mean(np.abs(a - b) <= 1)),
        "mean_abs_ita_error": float(err.mean()) if err.notna().any() else None,
    }

