"""auxiliary.data.stratification: which split each row goes to; here the iterative stratification of whole groups of
a table with several labels per image (the single-label assignment: test_splits.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from data_fixtures import grouped_multilabel_table

from auxiliary.data import stratification
from auxiliary.data.splits import SplitError, label_shares, leakage

LABELS = ["acne", "pigment", "wrinkles"]


def split_tables(table: pd.DataFrame, labels: list[str], **kw) -> dict[str, pd.DataFrame]:
    """The train/val/test tables of an iterative, grouped assignment (dropped rows left out)."""
    names, _ = stratification.assign_splits(table, labels=labels, **kw)
    return {s: table.loc[names == s].reset_index(drop=True) for s in ("train", "val", "test")}


@pytest.fixture(scope="module")
def table():
    t = grouped_multilabel_table()
    assert 300 <= len(t) <= 450
    Y = t[LABELS].to_numpy()
    assert (Y.sum(axis=1) == 0).mean() > 0.3 and (Y.sum(axis=1) >= 2).any()
    return t


def test_labels_keep_their_share_in_every_split(table):
    parts = split_tables(table, LABELS, val=0.2, test=0.2, seed=0)
    shares = label_shares(parts, LABELS)
    overall = table[LABELS].mean()
    for lab in LABELS:
        for s in ("train", "val", "test"):
            assert abs(shares.loc[lab, s] - overall[lab]) < 0.04, (lab, s, shares)
        assert abs(shares.loc["no label", s] - (table[LABELS].sum(axis=1) == 0).mean()) < 0.04


def test_no_group_in_two_splits_and_every_row_once(table):
    parts = split_tables(table, LABELS, val=0.2, test=0.1, seed=1)
    assert leakage(parts)["count"] == 0
    assert sum(len(df) for df in parts.values()) == len(table)
    assert sorted(pd.concat(parts.values())["path"]) == sorted(table["path"])


@pytest.mark.parametrize("val,test", [(0.2, 0.1), (0.15, 0.15), (0.3, 0.0), (0.0, 0.25)])
def test_sizes_close_to_the_fractions(table, val, test):
    parts = split_tables(table, LABELS, val=val, test=test, seed=2)
    n = len(table)
    for s, f in (("val", val), ("test", test), ("train", 1 - val - test)):
        assert abs(len(parts[s]) / n - f) < 0.03, (s, len(parts[s]), f)
    if test == 0:
        assert len(parts["test"]) == 0


def test_deterministic_for_a_seed_and_seed_matters(table):
    a = split_tables(table, LABELS, seed=5)
    b = split_tables(table, LABELS, seed=5)
    c = split_tables(table, LABELS, seed=6)
    for s in a:
        pd.testing.assert_frame_equal(a[s], b[s])
    assert any(set(a[s]["group"]) != set(c[s]["group"]) for s in a)


def test_rare_label_reaches_every_split():
    """A label held by only 5 groups (wanted 3 / 1 / 1) lands in each of the three splits."""
    rows = [{"path": f"p{i}", "group": f"g{i}", "rare": int(i < 5), "common": int(i % 2 == 0)} for i in range(60)]
    for seed in range(5):
        parts = split_tables(pd.DataFrame(rows), ["rare", "common"], val=0.2, test=0.2, seed=seed)
        assert [int(parts[s]["rare"].sum()) for s in ("train", "val", "test")] == [3, 1, 1]


def test_augmented_rows_follow_their_group_into_train(table):
    t = table.copy()
    t["is_augmented"] = False
    extra = t.iloc[:20].assign(is_augmented=True, path=lambda d: d["path"] + "_aug")
    parts = split_tables(pd.concat([t, extra], ignore_index=True), LABELS, seed=0)
    train_groups = set(parts["train"]["group"])
    assert not parts["val"]["is_augmented"].any() and not parts["test"]["is_augmented"].any()
    kept = parts["train"]["is_augmented"].sum()
    assert kept == sum(g in train_groups for g in extra["group"])


def test_bad_requests_are_refused(table):
    with pytest.raises(SplitError, match="exceed 1"):
        split_tables(table, LABELS, val=0.6, test=0.5)
    with pytest.raises(SplitError, match="group column"):
        split_tables(table, LABELS, group_col="patient")
    with pytest.raises(SplitError, match="empty"):
        split_tables(table.iloc[:0], LABELS)
