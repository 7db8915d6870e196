"""Figures and widgets: every plot function takes ``ax=None`` and returns its figure; every ipywidgets panel.

Imported by the steps and the faces only. Modules: ``plots_synth`` (notebook 01), ``plots_data`` (02),
``plots_evaluation`` (03, 05: an evaluation's figures, per class or per label, group x label heat map, fairness gap;
which figures each task's evaluation has), ``plots_training`` (04), ``plots_comparison`` (05, 06: trade-offs,
fairness bars, per-label bars, sorting and feedback charts; which figures each task's comparison has),
``plots_mosaics`` (images: error galleries, Grad-CAM grids, Grad-CAM per label), ``plots_conditions`` (the
multi-label conditions' montage), ``widgets`` (the ipywidgets panels of 01, 02 and 06, and what every panel shares:
interactive where a person can click, a static figure under papermill), ``panels_evaluation`` (03's results explorer:
metric x tone group x operating point of the winner's evaluation), ``panels_training`` (04's training monitor: live
curves and a stop button, a Fabric callback), ``panels_comparison`` (05's comparison browser: selectors over the
comparison table, a gallery paged with prev / next).
Every public name below is importable from ``auxiliary.viz``.
"""

from auxiliary.viz.panels_comparison import ComparisonBrowser, comparison_browser
from auxiliary.viz.panels_evaluation import ResultsExplorer, operating_point_table, results_explorer
from auxiliary.viz.panels_training import TrainingMonitor
from auxiliary.viz.plots_comparison import (
    COMPARISON_FIGURES,
    comparison_figures,
    plot_before_after,
    plot_comparison_tradeoff,
    plot_fairness,
    plot_gaps,
    plot_label_comparison,
    plot_per_class,
    plot_queue,
    plot_sort_counts,
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
    EVALUATION_FIGURES,
    class_table,
    evaluation_figure,
    evaluation_figures,
    evaluation_section,
    plot_confusion,
    plot_fairness_gap,
    plot_group_label_heatmap,
    plot_group_metrics,
    plot_label_pr_curves,
    plot_label_reliability,
    plot_label_roc_curves,
    plot_pr_curves,
    plot_reliability,
    plot_roc_curves,
    plot_selection,
    plot_selection_tradeoff,
)
from auxiliary.viz.plots_mosaics import (
    plot_error_gallery,
    plot_gallery,
    plot_gradcam_comparison,
    plot_gradcam_grid,
    plot_gradcam_label_gallery,
    plot_gradcam_labels,
    plot_tiles,
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
from auxiliary.viz.widgets import (
    Panel,
    ReviewPanel,
    WidgetsUnavailableError,
    dataset_browser,
    live,
    preview_panel,
)

__all__ = [
    "COMPARISON_FIGURES",
    "comparison_browser",
    "comparison_figures",
    "ComparisonBrowser",
    "EVALUATION_FIGURES",
    "evaluation_figure",
    "evaluation_figures",
    "class_table",
    "evaluation_section",
    "dataset_browser",
    "live",
    "operating_point_table",
    "Panel",
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
    "results_explorer",
    "ResultsExplorer",
    "ReviewPanel",
    "RunFigures",
    "save_run_figures",
    "TrainingMonitor",
    "WidgetsUnavailableError",
]
