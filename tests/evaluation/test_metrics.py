"""auxiliary.evaluation.metrics against hand-computed values on small arrays and scikit-learn; curves and their figures.

One class per image first, then several labels per image (per-label and summary metrics)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _tiny_runs import EXAMPLE_LABELS, EXAMPLE_PROBS
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    hamming_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation import arrays, metrics, operating_point, thresholds
from auxiliary.evaluation.arrays import MetricsInputError
from auxiliary.viz import plots_evaluation

CLASSES = ["a", "b", "c"]


Y, P = EXAMPLE_LABELS, EXAMPLE_PROBS


def test_summary_metrics_by_hand():
    s = metrics.summary_metrics(Y, P, CLASSES)
    assert set(s) == {"accuracy", "balanced_accuracy", "macro_f1", "macro_auroc", "ece", "log_loss"}
    assert s["accuracy"] == pytest.approx(4 / 6)
    # recalls: a 1/2, b 2/2, c 1/2
    assert s["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    # a: P 1/2 R 1/2 F1 .5 ; b: P 2/3 R 1 F1 .8 ; c: P 1 R 1/2 F1 2/3
    assert s["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # AUROC a: positives {.8,.3} vs negatives {.2,.1,.1,.5}: pairs won 4 + 3 = 7 of 8
    # b: positives {.7,.5} vs {.1,.6,.2,.2}: 4 + 3 = 7 of 8 ; c: positives {.7,.3} vs {.1,.1,.1,.4}: 4 + 3 = 7 of 8
    assert s["macro_auroc"] == pytest.approx(7 / 8)
    assert s["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.3, 0.7, 0.5, 0.7, 0.3])))
    # 15 bins of width 1/15: confidences .8 (right), .6 (wrong), .7 (right), .5 (right), .7 (right), .5 (wrong)
    # bins: (.733,.8] {.8 ok}; (.533,.6] {.6 wrong}; (.667,.733] {.7, .7 ok}; (.467,.533] {.5 ok, .5 wrong}
    ece = (1 * abs(1 - 0.8) + 1 * abs(0 - 0.6) + 2 * abs(1 - 0.7) + 2 * abs(0.5 - 0.5)) / 6
    assert s["ece"] == pytest.approx(ece)


def test_summary_matches_scikit_learn():
    from sklearn.metrics import balanced_accuracy_score, f1_score, log_loss, roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet([1, 1, 1], 200)
    s = metrics.summary_metrics(y, p, CLASSES)
    assert s["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p.argmax(1)))
    assert s["macro_f1"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))
    assert s["macro_auroc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert s["log_loss"] == pytest.approx(log_loss(y, p))


def test_per_class_and_confusion_by_hand():
    per = metrics.per_class_metrics(Y, P, CLASSES)
    assert list(per.index) == CLASSES
    assert list(per.columns) == ["precision", "recall", "f1", "support", "auroc", "average_precision"]
    assert per["precision"].tolist() == pytest.approx([0.5, 2 / 3, 1.0])
    assert per["recall"].tolist() == pytest.approx([0.5, 1.0, 0.5])
    assert per["f1"].tolist() == pytest.approx([0.5, 0.8, 2 / 3])
    assert per["support"].tolist() == [2, 2, 2]
    assert per.loc["a", "auroc"] == pytest.approx(7 / 8)
    # AP of b: ranking .7(+) .6(-) .5(+) ... -> (1/1 + 2/3) / 2
    assert per.loc["b", "average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    cm = metrics.confusion(Y, P, CLASSES)
    assert cm.values.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert cm.index.name == "true" and cm.columns.name == "predicted"
    assert metrics.confusion(Y, P, CLASSES, normalize="true").values[0].tolist() == [0.5, 0.5, 0.0]


def test_absent_class_gives_nan_not_zero():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    per = metrics.per_class_metrics(y, p, CLASSES)
    assert per.loc["c", "support"] == 0
    assert math.isnan(per.loc["c", "recall"]) and math.isnan(per.loc["c", "auroc"])
    assert math.isnan(per.loc["c", "precision"])  # never predicted either
    s = metrics.summary_metrics(y, p, CLASSES)
    assert s["balanced_accuracy"] == 1.0 and s["macro_auroc"] == 1.0
    one_class = metrics.summary_metrics([0, 0], [[0.9, 0.1, 0.0], [0.6, 0.4, 0.0]], CLASSES)
    assert math.isnan(one_class["macro_auroc"])
    assert all(math.isnan(v) for v in metrics.summary_metrics([], np.zeros((0, 3)), CLASSES).values())


def test_nan_rows_and_unknown_labels_are_left_out():
    p = np.vstack([P, [np.nan, np.nan, np.nan]])
    y = np.append(Y, 0)
    assert metrics.summary_metrics(y, p, CLASSES) == pytest.approx(metrics.summary_metrics(Y, P, CLASSES))
    y2 = np.append(Y, -1)
    p2 = np.vstack([P, [1.0, 0.0, 0.0]])
    assert metrics.summary_metrics(y2, p2, CLASSES)["accuracy"] == pytest.approx(4 / 6)


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(AuxiliaryError, match="6 labels but 5 rows"):
        metrics.summary_metrics(Y, P[:5], CLASSES)
    with pytest.raises(AuxiliaryError, match="3 columns but there are 2 classes"):
        metrics.summary_metrics(Y, P, ["a", "b"])
    with pytest.raises(AuxiliaryError, match="not among the classes"):
        arrays.labels_to_index(["a", "zebra"], CLASSES)
    assert arrays.labels_to_index(["c", "zebra"], CLASSES, unknown="minus_one").tolist() == [2, -1]
    with pytest.raises(AuxiliaryError, match="positive classes"):
        operating_point.high_recall_operating_point(Y, P, CLASSES, ["mel"])


def test_curves_and_plots_return_figures():
    import matplotlib.pyplot as plt

    pr = metrics.pr_curves(Y, P, CLASSES)
    assert set(pr["class"]) == set(CLASSES) and pr["recall"].between(0, 1).all()
    roc = metrics.roc_curves(Y, P, CLASSES)
    assert isinstance(roc, pd.DataFrame) and {"fpr", "tpr"} <= set(roc.columns)
    for fig in (
        plots_evaluation.plot_reliability(Y, P),
        plots_evaluation.plot_confusion(Y, P, CLASSES),
        plots_evaluation.plot_pr_curves(Y, P, CLASSES),
        plots_evaluation.plot_roc_curves(Y, P, CLASSES),
    ):
        assert fig.axes
        plt.close(fig)
    fig, ax = plt.subplots()
    assert plots_evaluation.plot_reliability(Y, P, ax=ax, label="x") is fig
    plt.close(fig)


# ----------------------------------------------------------------------------- several labels per image
LABEL_NAMES = ["acne", "pigment", "wrinkles"]


def label_case(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, 3)) < [0.5, 0.3, 0.15]).astype(int)
    Y[0] = [1, 1, 1]  # every label has positives and negatives
    Y[1] = [0, 0, 0]
    P = np.clip(0.35 * Y + rng.random((n, 3)) * 0.65, 0, 1)
    return Y, P


def test_per_label_matches_sklearn():
    Y, P = label_case()
    t = [0.5, 0.4, 0.6]
    per = metrics.per_label_metrics(Y, P, LABEL_NAMES, thresholds=t)
    pred = (P >= t).astype(int)
    for j, lab in enumerate(LABEL_NAMES):
        assert per.loc[lab, "auroc"] == pytest.approx(roc_auc_score(Y[:, j], P[:, j]))
        assert per.loc[lab, "average_precision"] == pytest.approx(average_precision_score(Y[:, j], P[:, j]))
        assert per.loc[lab, "f1"] == pytest.approx(f1_score(Y[:, j], pred[:, j]))
        assert per.loc[lab, "precision"] == pytest.approx(precision_score(Y[:, j], pred[:, j]))
        assert per.loc[lab, "recall"] == pytest.approx(recall_score(Y[:, j], pred[:, j]))
        assert per.loc[lab, "support"] == Y[:, j].sum()
        assert per.loc[lab, "threshold"] == t[j]


def test_summary_matches_sklearn():
    Y, P = label_case(seed=1)
    s = metrics.multilabel_summary(Y, P, LABEL_NAMES, thresholds=0.5)
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
    assert s["n"] == len(Y) and set(metrics.MULTILABEL_SUMMARY_KEYS) <= set(s)


def test_precision_at_recall_by_hand():
    y = np.array([1, 1, 1, 1, 0, 0, 1, 0, 0, 0])
    p = np.array([.9, .8, .7, .6, .55, .5, .4, .3, .2, .1])
    # recall >= 0.8 needs 4 of 5 positives: cut at 0.6 -> precision 4/4 = 1.0
    assert metrics.precision_at_recall(y, p, 0.8) == 1.0
    # recall 1.0 needs the positive at 0.4: 5 positives among 7 flagged
    assert metrics.precision_at_recall(y, p, 1.0) == pytest.approx(5 / 7)
    assert math.isnan(metrics.precision_at_recall(np.zeros(4, int), p[:4]))


def test_nan_not_zero_where_a_label_has_no_positives():
    Y, P = label_case()
    Y[:, 2] = 0
    per = metrics.per_label_metrics(Y, P, LABEL_NAMES)
    for col in ("auroc", "average_precision", "recall", "f1", "precision_at_recall"):
        assert math.isnan(per.loc["wrinkles", col]), col
    assert per.loc["wrinkles", "support"] == 0
    s = metrics.multilabel_summary(Y, P, LABEL_NAMES)
    assert s["macro_auroc"] == pytest.approx(per.loc[["acne", "pigment"], "auroc"].mean())
    # a label with positives but nothing flagged: F1 0, precision NaN
    per = metrics.per_label_metrics(Y, P, LABEL_NAMES, thresholds=[0.5, 2.0, 0.5])
    assert per.loc["pigment", "f1"] == 0 and math.isnan(per.loc["pigment", "precision"])


def test_thresholds_forms_and_nan_rows():
    Y, P = label_case()
    a = metrics.per_label_metrics(Y, P, LABEL_NAMES, thresholds={"acne": 0.3, "pigment": 0.5, "wrinkles": 0.7})
    b = metrics.per_label_metrics(Y, P, LABEL_NAMES, thresholds=np.tile([0.3, 0.5, 0.7], (len(Y), 1)))
    assert a["f1"].tolist() == b["f1"].tolist()
    P2 = P.copy()
    P2[3, 1] = np.nan
    with_nan = metrics.multilabel_summary(Y, P2, LABEL_NAMES)
    assert with_nan["n"] == len(Y) - 1
    assert with_nan == metrics.multilabel_summary(np.delete(Y, 3, 0), np.delete(P, 3, 0), LABEL_NAMES)
    rowwise = np.tile([0.3, 0.5, 0.7], (len(Y), 1))
    assert metrics.multilabel_summary(Y, P2, LABEL_NAMES, rowwise)["n"] == len(Y) - 1
    assert thresholds.decisions([[0.2, np.nan]], [0.1, 0.1]).tolist() == [[True, False]]


@pytest.mark.parametrize("Y,P,thr,needle", [
    ([[0, 1]], [[0.1, 0.2, 0.3]], 0.5, "must both be"),
    ([[0, 2]], [[0.1, 0.2]], 0.5, "0/1"),
    ([[0, 1]], [[0.1, 0.2]], [0.5], "1 thresholds for 2 labels"),
    ([[0, 1]], [[0.1, 0.2]], {"a": 0.5}, "no threshold"),
])
def test_bad_inputs(Y, P, thr, needle):
    with pytest.raises(MetricsInputError, match=needle):
        metrics.per_label_metrics(Y, P, ["a", "b"], thresholds=thr)


def test_empty_summary():
    s = metrics.multilabel_summary(np.zeros((0, 3)), np.zeros((0, 3)), LABEL_NAMES)
    assert s["n"] == 0 and math.isnan(s["macro_auroc"])
