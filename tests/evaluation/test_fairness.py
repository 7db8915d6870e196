"""auxiliary.evaluation.fairness: per-group metrics, gaps and small-group flags (per-group thresholds and the gap they
close: test_thresholds.py)."""

from __future__ import annotations

import numpy as np
import pytest

from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation import fairness, metrics

CLASSES = ["acne", "erythema", "none"]


def _probs(p_acne: np.ndarray) -> np.ndarray:
    rest = (1 - p_acne) / 2
    return np.column_stack([p_acne, rest + 0.01, rest - 0.01])


def test_group_metrics_by_hand_and_small_groups_flagged():
    # light: 4 samples all right ; dark: 4 samples, 2 right ; tan: 1 sample (small)
    y = np.array([0, 1, 2, 0, 0, 1, 2, 0, 1])
    pred = np.array([0, 1, 2, 0, 1, 1, 0, 0, 2])
    p = np.full((9, 3), 0.1)
    p[np.arange(9), pred] = 0.8
    groups = ["light"] * 4 + ["dark"] * 4 + ["tan"]
    gm = fairness.group_metrics(y, p, CLASSES, groups, min_group_size=3)
    assert list(gm.index) == ["light", "tan", "dark"]  # tone-scale order
    for col in ("support", "flagged_small", "accuracy", "balanced_accuracy", "macro_f1", "macro_auroc", "ece"):
        assert col in gm.columns
    assert gm["support"].tolist() == [4, 1, 4]
    assert gm["flagged_small"].tolist() == [False, True, False]
    assert gm.loc["light", "accuracy"] == 1.0
    assert gm.loc["dark", "accuracy"] == 0.5
    # dark recalls: acne 1/2 (0->1 wrong, 0->0 right), erythema 1/1, none 0/1
    assert gm.loc["dark", "balanced_accuracy"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert gm.loc["dark", "accuracy"] == pytest.approx(metrics.summary_metrics(y[4:8], p[4:8], CLASSES)["accuracy"])

    g = fairness.gaps(gm)
    assert g.loc["accuracy", "max"] == 1.0 and g.loc["accuracy", "min"] == 0.5
    assert g.loc["accuracy", "gap"] == 0.5 and g.loc["accuracy", "ratio"] == 0.5
    assert g.loc["accuracy", "worst_group"] == "dark" and g.loc["accuracy", "best_group"] == "light"
    assert g.loc["accuracy", "n_groups"] == 2
    assert "tan (small)" in g.loc["accuracy", "excluded"]  # excluded, and said so
    assert g.attrs["excluded_small"] == ["tan"]
    # lower is better for ECE: the worst group has the maximum
    assert g.loc["ece", "worst_group"] == gm.drop(index="tan")["ece"].idxmax()


def test_group_metrics_long_is_tidy_and_gaps_accept_it():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    p = rng.dirichlet([1, 1, 1], 120)
    groups = rng.choice(["light", "dark"], 120)
    long = fairness.group_metrics_long(y, p, CLASSES, groups, min_group_size=20)
    assert list(long.columns[:4]) == ["group", "class", "metric", "value"]
    assert set(long["metric"]) == {"precision", "recall", "f1", "support", "auroc", "average_precision"}
    assert len(long) == 2 * 3 * 6
    m = groups == "dark"
    per = metrics.per_class_metrics(y[m], p[m], CLASSES)
    got = long.query("group == 'dark' and `class` == 'acne' and metric == 'recall'")["value"].item()
    assert got == pytest.approx(per.loc["acne", "recall"])
    g = fairness.gaps(long)
    assert "recall[acne]" in g.index
    assert g.loc["recall[acne]", "gap"] == pytest.approx(
        abs(per.loc["acne", "recall"] - metrics.per_class_metrics(y[~m], p[~m], CLASSES).loc["acne", "recall"])
    )


def test_missing_groups_and_nan_rows():
    y = np.array([0, 1, 2, 0])
    p = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [np.nan] * 3, [0.2, 0.7, 0.1]])
    gm = fairness.group_metrics(y, p, CLASSES, ["light", None, "light", np.nan], min_group_size=1)
    assert list(gm.index) == ["light", "unknown"]
    assert gm["support"].tolist() == [1, 2]  # the NaN row is left out
    with pytest.raises(AuxiliaryError):
        fairness.group_metrics(y, p, CLASSES, ["a", "b"])
