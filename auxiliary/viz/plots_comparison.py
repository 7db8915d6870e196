"""Charts of notebook 05 and 06: trade-offs, per-class and fairness bars, sorting counts, feedback rounds.

A comparison of multi-label models (a ``label`` level in its table) has its own :func:`plot_label_comparison` (a
metric per label for every model). The galleries and Grad-CAM figures are :mod:`auxiliary.viz.plots_mosaics`.
:data:`COMPARISON_FIGURES` says which figures a comparison of each task has, so that notebook 05 and
``python -m auxiliary compare`` draw them without asking which task they hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from auxiliary.base.images import ImageReadError, read_image
from auxiliary.evaluation.arrays import group_order
from auxiliary.evaluation.fairness import DARKEST, MEDIUM
from auxiliary.viz.plots_evaluation import figure_axes
from auxiliary.viz.plots_mosaics import (
    plot_error_gallery,
    plot_gradcam_comparison,
    plot_gradcam_label_gallery,
)


# ----------------------------------------------------------------------------- charts
def plot_comparison_tradeoff(
    table: pd.DataFrame,
    metric: str = "balanced_accuracy",
    speed: str = "torch_ms_per_image_b1",
    size: str = "parameters",
    ax: Any = None,
) -> Any:
    """Seaborn scatter: speed (x) vs ``metric`` (y), marker size = ``size``; one point per model
    (``+tta`` variants have no speed rows and are left out)."""
    wide = table.xs("all", level="group")["value"].unstack("metric").reset_index()
    wide = wide[~wide["model"].str.endswith("+tta")]
    fig, ax = figure_axes(ax, (6.5, 4.5))
    if size == "parameters" and size in wide.columns:
        wide["parameters (M)"] = wide[size] / 1e6
        size = "parameters (M)"
    sns.scatterplot(data=wide, x=speed, y=metric, hue="model", size=size if size in wide.columns else None,
                    sizes=(60, 400), ax=ax, legend="brief")
    for _, r in wide.iterrows():
        if np.isfinite(r.get(speed, np.nan)) and np.isfinite(r.get(metric, np.nan)):
            ax.annotate(str(r["model"]), (r[speed], r[metric]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_title(f"{metric} vs speed (marker size: {size})", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def _model_bars(data: pd.DataFrame, x: str, ax: Any, figsize: tuple[float, float], ylabel: str, title: str, *,
                order: Sequence[str] | None = None, xlabel: str | None = None, ylim: float | None = None) -> Any:
    """Seaborn bars of ``value`` per ``x``, one bar per model (hue), the legend outside on the right."""
    fig, ax = figure_axes(ax, figsize)
    sns.barplot(data=data, x=x, y="value", hue="model", order=order, ax=ax)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(0, ylim)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def _drop_tta(df: pd.DataFrame, include_tta: bool) -> pd.DataFrame:
    return df if include_tta else df[~df["model"].str.endswith("+tta")]


def plot_per_class(table: pd.DataFrame, metric: str = "recall", include_tta: bool = False, ax: Any = None) -> Any:
    """Seaborn bars of a per-class metric (default recall), one bar per model within each class."""
    df = _drop_tta(table.reset_index(), include_tta)
    df = df[df["group"].str.startswith("class:") & (df["metric"] == metric)].copy()
    df["class"] = df["group"].str.slice(len("class:"))
    return _model_bars(df, "class", ax, (7, 4), metric, f"per-class {metric}", ylim=1.05)


def plot_fairness(table: pd.DataFrame, metric: str = "balanced_accuracy", fairness_col: str = "tone_group",
                  include_tta: bool = False, ax: Any = None) -> Any:
    """Seaborn bars of ``metric`` per group of ``fairness_col`` (groups in tone order), one bar per model;
    groups flagged as too small are marked with ``*``."""

    df = _drop_tta(table.reset_index(), include_tta)
    prefix = f"{fairness_col}:"
    sub = df[df["group"].str.startswith(prefix)].copy()
    sub["grp"] = sub["group"].str.slice(len(prefix))
    small = set(sub[(sub["metric"] == "flagged_small") & (sub["value"] > 0)]["grp"])
    sub = sub[sub["metric"] == metric]
    order = group_order(sub["grp"].unique())
    sub["grp"] = [f"{g}*" if g in small else g for g in sub["grp"]]
    order = [f"{g}*" if g in small else g for g in order]
    return _model_bars(sub, "grp", ax, (8, 4), metric, f"{metric} by {fairness_col}", order=order,
                       xlabel=fairness_col + ("  (* = fewer samples than min_group_size)" if small else ""))


def plot_gaps(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1", "ece"),
              fairness_col: str = "tone_group", stat: str = "gap", include_tta: bool = False, ax: Any = None) -> Any:
    """Seaborn bars of the fairness gap (max - min across groups) per metric, one bar per model."""
    df = _drop_tta(table.reset_index(), include_tta)
    sub = df[(df["group"] == f"{stat}:{fairness_col}") & df["metric"].isin(list(metrics))]
    return _model_bars(sub, "metric", ax, (7, 4), f"{stat} across {fairness_col} groups",
                       f"fairness {stat} by {fairness_col} (small groups excluded)",
                       order=[m for m in metrics if m in set(sub["metric"])])


# ============================================================================ multi-label comparison (notebook 05)
def plot_label_comparison(table: pd.DataFrame, metric: str = "auroc", group: str = "all", ax: Any = None,
                          title: str | None = None) -> Any:
    """Grouped bars of ``metric`` per label (and macro) for each model of a multi-label comparison table
    (levels model, split, group, label, metric)."""
    part = table.xs((group, metric), level=("group", "metric"))["value"].reset_index()
    part = part[part["label"] != "all"]
    return _model_bars(part, "label", ax, (max(5.0, 1.0 * part["label"].nunique() + 3), 3.8), metric,
                       title or f"{metric} per label ({group})", xlabel="", ylim=1.05)


# ============================================================================ a comparison's figures, by task
def _pair(draw: Callable[[Any], None], figsize: tuple[float, float] = (14, 4.5)) -> Any:
    fig, axes = plt.subplots(1, 2, figsize=figsize)
    draw(axes)
    fig.tight_layout()
    return fig


#: The figures of a comparison (notebook 05), by task name: figure name -> (theme, how it is drawn from the
#: comparison and the gallery size). Themes: ``tradeoff`` (what a model buys for its size and speed),
#: ``fairness``, ``errors`` (the best model's), ``gradcam`` (every model on the same images). A new task is one
#: more entry.
COMPARISON_FIGURES: dict[str, dict[str, tuple[str, Callable[[Any, int], Any]]]] = {
    "single": {
        "tradeoff": ("tradeoff", lambda cmp, n: _pair(lambda axes: [
            plot_comparison_tradeoff(cmp.table, "balanced_accuracy", speed=f"{b}_ms_per_image_b1", ax=a)
            for a, b in zip(axes, ("torch", "onnx"))])),
        "per_class_recall": ("fairness", lambda cmp, n: plot_per_class(cmp.table, "recall")),
        "fairness_by_tone": ("fairness", lambda cmp, n: plot_fairness(cmp.table, "balanced_accuracy",
                                                                      fairness_col=cmp.fairness_col)),
        "fairness_gaps": ("fairness", lambda cmp, n: plot_gaps(cmp.table, fairness_col=cmp.fairness_col)),
        "errors_mistakes": ("errors", lambda cmp, n: plot_error_gallery(cmp, cmp.best_model(), "mistakes", gallery_size=n)),
        "errors_low_confidence": ("errors", lambda cmp, n: plot_error_gallery(cmp, cmp.best_model(), "low_confidence",
                                                                              gallery_size=n)),
        "gradcam_grid": ("gradcam", lambda cmp, n: plot_gradcam_comparison(cmp, n=n)),
    },
    "multilabel": {
        "tradeoff": ("tradeoff", lambda cmp, n: _pair(lambda axes: [
            plot_label_comparison(cmp.table, m, ax=a) for a, m in zip(axes, ("auroc", "f1"))])),
        "fairness_by_tone": ("fairness", lambda cmp, n: _pair(lambda axes: [
            plot_label_comparison(cmp.table, "f1", group=f"{cmp.fairness_col}:{g}", ax=a)
            for a, g in zip(axes, (DARKEST, MEDIUM))], (14, 4))),
        "gradcam_labels": ("errors", lambda cmp, n: plot_gradcam_label_gallery(cmp, cmp.best_model(), n=n)),
    },
}


def comparison_figures(cmp: Any, theme: str, gallery_size: int = 8) -> dict[str, Any]:
    """The figures of ``theme`` of a comparison, by name, as its task draws them (:data:`COMPARISON_FIGURES`)."""
    return {name: draw(cmp, gallery_size) for name, (t, draw) in COMPARISON_FIGURES[cmp.task.name].items()
            if t == theme}


#: The error galleries ``python -m auxiliary compare`` writes for each model (``gallery_<kind>_<model>.png``), by
#: task name: kind -> how it is drawn from the comparison, the model and the gallery size; a task without any
#: says why (:data:`NO_GALLERIES`).
GALLERIES: dict[str, dict[str, Callable[[Any, str, int], Any]]] = {
    "single": {kind: (lambda cmp, model, n, kind=kind: plot_error_gallery(cmp, model, kind, gallery_size=n))
               for kind in ("mistakes", "low_confidence")},
    "multilabel": {},
}
#: Why a task has no error galleries.
NO_GALLERIES: dict[str, str] = {
    "multilabel": "error galleries skipped: they rank single-label mistakes (multi-label runs: see evaluate's "
                  "Grad-CAM per label)",
}


# ============================================================================ sorting (notebook 06)
def plot_sort_counts(summary: dict[str, Any], ax: Any = None, title: str | None = None) -> Any:
    """Bar chart of the inputs per destination (class folders, low_confidence, rejected)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
    else:
        fig = ax.figure
    counts = summary["counts"]
    names = list(counts)
    colors = ["#4c72b0"] * (len(names) - 2) + ["#dd8452", "#c44e52"]
    bars = ax.bar(names, [counts[n] for n in names], color=colors[-len(names):])
    ax.bar_label(bars)
    ax.set_ylim(0, max([*counts.values(), 1]) * 1.15 + 0.5)
    ax.set_ylabel("images")
    ax.set_title(title or f"Sorted {summary['n_inputs']} images ({summary['rule']})", fontsize=10)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


# ============================================================================ feedback round (notebook 06)
def plot_before_after(before: dict[str, float], after: dict[str, float],
                      keys: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1"), ax: Any = None,
                      title: str | None = None) -> Any:
    """Grouped bars of test metrics before and after the feedback round."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
    else:
        fig = ax.figure
    x = np.arange(len(keys))
    b = ax.bar(x - 0.2, [before.get(k, np.nan) for k in keys], 0.4, label="before", color="#8c8c8c")
    a = ax.bar(x + 0.2, [after.get(k, np.nan) for k in keys], 0.4, label="after feedback", color="#4c72b0")
    ax.bar_label(b, fmt="%.2f", fontsize=8)
    ax.bar_label(a, fmt="%.2f", fontsize=8)
    ax.set_xticks(x, [k.replace("_", " ") for k in keys])
    ax.set_ylim(0, 1.2)
    ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    ax.set_title(title or "Untouched test split: before vs after the feedback round", fontsize=10)
    fig.tight_layout()
    return fig


def plot_queue(queue: pd.DataFrame, n: int = 8, size: int = 96, ax: Any = None, title: str | None = None) -> Any:
    """The first ``n`` images of a review queue with the model's guess, top probability (multi-label: the
    labels it predicts and the smallest margin to a threshold) and (if known) the truth."""
    q = queue.head(n)
    cols = max(1, min(len(q), 8))
    rows = max(1, math.ceil(len(q) / cols))
    if ax is None:
        fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
        axes = list(axes.ravel())
    else:
        fig, axes = ax.figure, [ax]
    for i, a in enumerate(axes):
        a.axis("off")
        if i >= len(q) or (ax is not None and i > 0):
            continue
        r = q.iloc[i]
        try:
            img = read_image(r.get("image", r["source"]))
        except ImageReadError:
            continue
        a.imshow(img)
        truth = f"\ntrue {r['label']}" if r.get("label") else ""
        score = f"{r['top_prob']:.2f}" if "top_prob" in r else f"margin {r['margin']:.2f}"  # multi-label: no top class
        a.set_title(f"{r['predicted'] or 'none'} {score}{truth}", fontsize=7,
                    color="#c44e52" if r.get("mistake") else "black")
    fig.suptitle(title or f"Review queue (first {len(q)} of {len(queue)}, most informative first)", fontsize=9)
    fig.tight_layout()
    return fig
