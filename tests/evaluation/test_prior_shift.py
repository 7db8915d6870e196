"""auxiliary.evaluation.prior_shift: decisions at a log-prior shift, its fit under recall floors, the k-fold check."""

from __future__ import annotations

import numpy as np
import pytest

from auxiliary.evaluation.arrays import MetricsInputError
from auxiliary.evaluation.prior_shift import (
    fit_prior_shift,
    kfold_prior_shift,
    operating_point_report,
    recalls,
    shift_vector,
    shifted_decisions,
)

CLASSES = ["mel", "nv", "bkl"]


def held_out(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a model that under-calls ``mel``: its melanomas often look like ``nv``."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.15, 0.6, 0.25])
    logits = rng.normal(0, 1.0, (n, 3))
    logits[np.arange(n), y] += 2.0
    logits[:, 0] -= 1.2  # melanoma is under-called
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


def test_no_shift_is_the_argmax_and_a_shift_moves_decisions_to_its_class():
    p = np.array([[0.4, 0.5, 0.1], [0.2, 0.3, 0.5]])
    assert shifted_decisions(p, None).tolist() == [1, 2]
    assert shifted_decisions(p, [0.0, 0.0, 0.0]).tolist() == [1, 2]
    assert shifted_decisions(p, [np.log(2.0), 0.0, 0.0]).tolist() == [0, 2]  # 0.8 > 0.5 on the first row
    with pytest.raises(MetricsInputError):
        shifted_decisions(p, [0.0, 1.0])


def test_the_fit_reaches_the_recall_floor_that_the_argmax_misses():
    y, p = held_out()
    before = recalls(y, p.argmax(axis=1), 3)
    assert before[0] < 0.6
    fit = fit_prior_shift(y, p, CLASSES, {"mel": 0.8})
    after = recalls(y, shifted_decisions(p, shift_vector(fit, CLASSES)), 3)
    assert fit["met"] and after[0] >= 0.8 and fit["recall"]["mel"] == pytest.approx(after[0], abs=1e-4)
    assert fit["shift"]["mel"] > max(fit["shift"]["nv"], fit["shift"]["bkl"])
    assert abs(sum(fit["shift"].values())) < 1e-3  # centred
    assert fit["n"] == len(y) and fit["min_recall"] == {"mel": 0.8}


def test_without_floors_the_fit_never_lowers_balanced_accuracy():
    y, p = held_out(seed=3)
    fit = fit_prior_shift(y, p, CLASSES)
    assert fit["balanced_acc"] >= np.mean(recalls(y, p.argmax(axis=1), 3)) - 1e-9


def test_bad_inputs_are_refused_in_one_line():
    y, p = held_out(60)
    for floors in ({"melanoma": 0.7}, {"mel": 1.5}):
        with pytest.raises(MetricsInputError):
            fit_prior_shift(y, p, CLASSES, floors)
    with pytest.raises(MetricsInputError):
        fit_prior_shift(y[:10], p, CLASSES)
    with pytest.raises(MetricsInputError):
        shift_vector({"shift": {"mel": 1.0}}, CLASSES)  # fitted for other classes


def test_the_kfold_check_scores_each_row_with_a_shift_not_fitted_on_it():
    y, p = held_out(900, seed=5)
    chk = kfold_prior_shift(y, p, CLASSES, {"mel": 0.8}, folds=5)
    assert chk["folds"] == 5 and len(chk["shifts"]) == 5
    assert chk["recall"]["mel"] > recalls(y, p.argmax(axis=1), 3)[0]  # out of sample, the shift still helps
    assert 0.0 < chk["balanced_acc"] <= 1.0


def test_the_report_counts_decisions_at_the_stored_shift():
    p = np.array([[0.4, 0.5, 0.1], [0.3, 0.6, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    y = np.array([0, 1, 2, 0])
    rep = operating_point_report(y, p, CLASSES, {"shift": {"mel": 0.5, "nv": 0.0, "bkl": 0.0}, "min_recall": {"mel": 0.7}})
    # exp(0.5) = 1.65: 0.4 -> 0.66 beats 0.5 (row 0); 0.3 -> 0.49 loses to 0.6 (row 1)
    assert rep["per_class"]["mel"] == {"precision": 1.0, "recall": 1.0, "support": 2}
    assert rep["per_class"]["nv"]["recall"] == 1.0 and rep["accuracy"] == 1.0
    assert rep["min_recall"] == {"mel": 0.7}
