"""auxiliary.data.readers: every dataset format (one class or several labels per image), bad-input reports, the split
tables and their paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _hostile import HOSTILE_CLASSES, assert_safe_csv, fifo, no_hang
from data_fixtures import (
    CLASSES,
    class_folders,
    grouped_table_dataset,
    ham_layout,
    isic_layout,
    label_set_npz,
    medmnist_npz,
    ml_csv,
    noise_image,
    save,
    synthetic_layout,
)

from auxiliary.base import layout
from auxiliary.base.config import DataConfig
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import write_csv_atomic
from auxiliary.base.tone import TONE_GROUPS
from auxiliary.data import formats, loaders, probe, public_sets, readers, splits
from auxiliary.data import report as report_mod

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _check_table(table: pd.DataFrame) -> None:
    for col in readers.CORE_COLUMNS:
        assert col in table.columns, col
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in table["path"])
    assert table["is_augmented"].dtype == bool and not table["is_augmented"].any()
    assert set(table["tone_group"]) <= {*TONE_GROUPS, "unknown"}
    assert set(table["tone_group_est"]) <= {*TONE_GROUPS, "unknown"}


def test_class_folders(tmp_path):
    root = class_folders(tmp_path / "ds", n_per_class=4)
    (root / "acne" / "notes.txt").write_text("not an image")
    assert formats.detect_format(root) == "folders"
    table, report = readers.read_dataset(root)
    _check_table(table)
    assert len(table) == 12 and report.ok and report.n_kept == 12
    assert sorted(table["label"].unique()) == list(CLASSES)
    assert table["group"].nunique() == 12  # each image its own group
    assert "split" not in table
    assert any("non-image" in n for n in report.notes)


def test_csv_list_relative_paths_and_groups(tmp_path):
    csv = grouped_table_dataset(tmp_path / "ds", n_groups=9)
    assert formats.detect_format(csv) == "csv"
    table, report = readers.read_dataset(csv)
    _check_table(table)
    assert report.ok
    assert table["group"].str.startswith("lesion_").all()
    assert "patient_sex" in table  # extra columns are kept
    # headerless path,label lists (like the original datalist CSVs), relative to root=
    lines = [f"{os.path.relpath(p, tmp_path)},{lab}" for p, lab in zip(table["path"], table["label"])]
    (tmp_path / "nohead.csv").write_text("\n".join(lines) + "\n")
    t2, _ = readers.read_dataset(tmp_path / "nohead.csv", root=tmp_path)
    assert t2["path"].tolist() == table["path"].tolist()


def test_ham10000_layout(tmp_path):
    root = ham_layout(tmp_path / "ham")
    assert formats.detect_format(root) == "ham10000"
    assert formats.detect_format(root / "HAM10000_metadata.csv") == "ham10000"
    table, report = readers.read_dataset(root)
    _check_table(table)
    assert len(table) == 21 and report.ok
    assert (table["group"] == table["lesion_id"]).all()
    assert set(table["label"]) <= set(public_sets.HAM_CLASSES)
    assert table["age"].isna().sum() == 1 and table["age"].dtype.kind == "f"
    assert table["tone_group"].eq("unknown").all()  # no tone labels: only the estimate
    assert table["tone_group_est"].ne("unknown").any()
    assert any("ESTIMATE" in n for n in report.notes)
    # one folder instead of part_1/part_2
    one = ham_layout(tmp_path / "ham1", split_parts=False)
    t1, _ = readers.read_dataset(one, format="ham10000")
    assert len(t1) == 21


def test_isic2018_layout(tmp_path):
    root = isic_layout(tmp_path / "isic")
    assert formats.detect_format(root) == "isic2018"
    table, report = readers.read_dataset(root)
    _check_table(table)
    assert len(table) == 14 and report.ok
    assert set(table["label"]) == {"mel", "nv", "bcc", "akiec", "bkl", "df", "vasc"}
    assert table["group"].nunique() == 7  # from the lesion groupings CSV


def test_medmnist_npz(tmp_path):
    npz = medmnist_npz(tmp_path / "dermamnist.npz")
    assert formats.detect_format(npz) == "medmnist"
    table, report = readers.read_dataset(npz)
    _check_table(table)
    assert len(table) == 28
    assert table["split"].value_counts().to_dict() == {"train": 14, "val": 7, "test": 7}
    assert set(table["label"]) == set(public_sets.HAM_CLASSES)

    # decoded into the cache folder (it can be decoded again at any time), never into data/
    assert all(Path(p).is_relative_to(layout.cache_dir("medmnist")) for p in table["path"])
    again, _ = readers.read_dataset(npz)  # decoded once, reused
    assert again["path"].tolist() == table["path"].tolist()


def test_synthetic_layout_keeps_true_tone(tmp_path):
    root = synthetic_layout(tmp_path / "syn")
    assert formats.detect_format(root) == "synthetic"
    table, _ = readers.read_dataset(root)
    _check_table(table)
    assert len(table) == 18
    assert set(table["tone_group"]) == set(TONE_GROUPS)
    assert table["ita"].notna().all() and table["strength"].dtype.kind == "f"
    agree = probe.tone_agreement(table)
    assert agree["n"] == 18 and 0 <= agree["exact"] <= 1


def test_unknown_layout_and_missing_source(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(report_mod.DatasetError, match="cannot tell the layout"):
        readers.read_dataset(tmp_path / "empty")
    with pytest.raises(report_mod.DatasetError, match="not found"):
        readers.read_dataset(tmp_path / "nope")
    with pytest.raises(report_mod.DatasetError, match="unknown dataset format"):
        readers.read_dataset(tmp_path / "empty", format="parquet")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(report_mod.DatasetError, match="not a known layout"):
        readers.read_dataset(tmp_path / "x.csv")


def _bad_csv(tmp_path: Path) -> Path:
    root = tmp_path / "bad"
    for i in range(4):
        save(root / f"ok{i}.png", noise_image(60000 + i))
    (root / "empty.png").write_bytes(b"")
    (root / "text.jpg").write_text("definitely not a jpeg")
    good = (root / "ok0.png").read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])
    rows = [
        "path,label",
        "ok0.png,acne", "ok1.png,none", "ok2.png,erythema", "ok3.png,psoriasis",
        "missing.png,acne", "empty.png,acne", "text.jpg,none", "truncated.png,none",
        "ok1.png,acne",  # duplicate row with a conflicting label
        "ok2.png,",  # empty label (and a duplicate)
    ]
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    return root / "list.csv"


def test_bad_input_report_and_drop(tmp_path):
    csv = _bad_csv(tmp_path)
    table, report = readers.read_dataset(csv, classes=list(CLASSES))
    assert sorted(Path(p).name for p in table["path"]) == ["ok0.png", "ok1.png", "ok2.png"]
    counts = report.counts()
    assert counts == {"unknown label": 2, "missing file": 1, "unreadable image": 3, "duplicate row": 1}, counts
    frame = report.to_frame()
    assert list(frame.columns) == ["kind", "path", "detail", "row"] and len(frame) == 7
    reasons = dict(zip(frame["path"].map(lambda p: Path(p).name), frame["detail"]))
    assert "zero bytes" in reasons["empty.png"] and "truncated" in reasons["truncated.png"]
    text = str(report)
    assert "7 problem rows (dropped)" in text and "psoriasis" in text and "missing.png" in text


def test_bad_input_refused_without_drop(tmp_path):
    csv = _bad_csv(tmp_path)
    with pytest.raises(report_mod.DatasetProblemsError) as info:
        readers.read_dataset(csv, drop_bad=False, classes=list(CLASSES))
    msg = str(info.value)
    assert "\n" not in msg and "missing file" in msg and "unreadable image" in msg and "drop_bad" in msg
    assert isinstance(info.value, AuxiliaryError) and len(info.value.report.problems) == 7


def test_ham_unknown_dx_and_missing_image(tmp_path):
    root = ham_layout(tmp_path / "ham")
    meta = root / "HAM10000_metadata.csv"
    meta.write_text(meta.read_text() + "HAM_9,ISIC_9999999,scc,histo,50,female,face\n"
                    "HAM_8,ISIC_8888888,nv,histo,50,female,face\n")
    save(root / "HAM10000_images_part_1" / "ISIC_9999999.jpg", noise_image(1))
    table, report = readers.read_dataset(root)
    assert len(table) == 21
    assert report.counts() == {"unknown label": 1, "missing file": 1}


def test_isic_row_without_single_class(tmp_path):
    root = isic_layout(tmp_path / "isic")
    gt = root / "ISIC2018_Task3_Training_GroundTruth" / "ISIC2018_Task3_Training_GroundTruth.csv"
    lines = gt.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",1.0"  # two classes marked
    gt.write_text("\n".join(lines) + "\n")
    table, report = readers.read_dataset(root)
    assert len(table) == 13 and report.counts() == {"unknown label": 1}
    assert "several classes" in report.problems[0].detail


def test_read_table_roundtrip_relative_paths(tmp_path):
    root = synthetic_layout(tmp_path / "syn")
    table, _ = readers.read_dataset(root)
    f = readers.write_table(table, tmp_path / "lists" / "x.csv")
    raw = pd.read_csv(f)
    assert not any(os.path.isabs(p) for p in raw["path"])
    back = readers.read_table(f)
    assert back["path"].tolist() == table["path"].tolist()
    assert back["label"].tolist() == table["label"].tolist()
    assert back["is_augmented"].dtype == bool
    assert np.allclose(back["ita"], table["ita"])
    # moving the whole dataset + lists together keeps the paths valid
    shutil.copytree(tmp_path, tmp_path.parent / (tmp_path.name + "_moved"))
    moved = readers.read_table(tmp_path.parent / (tmp_path.name + "_moved") / "lists" / "x.csv")
    assert all(os.path.isfile(p) and "_moved" in p for p in moved["path"])


def test_label_none_is_not_missing(tmp_path):
    (tmp_path / "l.csv").write_text("path,label\na.png,none\nb.png,NA\n")
    save(tmp_path / "a.png", noise_image(1))
    save(tmp_path / "b.png", noise_image(2))
    table, report = readers.read_dataset(tmp_path / "l.csv")
    assert table["label"].tolist() == ["none", "NA"] and report.ok


@pytest.mark.ham10000
def test_real_ham10000_listing(ham10000):
    table, report = readers.read_dataset(ham10000, check_images=False)
    assert report.format == "ham10000" and len(table) == 5984 and report.ok
    assert sorted(table["label"].unique()) == sorted(public_sets.HAM_CLASSES)
    assert (table["group"] == table["lesion_id"]).all()
    result = splits.assign_splits(table, val=0.2, test=0.1, seed=0)[0]
    parts = {s: table[result == s] for s in ("train", "val", "test")}
    assert splits.leakage(parts, "lesion_id")["count"] == 0
    assert abs(len(parts["test"]) / len(table) - 0.1) < 0.02


def test_bad_npz_and_empty_train(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(report_mod.DatasetError, match="cannot read MedMNIST"):
        readers.read_dataset(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(report_mod.DatasetError, match="not a MedMNIST file"):
        readers.read_dataset(tmp_path / "other.npz")
    empty = readers.read_table(readers.write_table(pd.DataFrame(columns=["path", "label"]), tmp_path / "e.csv"))
    none = np.zeros(0, dtype=np.int64)
    with pytest.raises(report_mod.DatasetError, match="empty"):
        loaders.build_loader(empty, targets=none, img_size=8, mean=MEAN, std=STD, train=True, data_cfg=DataConfig(),
                             batch_size=2)
    assert len(loaders.build_loader(empty, targets=none, img_size=8, mean=MEAN, std=STD, train=False,
                                    data_cfg=DataConfig(), batch_size=2)) == 0


# ----------------------------------------------------------------------------- several labels per image
def test_formats_are_told_apart(tmp_path):
    zero_one = ml_csv(tmp_path / "a", "path,acne,wrinkles", ["img_0.png,1,0", "img_1.png,1,1"])
    labels_col = ml_csv(tmp_path / "b", "path,labels", ["img_0.png,acne|wrinkles", "img_1.png,"])
    joined = ml_csv(tmp_path / "c", "path,label,acne,wrinkles", ["img_0.png,acne|wrinkles,1,1", "img_1.png,none,0,0"])
    one_hot = ml_csv(tmp_path / "d", "path,label,acne,wrinkles", ["img_0.png,acne,1,0", "img_1.png,wrinkles,0,1"])
    assert readers.label_set_format(zero_one) == "csv"
    assert readers.label_set_format(labels_col, "csv") == "csv"
    assert readers.label_set_format(joined) == "csv"  # a split list of this package
    assert readers.label_set_format(one_hot) is None  # one label per row: single-label
    assert readers.label_set_format(grouped_table_dataset(tmp_path / "g")) is None
    assert readers.label_set_format(class_folders(tmp_path / "f", 2)) is None
    assert readers.label_set_format(label_set_npz(tmp_path / "m.npz")) == "medmnist"
    assert readers.label_set_format(label_set_npz(tmp_path / "s.npz", (6, 1))) is None  # DermaMNIST-like
    assert readers.label_set_format(zero_one, "folders") is None
    assert readers.label_set_format(tmp_path / "missing.csv") is None
    with pytest.raises(report_mod.DatasetError, match="unknown dataset format"):
        readers.label_set_format(zero_one, "nosuch")


def test_reading_checks_files_like_any_dataset(tmp_path):
    csv = ml_csv(tmp_path, "path,labels,group,tone_group",
                 ["img_0.png,acne,g0,dark", "img_1.png,acne|wrinkles,g1,light", "img_2.png,,g2,brown",
                  "missing.png,wrinkles,g3,dark"], n_images=3)
    table, report = readers.read_dataset(csv, progress=False)
    assert report.labels == ["acne", "wrinkles"] and len(table) == 3
    assert report.counts() == {"missing file": 1} and report.class_counts == {"acne": 2, "wrinkles": 1}
    assert table["acne"].tolist() == [1, 1, 0] and table["acne"].dtype.kind == "i"
    assert table["label"].tolist() == ["acne", "acne|wrinkles", "none"]
    assert table["md5"].notna().all() and "phash" in table  # probed: the duplicate check can run
    with pytest.raises(report_mod.DatasetProblemsError):
        readers.read_dataset(csv, drop_bad=False, progress=False)
    # the same function reads data with one class per image, its report naming no label columns
    _, single = readers.read_dataset(grouped_table_dataset(tmp_path / "g"), progress=False)
    assert single.labels == [] and single.class_counts


def test_read_dataset_reads_a_multilabel_synthetic_folder(tmp_path):
    """One reader for both kinds: a `simulate --task multilabel` folder is read with its label columns (it used to
    be refused here and read by a multi-label twin of this function)."""
    (tmp_path / "metadata.csv").write_text(
        "path,label,acne,erythema,hyperpigmentation,wrinkles,acne_strength,erythema_strength,"
        "hyperpigmentation_strength,wrinkles_strength\nimages/a.png,acne,1,0,0,0,0.5,0,0,0\n")
    save(tmp_path / "images" / "a.png", noise_image(5))
    labels = ["acne", "erythema", "hyperpigmentation", "wrinkles"]
    assert readers.synthetic_labels(tmp_path) == labels
    table, report = readers.read_dataset(tmp_path, progress=False)
    assert report.format == "synthetic" and report.labels == labels
    assert table[labels].to_numpy().tolist() == [[1, 0, 0, 0]] and table["label"].tolist() == ["acne"]


# ----------------------------------------------------------------------------------- issue 28: hostile inputs
def test_a_fifo_among_the_images_is_reported_and_never_opened(tmp_path):
    """A FIFO (or socket, or device) in a class folder or listed by a CSV is never opened (opening a FIFO blocks):
    it is a dropped row whose reason says what it is, counted like any unreadable image."""
    root = class_folders(tmp_path / "folders", n_per_class=3)
    fifo(root / CLASSES[0] / "pipe.png")
    fifo(root / CLASSES[1] / "pipe_without_an_image_name")
    with no_hang():
        table, report = readers.read_dataset(root, progress=False)
    assert len(table) == 3 * len(CLASSES) and report.n_listed == len(table) + 2
    fifos = [p for p in report.problems if "a FIFO" in p.detail]
    assert len(fifos) == 2 and {p.kind for p in fifos} == {"unreadable image"}
    assert report.counts() == {"unreadable image": 2} and "never opened" in fifos[0].detail
    # listed by a CSV, with or without opening the images
    (tmp_path / "list.csv").write_text(f"path,label\nfolders/{CLASSES[0]}/pipe.png,{CLASSES[0]}\n"
                                       f"folders/{CLASSES[1]}/{CLASSES[1]}_000.png,{CLASSES[1]}\n")
    for check in (True, False):
        with no_hang():
            table, report = readers.read_dataset(tmp_path / "list.csv", check_images=check, progress=False)
        assert len(table) == 1 and [p.kind for p in report.problems] == ["unreadable image"]
        assert "a FIFO" in report.problems[0].detail
    # the dataset itself a FIFO: one line, never opened
    with no_hang(), pytest.raises(report_mod.DatasetError, match="a FIFO"):
        readers.read_dataset(fifo(tmp_path / "data.csv"), progress=False)
    with no_hang(), pytest.raises(report_mod.DatasetError, match="cannot tell the layout"):  # a .npz FIFO: no file
        readers.read_dataset(fifo(tmp_path / "npz" / "derma.npz").parent, progress=False)


def test_split_lists_keep_class_names_a_spreadsheet_would_run(tmp_path):
    """Classes named after folders like ``=1+1`` are written with a ``'`` in front in every split list (no cell a
    spreadsheet runs) and read back as they were."""
    root = class_folders(tmp_path / "data", n_per_class=4, classes=HOSTILE_CLASSES)
    table, _ = readers.read_dataset(root, progress=False)
    out = tmp_path / "split"
    splits.make_splits(table, out, val=0.25, test=0.25, seed=0, progress=False)
    for name in ("train.csv", "val.csv", "test.csv"):
        assert_safe_csv(out / name)
    tables, classes = readers.load_split(out)
    assert classes == sorted(HOSTILE_CLASSES)
    assert set(pd.concat(tables.values())["label"]) == set(HOSTILE_CLASSES)


def test_a_synthetic_metadata_csv_is_read_back_as_written(tmp_path):
    """A synthetic folder's ``metadata.csv`` is this package's own CSV: its neutralised cells come back as they were
    (a user's CSV list is read as it is)."""
    root = synthetic_layout(tmp_path / "syn", n_per_class=2)
    meta = pd.read_csv(root / "metadata.csv")
    meta["source"] = "=1+1.jpg"
    write_csv_atomic(root / "metadata.csv", meta)
    assert_safe_csv(root / "metadata.csv")
    table, report = readers.read_dataset(root, progress=False)
    assert report.format == "synthetic" and set(table["source"]) == {"=1+1.jpg"}
