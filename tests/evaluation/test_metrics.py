"""auxiliary.evaluation.metrics against hand-computed values on small arrays; curves and their figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _tiny_runs import EXAMPLE_LABELS, EXAMPLE_PROBS

from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation import arrays, metrics, operating_point
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
