"""How far apart two image sets are in a feature space: kernel inception distance (KID) on any embeddings.

KID (Binkowski et al. 2018, "Demystifying MMD GANs") is the unbiased squared maximum mean
discrepancy between two feature sets under the cubic polynomial kernel
``k(x, y) = (x.y / d + 1) ** 3``. Unlike FID it has an unbiased estimator, so it is meaningful on
the few hundred images a class of a development set holds; it is averaged over random subsets
(mean and standard deviation reported). 0 means the sets are indistinguishable to the features;
the scale depends on the feature extractor, so compare figures made with the same one.

The features here are arrays (rows = images): this module knows no model. The series computes
them with the offline ImageNet ``tf_efficientnet_lite0`` (:mod:`auxiliary.inference.embeddings`).
"""

from __future__ import annotations

import numpy as np


class DomainGapError(ValueError):
    """Feature sets that cannot be compared (different widths, too few rows)."""


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of ``x`` (m, d) and ``y`` (n, d) under the KID kernel ``(x.y / d + 1) ** 3``."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise DomainGapError(f"need at least 2 rows per set, got {m} and {n}")
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kid(
    x: np.ndarray, y: np.ndarray, *, subsets: int = 50, subset_size: int = 100, seed: int = 0
) -> tuple[float, float]:
    """KID between feature sets ``x`` and ``y``: (mean, std) of :func:`polynomial_mmd2` over
    ``subsets`` random subsets of ``min(subset_size, len(x), len(y))`` rows drawn without replacement."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise DomainGapError(f"feature sets must be 2-D with the same width, got {x.shape} and {y.shape}")
    k = min(int(subset_size), len(x), len(y))
    if k < 2:
        raise DomainGapError(f"need at least 2 rows per set, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    vals = [polynomial_mmd2(x[rng.choice(len(x), k, replace=False)], y[rng.choice(len(y), k, replace=False)])
            for _ in range(max(1, int(subsets)))]
    return float(np.mean(vals)), float(np.std(vals))


def kid_by_class(
    x: np.ndarray, x_labels: np.ndarray, y: np.ndarray, y_labels: np.ndarray, classes: list[str], **kwargs
) -> dict[str, tuple[float, float] | None]:
    """:func:`kid` per class between the rows of ``x`` and ``y`` with that label (None when a side has < 2),
    plus ``"all"`` over every row."""
    xl = np.asarray(x_labels).astype(str)
    yl = np.asarray(y_labels).astype(str)
    out: dict[str, tuple[float, float] | None] = {}
    for c in classes:
        a, b = x[xl == c], y[yl == c]
        out[c] = kid(a, b, **kwargs) if len(a) >= 2 and len(b) >= 2 else None
    out["all"] = kid(x, y, **kwargs)
    return out
