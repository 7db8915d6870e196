"""auxiliary.evaluation.multilabel: per-label and summary metrics of multi-label predictions, against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    hamming_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from auxiliary.evaluation import multilabel as ml
from auxiliary.evaluation.arrays import MetricsInputError

LABELS = ["acne", "pigment", "wrinkles"]


def case(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, 3)) < [0.5, 0.3, 0.15]).astype(int)
    Y[0] = [1, 1, 1]  # every label has positives and negatives
    Y[1] = [0, 0, 0]
    P = np.clip(0.35 * Y + rng.random((n, 3)) * 0.65, 0, 1)
    return Y, P


def test_per_label_matches_sklearn():
    Y, P = case()
    t = [0.5, 0.4, 0.6]
    per = ml.per_label_metrics(Y, P, LABELS, thresholds=t)
    pred = (P >= t).astype(int)
    for j, lab in enumerate(LABELS):
        assert per.loc[lab, "auroc"] == pytest.approx(roc_auc_score(Y[:, j], P[:, j]))
        assert per.loc[lab, "average_precision"] == pytest.approx(average_precision_score(Y[:, j], P[:, j]))
        assert per.loc[lab, "f1"] == pytest.approx(f1_score(Y[:, j], pred[:, j]))
        assert per.loc[lab, "precision"] == pytest.approx(precision_score(Y[:, j], pred[:, j]))
        assert per.loc[lab, "recall"] == pytest.approx(recall_score(Y[:, j], pred[:, j]))
        assert per.loc[lab, "support"] == Y[:, j].sum()
        assert per.loc[lab, "threshold"] == t[j]


def test_summary_matches_sklearn():
    Y, P = case(seed=1)
    s = ml.multilabel_summary(Y, P, LABELS, thresholds=0.5)
    pred = (P >= 0.5).astype(int)
    assert s["macro_auroc"] == pytest.approx(roc_auc_score(Y, P, average="macro"))
    assert s["micro_auroc"] == pytest.approx(roc_auc_score(Y, P, average="micro"))
    assert s["macro_ap"] == pytest.approx(average_precision_score(Y, P, average="macro"))
    assert s["micro_ap"] == pytest.approx(average_precision_score(Y, P, average="micro"))
    assert s["macro_f1"] == pytest.approx(f1_score(Y, pred, average="macro"))
    assert s["micro_f1"] == pytest.approx(f1_score(Y, pred, average="micro"))
    assert s["micro_precision"] == pytest.approx(precision_score(Y, pred, average="micro"))
    assert s["subset_accuracy"] == pytest.approx(accuracy_score(Y, pred))
    assert s["hamming_loss"] == pytest.approx(hamming_loss(Y, pred))
    assert s["n"] == len(Y) and set(ml.MULTILABEL_SUMMARY_KEYS) <= set(s)


def test_precision_at_recall_by_hand():
    y = np.array([1, 1, 1, 1, 0, 0, 1, 0, 0, 0])
    p = np.array([.9, .8, .7, .6, .55, .5, .4, .3, .2, .1])
    # recall >= 0.8 needs 4 of 5 positives: cut at 0.6 -> precision 4/4 = 1.0
    assert ml.precision_at_recall(y, p, 0.8) == 1.0
    # recall 1.0 needs the positive at 0.4: 5 positives among 7 flagged
    assert ml.precision_at_recall(y, p, 1.0) == pytest.approx(5 / 7)
    assert math.isnan(ml.precision_at_recall(np.zeros(4, int), p[:4]))


def test_nan_not_zero_where_a_label_has_no_positives():
    Y, P = case()
    Y[:, 2] = 0
    per = ml.per_label_metrics(Y, P, LABELS)
    for col in ("auroc", "average_precision", "recall", "f1", "precision_at_recall"):
        assert math.isnan(per.loc["wrinkles", col]), col
    assert per.loc["wrinkles", "support"] == 0
    s = ml.multilabel_summary(Y, P, LABELS)
    assert s["macro_auroc"] == pytest.approx(per.loc[["acne", "pigment"], "auroc"].mean())
    # a label with positives but nothing flagged: F1 0, precision NaN
    per = ml.per_label_metrics(Y, P, LABELS, thresholds=[0.5, 2.0, 0.5])
    assert per.loc["pigment", "f1"] == 0 and math.isnan(per.loc["pigment", "precision"])


def test_thresholds_forms_and_nan_rows():
    Y, P = case()
    a = ml.per_label_metrics(Y, P, LABELS, thresholds={"acne": 0.3, "pigment": 0.5, "wrinkles": 0.7})
    b = ml.per_label_metrics(Y, P, LABELS, thresholds=np.tile([0.3, 0.5, 0.7], (len(Y), 1)))
    assert a["f1"].tolist() == b["f1"].tolist()
    P2 = P.copy()
    P2[3, 1] = np.nan
    with_nan = ml.multilabel_summary(Y, P2, LABELS)
    assert with_nan["n"] == len(Y) - 1
    assert with_nan == ml.multilabel_summary(np.delete(Y, 3, 0), np.delete(P, 3, 0), LABELS)
    rowwise = np.tile([0.3, 0.5, 0.7], (len(Y), 1))
    assert ml.multilabel_summary(Y, P2, LABELS, rowwise)["n"] == len(Y) - 1
    assert ml.decisions([[0.2, np.nan]], [0.1, 0.1]).tolist() == [[True, False]]


@pytest.mark.parametrize("Y,P,thr,needle", [
    ([[0, 1]], [[0.1, 0.2, 0.3]], 0.5, "must both be"),
    ([[0, 2]], [[0.1, 0.2]], 0.5, "0/1"),
    ([[0, 1]], [[0.1, 0.2]], [0.5], "1 thresholds for 2 labels"),
    ([[0, 1]], [[0.1, 0.2]], {"a": 0.5}, "no threshold"),
])
def test_bad_inputs(Y, P, thr, needle):
    with pytest.raises(MetricsInputError, match=needle):
        ml.per_label_metrics(Y, P, ["a", "b"], thresholds=thr)


def test_empty_summary():
    s = ml.multilabel_summary(np.zeros((0, 3)), np.zeros((0, 3)), LABELS)
    assert s["n"] == 0 and math.isnan(s["macro_auroc"])
