"""The download layouts of public datasets and how to list them: HAM10000, ISIC 2018 Task 3, MedMNIST.

A MedMNIST ``.npz`` is decoded once into PNG files (:func:`decode_medmnist`), whatever its labels: one class per
image (DermaMNIST, :func:`list_medmnist`) or a 0/1 row of labels (ChestMNIST, :func:`list_medmnist_label_sets`). The
PNG files are kept in the cache folder (:func:`auxiliary.base.layout.cache_dir`, ``medmnist/``): they can be decoded
again from the ``.npz`` at any time.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.files import write_csv_atomic
from auxiliary.base.images import write_png
from auxiliary.base.layout import cache_dir
from auxiliary.base.progress import progress_bar
from auxiliary.data.formats import (
    SPLITS,
    Listing,
    abspath,
    csv_header,
    find_csvs,
    hash_strings,
    image_index,
    infer_types,
    is_ham_header,
    is_isic_header,
    npz_files,
    read_csv_text,
)
from auxiliary.data.labels import check_label_names, label_set_table
from auxiliary.data.report import DatasetError, Problem

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


def list_ham(source: Path) -> Listing:
    if source.is_file():
        meta, root = source, source.parent
    else:
        root = source
        cands = [c for c in find_csvs(root) if is_ham_header(csv_header(c))]
        named = [c for c in cands if c.name.lower() == "ham10000_metadata.csv"]
        meta = (named or cands)[0]
    df = read_csv_text(meta)
    df.columns = [c.strip().lower() for c in df.columns]
    index, dups = image_index(root)
    notes = [f"metadata: {meta.name}; images found under {root} ({len(index)} files)"]
    if dups:
        notes.append(f"{len(dups)} image files share a name with another one (first kept), e.g. {dups[0]}")
    problems: list[Problem] = []
    paths_, labels = [], []
    for i, (iid, dx) in enumerate(zip(df["image_id"].str.strip(), df["dx"].str.strip().str.lower())):
        p = index.get(iid)
        paths_.append(abspath(p) if p is not None else abspath(root / f"{iid}.jpg"))
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
    return infer_types(out, text_cols=("lesion_id", "image_id", "dx", "dx_type", "sex", "localization")), problems, notes


def list_isic(source: Path) -> Listing:
    root = source.parent if source.is_file() else source
    if source.is_file():
        gt = source
    else:
        cands = [c for c in find_csvs(root) if is_isic_header(csv_header(c))]
        named = [c for c in cands if "training" in c.name.lower()]
        gt = (named or cands)[0]
    df = read_csv_text(gt)
    df.columns = [c.strip() for c in df.columns]
    img_col = df.columns[0]
    class_cols = [c for c in df.columns[1:]]
    onehot = df[class_cols].apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy()
    index, dups = image_index(root)
    notes = [f"ground truth: {gt.name}; {len(class_cols)} classes {', '.join(c.lower() for c in class_cols)}"]
    if dups:
        notes.append(f"{len(dups)} image files share a name with another one (first kept)")
    groups: dict[str, str] = {}
    for c in find_csvs(root):
        h = csv_header(c)
        if "image" in h and "lesion_id" in h:
            g = read_csv_text(c)
            g.columns = [x.strip().lower() for x in g.columns]
            groups.update(dict(zip(g["image"].str.strip(), g["lesion_id"].str.strip())))
            notes.append(f"lesion groups from {c.name}")
    problems: list[Problem] = []
    rows = []
    for i, iid in enumerate(df[img_col].str.strip()):
        p = index.get(iid)
        path = abspath(p) if p is not None else abspath(root / f"{iid}.jpg")
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


def medmnist_arrays(npz: Path) -> tuple[Any, list[str], dict[str, np.ndarray]]:
    """``(arrays, splits, {split: labels array})`` of a MedMNIST ``.npz``, refused in one line when it is not one."""
    try:
        arrays = np.load(npz, allow_pickle=False)
        keys = set(arrays.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"cannot read MedMNIST file {npz}: {str(exc).splitlines()[0][:120]}") from None
    splits = [s for s in SPLITS if f"{s}_images" in keys and f"{s}_labels" in keys]
    if not splits:
        raise DatasetError(f"{npz}: not a MedMNIST file (no train_images/train_labels arrays; "
                           f"found {sorted(keys)[:6]})")
    return arrays, splits, {s: np.asarray(arrays[f"{s}_labels"]) for s in splits}


def decode_medmnist(npz: Path, arrays: Any, splits: Sequence[str], folders: Sequence[str] | None = None,
                    out_dir: str | Path | None = None, progress: bool = True) -> tuple[pd.DataFrame, Path]:
    """The images of a MedMNIST file as PNG files, decoded once: ``(listing with path (absolute), group, split,
    the folder)``. Image ``i`` of split ``s`` is ``<s>/<folders[k]>/<s>_<i>.png`` (``k`` counting over the
    splits in order; no class folder without ``folders``). ``out_dir`` defaults to ``medmnist/<stem>-<key>`` of the
    cache folder (:func:`auxiliary.base.layout.cache_dir`; the key follows the file's path, size and mtime); a folder
    already holding ``listing.csv`` is reused. The images are decoded into a hidden ``.<name>.partial`` folder beside
    it, renamed when complete (an earlier crash's partial folder is removed first)."""
    if out_dir is None:
        st = npz.stat()
        key = hash_strings([abspath(npz), str(st.st_size), str(st.st_mtime_ns)])[:10]
        out_dir = cache_dir("medmnist", create=False) / f"{npz.stem}-{key}"
    out = Path(out_dir)
    listing = out / "listing.csv"
    total = sum(len(arrays[f"{s}_labels"]) for s in splits)
    if not listing.is_file():
        tmp = out.with_name(f".{out.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)  # an earlier crash's
        rows = []
        k = 0
        with progress_bar(total=total, desc=f"decoding {npz.name}", disable=not progress, leave=False) as bar:
            for s in splits:
                for i, img in enumerate(np.asarray(arrays[f"{s}_images"])):
                    rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
                    rel = Path(s, *([folders[k]] if folders is not None else []), f"{s}_{i:05d}.png")
                    write_png(tmp / rel, np.ascontiguousarray(rgb.astype(np.uint8)))
                    rows.append({"path": rel.as_posix(), "group": f"{s}_{i:05d}", "split": s})
                    k += 1
                    bar.update(1)
        tmp.mkdir(parents=True, exist_ok=True)
        write_csv_atomic(tmp / "listing.csv", pd.DataFrame(rows, columns=["path", "group", "split"]))
        if out.exists():  # an older partial decode of the same file: replace it
            shutil.rmtree(out)
        tmp.rename(out)
    df = read_csv_text(listing, own=True)[["path", "group", "split"]]
    if len(df) != total:
        raise DatasetError(f"{out}: listing.csv has {len(df)} rows but {npz} has {total} images; delete the folder")
    df["path"] = [abspath(out / p) for p in df["path"]]
    return df, out


def list_medmnist(source: Path, progress: bool = True) -> Listing:
    """A single-label MedMNIST file (DermaMNIST): one class index per image, decoded into class folders."""
    npz = source if source.is_file() else npz_files(source)[0]
    arrays, splits, labels = medmnist_arrays(npz)
    for lab in labels.values():
        if lab.ndim == 2 and lab.shape[1] > 1:
            raise DatasetError(f"{npz}: multi-label MedMNIST files are not supported (labels shape {lab.shape})")
    y = np.concatenate([labels[s].reshape(-1).astype(int) for s in splits])
    names = _medmnist_label_names(npz.stem, int(y.max() + 1) if y.size else 0)
    classes = [names[k] for k in y]
    df, out_dir = decode_medmnist(npz, arrays, splits, classes, progress=progress)
    df.insert(1, "label", classes)
    notes = [f"decoded {len(df)} images of {npz.name} into {out_dir} (kept its splits: {', '.join(splits)})"]
    return df, [], notes


#: Label names of MedMNIST multi-label files (ChestMNIST: the 14 NIH ChestX-ray14 findings).
MEDMNIST_LABELS: dict[str, tuple[str, ...]] = {
    "chestmnist": ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
                   "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"),
}


def list_medmnist_label_sets(
    npz: str | Path, labels: Sequence[str] | None = None, out_dir: str | Path | None = None, progress: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """A MedMNIST multi-label file (ChestMNIST: (n, labels) 0/1 label arrays) -> (listing with one int 0/1 column
    per label, labels), its images decoded once (:func:`decode_medmnist`, no class folders); the file's own split
    is kept in ``split``. Label names: ``labels``, the file's known names (:data:`MEDMNIST_LABELS`), else
    ``label_<k>``."""
    src = Path(npz)
    arrays, splits, Ys = medmnist_arrays(src)
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
    df, _ = decode_medmnist(src, arrays, splits, None, out_dir, progress)
    Y = np.concatenate([Ys[s] for s in splits]).astype(np.int64)
    for j, name in enumerate(names):
        df[name] = Y[:, j]
    return label_set_table(df, names)
