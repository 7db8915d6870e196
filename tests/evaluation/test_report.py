"""auxiliary.evaluation.report: evaluate_predictions on arrays, small groups flagged, bad objective refused; every
metric of multi-label predictions, thresholds fitted on validation."""

from __future__ import annotations

import numpy as np
import pytest
from _tiny_runs import CLASSES

from auxiliary.base.config import EvalConfig
from auxiliary.evaluation import metrics, report
from auxiliary.evaluation.arrays import MetricsInputError
from auxiliary.evaluation.thresholds import LabelThresholds


def test_evaluate_predictions_on_arrays():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    p = rng.dirichlet([1, 1, 1], 90)
    groups = np.array(["light", "dark", "tan"])[np.arange(90) % 3]
    groups[:2] = "brown"  # a group of two: flagged
    res = report.evaluate_predictions(y, p, CLASSES, EvalConfig(min_group_size=10, n_bootstrap=5), groups=groups,
                                        y_val=y, probs_val=p, groups_val=groups)
    assert res["summary"] == pytest.approx(metrics.summary_metrics(y, p, CLASSES))
    assert res["group_metrics"].loc["brown", "flagged_small"]
    assert "brown (small)" in res["gaps"].loc["accuracy", "excluded"]
    assert any("brown" in n for n in res["notes"])
    assert res["group_thresholds"].loc["brown", "fallback"]
    with pytest.raises(report.EvaluationError, match="threshold_objective"):
        report.evaluate_predictions(y, p, CLASSES, EvalConfig(threshold_objective="auc"))


# ----------------------------------------------------------------------------- several labels per image
LABELS = ["acne", "erythema", "wrinkles"]
GROUPS = ["light", "intermediate", "dark"]


def _case(seed: int, n_per_group: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every label ranked perfectly inside each group, but scores are low (no probability reaches 0.5) and the
    dark group's positives score below the other groups' negatives: positives 0.30 / 0.07 (dark), negatives
    0.10 / 0.03 (dark), so no single threshold per label serves every group."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(GROUPS, n_per_group)
    Y = (rng.random((len(groups), len(LABELS))) < 0.4).astype(int)
    Y[::n_per_group] = 1  # every group has positives and negatives of every label
    Y[1::n_per_group] = 0
    dark = (groups == "dark")[:, None]
    pos, neg = np.where(dark, 0.07, 0.30), np.where(dark, 0.03, 0.10)
    P = np.where(Y == 1, pos, neg) + rng.uniform(-0.01, 0.01, Y.shape)
    return Y, P, groups


def test_thresholds_fitted_on_validation_improve_f1_and_the_fairness_gap():
    Yv, Pv, gv = _case(0)
    Y, P, g = _case(1)
    ec = EvalConfig(min_group_size=10)
    default = report.evaluate_multilabel_predictions(Y, P, LABELS, ec, groups=g)
    assert default["threshold_source"].startswith("default") and default["summary"]["macro_f1"] == 0.0
    fitted = report.evaluate_multilabel_predictions(Y, P, LABELS, ec, groups=g, Y_val=Yv, P_val=Pv,
                                                              groups_val=gv)
    assert fitted["threshold_source"].startswith("fitted on validation (per label, and per group")
    assert fitted["summary"]["macro_f1"] > 0.5 > default["summary"]["macro_f1"]
    # one global threshold per label cannot serve the dark group's lower scores; per-group thresholds can
    metrics = fitted["metrics"]
    assert metrics.loc["group_thresholds", "macro_f1"] > 0.9
    assert metrics.loc["group_thresholds", "macro_f1"] > metrics.loc["global_thresholds", "macro_f1"]
    gap = fitted["fairness_gap"]
    assert gap.index.tolist() == [*LABELS, "macro"]
    assert abs(gap.loc["macro", "gap_group"]) < abs(gap.loc["macro", "gap_global"])
    thr = fitted["thresholds"]
    assert all(thr.by_group["dark"][lab] < thr.by_group["light"][lab] for lab in LABELS)
    # the tidy group table holds both threshold kinds and agrees with the summary
    long = fitted["group_label_metrics"]
    assert len(long) == 2 * len(GROUPS) * len(LABELS) and not long["flagged_small"].any()
    own = long[long["thresholds"] == "per_group"]
    assert own.loc[own["group"] == "dark", "f1"].mean() > long.loc[
        (long["thresholds"] == "global") & (long["group"] == "dark"), "f1"].mean()


def test_given_thresholds_calibration_columns_and_notes():
    Y, P, g = _case(2)
    thr = LabelThresholds(LABELS, {"acne": 0.2, "erythema": 0.2, "wrinkles": 0.2})
    res = report.evaluate_multilabel_predictions(Y, P, LABELS, EvalConfig(target_recall=0.9), thresholds=thr,
                                                            groups=np.where(g == "dark", "brown", g),
                                                            P_uncalibrated=np.clip(P * 2, 0, 1))
    assert res["threshold_source"] == "given" and res["per_label"]["threshold"].tolist() == [0.2] * 3
    again = metrics.per_label_metrics(Y, P, LABELS, 0.2, target_recall=0.9)
    assert res["per_label"]["f1"].tolist() == pytest.approx(again["f1"].tolist())
    cal = res["calibration"]
    assert cal.index.tolist() == [*LABELS, "macro"]
    assert (cal["brier_uncalibrated"] != cal["brier"]).all() and res["summary"]["macro_ece"] == cal.loc["macro", "ece"]
    assert "fairness_gap" not in res and any("fairness gap (dark vs intermediate) skipped" in n for n in res["notes"])
    with pytest.raises(MetricsInputError, match="no threshold"):
        report.evaluate_multilabel_predictions(Y, P, LABELS, thresholds=LabelThresholds(["acne"], {"acne": 0.5}))
    plain = report.evaluate_multilabel_predictions(Y, P, LABELS)
    assert "group_label_metrics" not in plain and plain["metrics"].index.tolist() == ["global_thresholds"]
