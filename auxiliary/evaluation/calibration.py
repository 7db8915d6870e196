"""Calibration: temperatures fitted on validation, calibration errors and reliability tables, for both tasks.

One class per image: ``softmax(logits / T)`` with one temperature (:func:`fit_temperature`), the top-label
expected calibration error (:func:`expected_calibration_error`) and its reliability table (confidence of the top
class against accuracy).

Several labels per image: each label is its own yes/no question, so each gets **its own temperature** ``T_j``
(probability ``sigmoid(logit_j / T_j)``), fitted by minimising the label's binary negative log-likelihood on
validation logits (:func:`fit_label_temperatures`); one shared temperature would let the label the model is most
over-confident about set the scale for all of them. :func:`label_calibration` reports, per label, the
"class-wise" ECE of the positive-class probability, the Brier score and the mean predicted vs observed prevalence;
:func:`label_reliability` gives the bins of one label for a reliability diagram.

Both reliability tables bin the same way (equal-width bins ``(lower, upper]``, a score of exactly 0 in the first),
and both ECEs are the bin-size-weighted mean of ``|observed - predicted|`` (:func:`binned`, :func:`binned_ece`);
both temperatures are a bounded search over ``log T`` (:func:`fit_log_scale`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from auxiliary.evaluation.arrays import MetricsInputError, as_arrays

#: Search range of a temperature (one class per image, or one label).
TEMPERATURE_BOUNDS: tuple[float, float] = (0.05, 20.0)


# ----------------------------------------------------------------------------- probabilities
def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _matrix(a: Any, name: str) -> np.ndarray:
    m = np.asarray(a, dtype=np.float64)
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2:
        raise MetricsInputError(f"{name} must be a (samples, labels) array, got shape {m.shape}")
    return m


def sigmoid(logits: Any, temperatures: Sequence[float] | float | None = None) -> np.ndarray:
    """Probabilities ``sigmoid(logit_j / T_j)`` of (N, L) logits; ``temperatures`` one per label, one for all, or None (1)."""
    z = _matrix(logits, "logits")
    if temperatures is not None:
        t = np.broadcast_to(np.asarray(temperatures, dtype=np.float64).reshape(-1), (z.shape[1],)) \
            if np.size(temperatures) in (1, z.shape[1]) else None
        if t is None:
            raise MetricsInputError(f"{np.size(temperatures)} temperatures for {z.shape[1]} labels")
        if not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise MetricsInputError(f"temperatures must be positive and finite, got {list(np.ravel(t))}")
        z = z / t[None, :]
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # numerically stable sigmoid


# ----------------------------------------------------------------------------- fitting temperatures
def fit_log_scale(nll: Callable[[float], float], bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature minimising ``nll(T)`` (a bounded scalar search over ``log T``)."""
    res = minimize_scalar(lambda log_t: nll(float(np.exp(log_t))), bounds=(math.log(bounds[0]), math.log(bounds[1])),
                          method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    p = softmax(logits, temperature)
    idx = np.asarray(labels, dtype=int)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(idx)), idx], 1e-12, None))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature minimising validation negative log-likelihood (1.0 without rows)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=int)
    if len(labels) == 0:
        return 1.0
    return fit_log_scale(lambda t: nll(logits, labels, t), bounds)


def binary_nll(logit: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean binary negative log-likelihood of one label's logits at ``temperature``."""
    z = np.asarray(logit, dtype=np.float64) / float(temperature)
    # log(1 + exp(-z)) for positives, log(1 + exp(z)) for negatives, stably
    return float(np.mean(np.logaddexp(0.0, -z) * y + np.logaddexp(0.0, z) * (1 - y)))


def fit_label_temperatures(logits: Any, Y: Any, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> list[float]:
    """Per label, the temperature minimising validation binary NLL (1.0 for a label with one class only or no rows)."""
    z = _matrix(logits, "logits")
    y = _matrix(Y, "Y")
    if z.shape != y.shape:
        raise MetricsInputError(f"logits {z.shape} and targets {y.shape} differ in shape")
    out = []
    for j in range(z.shape[1]):
        ok = np.isfinite(z[:, j]) & np.isfinite(y[:, j])
        yj, zj = y[ok, j], z[ok, j]
        if len(yj) == 0 or yj.min() == yj.max():
            out.append(1.0)
            continue
        out.append(fit_log_scale(lambda t, zj=zj, yj=yj: binary_nll(zj, yj, t), bounds))
    return out


# ----------------------------------------------------------------------------- reliability and ECE
def binned(score: np.ndarray, outcome: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Equal-width bins ``(lower, upper]`` of ``score`` (a score of exactly 0 in the first): lower, upper, count, the
    mean score and the mean outcome of each bin (NaN in an empty bin)."""
    if n_bins < 1:
        raise MetricsInputError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, score, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        n = int(m.sum())
        rows.append({"lower": edges[b], "upper": edges[b + 1], "count": n,
                     "score": float(score[m].mean()) if n else math.nan,
                     "outcome": float(outcome[m].mean()) if n else math.nan})
    return pd.DataFrame(rows)


def binned_ece(table: pd.DataFrame, predicted: str, observed: str) -> float:
    """Bin-size-weighted mean of ``|observed - predicted|`` over the filled bins of a reliability table."""
    n = table["count"].sum()
    if n == 0:
        return math.nan
    full = table[table["count"] > 0]
    return float((full["count"] * (full[observed] - full[predicted]).abs()).sum() / n)


def reliability_table(y_true: Any, probs: Any, n_bins: int = 15) -> pd.DataFrame:
    """One row per confidence bin ``(lower, upper]``: count, mean confidence, accuracy, gap (accuracy - confidence)."""
    if n_bins < 1:
        raise MetricsInputError(f"n_bins must be at least 1, got {n_bins}")
    y, p = as_arrays(y_true, probs)
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    correct = (p.argmax(axis=1) == y) if len(p) else np.zeros(0, dtype=bool)
    tab = binned(conf, correct.astype(np.float64), n_bins).rename(columns={"score": "confidence", "outcome": "accuracy"})
    tab["gap"] = tab["accuracy"] - tab["confidence"]
    return tab.rename_axis("bin")


def expected_calibration_error(y_true: Any, probs: Any, n_bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| weighted by bin size."""
    return binned_ece(reliability_table(y_true, probs, n_bins=n_bins), "confidence", "accuracy")


def label_reliability(y: Any, p: Any, n_bins: int = 15) -> pd.DataFrame:
    """Bins ``(lower, upper]`` of one label's probability: count, mean probability, observed frequency, gap."""
    yv = np.asarray(y, dtype=np.float64).reshape(-1)
    pv = np.asarray(p, dtype=np.float64).reshape(-1)
    if yv.shape != pv.shape:
        raise MetricsInputError(f"{len(yv)} targets for {len(pv)} probabilities")
    ok = np.isfinite(pv) & np.isfinite(yv)
    tab = binned(pv[ok], yv[ok], n_bins).rename(columns={"score": "mean_probability", "outcome": "frequency"})
    tab["gap"] = tab["frequency"] - tab["mean_probability"]
    return tab


def label_ece(y: Any, p: Any, n_bins: int = 15) -> float:
    """Class-wise ECE of one label: bin-size-weighted mean of |observed frequency - mean probability|."""
    return binned_ece(label_reliability(y, p, n_bins), "mean_probability", "frequency")


def label_calibration(Y: Any, P: Any, labels: Sequence[str], n_bins: int = 15) -> pd.DataFrame:
    """Per label (rows, plus ``macro``): ECE, Brier score, mean probability and observed prevalence."""
    y = _matrix(Y, "Y")
    p = _matrix(P, "P")
    names = [str(x) for x in labels]
    if y.shape != p.shape or y.shape[1] != len(names):
        raise MetricsInputError(f"targets {y.shape}, probabilities {p.shape} and {len(names)} labels do not agree")
    rows = []
    for j, name in enumerate(names):
        ok = np.isfinite(p[:, j]) & np.isfinite(y[:, j])
        yj, pj = y[ok, j], p[ok, j]
        rows.append({"label": name, "n": int(ok.sum()), "ece": label_ece(yj, pj, n_bins),
                     "brier": float(np.mean((pj - yj) ** 2)) if len(yj) else math.nan,
                     "mean_probability": float(pj.mean()) if len(pj) else math.nan,
                     "prevalence": float(yj.mean()) if len(yj) else math.nan})
    out = pd.DataFrame(rows).set_index("label")
    macro = out.mean(numeric_only=True)
    macro["n"] = int(out["n"].max()) if len(out) else 0
    out.loc["macro"] = macro
    out["n"] = out["n"].astype(int)
    return out


def log_loss(y_true: Any, probs: Any, eps: float = 1e-15) -> float:
    """Mean negative log probability of the true class (NaN without samples)."""
    y, p = as_arrays(y_true, probs)
    if len(y) == 0:
        return math.nan
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], eps, None))))


# ----------------------------------------------------------------------------- calibration of probabilities
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
