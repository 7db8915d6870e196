"""auxiliary.data.readers: every dataset format, bad-input reports, the split tables and their paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_fixtures import (
    CLASSES,
    class_folders,
    grouped_table_dataset,
    ham_layout,
    isic_layout,
    medmnist_npz,
    noise_image,
    save,
    synthetic_layout,
)

from auxiliary.base import layout
from auxiliary.base.config import DataConfig
from auxiliary.base.errors import AuxiliaryError
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

    assert all(Path(p).is_relative_to(layout.data_dir()) for p in table["path"])
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
    with pytest.raises(report_mod.DatasetError, match="empty"):
        loaders.build_loader(empty, ["a"], img_size=8, mean=MEAN, std=STD, train=True, data_cfg=DataConfig(),
                          batch_size=2)
    assert len(loaders.build_loader(empty, ["a"], img_size=8, mean=MEAN, std=STD, train=False,
                                 data_cfg=DataConfig(), batch_size=2)) == 0
