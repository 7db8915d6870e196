"""auxiliary.evaluation.report: evaluate_predictions on arrays, small groups flagged, bad objective refused."""

from __future__ import annotations

import numpy as np
import pytest
from _tiny_runs import CLASSES

from auxiliary.base.config import EvalConfig
from auxiliary.evaluation import metrics, report


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
