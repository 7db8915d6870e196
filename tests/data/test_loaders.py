"""auxiliary.data.loaders: evaluation and training loaders, the image cache, fraction, workers."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch
from _tiny_multilabel import LABELS, multilabel_folder
from data_fixtures import class_folders, class_targets

from auxiliary.base import images
from auxiliary.base.config import DataConfig
from auxiliary.data import balance, labels, loaders, readers
from auxiliary.data.report import DatasetError
from auxiliary.models import preprocess

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_eval_loader_matches_infer_preprocess_with_and_without_cache(split_dir, tmp_path):
    tables, classes = readers.load_split(split_dir)
    val = tables["val"]
    outs = []
    for cache in (False, True):
        cfg = DataConfig(cache=cache, augment="geometric", balance="class")
        dl = loaders.build_loader(val, targets=class_targets(val, classes), img_size=24, mean=MEAN, std=STD,
                                  train=False, data_cfg=cfg, batch_size=4, cache_dir=tmp_path / "cache", progress=False)
        xs, ys, idx = [], [], []
        for x, y, meta in dl:
            assert x.dtype == torch.float32 and x.shape[1:] == (3, 24, 24) and y.dtype == torch.int64
            xs.append(x)
            ys.append(y)
            idx += meta["index"].tolist()
        assert idx == list(range(len(val)))  # table order, every row once
        outs.append(torch.cat(xs))
        assert torch.cat(ys).tolist() == [classes.index(c) for c in val["label"]]
    spec = preprocess.Preprocessing(24, MEAN, STD)
    ref = np.stack([preprocess.preprocess(images.read_image(p), spec) for p in val["path"]])
    assert np.allclose(outs[0].numpy(), ref, atol=1e-5)
    assert np.allclose(outs[1].numpy(), ref, atol=1e-5)
    assert len(list((tmp_path / "cache").glob("images-24px-*.u8"))) == 1


def test_eval_loader_applies_the_models_geometry_with_and_without_cache(split_dir, tmp_path):
    """Issue 29: an evaluation loader given the model's geometry (resize of the shorter side, centre crop) gives
    ``preprocess``'s numbers with that spec; its cache stores the fitted images under their own key (the square
    caches keep theirs), and the training loader keeps its square resize."""
    tables, classes = readers.load_split(split_dir)
    val = tables["val"]
    spec = preprocess.Preprocessing(24, MEAN, STD, resize="shorter_side", crop_pct=0.875, interpolation="bicubic")
    ref = np.stack([preprocess.preprocess(images.read_image(p), spec) for p in val["path"]])
    for cache in (False, True):
        cfg = DataConfig(cache=cache, augment="none", balance="none")
        dl = loaders.build_loader(val, targets=class_targets(val, classes), img_size=24, mean=MEAN, std=STD,
                                  train=False, data_cfg=cfg, batch_size=4, cache_dir=tmp_path / "cache", progress=False,
                                  geometry=spec.geometry())
        assert np.allclose(torch.cat([x for x, _, _ in dl]).numpy(), ref, atol=1e-5)
    files = val["path"].astype(str).tolist()
    square = loaders.ImageCache(files, 24, tmp_path / "cache")
    fitted = loaders.ImageCache(files, 24, tmp_path / "cache", spec.geometry())
    assert fitted.exists() and not square.exists() and fitted.key != square.key
    assert loaders.ImageCache(files, 24, tmp_path / "cache", {"resize": "square"}).key == square.key
    train = loaders.build_loader(val, targets=class_targets(val, classes), img_size=24, mean=MEAN, std=STD,
                                 train=True, data_cfg=DataConfig(cache=False, augment="none", balance="none"),
                                 batch_size=len(val), geometry=spec.geometry())
    x, _, meta = next(iter(train))
    square_ref = np.stack([preprocess.preprocess(images.read_image(val["path"].iloc[int(i)]),
                                                 preprocess.Preprocessing(24, MEAN, STD)) for i in meta["index"]])
    assert np.allclose(x.numpy(), square_ref, atol=1e-5)


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


def test_image_cache_defaults_to_the_cache_folder(tmp_path, monkeypatch):
    """Issue 28: decoded images go to ``images/`` of the cache folder (``AUXILIARY_CACHE``), never to ``data/``;
    ``clear_cache`` empties the same folder."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("AUXILIARY_CACHE", str(tmp_path / "cache"))
    files = sorted(str(p) for p in class_folders(tmp_path / "ds", n_per_class=1).rglob("*.png"))
    cache = loaders.ImageCache(files, 16).build(progress=False)
    assert cache.file.parent == tmp_path / "cache" / "images" and cache.exists()
    assert not (tmp_path / "outputs").exists()
    assert loaders.clear_cache() == cache.nbytes and not cache.exists()


def test_train_loader_augments_balances_and_fraction(split_dir):
    tables, classes = readers.load_split(split_dir)
    train = tables["train"]
    cfg = DataConfig(cache=False, augment="geometric", balance="class", fraction=1.0)
    targets, weights = class_targets(train, classes), balance.sample_weights(train, cfg.balance)
    dl = loaders.build_loader(train, targets=targets, weights=weights, img_size=32, mean=MEAN, std=STD, train=True,
                              data_cfg=cfg, batch_size=5, seed=1, drop_last=True)
    x, y, meta = next(iter(dl))
    assert x.shape == (5, 3, 32, 32) and len(meta["index"]) == 5 and meta["is_augmented"].dtype == torch.bool
    assert isinstance(dl.sampler, torch.utils.data.WeightedRandomSampler)
    again = loaders.build_loader(train, targets=targets, weights=weights, img_size=32, mean=MEAN, std=STD,
                                 train=True, data_cfg=cfg, batch_size=5, seed=1, drop_last=True)
    x2, _, m2 = next(iter(again))
    assert m2["index"].tolist() == meta["index"].tolist() and torch.allclose(x, x2)  # same seed, same batch
    half = dataclasses.replace(cfg, fraction=0.5, balance="none")
    dl_half = loaders.build_loader(train, targets=targets, img_size=32, mean=MEAN, std=STD, train=True,
                                   data_cfg=half, batch_size=64)
    assert len(dl_half.dataset) == sum(max(1, round(0.5 * n)) for n in train["label"].value_counts())
    got = train.iloc[dl_half.dataset.indices]["label"].value_counts()
    assert set(got.index) == set(train["label"])  # stratified: every class kept


def test_loader_with_workers(split_dir):
    tables, classes = readers.load_split(split_dir)
    cfg = DataConfig(cache=True, augment="color", balance="both", num_workers=1)
    train = tables["train"]
    dl = loaders.build_loader(train, targets=class_targets(train, classes), img_size=16, mean=MEAN, std=STD,
                              weights=balance.sample_weights(train, cfg.balance), train=True, data_cfg=cfg,
                              batch_size=4, progress=False)
    n = sum(len(y) for _, y, _ in dl)
    assert n == len(tables["train"])


def test_loader_targets_are_float_label_vectors(tmp_path):
    """Label-set targets (computed above the data room, here by hand) come out as float (B, L) rows, drawn by the
    label-balanced weights given."""
    table, report = readers.read_dataset(multilabel_folder(tmp_path / "d", n=20), progress=False)
    assert report.labels == LABELS
    cfg = DataConfig(cache=False, augment="none", balance="both")
    targets = labels.label_matrix(table, LABELS).astype(np.float32)
    loader = loaders.build_loader(table, targets=targets, weights=balance.label_sample_weights(table, LABELS, "both"),
                                  img_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, train=True, data_cfg=cfg, batch_size=8,
                                  progress=False)
    x, y, meta = next(iter(loader))
    assert x.shape == (8, 3, 32, 32) and y.shape == (8, 3) and y.dtype == torch.float32
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
    assert isinstance(loader.sampler, torch.utils.data.WeightedRandomSampler)
    ev = loaders.build_loader(table, targets=targets, img_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, train=False,
                              data_cfg=cfg, batch_size=20, progress=False)
    _, y_all, meta = next(iter(ev))
    np.testing.assert_array_equal(y_all.numpy(), table[LABELS].to_numpy(dtype=np.float32))
    single = loaders.ImageDataset(table, np.zeros(len(table), dtype=np.int64))
    assert isinstance(single[0][1], int)  # class-index targets stay ints
    with pytest.raises(DatasetError, match="targets must be numbers"):
        loaders.ImageDataset(table, np.asarray(["acne"] * len(table)))
    with pytest.raises(DatasetError, match="one per row"):
        loaders.ImageDataset(table, targets[:3])
    with pytest.raises(DatasetError, match="sampling weights"):
        loaders.build_loader(table, targets=targets, weights=np.ones(3), img_size=32, mean=(0.5,) * 3,
                             std=(0.5,) * 3, train=True, data_cfg=cfg, batch_size=8, progress=False)
