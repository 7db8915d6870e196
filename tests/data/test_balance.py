"""auxiliary.data.balance: sample and class weights, the sampled class prior, oversampling train only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from auxiliary.base.config import DataConfig
from auxiliary.data import balance, loaders, readers, splits
from auxiliary.data import report as report_mod

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


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


def test_sampled_class_prior_follows_the_sampler():

    table = pd.DataFrame({"label": ["a"] * 6 + ["b"] * 3 + ["c"] * 1})
    assert balance.sampled_class_prior(table, ["a", "b", "c"], "none").tolist() == pytest.approx([0.6, 0.3, 0.1])
    assert balance.sampled_class_prior(table, ["a", "b", "c"], "class").tolist() == pytest.approx([1 / 3] * 3)
    assert balance.sampled_class_prior(table, ["a", "b", "c", "d"], "none").tolist() == pytest.approx(
        [0.6, 0.3, 0.1, 0.0])
