"""auxiliary.evaluation.calibration: reliability bins, ECE, temperature scaling."""

from __future__ import annotations

import numpy as np
import pytest
from _tiny_runs import EXAMPLE_LABELS, EXAMPLE_PROBS

from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation import calibration

Y, P = EXAMPLE_LABELS, EXAMPLE_PROBS


def test_reliability_table_bins():
    tab = calibration.reliability_table(Y, P, n_bins=2)
    # (0, .5]: .5 ok, .5 wrong ; (.5, 1]: .8 ok, .6 wrong, .7 ok, .7 ok
    assert tab["count"].tolist() == [2, 4]
    assert tab["accuracy"].tolist() == pytest.approx([0.5, 0.75])
    assert tab["confidence"].tolist() == pytest.approx([0.5, 0.7])
    assert calibration.expected_calibration_error(Y, P, n_bins=2) == pytest.approx((2 * 0 + 4 * 0.05) / 6)


def test_temperature_scaling_lowers_ece_of_an_overconfident_model():
    rng = np.random.default_rng(0)

    def sample(n):
        y = rng.integers(0, 3, n)
        logits = rng.normal(0, 1.0, (n, 3))
        logits[np.arange(n), y] += 1.0  # a weak signal ...
        return y, logits * 6.0  # ... shouted: far too confident

    y_val, z_val = sample(600)
    y_test, z_test = sample(600)
    p_val = calibration.apply_temperature(z_val, 1.0)
    p_test = calibration.apply_temperature(z_test, 1.0)
    t = calibration.fit_temperature_probs(y_val, p_val)
    assert t > 3  # it learns to soften
    calibrated = calibration.apply_temperature(p_test, t, from_probs=True)
    before = calibration.expected_calibration_error(y_test, p_test)
    after = calibration.expected_calibration_error(y_test, calibrated)
    assert after < before / 2
    assert (calibrated.argmax(1) == p_test.argmax(1)).all()  # predictions unchanged
    rep = calibration.calibration_report(y_val, p_val, y_test, p_test)
    assert rep["ece_after"] == pytest.approx(after) and rep["log_loss_after"] < rep["log_loss_before"]
    with pytest.raises(AuxiliaryError):
        calibration.apply_temperature(z_test, 0.0)


def test_temperature_fit_recovers_scale():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2000, 3)) * 3
    labels = np.array([rng.choice(3, p=p) for p in calibration.softmax(logits, 1.0)])
    t = calibration.fit_temperature(logits * 2.5, labels)  # over-confident by 2.5x
    assert abs(t - 2.5) < 0.3
