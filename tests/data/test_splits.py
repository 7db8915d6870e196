"""auxiliary.data.splits: grouped stratified splits, existing split folders, leakage checks, outputs, CLI; split folders
of data with several labels per image (synthetic faces, a labels CSV, a MedMNIST file), reading them back, and what
they refuse."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_fixtures import (
    class_folders,
    grouped_table_dataset,
    label_set_npz,
    ml_csv,
    split_folders,
    synthetic_layout,
)

from auxiliary.data import balance, readers, splits
from auxiliary.data.report import DatasetError
from auxiliary.faces import cli


@pytest.fixture(scope="module")
def grouped_module(tmp_path_factory):
    root = tmp_path_factory.mktemp("grouped")
    csv = grouped_table_dataset(root / "ds", n_groups=60, seed=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUXILIARY_OUTPUT", str(root / "outputs"))
        table, _ = readers.read_dataset(csv, progress=False)
    return table


@pytest.fixture()
def grouped(grouped_module):
    return grouped_module.copy()


@pytest.mark.parametrize("val,test", [(0.2, 0.1), (0.05, 0.0), (0.0, 1.0), (0.3, 0.3), (0.0, 0.0), (1.0, 0.0)])
def test_fractions_and_no_leakage_by_construction(grouped, tmp_path, val, test):
    result = splits.make_splits(grouped, tmp_path / "out", val=val, test=test, seed=3, check_duplicates=False)
    sizes = {s: len(df) for s, df in result.items()}
    assert sum(sizes.values()) == len(grouped)
    assert splits.leakage(result, "group")["count"] == 0
    n = len(grouped)
    assert abs(sizes["test"] / n - test) <= 0.08 and abs(sizes["val"] / n - val) <= 0.08
    if test == 0:
        assert sizes["test"] == 0
    if val == 0 and test == 1:
        assert sizes["test"] == n
    rep = splits.read_report(tmp_path / "out")
    assert rep["leakage"] == 0 and rep["sizes"] == sizes and rep["group_col"] == "group"


def test_stratified(grouped, tmp_path):
    result = splits.make_splits(grouped, tmp_path / "out", val=0.25, test=0.25, seed=0, check_duplicates=False)
    for df in result.values():
        assert set(df["label"]) == set(grouped["label"])  # every class in every split


def test_reproducible_by_seed(grouped, tmp_path):
    a = splits.make_splits(grouped, tmp_path / "a", seed=7, check_duplicates=False)
    b = splits.make_splits(grouped, tmp_path / "b", seed=7, check_duplicates=False)
    c = splits.make_splits(grouped, tmp_path / "c", seed=8, check_duplicates=False)
    for s in ("train", "val", "test"):
        assert a[s]["path"].tolist() == b[s]["path"].tolist()
    assert any(a[s]["path"].tolist() != c[s]["path"].tolist() for s in ("train", "val", "test"))
    assert (tmp_path / "a" / "train.csv").read_bytes() == (tmp_path / "b" / "train.csv").read_bytes()


def test_group_col_choice(grouped, tmp_path):
    t = grouped.assign(lesion_id=grouped["group"], group=[f"g{i}" for i in range(len(grouped))])
    result = splits.make_splits(t, tmp_path / "out", check_duplicates=False)  # lesion_id wins when present
    assert splits.leakage(result, "lesion_id")["count"] == 0
    assert splits.read_report(tmp_path / "out")["group_col"] == "lesion_id"
    with pytest.raises(splits.SplitError, match="patient"):
        splits.make_splits(t, tmp_path / "o2", group_col="patient")


def test_leakage_detected_when_injected(grouped, tmp_path):
    out = tmp_path / "out"
    splits.make_splits(grouped, out, val=0.2, test=0.1, seed=0)
    assert splits.check_split_dir(out)["leakage"] == 0
    train = pd.read_csv(out / "train.csv")
    val = pd.read_csv(out / "val.csv")
    leaked = train.iloc[[0]].copy()
    leaked["group"] = val["group"].iloc[0]  # a val lesion now also in train
    pd.concat([train, leaked]).to_csv(out / "train.csv", index=False)
    check = splits.check_split_dir(out)
    assert check["leakage"] == 1 and check["leakage_detail"]["examples"] == [str(val["group"].iloc[0])]


def test_writes_lists_only_and_refuses_overwrite(grouped, tmp_path):
    src = Path(os.path.commonpath(grouped["path"].tolist()))
    before = {p: hashlib.md5(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    splits.make_splits(grouped, out)
    after = {p: hashlib.md5(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    assert before == after  # images untouched, nothing added next to them
    assert {p.name for p in out.iterdir()} <= {"train.csv", "val.csv", "test.csv", "classes.json",
                                                "split_report.json", "duplicates.csv"}
    raw = pd.read_csv(out / "train.csv")
    assert not any(os.path.isabs(p) for p in raw["path"])
    assert json.loads((out / "classes.json").read_text()) == {"classes": sorted(grouped["label"].unique())}
    with pytest.raises(splits.SplitError, match="overwrite"):
        splits.make_splits(grouped, out)
    splits.make_splits(grouped, out, seed=5, overwrite=True)


def test_augmented_rows_only_reach_train(grouped, tmp_path):
    aug = grouped.sample(20, random_state=0).assign(is_augmented=True)
    aug["path"] = aug["path"] + ".aug.png"
    table = pd.concat([grouped, aug], ignore_index=True)
    result = splits.make_splits(table, tmp_path / "out", val=0.3, test=0.3, check_duplicates=False)
    assert splits.augmented_outside_train(result) == 0
    assert not result["val"]["is_augmented"].any() and not result["test"]["is_augmented"].any()
    kept = int(result["train"]["is_augmented"].sum())
    assert kept + splits.read_report(tmp_path / "out")["augmented_dropped"] == 20
    assert set(result["train"].loc[result["train"]["is_augmented"], "group"]) <= set(
        result["train"].loc[~result["train"]["is_augmented"], "group"])


def test_bad_arguments(grouped, tmp_path):
    with pytest.raises(splits.SplitError, match="exceed 1"):
        splits.make_splits(grouped, tmp_path / "o", val=0.6, test=0.5)
    with pytest.raises(splits.SplitError, match="between 0 and 1"):
        splits.make_splits(grouped, tmp_path / "o", val=-0.1)
    with pytest.raises(splits.SplitError, match="empty"):
        splits.make_splits(grouped.iloc[:0], tmp_path / "o")


def test_split_summary(grouped, tmp_path):
    result = splits.make_splits(grouped, tmp_path / "o", check_duplicates=False)
    classes = sorted(grouped["label"].unique())
    summary = splits.split_summary(result, classes)
    assert summary.loc["total"].sum() == len(grouped)
    assert list(summary.columns) == ["train", "val", "test"]


def test_cli_split(tmp_path, capsys):
    root = synthetic_layout(tmp_path / "syn", n_per_class=6)
    out = tmp_path / "split"
    rc = cli.main(["split", "--data", str(root), "--out", str(out), "--val", "0.25", "--test", "0",
                   "--oversample-to", "6", "--profile", "smoke"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "group leakage (group): 0" in printed
    tables, classes = readers.load_split(out)
    assert len(tables["test"]) == 0 and classes == ["acne", "erythema", "none"]
    assert (tables["train"]["label"].value_counts() >= 6).all() and tables["train"]["is_augmented"].any()
    assert splits.augmented_outside_train(tables) == 0
    assert cli.main(["split", "--data", str(root), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["split", "--data", str(root), "--out", str(out), "--overwrite", "--val", "0",
                     "--test", "1"]) == 0
    tables, _ = readers.load_split(out)
    assert len(tables["test"]) == 18 and len(tables["train"]) == 0
    assert cli.main(["split", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "dataset not found" in capsys.readouterr().err


def test_cli_bad_rows_refused_with_report(tmp_path, capsys):
    root = class_folders(tmp_path / "ds", n_per_class=3)
    (root / "acne" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    rc = cli.main(["split", "--data", str(root), "--out", str(tmp_path / "o"), "--drop-bad", "false",
                   "--report", str(tmp_path / "problems.csv")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "1 unreadable image" in err and "Traceback" not in err
    assert pd.read_csv(tmp_path / "problems.csv")["kind"].tolist() == ["unreadable image"]
    assert cli.main(["split", "--data", str(root), "--out", str(tmp_path / "o")]) == 0  # dropped by default


def test_one_group_only(tmp_path):
    table = pd.DataFrame({"path": [f"/x/{i}.png" for i in range(6)], "label": ["a", "b"] * 3, "group": ["g"] * 6})
    result = splits.make_splits(table, tmp_path / "o", val=0.2, test=0.1, check_duplicates=False)
    assert len(result["train"]) == 6  # one lesion cannot be split


def test_existing_split_folders_are_kept(tmp_path):
    root = split_folders(tmp_path / "ds")
    table, _ = readers.read_dataset(root, format="auto")
    assert table["split"].value_counts().to_dict() == {"train": 18, "val": 6, "test": 6}
    result = splits.make_splits(table, tmp_path / "out", val=0.5, test=0.0)
    assert {k: len(v) for k, v in result.items()} == {"train": 18, "val": 6, "test": 6}
    assert splits.read_report(tmp_path / "out")["used_existing_split"] is True
    again = splits.make_splits(table, tmp_path / "out2", val=0.5, test=0.0, use_existing=False)
    assert len(again["test"]) == 0 and 12 <= len(again["val"]) <= 18


# ----------------------------------------------------------------------------- several labels per image
ML_LABELS = ["acne", "erythema", "hyperpigmentation", "wrinkles"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """A `simulate --task multilabel` folder of 300 small faces (about 2 s)."""
    out = tmp_path_factory.mktemp("faces") / "ml"
    proc = subprocess.run([sys.executable, "-m", "auxiliary", "simulate", "--task", "multilabel", "--out", str(out),
                           "--n", "300", "--size", "32", "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_multilabel_faces_split_keeps_label_shares_and_groups(faces, tmp_path):
    table, report = readers.read_dataset(faces, progress=False)
    labels = report.labels
    assert labels == ML_LABELS
    out = tmp_path / "split"
    result = splits.make_splits(table, out, labels=labels, val=0.2, test=0.2, seed=0, check_duplicates=False,
                                progress=False)
    assert sum(len(df) for df in result.values()) == len(table)
    assert json.loads((out / "classes.json").read_text()) == {"classes": ML_LABELS, "task": "multilabel"}
    assert readers.split_task(out) == "multilabel"
    report = splits.read_report(out)
    assert report["task"] == "multilabel" and report["leakage"] == 0
    shares = pd.DataFrame(report["label_shares"])
    assert (shares.max(axis=1) - shares.min(axis=1)).max() < 0.06, shares  # every label, every split
    assert abs(report["sizes"]["test"] / len(table) - 0.2) < 0.06
    assert splits.leakage(result, "group")["count"] == 0
    tables, classes = readers.load_split(out)
    assert classes == ML_LABELS
    for s, df in tables.items():
        assert [df[c].dtype.kind for c in ML_LABELS] == ["i"] * 4
        np.testing.assert_array_equal(df[ML_LABELS].to_numpy(), result[s][ML_LABELS].to_numpy())
    # the same table and seed give the same split; a single-label split folder says single
    again = splits.make_splits(table, tmp_path / "again", labels=labels, val=0.2, test=0.2, seed=0,
                               check_duplicates=False, progress=False)
    assert again["val"]["path"].tolist() == result["val"]["path"].tolist()


def test_labels_csv_split_and_exact_duplicates_grouped(tmp_path):
    rows = [f"img_{i}.png,{['acne', 'wrinkles', 'acne|wrinkles', ''][i % 4]},g{i}" for i in range(24)]
    csv = ml_csv(tmp_path / "d", "path,labels,group", rows)
    twin = tmp_path / "d" / "img_23.png"
    twin.write_bytes((tmp_path / "d" / "img_0.png").read_bytes())  # byte-identical twin in another group
    table, report = readers.read_dataset(csv, progress=False)
    labels = report.labels
    result = splits.make_splits(table, tmp_path / "s", labels=labels, val=0.25, test=0.25, seed=1, progress=False)
    where = {p: s for s, df in result.items() for p in df["path"]}
    assert where[str(twin)] == where[str(tmp_path / "d" / "img_0.png")]
    report = splits.read_report(tmp_path / "s")
    assert report["merged_exact_duplicate_groups"] == 1 and report["duplicates"]["exact"] == 0
    assert set(report["counts"]["train"]) == {"acne", "wrinkles"}
    with pytest.raises(splits.SplitError, match="already holds a split"):
        splits.make_splits(table, tmp_path / "s", labels=labels, progress=False)


def test_medmnist_file_keeps_its_split_unless_asked(tmp_path):
    src = label_set_npz(tmp_path / "chestlike.npz")
    table, report = readers.read_dataset(src, progress=False)
    labels = report.labels
    assert labels == ["label_0", "label_1", "label_2"] and len(table) == 18
    kept = splits.make_splits(table, tmp_path / "own", labels=labels, progress=False, check_duplicates=False)
    assert [len(kept[s]) for s in ("train", "val", "test")] == [6, 6, 6]
    assert splits.read_report(tmp_path / "own")["used_existing_split"]
    redone = splits.make_splits(table, tmp_path / "new", labels=labels, use_existing=False, val=0.2, test=0.2,
                                progress=False, check_duplicates=False)
    assert len(redone["train"]) > 6 and "split" not in redone["train"]


def test_oversampling_and_bad_split_files_are_refused(faces, tmp_path):
    table, report = readers.read_dataset(faces, progress=False)
    labels = report.labels
    out = tmp_path / "s"
    splits.make_splits(table.iloc[:40], out, labels=labels, progress=False, check_duplicates=False)
    with pytest.raises(balance.OversampleError, match="single-label"):
        balance.oversample(out, 50)
    train = pd.read_csv(out / "train.csv")
    train.loc[0, "acne"] = 2
    train.to_csv(out / "train.csv", index=False)
    with pytest.raises(DatasetError, match="must hold 0 or 1"):
        readers.load_split(out)
    (out / "classes.json").write_text(json.dumps({"classes": labels, "task": "regression"}))
    with pytest.raises(DatasetError, match="unknown task"):
        readers.split_task(out)
    (out / "classes.json").write_text(json.dumps({"classes": labels}))
    assert readers.split_task(out) == "single"  # absent: single
