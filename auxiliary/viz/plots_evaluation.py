"""Figures of evaluation: reliability diagrams, confusion matrix, PR and ROC curves, metrics by group, model selection.

One class per image: :func:`plot_reliability`, :func:`plot_confusion`, :func:`plot_pr_curves`,
:func:`plot_roc_curves`, :func:`plot_group_metrics`. Several labels per image (``Y`` (n, L) 0/1 truths, ``P``
(n, L) per-label probabilities): :func:`plot_label_roc_curves`, :func:`plot_label_pr_curves`,
:func:`plot_label_reliability`, the (group x label) heat map :func:`plot_group_label_heatmap` and the fairness gap
before and after per-group thresholds :func:`plot_fairness_gap` (Grad-CAM per label:
:mod:`auxiliary.viz.plots_mosaics`). Notebook 03's selection: :func:`plot_selection`, :func:`plot_selection_tradeoff`.

:data:`EVALUATION_FIGURES` says, for each task, which figures an evaluation
(:func:`auxiliary.steps.evaluate.evaluate`'s result) has and what each shows (its theme: ``calibration``,
``curves``, ``fairness``...): the evaluate step writes them all (:func:`evaluation_figures`), notebook 03 shows
those of a theme (:func:`evaluation_figure`), so neither asks which task it holds.

Every function takes ``ax=None`` (a new figure, :func:`figure_axes`) or an axes to draw on, and returns the figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.metrics import precision_recall_curve, roc_curve
from torch import nn

from auxiliary.base.images import ImageReadError, read_image
from auxiliary.evaluation.arrays import group_order, multilabel_arrays
from auxiliary.evaluation.calibration import (
    expected_calibration_error,
    label_ece,
    label_reliability,
    reliability_table,
)
from auxiliary.evaluation.comparison_table import metric_column, ok_rows
from auxiliary.evaluation.metrics import (
    confusion,
    label_auroc,
    label_average_precision,
    per_class_auroc,
    per_class_metrics,
    pr_curves,
    roc_curves,
)
from auxiliary.inference.explain import ExplainError
from auxiliary.models.preprocess import Preprocessing
from auxiliary.viz.plots_mosaics import plot_gradcam_labels


def figure_axes(ax: Any, figsize: tuple[float, float] = (5.0, 4.0)) -> tuple[Any, Any]:
    """``(figure, axes)``: a new figure of ``figsize`` when ``ax`` is None, else ``ax`` and its figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def _reliability_curve(ax: Any, predicted: Any, observed: Any, counts: Any, total: int, label: str,
                       marker_size: tuple[float, float]) -> None:
    """One reliability curve: observed against predicted per filled bin, marker area growing with the bin's rows."""
    (line,) = ax.plot(predicted, observed, lw=1.5, label=label)
    ax.scatter(predicted, observed, s=marker_size[0] + marker_size[1] * counts / max(total, 1), color=line.get_color(),
               alpha=0.6)


def _finish_curves(ax: Any, xlabel: str, ylabel: str, title: str, legend: str | None, xlim: float = 1.0) -> None:
    """Axis range [0, 1], labels, title and (``legend``: its place) the legend of a curves figure."""
    ax.set_xlim(0, xlim)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.legend(loc=legend, fontsize="small")


# ----------------------------------------------------------------------------- one class per image


def plot_reliability(
    y_true: Any, probs: Any, n_bins: int = 15, ax: Any = None, label: str | None = None, title: str | None = None
) -> Any:
    """Reliability diagram: accuracy against mean confidence per bin (marker area = samples); call
    twice on the same ``ax`` to compare before/after temperature scaling."""
    tab = reliability_table(y_true, probs, n_bins=n_bins)
    ece = expected_calibration_error(y_true, probs, n_bins=n_bins)
    fig, ax = figure_axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration" if not ax.lines else None)
    filled = tab[tab["count"] > 0]
    _reliability_curve(ax, filled["confidence"], filled["accuracy"], filled["count"], int(tab["count"].sum()),
                       f"{label + ': ' if label else ''}ECE {ece:.3f}", (20, 400))
    _finish_curves(ax, "confidence (top probability)", "accuracy", title or "Reliability diagram", "upper left")
    return fig


def plot_confusion(
    y_true: Any, probs: Any, classes: Sequence[str], ax: Any = None, normalize: bool = True, title: str | None = None
) -> Any:
    """Heat map of the confusion matrix (colour = row share, text = count)."""
    counts = confusion(y_true, probs, classes)
    share = confusion(y_true, probs, classes, normalize="true") if normalize else counts
    fig, ax = figure_axes(ax, (1.2 * len(classes) + 2.5, 1.0 * len(classes) + 2))
    annot = counts.astype(str) if not normalize else counts.astype(str) + "\n" + share.map(
        lambda v: "" if pd.isna(v) else f"{v:.0%}"
    )
    sns.heatmap(share.fillna(0), annot=annot.values, fmt="", cmap="Blues", vmin=0, vmax=1 if normalize else None, cbar=False, ax=ax)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "Confusion matrix")
    return fig


def plot_pr_curves(y_true: Any, probs: Any, classes: Sequence[str], ax: Any = None, title: str | None = None) -> Any:
    """One-vs-rest precision-recall curve of each class, average precision in the legend."""
    curves = pr_curves(y_true, probs, classes)
    per = per_class_metrics(y_true, probs, classes)
    fig, ax = figure_axes(ax)
    for name, part in curves.groupby("class", sort=False):
        ax.step(part["recall"], part["precision"], where="post", label=f"{name} (AP {per.loc[name, 'average_precision']:.2f})")
    _finish_curves(ax, "recall", "precision", title or "Precision-recall (one vs rest)",
                   "lower left" if len(curves) else None, xlim=1.01)
    return fig


def plot_roc_curves(y_true: Any, probs: Any, classes: Sequence[str], ax: Any = None, title: str | None = None) -> Any:
    """One-vs-rest ROC curve of each class, AUROC in the legend."""
    curves = roc_curves(y_true, probs, classes)
    auc = per_class_auroc(y_true, probs, classes)
    fig, ax = figure_axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    for name, part in curves.groupby("class", sort=False):
        ax.plot(part["fpr"], part["tpr"], label=f"{name} (AUROC {auc[name]:.2f})")
    _finish_curves(ax, "false positive rate", "true positive rate", title or "ROC (one vs rest)",
                   "lower right" if len(curves) else None)
    return fig


# ----------------------------------------------------------------------------- fairness
def plot_group_metrics(
    group_df: pd.DataFrame, metrics_to_plot: Sequence[str] = ("balanced_accuracy", "macro_f1", "macro_auroc"), ax: Any = None,
    title: str | None = None,
) -> Any:
    """Grouped bar chart of metrics per group; groups flagged as too small are hatched and marked ``(small)``."""
    df = group_df.copy()
    labels = [f"{g} (small)" if df.loc[g, "flagged_small"] else str(g) for g in df.index] if "flagged_small" in df else list(df.index)
    df = df.assign(group_label=labels)
    long = df.melt(id_vars="group_label", value_vars=[m for m in metrics_to_plot if m in df.columns], var_name="metric")
    fig, ax = figure_axes(ax, (max(5.0, 1.2 * len(df) + 2), 4))
    sns.barplot(data=long, x="group_label", y="value", hue="metric", ax=ax)
    if "flagged_small" in group_df:
        small = set(np.flatnonzero(group_df["flagged_small"].to_numpy()))
        n_groups = len(df)
        for i, bar in enumerate(ax.patches[: n_groups * len(metrics_to_plot)]):
            if i % n_groups in small:
                bar.set_hatch("//")
                bar.set_alpha(0.5)
    ax.set_xlabel("")
    ax.set_ylabel("value")
    ax.set_ylim(0, 1.05)
    ax.set_title(title or "Metrics per group (hatched: too few samples)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    return fig


# ----------------------------------------------------------------------------- several labels per image
def plot_label_roc_curves(Y: Any, P: Any, labels: Sequence[str], ax: Any = None, title: str | None = None) -> Any:
    """The ROC curve of each label (AUROC in the legend; a label without positives or negatives is named, not drawn)."""
    y, p = multilabel_arrays(Y, P, labels)
    fig, ax = figure_axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    for j, name in enumerate(labels):
        if y[:, j].all() or not y[:, j].any():
            ax.plot([], [], ls="none", label=f"{name} (undefined: one class only)")
            continue
        fpr, tpr, _ = roc_curve(y[:, j], p[:, j])
        ax.plot(fpr, tpr, label=f"{name} (AUROC {label_auroc(y[:, j], p[:, j]):.2f})")
    _finish_curves(ax, "false positive rate", "true positive rate", title or "ROC per label", "lower right")
    return fig


def plot_label_pr_curves(Y: Any, P: Any, labels: Sequence[str], ax: Any = None, title: str | None = None,
                         thresholds: Sequence[float] | None = None) -> Any:
    """The precision-recall curve of each label (AP in the legend); with ``thresholds`` (one per label) each
    curve marks the operating point of its threshold."""
    y, p = multilabel_arrays(Y, P, labels)
    fig, ax = figure_axes(ax)
    for j, name in enumerate(labels):
        if not y[:, j].any():
            ax.plot([], [], ls="none", label=f"{name} (no positives)")
            continue
        prec, rec, _ = precision_recall_curve(y[:, j], p[:, j])
        (line,) = ax.step(rec, prec, where="post",
                          label=f"{name} (AP {label_average_precision(y[:, j], p[:, j]):.2f})")
        if thresholds is not None:
            flag = p[:, j] >= float(thresholds[j])
            tp = int((flag & (y[:, j] == 1)).sum())
            if flag.any():
                ax.scatter([tp / y[:, j].sum()], [tp / flag.sum()], color=line.get_color(), marker="o", zorder=3)
    _finish_curves(ax, "recall", "precision",
                   title or ("Precision-recall per label" + (" (dot: threshold)" if thresholds is not None else "")),
                   "lower left", xlim=1.01)
    return fig


def plot_label_reliability(Y: Any, P: Any, labels: Sequence[str], n_bins: int = 10, ax: Any = None,
                           title: str | None = None) -> Any:
    """Reliability of each label's probability: observed frequency against mean probability per bin
    (marker area = images in the bin), the label's ECE in the legend."""
    y, p = multilabel_arrays(Y, P, labels)
    fig, ax = figure_axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    for j, name in enumerate(labels):
        tab = label_reliability(y[:, j], p[:, j], n_bins)
        full = tab[tab["count"] > 0]
        _reliability_curve(ax, full["mean_probability"], full["frequency"], full["count"], len(y),
                           f"{name} (ECE {label_ece(y[:, j], p[:, j], n_bins):.3f})", (15, 300))
    _finish_curves(ax, "mean predicted probability", "observed frequency", title or "Reliability per label", "upper left")
    ax.set_ylim(-0.02, 1.02)
    return fig


def plot_group_label_heatmap(group_label_metrics: pd.DataFrame, metric: str = "f1", thresholds: str = "global",
                             ax: Any = None, title: str | None = None) -> Any:
    """Heat map of ``metric`` per (group, label) from a tidy ``group_label_metrics`` table (rows of
    ``thresholds`` ``global`` or ``per_group`` when the table has that column); small groups are marked."""
    df = group_label_metrics
    if "thresholds" in df.columns:
        df = df[df["thresholds"] == thresholds]
    wide = df.pivot(index="group", columns="label", values=metric).astype(float)
    labels = list(dict.fromkeys(df["label"]))
    order = group_order(list(wide.index))
    wide = wide.reindex(index=order, columns=labels)
    small = set(df.loc[df["flagged_small"].astype(bool), "group"]) if "flagged_small" in df else set()
    fig, ax = figure_axes(ax, (1.1 * len(labels) + 2.5, 0.5 * len(order) + 1.8))
    sns.heatmap(wide, annot=True, fmt=".2f", cmap="RdYlGn", vmin=0, vmax=1, cbar=True, ax=ax,
                mask=wide.isna(), linewidths=0.5)
    ax.set_yticks(np.arange(len(order)) + 0.5, [f"{g} (small)" if g in small else str(g) for g in order], rotation=0)
    ax.set_xlabel("label")
    ax.set_ylabel("group")
    ax.set_title(title or f"{metric} per group and label ({thresholds.replace('_', '-')} thresholds)")
    return fig


def plot_fairness_gap(gap: pd.DataFrame, target: float | None = 0.15, ax: Any = None, title: str | None = None) -> Any:
    """Bars of the signed F1 gap (group a minus group b) per label and macro, with the global thresholds
    (before) and the per-group ones (after); dashed lines at ``+-target``."""
    labels = [str(i) for i in gap.index]
    x = np.arange(len(labels))
    fig, ax = figure_axes(ax, (max(5.0, 0.9 * len(labels) + 2.5), 3.6))
    before = ax.bar(x - 0.2, gap["gap_global"].astype(float), 0.4, label="global thresholds", color="#8c8c8c")
    after = ax.bar(x + 0.2, gap["gap_group"].astype(float), 0.4, label="per-group thresholds", color="#4c72b0")
    ax.bar_label(before, fmt="%.2f", fontsize=7)
    ax.bar_label(after, fmt="%.2f", fontsize=7)
    ax.axhline(0, color="black", lw=0.8)
    if target is not None:
        for s in (-1, 1):
            ax.axhline(s * float(target), color="#c44e52", ls="--", lw=1)
    ax.set_xticks(x, labels)
    a, b = gap.attrs.get("group_a", "a"), gap.attrs.get("group_b", "b")
    ax.set_ylabel(f"F1({a}) - F1({b})")
    ax.set_title(title or f"Fairness gap {a} vs {b}, before and after per-group thresholds")
    ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------- model selection (notebook 03)
def plot_selection(
    table: pd.DataFrame, metrics_to_plot: tuple[str, ...] = ("val_balanced_acc", "val_macro_auroc", "val_ece"),
    ax: Any = None, title: str | None = None,
) -> Any:
    """Seaborn grouped bars of validation metrics per model (winner marked with a star)."""
    ok = table[ok_rows(table)]
    long = ok.melt(id_vars="model", value_vars=[m for m in metrics_to_plot if m in ok], var_name="metric")
    long["metric"] = long["metric"].str.replace("val_", "", regex=False)
    fig, ax = figure_axes(ax, (max(6.0, 1.6 * len(ok) + 2), 4))
    sns.barplot(data=long, x="model", y="value", hue="metric", ax=ax)
    for cont in ax.containers:
        ax.bar_label(cont, fmt="%.2f", fontsize="x-small", padding=1)
    winner = table.attrs.get("winner")
    if winner is not None:
        ax.set_xticks(ax.get_xticks(), [f"{t.get_text()} *" if t.get_text() == winner else t.get_text()
                                        for t in ax.get_xticklabels()])
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("")
    ax.set_ylabel("validation value (ECE: lower is better)")
    metric = table.attrs.get("metric", "")
    ax.set_title(title or f"Model selection on an equal budget (* winner by {metric})")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    plt.setp(ax.get_xticklabels(), rotation=15, ha="right")
    return fig


def plot_selection_tradeoff(table: pd.DataFrame, metric: str = "val_balanced_acc", ax: Any = None, title: str | None = None) -> Any:
    """Seaborn scatter of a metric against training time; marker size = parameters."""
    col, _ = metric_column(metric)
    ok = table[ok_rows(table) & table[col].notna()].copy()
    ok["params (M)"] = ok["params"] / 1e6
    fig, ax = figure_axes(ax, (6, 4))
    sns.scatterplot(data=ok, x="train_seconds", y=col, size="params (M)", hue="model", sizes=(60, 400), ax=ax, legend="brief")
    for _, r in ok.iterrows():
        ax.annotate(r["model"], (r["train_seconds"], r[col]), textcoords="offset points", xytext=(6, 4), fontsize="small")
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(col)
    ax.set_title(title or f"{col} against training time")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ----------------------------------------------------------------------------- an evaluation's figures, by task
class EvaluationFigure(NamedTuple):
    """One figure of an evaluation: its ``theme``, the result entry it needs (``None``: always drawn), how it is
    drawn from the result (on ``ax``, with the PyTorch ``model`` for Grad-CAM) and what a note calls it."""

    theme: str
    needs: str | None
    draw: Callable[[Mapping[str, Any], Any, Any], Any]
    title: str


def _ece_bins(res: Mapping[str, Any]) -> int:
    return int(res["info"]["eval"]["ece_bins"])


def _reliability_before_after(res: Mapping[str, Any], ax: Any, model: Any) -> Any:
    fig, ax = figure_axes(ax)
    plot_reliability(res["truths"], res["probs_uncalibrated"], n_bins=_ece_bins(res), ax=ax, label="T = 1")
    return plot_reliability(res["truths"], res["probs"], n_bins=_ece_bins(res), ax=ax,
                            label=f"T = {res['temperature']:.2f}", title="Reliability, before and after calibration")


def _gradcam_per_label(res: Mapping[str, Any], ax: Any, model: Any) -> Any:
    rows, pred, labels = res["gradcam_rows"], res["predictions"], list(res["classes"])
    if not rows:
        raise ExplainError("no readable test image has a true label")
    if model is None:
        raise ExplainError("no PyTorch model to explain")
    return plot_gradcam_labels(model, [read_image(pred["path"].iloc[i]) for i in rows],
                               Preprocessing(**res["preprocess"]), labels, probs=res["probs"][rows],
                               thresholds=res["thresholds"].for_rows(None), truths=res["truths"][rows],
                               titles=[Path(pred["path"].iloc[i]).name for i in rows], ax=ax)


#: The figures of an evaluation (:func:`auxiliary.steps.evaluate.evaluate`'s result), by task name: file stem ->
#: :class:`EvaluationFigure`. A new task is one more entry.
EVALUATION_FIGURES: dict[str, dict[str, EvaluationFigure]] = {
    "single": {
        "reliability": EvaluationFigure("calibration", None, _reliability_before_after, "reliability diagram"),
        "confusion": EvaluationFigure("errors", None, lambda res, ax, model: plot_confusion(
            res["truths"], res["probs"], res["classes"], ax=ax), "confusion matrix"),
        "pr_curves": EvaluationFigure("curves", None, lambda res, ax, model: plot_pr_curves(
            res["truths"], res["probs"], res["classes"], ax=ax), "precision-recall curves"),
        "group_metrics": EvaluationFigure("fairness", "group_metrics", lambda res, ax, model: plot_group_metrics(
            res["group_metrics"], ax=ax), "metrics per group"),
    },
    "multilabel": {
        "roc_curves": EvaluationFigure("errors", None, lambda res, ax, model: plot_label_roc_curves(
            res["truths"], res["probs"], res["classes"], ax=ax), "ROC curves per label"),
        "pr_curves": EvaluationFigure("curves", None, lambda res, ax, model: plot_label_pr_curves(
            res["truths"], res["probs"], res["classes"], ax=ax, thresholds=res["thresholds"].for_rows(None)),
            "precision-recall curves per label"),
        "reliability": EvaluationFigure("calibration", None, lambda res, ax, model: plot_label_reliability(
            res["truths"], res["probs"], res["classes"], n_bins=min(10, _ece_bins(res)), ax=ax), "reliability per label"),
        "group_label_f1": EvaluationFigure("fairness", "group_label_metrics", lambda res, ax, model:
                                           plot_group_label_heatmap(res["group_label_metrics"], ax=ax),
                                           "F1 per group and label"),
        "fairness_gap": EvaluationFigure("gap", "fairness_gap", lambda res, ax, model: plot_fairness_gap(
            res["fairness_gap"], ax=ax), "fairness gap"),
        "gradcam_labels": EvaluationFigure("gradcam", "gradcam_rows", _gradcam_per_label, "Grad-CAM per label"),
    },
}


def evaluation_figures(res: dict[str, Any], model: nn.Module | None = None) -> dict[str, Any]:
    """Every figure of an evaluation result that it has the entries for, by file stem (its task's
    :data:`EVALUATION_FIGURES`); one that cannot be drawn (an unreadable image, a model Grad-CAM cannot explain)
    is left out with a note in ``res["notes"]``."""
    out: dict[str, Any] = {}
    for stem, figure in EVALUATION_FIGURES[res["task"]].items():
        if figure.needs is not None and figure.needs not in res:
            continue
        try:
            out[stem] = figure.draw(res, None, model)
        except (ExplainError, ImageReadError) as exc:
            res["notes"].append(f"{figure.title[0].upper()}{figure.title[1:]} skipped: {exc}")
    return out


#: The tables of an evaluation that a report shows beside the figure of each theme, by task name.
REPORT_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "single": {"calibration": ("metrics",), "curves": ("per_class",), "fairness": ("group_metrics", "gaps")},
    "multilabel": {"calibration": ("metrics", "calibration"), "curves": ("per_label",),
                   "fairness": ("group_label_metrics", "fairness_gap")},
}


def class_table(res: Mapping[str, Any]) -> pd.DataFrame:
    """The per-class table of an evaluation result (per label for a multi-label model): one row per class or label
    with its ``recall``, ``precision``... (the first table of its task's ``curves`` in :data:`REPORT_TABLES`)."""
    return res[REPORT_TABLES[res["task"]]["curves"][0]]


def evaluation_section(res: Mapping[str, Any], theme: str, ax: Any = None) -> tuple[Any, list[pd.DataFrame]]:
    """What a report (notebook 03) shows of an evaluation under ``theme``: the figure (:func:`evaluation_figure`)
    and the tables beside it (:data:`REPORT_TABLES`, those the result has)."""
    names = REPORT_TABLES[res["task"]].get(theme, ())
    return evaluation_figure(res, theme, ax=ax), [res[n] for n in names if n in res]


def evaluation_figure(res: Mapping[str, Any], theme: str, ax: Any = None, model: nn.Module | None = None) -> Any:
    """The figure of ``theme`` (``calibration``, ``curves``, ``fairness``, ``errors``...) of an evaluation result,
    as its task draws it; ``None`` when the result has none (no groups, or a theme the task has no figure for)."""
    for figure in EVALUATION_FIGURES[res["task"]].values():
        if figure.theme == theme and (figure.needs is None or figure.needs in res):
            return figure.draw(res, ax, model)
    return None
