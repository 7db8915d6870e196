"""auxiliary.data.multilabel: multi-label CSVs (0/1 columns or a labels column) and MedMNIST multi-label files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auxiliary.base.errors import AuxiliaryError
from auxiliary.data import multilabel, readers
from auxiliary.data.report import DatasetError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_zero_one_columns_are_read_and_detected(tmp_path):
    csv = write(tmp_path / "t.csv", "path,acne,wrinkles,acne_strength,tone_group,group\n"
                                    "a.png,1,0,0.7,dark,g1\nb.png,1,1,0.2,light,g1\nc.png,0,0,0,brown,g2\n")
    table, labels = multilabel.read_multilabel_csv(csv)
    assert labels == ["acne", "wrinkles"]  # the strength column is not a label, nor tone_group
    assert table["acne"].tolist() == [1, 1, 0] and table["wrinkles"].tolist() == [0, 1, 0]
    assert table["acne"].dtype.kind == "i"
    assert table["label"].tolist() == ["acne", "acne|wrinkles", "none"]
    assert table["path"].tolist() == [str(tmp_path / n) for n in ("a.png", "b.png", "c.png")]
    assert table["group"].tolist() == ["g1", "g1", "g2"]
    assert table["tone_group"].tolist() == ["dark", "light", "brown"]
    assert table["acne_strength"].tolist() == [0.7, 0.2, 0.0]


def test_labels_column_gives_the_same_table(tmp_path):
    a = write(tmp_path / "a.csv", "path,acne,wrinkles\nx.png,1,0\ny.png,1,1\nz.png,0,0\n")
    b = write(tmp_path / "b.csv", "path,labels\nx.png,acne\ny.png, wrinkles|acne\nz.png,\n")
    ta, la = multilabel.read_multilabel_csv(a)
    tb, lb = multilabel.read_multilabel_csv(b)
    assert la == lb
    pd.testing.assert_frame_equal(ta[["path", "label", *la]], tb[["path", "label", *lb]])


def test_given_labels_fix_order_and_include_absent_labels(tmp_path):
    csv = write(tmp_path / "t.csv", "path,labels\nx.png,acne\ny.png,none\n")
    table, labels = multilabel.read_multilabel_csv(csv, labels=["wrinkles", "acne", "hyperpigmentation"])
    assert labels == ["wrinkles", "acne", "hyperpigmentation"]
    assert multilabel.label_matrix(table, labels).tolist() == [[0, 1, 0], [0, 0, 0]]


@pytest.mark.parametrize("text,labels,needle", [
    ("path,acne,wrinkles\nx.png,1,2\n", ["acne", "wrinkles"], "must hold 0 or 1"),
    ("path,acne,wrinkles\nx.png,1,yes\n", ["acne", "wrinkles"], "'yes'"),
    ("path,acne\nx.png,1\n", ["acne", "wrinkles"], "not in the table"),
    ("path,labels\nx.png,acne|moles\n", ["acne", "wrinkles"], "unknown labels ['moles']"),
    ("path,labels\nx.png,\n", None, "at least one label"),
    ("path,note\nx.png,hello\n", None, "no label columns found"),
    ("file,acne\nx.png,1\n", None, "needs a path column"),
    ("path,labels,acne\nx.png,acne,0\n", None, "disagrees"),
    ("path,group\nx.png,1\n", ["group"], "not allowed"),
    ("path,acne\nx.png,1\n", ["acne", "acne"], "given twice"),
])
def test_bad_tables_are_refused_in_one_line(tmp_path, text, labels, needle):
    csv = write(tmp_path / "t.csv", text)
    with pytest.raises(DatasetError) as err:
        multilabel.read_multilabel_csv(csv, labels=labels)
    assert isinstance(err.value, AuxiliaryError)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_written_split_csv_reads_back(tmp_path):
    csv = write(tmp_path / "t.csv", "path,acne,wrinkles\nx.png,1,0\ny.png,1,1\n")
    table, labels = multilabel.read_multilabel_csv(csv)
    readers.write_table(table, tmp_path / "split" / "train.csv")
    back = readers.read_table(tmp_path / "split" / "train.csv")
    assert multilabel.label_matrix(back, labels).tolist() == [[1, 0], [1, 1]]
    assert back["path"].tolist() == table["path"].tolist()


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
    table, labels = multilabel.read_multilabel(npz, out_dir=tmp_path / "decoded")
    assert labels == ["label_0", "label_1", "label_2"]
    assert len(table) == 12 and table["split"].tolist() == ["train"] * 6 + ["val"] * 3 + ["test"] * 3
    Y = np.concatenate([arrays[f"{s}_labels"] for s in ("train", "val", "test")])
    assert multilabel.label_matrix(table, labels).tolist() == Y.tolist()
    assert all(Path(p).is_file() for p in table["path"])
    again, _ = multilabel.read_multilabel_npz(npz, labels=["a", "b", "c"], out_dir=tmp_path / "decoded")
    assert again["path"].tolist() == table["path"].tolist() and list(again.columns[-3:]) == ["a", "b", "c"]


def test_medmnist_default_folder_and_known_names(tmp_path):
    npz, _ = multilabel_npz(tmp_path / "chestmnist.npz", n_labels=14)
    table, labels = multilabel.read_multilabel_npz(npz)  # under AUXILIARY_OUTPUT (conftest)
    assert labels[:2] == ["atelectasis", "cardiomegaly"] and len(labels) == 14
    assert "medmnist" in Path(table["path"].iloc[0]).parts


def test_medmnist_refusals(tmp_path):
    single = tmp_path / "derma.npz"
    np.savez(single, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.array([[0], [1]]))
    with pytest.raises(DatasetError, match="single-label"):
        multilabel.read_multilabel_npz(single, out_dir=tmp_path / "o1")
    bad = tmp_path / "bad.npz"
    np.savez(bad, train_images=np.zeros((2, 4, 4), np.uint8), train_labels=np.array([[0, 2], [1, 0]]))
    with pytest.raises(DatasetError, match="other than 0/1"):
        multilabel.read_multilabel_npz(bad, out_dir=tmp_path / "o2")
    npz, _ = multilabel_npz(tmp_path / "m.npz")
    with pytest.raises(DatasetError, match="3 label columns but 2"):
        multilabel.read_multilabel_npz(npz, labels=["a", "b"], out_dir=tmp_path / "o3")
    with pytest.raises(DatasetError, match="not found"):
        multilabel.read_multilabel(tmp_path / "nope.csv")
