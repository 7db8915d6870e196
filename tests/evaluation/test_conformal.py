"""auxiliary.evaluation.conformal: prediction sets reach the requested coverage."""

from __future__ import annotations

import numpy as np

from auxiliary.evaluation import conformal


def test_conformal_sets_reach_coverage():
    rng = np.random.default_rng(0)
    n, k = 4000, 3
    logits = rng.normal(size=(n, k)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in probs])  # labels drawn from the (calibrated) probabilities
    cal, test = slice(0, 2000), slice(2000, None)
    conf = conformal.calibrate_conformal(probs[cal], y[cal], 0.9)
    covered = conf.sets(probs[test])[np.arange(2000), y[test]]
    assert 0.88 <= covered.mean() <= 0.93
    assert 0.88 <= conf.empirical_coverage <= 0.93
    assert 1.0 < conf.mean_set_size < 3.0
    assert conformal.conformal_quantile(np.array([0.1, 0.2]), 0.9) == 1.0  # too few samples: every class
