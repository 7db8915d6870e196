"""auxiliary.data.multilabel_read: telling multi-label datasets from single-label ones, and reading them checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_fixtures import class_folders, grouped_table_dataset, noise_image, save

from auxiliary.data import multilabel_read, readers
from auxiliary.data.report import DatasetError, DatasetProblemsError


def ml_csv(root: Path, header: str, rows: list[str], n_images: int | None = None) -> Path:
    for i in range(n_images if n_images is not None else len(rows)):
        save(root / f"img_{i}.png", noise_image(900 + i))
    (root / "list.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return root / "list.csv"


def npz(path: Path, label_shape=(6, 3)) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for s in ("train", "val", "test"):
        arrays[f"{s}_images"] = rng.integers(0, 255, (label_shape[0], 8, 8), dtype=np.uint8)
        arrays[f"{s}_labels"] = (rng.random(label_shape) < 0.5).astype(np.uint8)
    np.savez(path, **arrays)
    return path


def test_formats_are_told_apart(tmp_path):
    zero_one = ml_csv(tmp_path / "a", "path,acne,wrinkles", ["img_0.png,1,0", "img_1.png,1,1"])
    labels_col = ml_csv(tmp_path / "b", "path,labels", ["img_0.png,acne|wrinkles", "img_1.png,"])
    joined = ml_csv(tmp_path / "c", "path,label,acne,wrinkles", ["img_0.png,acne|wrinkles,1,1", "img_1.png,none,0,0"])
    one_hot = ml_csv(tmp_path / "d", "path,label,acne,wrinkles", ["img_0.png,acne,1,0", "img_1.png,wrinkles,0,1"])
    assert multilabel_read.multilabel_format(zero_one) == "csv"
    assert multilabel_read.multilabel_format(labels_col, "csv") == "csv"
    assert multilabel_read.multilabel_format(joined) == "csv"  # a split list of this package
    assert multilabel_read.multilabel_format(one_hot) is None  # one label per row: single-label
    assert multilabel_read.multilabel_format(grouped_table_dataset(tmp_path / "g")) is None
    assert multilabel_read.multilabel_format(class_folders(tmp_path / "f", 2)) is None
    assert multilabel_read.multilabel_format(npz(tmp_path / "m.npz")) == "medmnist"
    assert multilabel_read.multilabel_format(npz(tmp_path / "s.npz", (6, 1))) is None  # DermaMNIST-like
    assert multilabel_read.multilabel_format(zero_one, "folders") is None
    assert multilabel_read.multilabel_format(tmp_path / "missing.csv") is None
    with pytest.raises(DatasetError, match="unknown dataset format"):
        multilabel_read.multilabel_format(zero_one, "nosuch")


def test_reading_checks_files_like_any_dataset(tmp_path):
    csv = ml_csv(tmp_path, "path,labels,group,tone_group",
                 ["img_0.png,acne,g0,dark", "img_1.png,acne|wrinkles,g1,light", "img_2.png,,g2,brown",
                  "missing.png,wrinkles,g3,dark"], n_images=3)
    table, labels, report = multilabel_read.read_multilabel_dataset(csv, progress=False)
    assert labels == ["acne", "wrinkles"] and len(table) == 3
    assert report.counts() == {"missing file": 1} and report.class_counts == {"acne": 2, "wrinkles": 1}
    assert table["acne"].tolist() == [1, 1, 0] and table["acne"].dtype.kind == "i"
    assert table["label"].tolist() == ["acne", "acne|wrinkles", "none"]
    assert table["md5"].notna().all() and "phash" in table  # probed: the duplicate check can run
    with pytest.raises(DatasetProblemsError):
        multilabel_read.read_multilabel_dataset(csv, drop_bad=False, progress=False)
    with pytest.raises(DatasetError, match="not a multi-label dataset"):
        multilabel_read.read_multilabel_dataset(grouped_table_dataset(tmp_path / "g"), progress=False)


def test_read_dataset_still_refuses_a_multilabel_synthetic_folder_in_one_line(tmp_path):
    (tmp_path / "metadata.csv").write_text(
        "path,label,acne,erythema,hyperpigmentation,wrinkles,acne_strength,erythema_strength,"
        "hyperpigmentation_strength,wrinkles_strength\nimages/a.png,acne,1,0,0,0,0.5,0,0,0\n")
    assert multilabel_read.synthetic_labels(tmp_path) == ["acne", "erythema", "hyperpigmentation", "wrinkles"]
    with pytest.raises(DatasetError, match="read_multilabel_dataset"):
        readers.read_dataset(tmp_path)
