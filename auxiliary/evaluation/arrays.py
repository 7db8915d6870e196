"""Checking what every metric takes: labels and probability arrays, class indices, predicted classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from auxiliary.base.errors import AuxiliaryError


class MetricsInputError(AuxiliaryError, ValueError):
    """Labels and probabilities that do not fit together (shapes, unknown classes...)."""


# ----------------------------------------------------------------------------- inputs
def as_arrays(y_true: Any, probs: Any, n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated (y, p) with unusable rows (NaN probabilities, negative labels) removed."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    if p.ndim != 2:
        raise MetricsInputError(f"probabilities must be a 2-D array (N, C), got shape {p.shape}")
    if y.ndim != 1 or len(y) != len(p):
        raise MetricsInputError(f"{len(y)} labels but {len(p)} rows of probabilities")
    if n_classes is not None and p.shape[1] != n_classes:
        raise MetricsInputError(f"probabilities have {p.shape[1]} columns but there are {n_classes} classes")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        yf = y.astype(np.float64)
        if np.any((yf != np.round(yf)) & ~np.isnan(yf)):
            raise MetricsInputError("labels must be integer class indices (use labels_to_index for names)")
        yf = np.where(np.isnan(yf), -1, yf)
        y = yf.astype(np.int64)
    y = y.astype(np.int64)
    if y.size and y.max() >= p.shape[1]:
        raise MetricsInputError(f"label index {int(y.max())} out of range for {p.shape[1]} classes")
    keep = (y >= 0) & np.all(np.isfinite(p), axis=1)
    return y[keep], p[keep]


def labels_to_index(labels: Sequence[Any], classes: Sequence[str], *, unknown: str = "raise") -> np.ndarray:
    """Class names -> integer indices into ``classes``; ``unknown="raise"`` or ``"minus_one"``."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    out = np.empty(len(labels), dtype=np.int64)
    bad: list[str] = []
    for i, lab in enumerate(labels):
        j = lookup.get(str(lab))
        if j is None:
            bad.append(str(lab))
            j = -1
        out[i] = j
    if bad and unknown == "raise":
        names = sorted(set(bad))
        raise MetricsInputError(
            f"{len(bad)} labels are not among the classes {list(classes)}: {', '.join(names[:5])}"
            + (" ..." if len(names) > 5 else "")
        )
    return out


def class_indices(classes: Sequence[str], wanted: Sequence[str] | str) -> list[int]:
    if isinstance(wanted, str):
        wanted = [w.strip() for w in wanted.split(",") if w.strip()]
    names = [str(c) for c in classes]
    missing = [w for w in wanted if str(w) not in names]
    if missing or not wanted:
        raise MetricsInputError(f"positive classes {list(missing) or list(wanted)} are not among the classes {names}")
    return [names.index(str(w)) for w in wanted]


def predicted(probs: Any) -> np.ndarray:
    """Arg-max class index of each row."""
    return np.asarray(probs).argmax(axis=1)
