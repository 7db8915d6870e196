"""auxiliary.data.labels: label sets as 0/1 columns or a labels column (read by readers.read_multilabel_csv), what each
row shows, and label-set feedback folders."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auxiliary.base.errors import AuxiliaryError
from auxiliary.data import labels, readers
from auxiliary.data.report import DatasetError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_zero_one_columns_are_read_and_detected(tmp_path):
    csv = write(tmp_path / "t.csv", "path,acne,wrinkles,acne_strength,tone_group,group\n"
                                    "a.png,1,0,0.7,dark,g1\nb.png,1,1,0.2,light,g1\nc.png,0,0,0,brown,g2\n")
    table, names = readers.read_multilabel_csv(csv)
    assert names == ["acne", "wrinkles"]  # the strength column is not a label, nor tone_group
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
    ta, la = readers.read_multilabel_csv(a)
    tb, lb = readers.read_multilabel_csv(b)
    assert la == lb
    pd.testing.assert_frame_equal(ta[["path", "label", *la]], tb[["path", "label", *lb]])


def test_given_labels_fix_order_and_include_absent_labels(tmp_path):
    csv = write(tmp_path / "t.csv", "path,labels\nx.png,acne\ny.png,none\n")
    table, names = readers.read_multilabel_csv(csv, labels=["wrinkles", "acne", "hyperpigmentation"])
    assert names == ["wrinkles", "acne", "hyperpigmentation"]
    assert labels.label_matrix(table, names).tolist() == [[0, 1, 0], [0, 0, 0]]


@pytest.mark.parametrize("text,names,needle", [
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
def test_bad_tables_are_refused_in_one_line(tmp_path, text, names, needle):
    csv = write(tmp_path / "t.csv", text)
    with pytest.raises(DatasetError) as err:
        readers.read_multilabel_csv(csv, labels=names)
    assert isinstance(err.value, AuxiliaryError)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_written_split_csv_reads_back(tmp_path):
    csv = write(tmp_path / "t.csv", "path,acne,wrinkles\nx.png,1,0\ny.png,1,1\n")
    table, names = readers.read_multilabel_csv(csv)
    readers.write_table(table, tmp_path / "split" / "train.csv")
    back = readers.read_table(tmp_path / "split" / "train.csv")
    assert labels.label_matrix(back, names).tolist() == [[1, 0], [1, 1]]
    assert back["path"].tolist() == table["path"].tolist()


def test_label_outcomes_of_both_kinds_of_tables():
    """One 0/1 column per class: from ``label`` for one class per image, from the label columns (plus no label)
    for label sets."""
    single = pd.DataFrame({"label": ["a", "b", "a", "x"]})
    assert labels.label_outcomes(single, ["a", "b"]).to_dict("list") == {"a": [1, 0, 1, 0], "b": [0, 1, 0, 0]}
    sets = pd.DataFrame({"label": ["a|b", "none", "b"], "a": [1, 0, 0], "b": [1, 0, 1]})
    assert labels.label_outcomes(sets, ["a", "b"]).to_dict("list") == {"a": [1, 0, 0], "b": [1, 0, 1],
                                                                        "no label": [0, 1, 0]}


def test_label_set_folder_round_trip():
    names = ["acne", "erythema", "wrinkles"]
    assert labels.label_set_folder(["wrinkles", "acne"], names) == "acne+wrinkles"
    assert labels.label_set_folder([], names) == "none"
    assert labels.parse_label_folder("acne+wrinkles", names) == ["acne", "wrinkles"]
    assert labels.parse_label_folder("none", names) == []
    for bad in ("wrinkles+acne", "acne+acne", "acne+moles", ""):
        assert labels.parse_label_folder(bad, names) is None, bad
    assert labels.label_set_columns("erythema", names) == {"label": "erythema", "acne": 0, "erythema": 1,
                                                           "wrinkles": 0}
    with pytest.raises(ValueError):
        labels.label_set_folder(["moles"], names)


def test_what_a_split_task_means_for_feedback_folders():
    single, sets = labels.SPLIT_TASKS["single"], labels.SPLIT_TASKS["multilabel"]
    assert not single.label_columns and sets.label_columns
    assert single.folder("acne", ["acne", "none"]) == (["acne"], {"label": "acne"})
    assert single.folder("acne+wrinkles", ["acne", "wrinkles"]) is None
    assert sets.folder("acne+wrinkles", ["acne", "wrinkles"]) == (
        ["acne", "wrinkles"], {"label": "acne|wrinkles", "acne": 1, "wrinkles": 1})
