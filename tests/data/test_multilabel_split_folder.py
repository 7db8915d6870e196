"""auxiliary.data.multilabel_split_folder and the multi-label side of readers/loaders/balance: split folders of
multi-label data (synthetic faces, a labels CSV, a MedMNIST file), reading them back, loader targets, oversampling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_multilabel_read import ml_csv, npz

from auxiliary.base.config import DataConfig
from auxiliary.data import balance, loaders, multilabel_read, readers, splits
from auxiliary.data.multilabel_split_folder import make_multilabel_splits
from auxiliary.data.multilabel_splits import expected_shares
from auxiliary.data.report import DatasetError

LABELS = ["acne", "erythema", "hyperpigmentation", "wrinkles"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """A `simulate --task multilabel` folder of 300 small faces (about 2 s)."""
    out = tmp_path_factory.mktemp("faces") / "ml"
    proc = subprocess.run([sys.executable, "-m", "auxiliary", "simulate", "--task", "multilabel", "--out", str(out),
                           "--n", "300", "--size", "32", "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_synthetic_faces_split_keeps_label_shares_and_groups(faces, tmp_path):
    table, labels, _ = multilabel_read.read_multilabel_dataset(faces, progress=False)
    assert labels == LABELS
    out = tmp_path / "split"
    result = make_multilabel_splits(table, labels, out, val=0.2, test=0.2, seed=0, check_duplicates=False,
                                    progress=False)
    assert sum(len(df) for df in result.values()) == len(table)
    assert json.loads((out / "classes.json").read_text()) == {"classes": LABELS, "task": "multilabel"}
    assert readers.split_task(out) == "multilabel"
    report = splits.read_report(out)
    assert report["task"] == "multilabel" and report["leakage"] == 0
    shares = pd.DataFrame(report["label_shares"])
    assert (shares.max(axis=1) - shares.min(axis=1)).max() < 0.06, shares  # every label, every split
    assert abs(report["sizes"]["test"] / len(table) - 0.2) < 0.06
    assert splits.leakage(result, "group")["count"] == 0
    tables, classes = readers.load_split(out)
    assert classes == LABELS
    for s, df in tables.items():
        assert [df[c].dtype.kind for c in LABELS] == ["i"] * 4
        np.testing.assert_array_equal(df[LABELS].to_numpy(), result[s][LABELS].to_numpy())
    # the same table and seed give the same split; a single-label split folder says single
    again = make_multilabel_splits(table, labels, tmp_path / "again", val=0.2, test=0.2, seed=0,
                                   check_duplicates=False, progress=False)
    assert again["val"]["path"].tolist() == result["val"]["path"].tolist()


def test_labels_csv_split_and_exact_duplicates_grouped(tmp_path):
    rows = [f"img_{i}.png,{['acne', 'wrinkles', 'acne|wrinkles', ''][i % 4]},g{i}" for i in range(24)]
    csv = ml_csv(tmp_path / "d", "path,labels,group", rows)
    twin = tmp_path / "d" / "img_23.png"
    twin.write_bytes((tmp_path / "d" / "img_0.png").read_bytes())  # byte-identical twin in another group
    table, labels, _ = multilabel_read.read_multilabel_dataset(csv, progress=False)
    result = make_multilabel_splits(table, labels, tmp_path / "s", val=0.25, test=0.25, seed=1, progress=False)
    where = {p: s for s, df in result.items() for p in df["path"]}
    assert where[str(twin)] == where[str(tmp_path / "d" / "img_0.png")]
    report = splits.read_report(tmp_path / "s")
    assert report["merged_exact_duplicate_groups"] == 1 and report["duplicates"]["exact"] == 0
    assert set(report["counts"]["train"]) == {"acne", "wrinkles"}
    with pytest.raises(splits.SplitError, match="already holds a split"):
        make_multilabel_splits(table, labels, tmp_path / "s", progress=False)


def test_medmnist_file_keeps_its_split_unless_asked(tmp_path):
    src = npz(tmp_path / "chestlike.npz")
    table, labels, _ = multilabel_read.read_multilabel_dataset(src, progress=False)
    assert labels == ["label_0", "label_1", "label_2"] and len(table) == 18
    kept = make_multilabel_splits(table, labels, tmp_path / "own", progress=False, check_duplicates=False)
    assert [len(kept[s]) for s in ("train", "val", "test")] == [6, 6, 6]
    assert splits.read_report(tmp_path / "own")["used_existing_split"]
    redone = make_multilabel_splits(table, labels, tmp_path / "new", use_existing=False, val=0.2, test=0.2,
                                    progress=False, check_duplicates=False)
    assert len(redone["train"]) > 6 and "split" not in redone["train"]


def test_loader_targets_are_float_label_vectors(faces, tmp_path):
    table, labels, _ = multilabel_read.read_multilabel_dataset(faces, progress=False)
    table = table.iloc[:20].reset_index(drop=True)
    cfg = DataConfig(cache=False, augment="none", balance="both")
    loader = loaders.build_loader(table, labels, img_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, train=True,
                                  data_cfg=cfg, batch_size=8, task="multilabel", progress=False)
    x, y, meta = next(iter(loader))
    assert x.shape == (8, 3, 32, 32) and y.shape == (8, 4) and y.dtype == torch.float32
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
    assert isinstance(loader.sampler, torch.utils.data.WeightedRandomSampler)
    ev = loaders.build_loader(table, labels, img_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, train=False,
                              data_cfg=cfg, batch_size=20, task="multilabel", progress=False)
    _, y_all, meta = next(iter(ev))
    np.testing.assert_array_equal(y_all.numpy(), table[labels].to_numpy(dtype=np.float32))
    single = loaders.ImageDataset(table.assign(label="acne"), ["acne", "none"])
    assert isinstance(single[0][1], int)  # single-label targets unchanged
    with pytest.raises(DatasetError, match="unknown task"):
        loaders.ImageDataset(table, labels, task="multi")


def test_balance_modes_of_a_multilabel_table():
    from auxiliary.data.multilabel_splits import multilabel_sample_weights

    table = pd.DataFrame({"a": [1, 0, 0, 0, 0, 0], "b": [0, 1, 1, 1, 1, 0],
                          "tone_group": ["dark", "dark", "light", "light", "light", "light"]})
    assert multilabel_sample_weights(table, ["a", "b"], "none") is None
    w = multilabel_sample_weights(table, ["a", "b"], "class")
    assert expected_shares(table, ["a", "b"], w)["a"] == pytest.approx(1 / 3)
    tone = multilabel_sample_weights(table, ["a", "b"], "tone")
    assert tone[:2].sum() == pytest.approx(0.5)
    both = multilabel_sample_weights(table, ["a", "b"], "both")
    assert both[:2].sum() == pytest.approx(0.5) and both.sum() == pytest.approx(1)
    with pytest.raises(DatasetError, match="unknown balance"):
        multilabel_sample_weights(table, ["a", "b"], "labels")


def test_oversampling_and_bad_split_files_are_refused(faces, tmp_path):
    table, labels, _ = multilabel_read.read_multilabel_dataset(faces, progress=False)
    out = tmp_path / "s"
    make_multilabel_splits(table.iloc[:40], labels, out, progress=False, check_duplicates=False)
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
