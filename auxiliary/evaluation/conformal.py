"""Conformal prediction sets: one split-conformal score threshold fitted on labelled calibration predictions.

Used by :func:`auxiliary.inference.sorter.sort_folder` when ``coverage`` is set: an image is sorted
into a class folder only when its set holds exactly one class.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.errors import SortError
from auxiliary.base.files import entry_kind, read_csv


# ============================================================================ conformal
@dataclass
class Conformal:
    """Split-conformal prediction sets (LAC score ``1 - p_true``) at a target coverage."""

    coverage: float
    qhat: float
    n_calib: int
    empirical_coverage: float = math.nan
    """Coverage measured on held-out halves of the calibration data (random half splits)."""
    mean_set_size: float = math.nan
    singleton_rate: float = math.nan
    source: str = ""
    note: str = ""

    @property
    def threshold(self) -> float:
        """A class is in the set when its probability is at least this."""
        return 1.0 - self.qhat

    def sets(self, probs: np.ndarray) -> np.ndarray:
        """Boolean membership (N, C)."""
        return np.asarray(probs) >= self.threshold - 1e-12

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("coverage", "qhat", "n_calib", "empirical_coverage",
                                               "mean_set_size", "singleton_rate", "source", "note")} | {
            "threshold": self.threshold}


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The finite-sample split-conformal quantile: the ceil((n+1)·coverage)-th smallest score
    (1.0, i.e. every class in every set, when there are too few calibration samples)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(s)
    k = math.ceil((n + 1) * coverage)
    if n == 0 or k > n:
        return 1.0
    return float(s[k - 1])


def calibrate_conformal(probs: np.ndarray, labels: np.ndarray, coverage: float, *, n_checks: int = 50,
                        seed: int = 0, source: str = "") -> Conformal:
    """Fit the conformal threshold on calibration probabilities and check coverage on held-out halves."""
    if not 0.0 < coverage < 1.0:
        raise SortError(f"coverage must be between 0 and 1 (exclusive), got {coverage}")
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    keep = np.all(np.isfinite(p), axis=1) & (y >= 0)
    p, y = p[keep], y[keep]
    if len(y) < 2:
        raise SortError(f"conformal calibration needs labelled validation images, got {len(y)}")
    scores = 1.0 - p[np.arange(len(y)), y]
    qhat = conformal_quantile(scores, coverage)
    rng = np.random.default_rng(seed)
    covs = []
    for _ in range(n_checks if len(y) >= 4 else 0):
        perm = rng.permutation(len(y))
        a, b = perm[: len(y) // 2], perm[len(y) // 2:]
        q = conformal_quantile(scores[a], coverage)
        covs.append(float(np.mean(scores[b] <= q + 1e-12)))
    conf = Conformal(coverage=float(coverage), qhat=qhat, n_calib=int(len(y)), source=source,
                     empirical_coverage=float(np.mean(covs)) if covs else math.nan)
    if math.ceil((len(y) + 1) * coverage) > len(y):
        conf.note = (f"only {len(y)} calibration images: too few for coverage {coverage:g}, so every set holds "
                     f"every class (needs at least {math.ceil(coverage / (1 - coverage))})")
    sizes = conf.sets(p).sum(axis=1)
    conf.mean_set_size = float(np.mean(sizes))
    conf.singleton_rate = float(np.mean(sizes == 1))
    return conf


def _read_calibration_table(path: Path) -> pd.DataFrame:
    """A labelled CSV; relative ``path`` values are taken from the CSV's folder (the split contract). Read as the
    package's own (a run's ``val_predictions.csv``, a split's ``val.csv``): a label written ``'=1+1`` so that a
    spreadsheet would not run it is ``=1+1`` again (:func:`auxiliary.base.files.read_csv`)."""
    try:
        table = read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise SortError(f"cannot read calibration CSV {path}: {str(exc).splitlines()[0][:160]}") from None
    if "path" in table.columns:
        table["path"] = [str(p) if os.path.isabs(str(p)) else os.path.normpath(str(path.parent / str(p)))
                         for p in table["path"]]
    return table


def calibration_file(calib: str | Path) -> Path:
    """``calib`` when it is a file; else one line: missing, or a folder, FIFO or device (asked of ``stat``, never
    opened). A step checks it before any work (the sort's ONNX export beside its checkpoint included)."""
    path = Path(calib)
    if not path.is_file():
        raise SortError(f"calibration CSV {path} is {entry_kind(path)}, not a CSV file (never opened)" if path.exists()
                        else f"calibration CSV not found: {path}")
    return path


def conformal_from_csv(predictor: Any, calib: str | Path, coverage: float, *, batch: int = 16,
                       tta: bool = False, progress: bool = True) -> Conformal:
    """Calibrate conformal sets on a labelled CSV: a run's ``val_predictions.csv`` (uses its
    ``prob_<class>`` columns) or a split CSV such as ``val.csv`` (predicts its images)."""
    path = calibration_file(calib)
    table = _read_calibration_table(path)
    if "label" not in table.columns:
        raise SortError(f"calibration CSV {path} has no 'label' column")
    classes = predictor.classes
    labels = table["label"].astype(str)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise SortError(f"calibration CSV {path} has labels not in the model's classes {classes}: {unknown[:5]}")
    y = np.array([classes.index(v) for v in labels], dtype=np.int64)
    prob_cols = [f"prob_{c}" for c in classes]
    has_probs = all(c in table.columns for c in prob_cols)
    has_images = "path" in table.columns and all(os.path.isfile(str(p)) for p in table["path"])
    if has_probs and not (tta and has_images):  # TTA changes the scores: recompute them when the images are here
        probs = table[prob_cols].to_numpy(dtype=np.float64)
    elif "path" in table.columns:
        probs, _errors = predictor.predict_paths(list(table["path"]), batch_size=batch, tta=tta, progress=progress)
    else:
        raise SortError(f"calibration CSV {path} has neither prob_<class> columns nor image paths")
    return calibrate_conformal(probs, y, coverage, source=str(path))
