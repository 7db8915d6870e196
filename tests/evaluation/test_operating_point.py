"""auxiliary.evaluation.operating_point: the high-recall operating point, known answers and allowed misses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auxiliary.evaluation import operating_point

CLASSES = ["a", "b", "c"]


def test_high_recall_operating_point_known_answer():
    # binary problem: class "a" positive; P(a): positives .9 .8 .3 ; negatives .1 .2 .5 .4
    pa = np.array([0.9, 0.8, 0.3, 0.1, 0.2, 0.5, 0.4])
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.column_stack([pa, 1 - pa])
    op = operating_point.high_recall_operating_point(y, p, ["a", "b"], ["a"], target_recall=0.999, n_bootstrap=50)
    assert op["threshold"] == pytest.approx(0.3)  # the lowest positive: 99.9 % of 3 positives is all of them
    assert op["recall"] == 1.0
    assert op["precision"] == pytest.approx(3 / 5)  # flagged: .9 .8 .3 and negatives .5 .4
    assert op["specificity"] == pytest.approx(2 / 4)
    assert op["n_positives"] == 3 and op["n_negatives"] == 4 and op["n_flagged"] == 5
    assert op["allowed_misses"] == 0
    assert "with 3 positives, recall >= 0.999 means missing none" in op["note"]
    lo, hi = op["threshold_ci"]
    assert lo <= op["threshold"] <= hi
    assert 0 <= op["precision_ci"][0] <= op["precision_ci"][1] <= 1
    again = operating_point.high_recall_operating_point(y, p, ["a", "b"], ["a"], target_recall=0.999, n_bootstrap=50)
    assert again["threshold_ci"] == op["threshold_ci"]  # seeded bootstrap


def test_high_recall_allows_misses_with_many_positives_and_class_groups():
    rng = np.random.default_rng(0)
    n_pos = 3000  # 0.1 % of 3000 = 3 misses allowed
    score = rng.uniform(0.2, 1.0, n_pos)
    neg = rng.uniform(0.0, 0.6, 1000)
    # positives split over two classes (like mel + bcc); the summed probability is the score
    p_pos = np.column_stack([score / 2, score / 2, 1 - score])
    p_neg = np.column_stack([neg / 2, neg / 2, 1 - neg])
    y = np.concatenate([np.where(np.arange(n_pos) % 2 == 0, 0, 1), np.full(1000, 2)])
    p = np.vstack([p_pos, p_neg])
    op = operating_point.high_recall_operating_point(y, p, CLASSES, ["a", "b"], target_recall=0.999, n_bootstrap=20)
    assert op["allowed_misses"] == 3
    assert op["threshold"] == pytest.approx(np.sort(score)[3])
    assert op["recall"] == pytest.approx((n_pos - 3) / n_pos)
    assert "at most 3" in op["note"]
    none = operating_point.high_recall_operating_point(np.full(4, 2), p_neg[:4], CLASSES, "a,b", n_bootstrap=5)
    assert math.isnan(none["threshold"]) and "no samples" in none["note"]
