"""Checking what every metric takes: labels and probability arrays (one class per row, or 0/1 per label), class
indices, predicted classes, thresholds per row and label, and group values (tone group, sex...) in their order.

Every metric of :mod:`auxiliary.evaluation` goes through these, so that the same rows are left out everywhere:
a row whose probabilities hold NaN (an unreadable image) or whose label is unknown (negative).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.tone import TONE_GROUPS

#: The group of a row whose group value is empty or missing.
UNKNOWN = "unknown"


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


def multilabel_arrays(Y: Any, P: Any, labels: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Checked multi-label (Y int 0/1 (n, L), P float (n, L)) with rows holding a non-finite probability removed."""
    y = np.asarray(Y, dtype=np.float64)
    p = np.asarray(P, dtype=np.float64)
    if y.ndim != 2 or p.ndim != 2 or y.shape != p.shape:
        raise MetricsInputError(f"labels {y.shape} and probabilities {p.shape} must both be (n, L) arrays")
    if labels is not None and len(labels) != p.shape[1]:
        raise MetricsInputError(f"probabilities have {p.shape[1]} columns but there are {len(labels)} labels")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise MetricsInputError("multi-label truths must be 0/1")
    keep = finite_rows(p)
    return y[keep].astype(np.int64), p[keep]


def finite_rows(P: Any) -> np.ndarray:
    """Which rows of a probability array hold only finite numbers (an unreadable image's row is all NaN)."""
    return np.all(np.isfinite(np.asarray(P, dtype=np.float64)), axis=1)


def threshold_matrix(thresholds: Any, labels: Sequence[str], n: int) -> np.ndarray:
    """Thresholds as an (n, L) array: from a number, a per-label sequence or mapping, or an (n, L) array."""
    L = len(labels)
    if isinstance(thresholds, Mapping):
        missing = [lab for lab in labels if lab not in thresholds]
        if missing:
            raise MetricsInputError(f"no threshold for labels {missing}")
        t = np.asarray([float(thresholds[lab]) for lab in labels])
    else:
        t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(L, float(t))
    if t.ndim == 1:
        if len(t) != L:
            raise MetricsInputError(f"{len(t)} thresholds for {L} labels")
        t = np.broadcast_to(t, (n, L))
    if t.shape != (n, L):
        raise MetricsInputError(f"thresholds of shape {t.shape} do not fit {n} rows and {L} labels")
    return np.asarray(t, dtype=np.float64)


def prepared(Y: Any, P: Any, labels: Sequence[str], thresholds: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multi-label (Y, P, thresholds (n, L)) with the rows holding a non-finite probability removed from all three."""
    y, p = multilabel_arrays(Y, P, labels)
    p_all = np.asarray(P, dtype=np.float64)
    return y, p, threshold_matrix(thresholds, labels, len(p_all))[finite_rows(p_all)]


# ----------------------------------------------------------------------------- groups
def _missing(value: Any) -> bool:
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):  # an array-like cell: not missing
        pass
    return str(value).strip() in ("", "nan", "NaN", "None", "<NA>")


def group_values(groups: Any, n: int) -> np.ndarray:
    """Group of each row as text (tone group, sex...); empty or missing values become ``unknown``."""
    g = list(groups)
    if len(g) != n:
        raise MetricsInputError(f"{len(g)} group values but {n} samples")
    return np.asarray([UNKNOWN if _missing(v) else str(v) for v in g], dtype=object)


def group_order(values: Sequence[Any]) -> list[str]:
    """Groups in a natural order: the tone scale for tone groups, else sorted; ``unknown`` last."""
    uniq = list(dict.fromkeys(str(v) for v in values))
    tone = [t for t in TONE_GROUPS if t in uniq]
    rest = sorted(v for v in uniq if v not in tone and v != UNKNOWN)
    return tone + rest + ([UNKNOWN] if UNKNOWN in uniq else [])


def grouped_arrays(y_true: Any, probs: Any, groups: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Single-label (y, p, g) with rows that have NaN probabilities or an unknown (negative) label removed."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    if p.ndim != 2 or len(y) != len(p):
        raise MetricsInputError(f"{len(y)} labels but probabilities of shape {p.shape}")
    g = group_values(groups, len(y))
    y = np.where(pd.isna(y), -1, y).astype(np.int64) if y.dtype.kind == "f" else y.astype(np.int64)
    keep = (y >= 0) & finite_rows(p)
    y, p, g = y[keep], p[keep], g[keep]
    as_arrays(y, p, n_classes)  # shape / range checks
    return y, p, g
