"""auxiliary.data.multilabel_splits: iterative stratification of whole groups, label- and tone-balanced weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auxiliary.data import multilabel_splits as ms
from auxiliary.data.splits import SplitError, leakage

LABELS = ["acne", "pigment", "wrinkles"]


def grouped_multilabel_table(n_groups: int = 150, seed: int = 0) -> pd.DataFrame:
    """1-4 rows per group; acne ~35 %, pigment ~15 %, wrinkles ~6 % (more often with pigment); ~50 % no label."""
    rng = np.random.default_rng(seed)
    rows = []
    tones = ["light", "intermediate", "dark"]
    for g in range(n_groups):
        tone = tones[g % 3]
        for j in range(int(rng.integers(1, 5))):
            acne = rng.random() < 0.35
            pig = rng.random() < 0.15
            wr = rng.random() < (0.25 if pig else 0.03)
            rows.append({"path": f"/d/g{g:03d}_{j}.png", "group": f"g{g:03d}", "tone_group": tone,
                         "acne": int(acne), "pigment": int(pig), "wrinkles": int(wr)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table():
    t = grouped_multilabel_table()
    assert 300 <= len(t) <= 450
    Y = t[LABELS].to_numpy()
    assert (Y.sum(axis=1) == 0).mean() > 0.3 and (Y.sum(axis=1) >= 2).any()
    return t


def test_labels_keep_their_share_in_every_split(table):
    parts = ms.multilabel_group_split(table, LABELS, val=0.2, test=0.2, seed=0)
    shares = ms.label_shares(parts, LABELS)
    overall = table[LABELS].mean()
    for lab in LABELS:
        for s in ("train", "val", "test"):
            assert abs(shares.loc[lab, s] - overall[lab]) < 0.04, (lab, s, shares)
        assert abs(shares.loc["no label", s] - (table[LABELS].sum(axis=1) == 0).mean()) < 0.04


def test_no_group_in_two_splits_and_every_row_once(table):
    parts = ms.multilabel_group_split(table, LABELS, val=0.2, test=0.1, seed=1)
    assert leakage(parts)["count"] == 0
    assert sum(len(df) for df in parts.values()) == len(table)
    assert sorted(pd.concat(parts.values())["path"]) == sorted(table["path"])


@pytest.mark.parametrize("val,test", [(0.2, 0.1), (0.15, 0.15), (0.3, 0.0), (0.0, 0.25)])
def test_sizes_close_to_the_fractions(table, val, test):
    parts = ms.multilabel_group_split(table, LABELS, val=val, test=test, seed=2)
    n = len(table)
    for s, f in (("val", val), ("test", test), ("train", 1 - val - test)):
        assert abs(len(parts[s]) / n - f) < 0.03, (s, len(parts[s]), f)
    if test == 0:
        assert len(parts["test"]) == 0


def test_deterministic_for_a_seed_and_seed_matters(table):
    a = ms.multilabel_group_split(table, LABELS, seed=5)
    b = ms.multilabel_group_split(table, LABELS, seed=5)
    c = ms.multilabel_group_split(table, LABELS, seed=6)
    for s in a:
        pd.testing.assert_frame_equal(a[s], b[s])
    assert any(set(a[s]["group"]) != set(c[s]["group"]) for s in a)


def test_rare_label_reaches_every_split():
    """A label held by only 5 groups (wanted 3 / 1 / 1) lands in each of the three splits."""
    rows = [{"path": f"p{i}", "group": f"g{i}", "rare": int(i < 5), "common": int(i % 2 == 0)} for i in range(60)]
    for seed in range(5):
        parts = ms.multilabel_group_split(pd.DataFrame(rows), ["rare", "common"], val=0.2, test=0.2, seed=seed)
        assert [int(parts[s]["rare"].sum()) for s in ("train", "val", "test")] == [3, 1, 1]


def test_augmented_rows_follow_their_group_into_train(table):
    t = table.copy()
    t["is_augmented"] = False
    extra = t.iloc[:20].assign(is_augmented=True, path=lambda d: d["path"] + "_aug")
    parts = ms.multilabel_group_split(pd.concat([t, extra], ignore_index=True), LABELS, seed=0)
    train_groups = set(parts["train"]["group"])
    assert not parts["val"]["is_augmented"].any() and not parts["test"]["is_augmented"].any()
    kept = parts["train"]["is_augmented"].sum()
    assert kept == sum(g in train_groups for g in extra["group"])


def test_bad_requests_are_refused(table):
    with pytest.raises(SplitError, match="exceed 1"):
        ms.multilabel_group_split(table, LABELS, val=0.6, test=0.5)
    with pytest.raises(SplitError, match="group column"):
        ms.multilabel_group_split(table, LABELS, group_col="patient")
    with pytest.raises(SplitError, match="empty"):
        ms.multilabel_group_split(table.iloc[:0], LABELS)


def test_label_weights_give_every_label_a_fair_share(table):
    w = ms.label_balance_weights(table, LABELS)
    assert w.shape == (len(table),) and np.isclose(w.sum(), 1) and (w > 0).all()
    shares = ms.expected_shares(table, LABELS, w)
    plain = ms.expected_shares(table, LABELS, np.ones(len(table)))
    assert (shares >= 1 / (len(LABELS) + 1) - 1e-9).all(), shares
    assert shares["wrinkles"] > 3 * plain["wrinkles"]


def test_label_weight_rule_by_hand():
    t = pd.DataFrame({"a": [1, 1, 1, 0], "b": [0, 1, 0, 0]})
    # n(a)=3, n(b)=1, n(none)=1: rows weigh max(1/3), max(1/3, 1), 1/3, 1  -> / (8/3)
    assert np.allclose(ms.label_balance_weights(t, ["a", "b"]), np.array([1, 3, 1, 3]) / 8)


def test_tone_and_label_balanced_weights(table):
    t = table.copy()
    t.loc[t["tone_group"] == "dark", "tone_group"] = np.where(
        np.arange((t["tone_group"] == "dark").sum()) % 4 == 0, "dark", "intermediate")
    w = ms.label_balance_weights(t, LABELS, tone_col="tone_group")
    by_tone = pd.Series(w).groupby(t["tone_group"].to_numpy()).sum()
    assert np.allclose(by_tone.to_numpy(), 1 / 3)
    for tone in by_tone.index:
        m = (t["tone_group"] == tone).to_numpy()
        shares = ms.expected_shares(t[m], LABELS, w[m])
        present = [lab for lab in LABELS if t.loc[m, lab].any()]
        assert (shares[present] >= 1 / (len(present) + 1) - 1e-9).all()
    assert np.allclose(ms.label_balance_weights(t, LABELS, tone_col="auto"), w)
    with pytest.raises(Exception, match="tone column"):
        ms.label_balance_weights(t, LABELS, tone_col="fitzpatrick")
