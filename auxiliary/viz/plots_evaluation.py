"""Figures of evaluation: reliability diagram, confusion matrix, PR and ROC curves, metrics by group, model selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from auxiliary.evaluation.calibration import expected_calibration_error, reliability_table
from auxiliary.evaluation.comparison_table import metric_column, ok_rows
from auxiliary.evaluation.metrics import confusion, per_class_auroc, per_class_metrics, pr_curves, roc_curves


# ----------------------------------------------------------------------------- plots
def _axes(ax: Any, figsize: tuple[float, float] = (5.0, 4.0)) -> tuple[Any, Any]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def plot_reliability(
    y_true: Any, probs: Any, n_bins: int = 15, ax: Any = None, label: str | None = None, title: str | None = None
) -> Any:
    """Reliability diagram: accuracy against mean confidence per bin (marker area = samples); call
    twice on the same ``ax`` to compare before/after temperature scaling."""
    tab = reliability_table(y_true, probs, n_bins=n_bins)
    ece = expected_calibration_error(y_true, probs, n_bins=n_bins)
    fig, ax = _axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration" if not ax.lines else None)
    filled = tab[tab["count"] > 0]
    total = max(int(tab["count"].sum()), 1)
    name = f"{label + ': ' if label else ''}ECE {ece:.3f}"
    (line,) = ax.plot(filled["confidence"], filled["accuracy"], marker=None, lw=1.5, label=name)
    ax.scatter(filled["confidence"], filled["accuracy"], s=20 + 400 * filled["count"] / total, color=line.get_color(), alpha=0.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or "Reliability diagram")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_confusion(
    y_true: Any, probs: Any, classes: Sequence[str], ax: Any = None, normalize: bool = True, title: str | None = None
) -> Any:
    """Heat map of the confusion matrix (colour = row share, text = count)."""
    counts = confusion(y_true, probs, classes)
    share = confusion(y_true, probs, classes, normalize="true") if normalize else counts
    fig, ax = _axes(ax, (1.2 * len(classes) + 2.5, 1.0 * len(classes) + 2))
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
    fig, ax = _axes(ax)
    for name, part in curves.groupby("class", sort=False):
        ax.step(part["recall"], part["precision"], where="post", label=f"{name} (AP {per.loc[name, 'average_precision']:.2f})")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title or "Precision-recall (one vs rest)")
    if len(curves):
        ax.legend(loc="lower left", fontsize="small")
    return fig


def plot_roc_curves(y_true: Any, probs: Any, classes: Sequence[str], ax: Any = None, title: str | None = None) -> Any:
    """One-vs-rest ROC curve of each class, AUROC in the legend."""
    curves = roc_curves(y_true, probs, classes)
    auc = per_class_auroc(y_true, probs, classes)
    fig, ax = _axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    for name, part in curves.groupby("class", sort=False):
        ax.plot(part["fpr"], part["tpr"], label=f"{name} (AUROC {auc[name]:.2f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or "ROC (one vs rest)")
    if len(curves):
        ax.legend(loc="lower right", fontsize="small")
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
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(df) + 2), 4))
    else:
        fig = ax.figure
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


# ----------------------------------------------------------------------------- model selection (notebook 03)
def plot_selection(
    table: pd.DataFrame, metrics_to_plot: tuple[str, ...] = ("val_balanced_acc", "val_macro_auroc", "val_ece"),
    ax: Any = None, title: str | None = None,
) -> Any:
    """Seaborn grouped bars of validation metrics per model (winner marked with a star)."""
    ok = table[ok_rows(table)]
    long = ok.melt(id_vars="model", value_vars=[m for m in metrics_to_plot if m in ok], var_name="metric")
    long["metric"] = long["metric"].str.replace("val_", "", regex=False)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(ok) + 2), 4))
    else:
        fig = ax.figure
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
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    sns.scatterplot(data=ok, x="train_seconds", y=col, size="params (M)", hue="model", sizes=(60, 400), ax=ax, legend="brief")
    for _, r in ok.iterrows():
        ax.annotate(r["model"], (r["train_seconds"], r[col]), textcoords="offset points", xytext=(6, 4), fontsize="small")
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(col)
    ax.set_title(title or f"{col} against training time")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
