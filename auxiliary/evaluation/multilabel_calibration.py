"""Multi-label calibration: one sigmoid temperature per label, fitted on validation, and per-label ECE.

A multi-label model gives one logit per label and each label is its own yes/no question, so
each gets **its own temperature** ``T_j`` (probability ``sigmoid(logit_j / T_j)``), fitted by
minimising the label's binary negative log-likelihood on validation logits
(:func:`fit_label_temperatures`). One shared temperature would let the label the model is most
over-confident about set the scale for all of them.

:func:`label_calibration` reports, per label, the expected calibration error of the positive-class
probability (equal-width bins of ``p``: ``sum_b n_b/N * |mean(y)_b - mean(p)_b|``, the "class-wise"
ECE), the Brier score and the mean predicted vs observed prevalence;
:func:`label_reliability` gives the bins of one label for a reliability diagram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from auxiliary.evaluation.arrays import MetricsInputError

#: Search range of a label's temperature (as in the single-label fit).
TEMPERATURE_BOUNDS: tuple[float, float] = (0.05, 20.0)


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
        yj, zj = y[:, j], z[:, j]
        ok = np.isfinite(zj) & np.isfinite(yj)
        yj, zj = yj[ok], zj[ok]
        if len(yj) == 0 or yj.min() == yj.max():
            out.append(1.0)
            continue
        res = minimize_scalar(lambda lt, zj=zj, yj=yj: binary_nll(zj, yj, float(np.exp(lt))),
                              bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded",
                              options={"xatol": 1e-4})
        out.append(float(np.exp(res.x)))
    return out


def label_reliability(y: Any, p: Any, n_bins: int = 15) -> pd.DataFrame:
    """Bins ``(lower, upper]`` of one label's probability: count, mean probability, observed frequency, gap."""
    if n_bins < 1:
        raise MetricsInputError(f"n_bins must be at least 1, got {n_bins}")
    yv = np.asarray(y, dtype=np.float64).reshape(-1)
    pv = np.asarray(p, dtype=np.float64).reshape(-1)
    if yv.shape != pv.shape:
        raise MetricsInputError(f"{len(yv)} targets for {len(pv)} probabilities")
    ok = np.isfinite(pv) & np.isfinite(yv)
    yv, pv = yv[ok], pv[ok]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, pv, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        n = int(m.sum())
        conf = float(pv[m].mean()) if n else math.nan
        freq = float(yv[m].mean()) if n else math.nan
        rows.append({"lower": edges[b], "upper": edges[b + 1], "count": n, "mean_probability": conf,
                     "frequency": freq, "gap": freq - conf if n else math.nan})
    return pd.DataFrame(rows)


def label_ece(y: Any, p: Any, n_bins: int = 15) -> float:
    """Class-wise ECE of one label: bin-size-weighted mean of |observed frequency - mean probability|."""
    tab = label_reliability(y, p, n_bins)
    n = tab["count"].sum()
    if n == 0:
        return math.nan
    full = tab[tab["count"] > 0]
    return float((full["count"] * full["gap"].abs()).sum() / n)


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
