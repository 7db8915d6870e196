"""Calibration: softmax with temperature, fitting the temperature, expected calibration error, reliability tables.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from auxiliary.evaluation.arrays import MetricsInputError, as_arrays


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    idx = np.asarray(labels, dtype=int)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(idx)), idx], 1e-12, None))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising validation negative log-likelihood (bounded scalar search)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    if len(labels) == 0:
        return 1.0
    res = minimize_scalar(
        lambda log_t: nll(logits, labels, float(np.exp(log_t))),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(res.x))


def expected_calibration_error(y_true: Any, probs: Any, n_bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| weighted by bin size."""
    tab = reliability_table(y_true, probs, n_bins=n_bins)
    n = tab["count"].sum()
    if n == 0:
        return math.nan
    filled = tab[tab["count"] > 0]
    return float((filled["count"] * (filled["accuracy"] - filled["confidence"]).abs()).sum() / n)


def reliability_table(y_true: Any, probs: Any, n_bins: int = 15) -> pd.DataFrame:
    """One row per confidence bin ``(lower, upper]``: count, mean confidence, accuracy, gap (accuracy - confidence)."""
    if n_bins < 1:
        raise MetricsInputError(f"n_bins must be at least 1, got {n_bins}")
    y, p = as_arrays(y_true, probs)
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    correct = (p.argmax(axis=1) == y) if len(p) else np.zeros(0, dtype=bool)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds confidences in (edges[b], edges[b+1]]; a confidence of exactly 0 goes to bin 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        cnt = int(m.sum())
        c = float(conf[m].mean()) if cnt else math.nan
        a = float(correct[m].mean()) if cnt else math.nan
        rows.append({"bin": b, "lower": edges[b], "upper": edges[b + 1], "count": cnt, "confidence": c, "accuracy": a, "gap": a - c})
    return pd.DataFrame(rows).set_index("bin")


def log_loss(y_true: Any, probs: Any, eps: float = 1e-15) -> float:
    """Mean negative log probability of the true class (NaN without samples)."""
    y, p = as_arrays(y_true, probs)
    if len(y) == 0:
        return math.nan
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], eps, None))))


# ----------------------------------------------------------------------------- calibration
def probs_to_logits(probs: Any) -> np.ndarray:
    """Log-probabilities: logits up to a per-row constant, which softmax ignores."""
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-300, None))


def apply_temperature(logits_or_probs: Any, temperature: float, *, from_probs: bool = False) -> np.ndarray:
    """Probabilities ``softmax(logits / T)``; ``from_probs=True`` rescales probabilities instead of logits."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise MetricsInputError(f"temperature must be a positive number, got {temperature}")
    z = probs_to_logits(logits_or_probs) if from_probs else np.asarray(logits_or_probs, dtype=np.float64)
    return softmax(z, temperature)


def fit_temperature_probs(y_true: Any, probs: Any) -> float:
    """Temperature fitted (minimum NLL, :func:`fit_temperature`) on probabilities.

    Use it on validation probabilities, then :func:`apply_temperature` with ``from_probs=True``
    on test probabilities of the same model.
    """
    y, p = as_arrays(y_true, probs)
    return fit_temperature(probs_to_logits(p), y)


def calibration_report(
    y_val: Any, probs_val: Any, y_test: Any, probs_test: Any, n_bins: int = 15
) -> dict[str, float]:
    """Fit T on validation, apply it on test; ECE and log loss before and after."""
    t = fit_temperature_probs(y_val, probs_val)
    after = apply_temperature(probs_test, t, from_probs=True)
    return {
        "temperature": t,
        "ece_before": expected_calibration_error(y_test, probs_test, n_bins),
        "ece_after": expected_calibration_error(y_test, after, n_bins),
        "log_loss_before": log_loss(y_test, probs_test),
        "log_loss_after": log_loss(y_test, after),
    }
