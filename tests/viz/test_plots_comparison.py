"""auxiliary.viz.plots_comparison: the per-label bars of a multi-label comparison."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from auxiliary.base.config import EvalConfig
from auxiliary.evaluation import comparison_table
from auxiliary.viz import plots_comparison

LABELS = ["acne", "erythema", "wrinkles"]


def test_label_comparison_bars():
    rng = np.random.default_rng(0)
    Y = (rng.random((60, 3)) < 0.4).astype(int)
    Y[::20], Y[1::20] = 1, 0
    P = np.clip(0.4 * Y + rng.uniform(0, 0.6, Y.shape), 0, 1)
    rows = []
    for name, p in (("A", P), ("B", P[::-1])):
        r, _ = comparison_table.multilabel_metric_rows(name, "test", Y, p, LABELS, None, None, "tone_group", EvalConfig())
        rows += r
    fig = plots_comparison.plot_label_comparison(comparison_table.to_frame(rows), metric="f1")
    assert {t.get_text() for t in fig.axes[0].get_xticklabels()} == {*LABELS, "macro", "micro"}
    plt.close(fig)
