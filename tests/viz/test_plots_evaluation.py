"""auxiliary.viz.plots_evaluation: the per-group metrics figure marks small groups; every figure of a multi-label
evaluation returns its figure, on its own axes or a given one; each task's evaluation figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from auxiliary.base.config import EvalConfig
from auxiliary.evaluation import report
from auxiliary.viz import plots_evaluation


def test_plot_group_metrics_marks_small_groups():
    gm = pd.DataFrame(
        {"support": [30, 2], "flagged_small": [False, True], "balanced_accuracy": [0.8, 0.5],
         "macro_f1": [0.7, 0.4], "macro_auroc": [0.9, 0.6]},
        index=pd.Index(["light", "dark"], name="group"),
    )
    fig = plots_evaluation.plot_group_metrics(gm)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["light", "dark (small)"]
    plt.close(fig)


# ----------------------------------------------------------------------------- several labels per image
LABELS = ["acne", "erythema", "wrinkles"]


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    groups = np.repeat(["light", "intermediate", "dark"], 20)
    Y = (rng.random((60, 3)) < 0.4).astype(int)
    Y[::20], Y[1::20] = 1, 0
    Y[:, 2] = 0  # a label without positives: named in the legends, not drawn
    P = np.clip(0.4 * Y + rng.uniform(0, 0.6, Y.shape), 0, 1)
    res = report.evaluate_multilabel_predictions(Y, P, LABELS, EvalConfig(min_group_size=25), groups=groups)
    return Y, P, res


def test_curves_and_reliability(result):
    Y, P, res = result
    for fn in (plots_evaluation.plot_label_roc_curves, plots_evaluation.plot_label_pr_curves,
               plots_evaluation.plot_label_reliability):
        fig = fn(Y, P, LABELS)
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any(t.startswith("acne (") for t in legend) and any(t.startswith("wrinkles") for t in legend)
        plt.close(fig)
    fig, ax = plt.subplots()
    assert plots_evaluation.plot_label_pr_curves(Y, P, LABELS, ax=ax, thresholds=[0.5, 0.5, 0.5]) is fig
    assert ax.collections  # the operating points
    plt.close("all")


def test_heatmap_marks_small_groups_and_gap_bars(result):
    _, _, res = result
    fig = plots_evaluation.plot_group_label_heatmap(res["group_label_metrics"], thresholds="per_group")
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["light (small)", "intermediate (small)", "dark (small)"]
    assert "per-group thresholds" in fig.axes[0].get_title()
    fig2 = plots_evaluation.plot_fairness_gap(res["fairness_gap"])
    assert [t.get_text() for t in fig2.axes[0].get_xticklabels()] == [*LABELS, "macro"]
    assert len(fig2.axes[0].patches) == 2 * 4 and "dark vs intermediate" in fig2.axes[0].get_title()
    plt.close("all")


def test_every_task_has_its_evaluation_and_comparison_figures():
    """The per-task tables of viz hold one entry per task, so that a new task cannot fall through them."""
    from auxiliary.tasks import TASKS
    from auxiliary.viz import plots_comparison

    for table in (plots_evaluation.EVALUATION_FIGURES, plots_evaluation.REPORT_TABLES,
                  plots_comparison.COMPARISON_FIGURES, plots_comparison.GALLERIES):
        assert set(table) == set(TASKS)
    assert set(plots_comparison.NO_GALLERIES) == {t for t, kinds in plots_comparison.GALLERIES.items() if not kinds}
    for figures in plots_evaluation.EVALUATION_FIGURES.values():  # every report theme has its figure
        assert {"calibration", "curves", "fairness"} <= {f.theme for f in figures.values()}
