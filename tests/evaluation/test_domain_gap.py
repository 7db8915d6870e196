"""auxiliary.evaluation.domain_gap: KID is ~0 for one distribution and grows with the shift between two."""

from __future__ import annotations

import numpy as np
import pytest

from auxiliary.evaluation import domain_gap


def test_same_distribution_is_near_zero_and_shift_grows():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    same, _ = domain_gap.kid(a, b, subsets=20, subset_size=100)
    shifts = [domain_gap.kid(a, b + s, subsets=20, subset_size=100)[0] for s in (0.25, 0.5, 1.0)]
    assert abs(same) < 0.02
    assert same < shifts[0] < shifts[1] < shifts[2]


def test_unbiased_estimator_averages_to_zero():
    rng = np.random.default_rng(1)
    vals = [domain_gap.polynomial_mmd2(rng.normal(size=(20, 8)), rng.normal(size=(20, 8))) for _ in range(300)]
    assert abs(np.mean(vals)) < 3 * np.std(vals) / np.sqrt(len(vals))  # no bias: negative values occur
    assert min(vals) < 0


def test_by_class_and_bad_input():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 4)), rng.normal(size=(30, 4))
    xl = np.array(["a"] * 20 + ["b"] * 20)
    yl = np.array(["a"] * 29 + ["c"])
    out = domain_gap.kid_by_class(x, xl, y, yl, ["a", "b", "c"], subsets=5, subset_size=10)
    assert out["a"] is not None and out["b"] is None and out["c"] is None and out["all"] is not None
    with pytest.raises(domain_gap.DomainGapError, match="same width"):
        domain_gap.kid(x, rng.normal(size=(10, 5)))
    with pytest.raises(domain_gap.DomainGapError, match="at least 2"):
        domain_gap.kid(x[:1], y)
