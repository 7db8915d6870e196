"""auxiliary.viz.plots_evaluation: the per-group metrics figure marks small groups."""

from __future__ import annotations

import pandas as pd

from auxiliary.viz import plots_evaluation


def test_plot_group_metrics_marks_small_groups():
    import matplotlib.pyplot as plt

    gm = pd.DataFrame(
        {"support": [30, 2], "flagged_small": [False, True], "balanced_accuracy": [0.8, 0.5],
         "macro_f1": [0.7, 0.4], "macro_auroc": [0.9, 0.6]},
        index=pd.Index(["light", "dark"], name="group"),
    )
    fig = plots_evaluation.plot_group_metrics(gm)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["light", "dark (small)"]
    plt.close(fig)
