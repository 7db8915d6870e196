"""auxiliary.data: every dataset format, bad-input reports, the table, cache, loaders, balancing, oversampling."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from data_fixtures import (
    CLASSES,
    class_folders,
    grouped_table_dataset,
    ham_layout,
    isic_layout,
    medmnist_npz,
    noise_image,
    save,
    split_folders,
    synthetic_layout,
)

from auxiliary import images, layout
from auxiliary.config import DataConfig
from auxiliary.data import balance, formats, loaders, probe, readers, splits
from auxiliary.data import report as report_mod
from auxiliary.errors import AuxiliaryError
from auxiliary.inference import preprocess
from auxiliary.tone import TONE_GROUPS, ita_from_lab, rgb_to_lab
from auxiliary.viz import plots_data, widgets

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _check_table(table: pd.DataFrame) -> None:
    for col in readers.CORE_COLUMNS:
        assert col in table.columns, col
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in table["path"])
    assert table["is_augmented"].dtype == bool and not table["is_augmented"].any()
    assert set(table["tone_group"]) <= {*TONE_GROUPS, "unknown"}
    assert set(table["tone_group_est"]) <= {*TONE_GROUPS, "unknown"}


# ------------------------------------------------------------------ formats
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


def test_existing_split_folders_are_kept(tmp_path):
    root = split_folders(tmp_path / "ds")
    table, _ = readers.read_dataset(root, format="auto")
    assert table["split"].value_counts().to_dict() == {"train": 18, "val": 6, "test": 6}
    result = splits.make_splits(table, tmp_path / "out", val=0.5, test=0.0)
    assert {k: len(v) for k, v in result.items()} == {"train": 18, "val": 6, "test": 6}
    assert splits.read_report(tmp_path / "out")["used_existing_split"] is True
    again = splits.make_splits(table, tmp_path / "out2", val=0.5, test=0.0, use_existing=False)
    assert len(again["test"]) == 0 and 12 <= len(again["val"]) <= 18


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
    assert set(table["label"]) <= set(formats.HAM_CLASSES)
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
    assert set(table["label"]) == set(formats.HAM_CLASSES)

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


# ------------------------------------------------------------------ bad input
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


# ------------------------------------------------------------------ split tables
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


# ------------------------------------------------------------------ loaders and cache
@pytest.fixture()
def split_dir(tmp_path):
    root = synthetic_layout(tmp_path / "syn", n_per_class=8)
    table, _ = readers.read_dataset(root)
    out = tmp_path / "split"
    splits.make_splits(table, out, val=0.25, test=0.25, seed=0)
    return out


def test_eval_loader_matches_infer_preprocess_with_and_without_cache(split_dir, tmp_path):
    tables, classes = readers.load_split(split_dir)
    val = tables["val"]
    outs = []
    for cache in (False, True):
        cfg = DataConfig(cache=cache, augment="geometric", balance="class")
        dl = loaders.build_loader(val, classes, img_size=24, mean=MEAN, std=STD, train=False, data_cfg=cfg,
                               batch_size=4, cache_dir=tmp_path / "cache", progress=False)
        xs, ys, idx = [], [], []
        for x, y, meta in dl:
            assert x.dtype == torch.float32 and x.shape[1:] == (3, 24, 24) and y.dtype == torch.int64
            xs.append(x)
            ys.append(y)
            idx += meta["index"].tolist()
        assert idx == list(range(len(val)))  # table order, every row once
        outs.append(torch.cat(xs))
        assert torch.cat(ys).tolist() == [classes.index(c) for c in val["label"]]
    ref = np.stack([preprocess.preprocess(images.read_image(p), 24, MEAN, STD) for p in val["path"]])
    assert np.allclose(outs[0].numpy(), ref, atol=1e-5)
    assert np.allclose(outs[1].numpy(), ref, atol=1e-5)
    assert len(list((tmp_path / "cache").glob("images-24px-*.u8"))) == 1


def test_cache_key_changes_with_files(tmp_path):
    root = class_folders(tmp_path / "ds", n_per_class=2)
    files = sorted(str(p) for p in root.rglob("*.png"))
    c1 = loaders.ImageCache(files, 16, tmp_path / "c").build(progress=False)
    assert c1.exists() and c1.file.stat().st_size == len(files) * 16 * 16 * 3
    assert loaders.ImageCache(files, 16, tmp_path / "c").key == c1.key
    assert loaders.ImageCache(files, 20, tmp_path / "c").key != c1.key
    assert loaders.ImageCache(files[::-1], 16, tmp_path / "c").key != c1.key
    st = os.stat(files[0])
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    c2 = loaders.ImageCache(files, 16, tmp_path / "c")
    assert c2.key != c1.key and not c2.exists()
    img = c1[0]
    assert img.shape == (16, 16, 3) and img.dtype == np.uint8
    import pickle

    clone = pickle.loads(pickle.dumps(c1))  # what DataLoader workers receive: no pixels inside
    assert clone._mm is None and np.array_equal(clone[1], c1[1])
    assert loaders.clear_cache(tmp_path / "c") == c1.nbytes


def test_train_loader_augments_balances_and_fraction(split_dir):
    tables, classes = readers.load_split(split_dir)
    train = tables["train"]
    cfg = DataConfig(cache=False, augment="geometric", balance="class", fraction=1.0)
    dl = loaders.build_loader(train, classes, img_size=32, mean=MEAN, std=STD, train=True, data_cfg=cfg,
                           batch_size=5, seed=1, drop_last=True)
    x, y, meta = next(iter(dl))
    assert x.shape == (5, 3, 32, 32) and len(meta["index"]) == 5 and meta["is_augmented"].dtype == torch.bool
    assert isinstance(dl.sampler, torch.utils.data.WeightedRandomSampler)
    again = loaders.build_loader(train, classes, img_size=32, mean=MEAN, std=STD, train=True, data_cfg=cfg,
                              batch_size=5, seed=1, drop_last=True)
    x2, _, m2 = next(iter(again))
    assert m2["index"].tolist() == meta["index"].tolist() and torch.allclose(x, x2)  # same seed, same batch
    half = dataclasses.replace(cfg, fraction=0.5, balance="none")
    dl_half = loaders.build_loader(train, classes, img_size=32, mean=MEAN, std=STD, train=True, data_cfg=half,
                                batch_size=64)
    assert len(dl_half.dataset) == sum(max(1, round(0.5 * n)) for n in train["label"].value_counts())
    got = train.iloc[dl_half.dataset.indices]["label"].value_counts()
    assert set(got.index) == set(train["label"])  # stratified: every class kept


def test_loader_with_workers(split_dir):
    tables, classes = readers.load_split(split_dir)
    cfg = DataConfig(cache=True, augment="color", balance="both", num_workers=1)
    dl = loaders.build_loader(tables["train"], classes, img_size=16, mean=MEAN, std=STD, train=True, data_cfg=cfg,
                           batch_size=4, progress=False)
    n = sum(len(y) for _, y, _ in dl)
    assert n == len(tables["train"])


def test_sample_weights_and_class_weights():
    table = pd.DataFrame({
        "label": ["a"] * 6 + ["b"] * 2 + ["c"] * 2,
        "tone_group": ["light"] * 5 + ["dark"] * 5,
        "path": [f"{i}.png" for i in range(10)],
    })
    w = balance.sample_weights(table, "class")
    assert np.isclose(w.sum(), 1)
    per_class = pd.Series(w).groupby(table["label"]).sum()
    assert np.allclose(per_class.to_numpy(), 1 / 3)
    wt = balance.sample_weights(table, "tone")
    assert np.allclose(pd.Series(wt).groupby(table["tone_group"]).sum().to_numpy(), 0.5)
    wb = balance.sample_weights(table, "both")
    assert wb[8] > wb[0]  # rare class and tone gets more
    assert np.allclose(balance.sample_weights(table, "none"), 0.1)
    with pytest.raises(report_mod.DatasetError, match="balance"):
        balance.sample_weights(table, "fair")
    cw = balance.class_weights(table, ["a", "b", "c", "d"])
    assert torch.allclose(cw, torch.tensor([10 / (4 * 6), 10 / (4 * 2), 10 / (4 * 2), 0.0]))
    # the sampler really draws classes evenly
    sampler = balance.make_sampler(table, "class", seed=0, num_samples=30000)
    drawn = table["label"].to_numpy()[list(sampler)]
    share = pd.Series(drawn).value_counts(normalize=True)
    assert np.allclose(share.sort_index().to_numpy(), 1 / 3, atol=0.02)
    assert balance.make_sampler(table, "none") is None
    assert np.allclose(balance.balanced_counts(table, "class").to_numpy(), 10 / 3)


def test_tone_falls_back_to_estimate():
    table = pd.DataFrame({"label": ["a", "b", "b"], "tone_group": ["unknown"] * 3,
                          "tone_group_est": ["dark", "light", "light"]})
    assert balance.tone_column(table) == "tone_group_est"
    w = balance.sample_weights(table, "tone")
    assert np.isclose(w[0], 0.5)


def test_estimate_tone_ignores_centre_and_dark_border():

    skin = np.array([225, 180, 160], dtype=np.uint8)
    img = np.tile(skin, (96, 96, 1))
    img[32:64, 32:64] = (90, 40, 30)  # a dark lesion in the centre
    img[:4] = 0  # black vignette
    lab = rgb_to_lab(skin[None, None])[0, 0]
    truth = float(ita_from_lab(lab[0], lab[2]))
    assert abs(probe.estimate_tone(img) - truth) < 1.0
    assert np.isnan(probe.estimate_tone(np.zeros((40, 40, 3), np.uint8)))


# ------------------------------------------------------------------ oversampling
def test_oversampling_train_only(split_dir):
    tables, classes = readers.load_split(split_dir)
    before = {s: df.copy() for s, df in tables.items()}
    val_bytes = (split_dir / "val.csv").read_bytes()
    target = int(before["train"]["label"].value_counts().max()) + 3
    new = balance.oversample(split_dir, target, preset="tone_preserving", seed=0, progress=False)
    assert (new.loc[~new["is_augmented"], "label"].value_counts() == before["train"]["label"].value_counts()).all()
    assert (new["label"].value_counts() == target).all()
    aug = new[new["is_augmented"]]
    assert len(aug) > 0
    assert all(Path(p).is_relative_to(split_dir / "oversampled") and Path(p).is_file() for p in aug["path"])
    assert set(aug["source_path"]) <= set(before["train"]["path"])
    assert set(aug["group"]) <= set(before["train"]["group"])  # copies keep their source group
    assert (split_dir / "val.csv").read_bytes() == val_bytes
    tables2, _ = readers.load_split(split_dir)
    assert splits.augmented_outside_train(tables2) == 0
    assert splits.check_split_dir(split_dir)["leakage"] == 0
    rep = json.loads((split_dir / "split_report.json").read_text())
    assert rep["oversampled"]["target"] == target
    with pytest.raises(balance.OversampleError, match="already has"):
        balance.oversample(split_dir, target)
    # the loaders: train may use them, evaluation refuses them
    cfg = DataConfig(cache=False)
    loaders.build_loader(tables2["train"], classes, img_size=16, mean=MEAN, std=STD, train=True, data_cfg=cfg, batch_size=4)
    with pytest.raises(report_mod.DatasetError, match="oversampled"):
        loaders.build_loader(tables2["train"], classes, img_size=16, mean=MEAN, std=STD, train=False, data_cfg=cfg,
                          batch_size=4)
    # ensure_oversampled is a no-op once done with the same target
    stamp = (split_dir / "train.csv").stat().st_mtime_ns
    balance.ensure_oversampled(split_dir, DataConfig(oversample_to=target))
    assert (split_dir / "train.csv").stat().st_mtime_ns == stamp


# ------------------------------------------------------------------ plots and widget
def test_plots_and_browser(split_dir):
    import matplotlib

    matplotlib.use("Agg")
    tables, _ = readers.load_split(split_dir)
    fig = plots_data.plot_balance(tables["train"], "both")
    assert len(fig.axes) == 4
    assert plots_data.plot_tone_estimate(tables["train"]) is not None
    box = widgets.dataset_browser(tables["train"], n=3, size=32)
    assert box is not None
    cls_dd, status, image = box.children[0].children[0], box.children[1], box.children[2]
    cls_dd.value = cls_dd.options[1]  # choose a class: redraws
    assert status.value.startswith(f"{(tables['train']['label'] == cls_dd.value).sum()} images: class={cls_dd.value}")
    assert image.value[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.ham10000
def test_real_ham10000_listing(ham10000):
    table, report = readers.read_dataset(ham10000, check_images=False)
    assert report.format == "ham10000" and len(table) == 5984 and report.ok
    assert sorted(table["label"].unique()) == sorted(formats.HAM_CLASSES)
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
