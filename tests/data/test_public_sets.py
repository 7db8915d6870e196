"""auxiliary.data.public_sets: MedMNIST files decoded once, one class per image or several labels per image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from auxiliary.data import labels, public_sets, readers
from auxiliary.data.report import DatasetError


def multilabel_npz(path: Path, n=(6, 3, 3), n_labels=3, seed=0) -> tuple[Path, dict]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for s, k in zip(("train", "val", "test"), n):
        arrays[f"{s}_images"] = rng.integers(0, 255, (k, 8, 8), dtype=np.uint8)
        arrays[f"{s}_labels"] = (rng.random((k, n_labels)) < 0.4).astype(np.uint8)
    np.savez(path, **arrays)
    return path, arrays


def test_medmnist_multilabel_npz(tmp_path):
    npz, arrays = multilabel_npz(tmp_path / "chestlike.npz")
    table, names = public_sets.list_medmnist_label_sets(npz, out_dir=tmp_path / "decoded")
    assert names == ["label_0", "label_1", "label_2"]
    assert len(table) == 12 and table["split"].tolist() == ["train"] * 6 + ["val"] * 3 + ["test"] * 3
    Y = np.concatenate([arrays[f"{s}_labels"] for s in ("train", "val", "test")])
    assert labels.label_matrix(table, names).tolist() == Y.tolist()
    assert all(Path(p).is_file() for p in table["path"])
    again, _ = public_sets.list_medmnist_label_sets(npz, labels=["a", "b", "c"], out_dir=tmp_path / "decoded")
    assert again["path"].tolist() == table["path"].tolist()
    assert [c for c in again.columns if c in ("a", "b", "c")] == ["a", "b", "c"]  # the given names, in order


def test_medmnist_default_folder_and_known_names(tmp_path):
    npz, _ = multilabel_npz(tmp_path / "chestmnist.npz", n_labels=14)
    table, names = public_sets.list_medmnist_label_sets(npz)  # under AUXILIARY_OUTPUT (conftest)
    assert names[:2] == ["atelectasis", "cardiomegaly"] and len(names) == 14
    assert "medmnist" in Path(table["path"].iloc[0]).parts


def test_medmnist_refusals(tmp_path):
    single = tmp_path / "derma.npz"
    np.savez(single, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.array([[0], [1]]))
    with pytest.raises(DatasetError, match="single-label"):
        public_sets.list_medmnist_label_sets(single, out_dir=tmp_path / "o1")
    bad = tmp_path / "bad.npz"
    np.savez(bad, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.array([[0, 2], [1, 0]]))
    with pytest.raises(DatasetError, match="other than 0/1"):
        public_sets.list_medmnist_label_sets(bad, out_dir=tmp_path / "o2")
    npz, _ = multilabel_npz(tmp_path / "m.npz")
    with pytest.raises(DatasetError, match="3 label columns but 2"):
        public_sets.list_medmnist_label_sets(npz, labels=["a", "b"], out_dir=tmp_path / "o3")
    with pytest.raises(DatasetError, match="not found"):
        readers.read_dataset(tmp_path / "nope.csv")
