"""auxiliary.evaluation.calibration: reliability bins, ECE, temperature scaling; per-label temperatures and ECE."""

from __future__ import annotations

import numpy as np
import pytest
from _tiny_runs import EXAMPLE_LABELS, EXAMPLE_PROBS

from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation import calibration
from auxiliary.evaluation.arrays import MetricsInputError
from auxiliary.evaluation.calibration import (
    fit_label_temperatures,
    label_calibration,
    label_ece,
    label_reliability,
    sigmoid,
)

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


# ----------------------------------------------------------------------------- several labels per image
def _calibrated(n: int, scale: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose true probability is sigmoid(z); returned multiplied by ``scale`` (over-confident when > 1)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return z * scale, y


def test_sigmoid_matches_formula_and_temperatures_per_label():
    z = np.array([[0.0, 2.0], [-3.0, 40.0]])
    p = sigmoid(z, [1.0, 2.0])
    assert p[0, 0] == pytest.approx(0.5)
    assert p[0, 1] == pytest.approx(1 / (1 + np.exp(-1.0)))
    assert p[1, 0] == pytest.approx(1 / (1 + np.exp(3.0)))
    assert p[1, 1] == pytest.approx(1.0)
    assert np.allclose(sigmoid(z), sigmoid(z, 1.0))
    with pytest.raises(MetricsInputError):
        sigmoid(z, [1.0, 2.0, 3.0])
    with pytest.raises(MetricsInputError):
        sigmoid(z, [1.0, 0.0])


def test_fitted_temperature_recovers_each_labels_overconfidence():
    z1, y1 = _calibrated(4000, 3.0, seed=1)  # over-confident by 3x -> T ~ 3
    z2, y2 = _calibrated(4000, 1.0, seed=2)  # calibrated -> T ~ 1
    t = fit_label_temperatures(np.stack([z1, z2], 1), np.stack([y1, y2], 1))
    assert t[0] == pytest.approx(3.0, rel=0.15)
    assert t[1] == pytest.approx(1.0, rel=0.15)


def test_temperature_of_a_one_class_label_is_one():
    z = np.random.default_rng(0).normal(size=(50, 2))
    y = np.zeros((50, 2), dtype=int)
    y[:25, 1] = 1
    t = fit_label_temperatures(z, y)
    assert t[0] == 1.0 and t[1] != 1.0


def test_scaling_lowers_per_label_ece():
    z, y = _calibrated(4000, 4.0, seed=3)
    before = label_ece(y, sigmoid(z))
    t = fit_label_temperatures(z, y)
    after = label_ece(y, sigmoid(z, t))
    assert after < before / 2
    assert after < 0.03


def test_reliability_bins_count_every_row_and_report_a_known_gap():
    p = np.array([0.05, 0.05, 0.95, 0.95])
    y = np.array([0, 1, 1, 1])
    tab = label_reliability(y, p, n_bins=10)
    assert tab["count"].sum() == 4
    low = tab.iloc[0]
    assert low["frequency"] == pytest.approx(0.5) and low["gap"] == pytest.approx(0.45)
    assert label_ece(y, p, n_bins=10) == pytest.approx((2 * 0.45 + 2 * 0.05) / 4)


def test_label_calibration_table_has_rows_per_label_and_macro():
    rng = np.random.default_rng(4)
    P = rng.random((200, 3))
    Y = (rng.random((200, 3)) < P).astype(int)
    tab = label_calibration(Y, P, ["a", "b", "c"])
    assert list(tab.index) == ["a", "b", "c", "macro"]
    assert (tab.loc[["a", "b", "c"], "n"] == 200).all()
    assert tab.loc["macro", "ece"] == pytest.approx(tab.loc[["a", "b", "c"], "ece"].mean())
    assert tab.loc["a", "brier"] == pytest.approx(np.mean((P[:, 0] - Y[:, 0]) ** 2))
    with pytest.raises(MetricsInputError):
        label_calibration(Y, P, ["a", "b"])
