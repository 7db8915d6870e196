"""auxiliary.data.balance: sample and class weights, the sampled class prior, oversampling train only, label- and
tone-balanced weights of label sets, expected draws of both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from data_fixtures import class_targets, grouped_multilabel_table

from auxiliary.base.config import DataConfig
from auxiliary.data import balance, loaders, readers, splits
from auxiliary.data import report as report_mod

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
ML_LABELS = ["acne", "pigment", "wrinkles"]


@pytest.fixture(scope="module")
def ml_table() -> pd.DataFrame:
    """A table with several labels per image, in groups (data_fixtures.grouped_multilabel_table)."""
    return grouped_multilabel_table()


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
    targets = class_targets(tables2["train"], classes)
    loaders.build_loader(tables2["train"], targets=targets, img_size=16, mean=MEAN, std=STD, train=True, data_cfg=cfg,
                         batch_size=4)
    with pytest.raises(report_mod.DatasetError, match="oversampled"):
        loaders.build_loader(tables2["train"], targets=targets, img_size=16, mean=MEAN, std=STD, train=False,
                             data_cfg=cfg, batch_size=4)
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


# ----------------------------------------------------------------------------- several labels per image
def test_label_weights_give_every_label_a_fair_share(ml_table):
    w = balance.label_balance_weights(ml_table, ML_LABELS)
    assert w.shape == (len(ml_table),) and np.isclose(w.sum(), 1) and (w > 0).all()
    shares = balance.expected_shares(ml_table, ML_LABELS, w)
    plain = balance.expected_shares(ml_table, ML_LABELS, np.ones(len(ml_table)))
    assert (shares >= 1 / (len(ML_LABELS) + 1) - 1e-9).all(), shares
    assert shares["wrinkles"] > 3 * plain["wrinkles"]


def test_label_weight_rule_by_hand():
    t = pd.DataFrame({"a": [1, 1, 1, 0], "b": [0, 1, 0, 0]})
    # n(a)=3, n(b)=1, n(none)=1: rows weigh max(1/3), max(1/3, 1), 1/3, 1  -> / (8/3)
    assert np.allclose(balance.label_balance_weights(t, ["a", "b"]), np.array([1, 3, 1, 3]) / 8)


def test_tone_and_label_balanced_weights(ml_table):
    t = ml_table.copy()
    t.loc[t["tone_group"] == "dark", "tone_group"] = np.where(
        np.arange((t["tone_group"] == "dark").sum()) % 4 == 0, "dark", "intermediate")
    w = balance.label_balance_weights(t, ML_LABELS, tone_col="tone_group")
    by_tone = pd.Series(w).groupby(t["tone_group"].to_numpy()).sum()
    assert np.allclose(by_tone.to_numpy(), 1 / 3)
    for tone in by_tone.index:
        m = (t["tone_group"] == tone).to_numpy()
        shares = balance.expected_shares(t[m], ML_LABELS, w[m])
        present = [lab for lab in ML_LABELS if t.loc[m, lab].any()]
        assert (shares[present] >= 1 / (len(present) + 1) - 1e-9).all()
    assert np.allclose(balance.label_balance_weights(t, ML_LABELS, tone_col="auto"), w)
    with pytest.raises(Exception, match="tone column"):
        balance.label_balance_weights(t, ML_LABELS, tone_col="fitzpatrick")


def test_balance_modes_of_a_multilabel_table():
    table = pd.DataFrame({"a": [1, 0, 0, 0, 0, 0], "b": [0, 1, 1, 1, 1, 0],
                          "tone_group": ["dark", "dark", "light", "light", "light", "light"]})
    assert balance.label_sample_weights(table, ["a", "b"], "none") is None
    w = balance.label_sample_weights(table, ["a", "b"], "class")
    assert balance.expected_shares(table, ["a", "b"], w)["a"] == pytest.approx(1 / 3)
    tone = balance.label_sample_weights(table, ["a", "b"], "tone")
    assert tone[:2].sum() == pytest.approx(0.5)
    both = balance.label_sample_weights(table, ["a", "b"], "both")
    assert both[:2].sum() == pytest.approx(0.5) and both.sum() == pytest.approx(1)
    with pytest.raises(report_mod.DatasetError, match="unknown balance"):
        balance.label_sample_weights(table, ["a", "b"], "labels")


def test_expected_draws_of_both_kinds_of_tables():
    """One function counts what a sampler draws per class (one class per image) or per label (plus no label)."""
    single = pd.DataFrame({"label": ["a"] * 6 + ["b"] * 2})
    plain = balance.expected_draws(single, ["a", "b"], None)
    assert plain.to_dict() == {"a": 6.0, "b": 2.0}
    even = balance.expected_draws(single, ["a", "b"], balance.sample_weights(single, "class"))
    assert even.to_dict() == pytest.approx({"a": 4.0, "b": 4.0})
    assert balance.expected_draws(single, ["a", "b"], None).equals(
        balance.balanced_counts(single, "none").reindex(["a", "b"]).rename("draws"))
    sets = pd.DataFrame({"label": ["a", "a|b", "none", "none"], "a": [1, 1, 0, 0], "b": [0, 1, 0, 0]})
    assert balance.expected_draws(sets, ["a", "b"], None).to_dict() == {"a": 2.0, "b": 1.0, "no label": 2.0}
    assert list(balance.expected_draws(sets.iloc[:0], ["a", "b"], None).index) == ["a", "b", "no label"]


def test_real_rows_merged_into_a_synthetic_list_are_drawn_real_weight_times_as_often():
    table = pd.DataFrame({"label": ["a", "a", "b", "b"], "origin": ["", "feedback", "", "pseudo"]})
    w = balance.with_real_weight(table, balance.sample_weights(table, "class"), 10.0)
    assert w.sum() == pytest.approx(1.0) and w[1] == pytest.approx(10 * w[0]) and w[3] == pytest.approx(10 * w[2])
    uniform = balance.with_real_weight(table, None, 4.0)
    assert uniform.tolist() == pytest.approx([1 / 10, 4 / 10, 1 / 10, 4 / 10])
    plain = table.assign(origin="")
    assert balance.with_real_weight(plain, None, 10.0) is None  # no real row: the sampler is left as it was
    assert balance.with_real_weight(table.drop(columns="origin"), None, 10.0) is None
