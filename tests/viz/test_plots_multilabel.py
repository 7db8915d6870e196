"""auxiliary.viz.plots_multilabel: every figure of a multi-label evaluation returns its figure, on its own axes or a given one."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from auxiliary.base.config import EvalConfig
from auxiliary.evaluation import comparison_table, multilabel_report
from auxiliary.viz import plots_multilabel

LABELS = ["acne", "erythema", "wrinkles"]


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    groups = np.repeat(["light", "intermediate", "dark"], 20)
    Y = (rng.random((60, 3)) < 0.4).astype(int)
    Y[::20], Y[1::20] = 1, 0
    Y[:, 2] = 0  # a label without positives: named in the legends, not drawn
    P = np.clip(0.4 * Y + rng.uniform(0, 0.6, Y.shape), 0, 1)
    res = multilabel_report.evaluate_multilabel_predictions(Y, P, LABELS, EvalConfig(min_group_size=25), groups=groups)
    return Y, P, res


def test_curves_and_reliability(result):
    Y, P, res = result
    for fn in (plots_multilabel.plot_label_roc_curves, plots_multilabel.plot_label_pr_curves,
               plots_multilabel.plot_label_reliability):
        fig = fn(Y, P, LABELS)
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any(t.startswith("acne (") for t in legend) and any(t.startswith("wrinkles") for t in legend)
        plt.close(fig)
    fig, ax = plt.subplots()
    assert plots_multilabel.plot_label_pr_curves(Y, P, LABELS, ax=ax, thresholds=[0.5, 0.5, 0.5]) is fig
    assert ax.collections  # the operating points
    plt.close("all")


def test_heatmap_marks_small_groups_and_gap_bars(result):
    _, _, res = result
    fig = plots_multilabel.plot_group_label_heatmap(res["group_label_metrics"], thresholds="per_group")
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["light (small)", "intermediate (small)", "dark (small)"]
    assert "per-group thresholds" in fig.axes[0].get_title()
    fig2 = plots_multilabel.plot_fairness_gap(res["fairness_gap"])
    assert [t.get_text() for t in fig2.axes[0].get_xticklabels()] == [*LABELS, "macro"]
    assert len(fig2.axes[0].patches) == 2 * 4 and "dark vs intermediate" in fig2.axes[0].get_title()
    plt.close("all")


def test_label_comparison_bars(result):
    Y, P, _ = result
    rows = []
    for name, p in (("A", P), ("B", P[::-1])):
        r, _ = comparison_table.multilabel_metric_rows(name, "test", Y, p, LABELS, None, None, "tone_group", EvalConfig())
        rows += r
    fig = plots_multilabel.plot_label_comparison(comparison_table.to_frame(rows), metric="f1")
    assert {t.get_text() for t in fig.axes[0].get_xticklabels()} == {*LABELS, "macro", "micro"}
    plt.close(fig)
