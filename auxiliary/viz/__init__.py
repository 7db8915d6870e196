"""Figures and widgets: every plot function takes ``ax=None`` and returns its figure; every ipywidgets panel.

Imported by the steps and the faces only. Modules: ``plots_synth`` (notebook 01), ``plots_data`` (02),
``plots_evaluation`` (03, 05), ``plots_training`` (04), ``plots_comparison`` (05, 06),
``plots_conditions`` (the multi-label conditions' montage), ``plots_multilabel`` (multi-label evaluation:
per-label curves and reliability, group x label heat map, fairness gap, Grad-CAM per label), ``widgets``.
Every public name below is importable from ``auxiliary.viz``.
"""

from auxiliary.viz.plots_comparison import (
    plot_before_after,
    plot_comparison_tradeoff,
    plot_error_gallery,
    plot_fairness,
    plot_gallery,
    plot_gaps,
    plot_gradcam_comparison,
    plot_gradcam_grid,
    plot_per_class,
    plot_queue,
    plot_sort_counts,
    plot_tiles,
)
from auxiliary.viz.plots_conditions import plot_condition_montage
from auxiliary.viz.plots_data import (
    plot_augmentations,
    plot_balance,
    plot_dataset_samples,
    plot_distribution,
    plot_tone_estimate,
)
from auxiliary.viz.plots_evaluation import (
    plot_confusion,
    plot_group_metrics,
    plot_pr_curves,
    plot_reliability,
    plot_roc_curves,
    plot_selection,
    plot_selection_tradeoff,
)
from auxiliary.viz.plots_multilabel import (
    plot_fairness_gap,
    plot_gradcam_label_gallery,
    plot_gradcam_labels,
    plot_group_label_heatmap,
    plot_label_comparison,
    plot_label_pr_curves,
    plot_label_reliability,
    plot_label_roc_curves,
)
from auxiliary.viz.plots_synth import (
    plot_images,
    plot_montage,
    plot_real_vs_synthetic,
    plot_strength,
    plot_synthetic_samples,
    plot_tone_distribution,
)
from auxiliary.viz.plots_training import (
    RunFigures,
    plot_curves,
    plot_per_class_recall,
    plot_run_confusion,
    save_run_figures,
)
from auxiliary.viz.widgets import ReviewPanel, WidgetsUnavailableError, dataset_browser, preview_panel

__all__ = [
    "dataset_browser",
    "plot_augmentations",
    "plot_balance",
    "plot_before_after",
    "plot_comparison_tradeoff",
    "plot_condition_montage",
    "plot_fairness_gap",
    "plot_gradcam_label_gallery",
    "plot_gradcam_labels",
    "plot_group_label_heatmap",
    "plot_label_comparison",
    "plot_label_pr_curves",
    "plot_label_reliability",
    "plot_label_roc_curves",
    "plot_confusion",
    "plot_curves",
    "plot_dataset_samples",
    "plot_distribution",
    "plot_error_gallery",
    "plot_fairness",
    "plot_gallery",
    "plot_gaps",
    "plot_gradcam_comparison",
    "plot_gradcam_grid",
    "plot_group_metrics",
    "plot_images",
    "plot_montage",
    "plot_per_class",
    "plot_per_class_recall",
    "plot_pr_curves",
    "plot_queue",
    "plot_reliability",
    "plot_roc_curves",
    "plot_run_confusion",
    "plot_selection",
    "plot_selection_tradeoff",
    "plot_sort_counts",
    "plot_strength",
    "plot_real_vs_synthetic",
    "plot_synthetic_samples",
    "plot_tiles",
    "plot_tone_distribution",
    "plot_tone_estimate",
    "preview_panel",
    "ReviewPanel",
    "RunFigures",
    "save_run_figures",
    "WidgetsUnavailableError",
]
