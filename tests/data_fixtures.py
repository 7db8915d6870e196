"""Tiny datasets in every supported layout, generated on the fly for tests of data/splits/augment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from auxiliary.base.tone import TONE_GROUPS
from auxiliary.data import readers, splits

CLASSES = ("acne", "erythema", "none")


def class_targets(table: pd.DataFrame, classes) -> np.ndarray:
    """Loader targets of a table with one class per image: each row's class index (what the single-label task
    computes above the data room, :meth:`auxiliary.tasks.single.SingleLabel.targets`)."""
    return table["label"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)


def noise_image(seed: int, size: int = 32) -> np.ndarray:
    """A distinct random RGB image (distinct perceptual hash) around a skin colour."""
    rng = np.random.default_rng(seed)
    base = np.array([200, 150, 130], dtype=np.float64)
    blocks = rng.normal(0, 40, (8, 8, 3))
    img = np.kron(blocks, np.ones((size // 8, size // 8, 1))) + base + rng.normal(0, 5, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def save(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.fromarray(rgb).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def class_folders(root: Path, n_per_class: int = 8, classes=CLASSES, seed: int = 0) -> Path:
    k = seed * 1000
    for c in classes:
        for i in range(n_per_class):
            save(root / c / f"{c}_{i:03d}.png", noise_image(k))
            k += 1
    return root


def split_folders(root: Path, counts=(("train", 6), ("val", 2), ("test", 2))) -> Path:
    k = 5000
    for split, n in counts:
        for c in CLASSES:
            for i in range(n):
                save(root / split / c / f"{split}_{c}_{i}.png", noise_image(k))
                k += 1
    return root


def grouped_table_dataset(root: Path, n_groups: int = 30, seed: int = 0) -> Path:
    """A CSV list (path,label,group) where groups hold 1-4 images of one class."""
    rng = np.random.default_rng(seed)
    lines = ["path,label,group,patient_sex"]
    k = 20000
    for g in range(n_groups):
        c = CLASSES[g % 3]
        for j in range(int(rng.integers(1, 5))):
            rel = f"images/{c}/g{g:03d}_{j}.png"
            save(root / rel, noise_image(k))
            k += 1
            lines.append(f"{rel},{c},lesion_{g:03d},{'f' if g % 2 else 'm'}")
    (root / "list.csv").write_text("\n".join(lines) + "\n")
    return root / "list.csv"


def ham_layout(root: Path, n_lesions: int = 14, split_parts: bool = True) -> Path:
    """HAM10000 as downloaded: metadata CSV + images spread over part_1 / part_2."""
    dx = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
    lines = ["lesion_id,image_id,dx,dx_type,age,sex,localization"]
    k = 0
    for lesion in range(n_lesions):
        for _j in range(2 if lesion % 2 == 0 else 1):
            iid = f"ISIC_{k:07d}"
            part = ("HAM10000_images_part_1" if k % 2 == 0 else "HAM10000_images_part_2") if split_parts else "images"
            save(root / part / f"{iid}.jpg", noise_image(30000 + k, 32))
            age = "" if k == 3 else str(30 + k)
            lines.append(f"HAM_{lesion:07d},{iid},{dx[lesion % 7]},histo,{age},male,back")
            k += 1
    (root / "HAM10000_metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def isic_layout(root: Path, n: int = 14) -> Path:
    cols = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
    gt = ["image," + ",".join(cols)]
    groups = ["image,lesion_id"]
    for i in range(n):
        iid = f"ISIC_{i:07d}"
        save(root / "ISIC2018_Task3_Training_Input" / f"{iid}.jpg", noise_image(40000 + i))
        onehot = ["1.0" if j == i % 7 else "0.0" for j in range(7)]
        gt.append(iid + "," + ",".join(onehot))
        groups.append(f"{iid},HAM_{i // 2:07d}")
    d = root / "ISIC2018_Task3_Training_GroundTruth"
    d.mkdir(parents=True, exist_ok=True)
    (d / "ISIC2018_Task3_Training_GroundTruth.csv").write_text("\n".join(gt) + "\n")
    (root / "ISIC2018_Task3_Training_LesionGroupings.csv").write_text("\n".join(groups) + "\n")
    return root


def medmnist_npz(path: Path, n=(14, 7, 7)) -> Path:
    rng = np.random.default_rng(3)
    arrays = {}
    for split, m in zip(("train", "val", "test"), n):
        arrays[f"{split}_images"] = rng.integers(0, 255, (m, 28, 28, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(m) % 7).reshape(-1, 1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def synthetic_layout(root: Path, n_per_class: int = 6) -> Path:
    """What auxiliary.synth writes: class folders + metadata.csv with tone labels."""

    lines = ["path,label,tone_group,ita,group,strength,seed"]
    k = 0
    for c in CLASSES:
        for i in range(n_per_class):
            rel = f"{c}/{c}_{i:04d}.png"
            save(root / rel, noise_image(50000 + k))
            tone = TONE_GROUPS[k % len(TONE_GROUPS)]
            lines.append(f"{rel},{c},{tone},{40 - k},{c}_{i:04d},0.5,{k}")
            k += 1
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def synthetic_split(tmp_path: Path) -> Path:
    """A split folder (train/val/test lists) of a small synthetic-layout dataset."""
    table, _ = readers.read_dataset(synthetic_layout(tmp_path / "syn", n_per_class=8))
    out = tmp_path / "split"
    splits.make_splits(table, out, val=0.25, test=0.25, seed=0)
    return out


# ----------------------------------------------------------------------------- several labels per image
def grouped_multilabel_table(n_groups: int = 150, seed: int = 0) -> pd.DataFrame:
    """1-4 rows per group; acne ~35 %, pigment ~15 %, wrinkles ~6 % (more often with pigment); ~50 % no label."""
    rng = np.random.default_rng(seed)
    rows = []
    tones = ["light", "intermediate", "dark"]
    for g in range(n_groups):
        tone = tones[g % 3]
        for j in range(int(rng.integers(1, 5))):
            acne = rng.random() < 0.35
            pig = rng.random() < 0.15
            wr = rng.random() < (0.25 if pig else 0.03)
            rows.append({"path": f"/d/g{g:03d}_{j}.png", "group": f"g{g:03d}", "tone_group": tone,
                         "acne": int(acne), "pigment": int(pig), "wrinkles": int(wr)})
    return pd.DataFrame(rows)


def ml_csv(root: Path, header: str, rows: list[str], n_images: int | None = None) -> Path:
    for i in range(n_images if n_images is not None else len(rows)):
        save(root / f"img_{i}.png", noise_image(900 + i))
    (root / "list.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root / "list.csv"


def label_set_npz(path: Path, label_shape=(6, 3)) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for s in ("train", "val", "test"):
        arrays[f"{s}_images"] = rng.integers(0, 255, (label_shape[0], 8, 8), dtype=np.uint8)
        arrays[f"{s}_labels"] = (rng.random(label_shape) < 0.5).astype(np.uint8)
    np.savez(path, **arrays)
    return path
