"""Figures of multi-label evaluation: per-label ROC and PR curves and reliability, the (group x label) F1 heat map, the fairness gap before and after per-group thresholds, Grad-CAM per label, labels across models.

Every function takes ``ax=None`` (a new figure) or an axes to draw on, and returns the figure.
The arrays are those of :mod:`auxiliary.evaluation.multilabel`: ``Y`` (n, L) 0/1 truths, ``P`` (n, L)
per-label probabilities; the tables those of :mod:`auxiliary.evaluation.multilabel_report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.metrics import precision_recall_curve, roc_curve
from torch import nn

from auxiliary.base.images import read_image
from auxiliary.evaluation.fairness import group_order
from auxiliary.evaluation.multilabel import label_auroc, label_average_precision, multilabel_arrays
from auxiliary.evaluation.multilabel_calibration import label_ece, label_reliability
from auxiliary.inference.explain import as_rgb, gradcam_labels, overlay
from auxiliary.viz.plots_comparison import plot_tiles


def _axes(ax: Any, figsize: tuple[float, float] = (5.0, 4.0)) -> tuple[Any, Any]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


# ----------------------------------------------------------------------------- curves
def plot_label_roc_curves(Y: Any, P: Any, labels: Sequence[str], ax: Any = None, title: str | None = None) -> Any:
    """The ROC curve of each label (AUROC in the legend; a label without positives or negatives is named, not drawn)."""
    y, p = multilabel_arrays(Y, P, labels)
    fig, ax = _axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    for j, name in enumerate(labels):
        if y[:, j].all() or not y[:, j].any():
            ax.plot([], [], ls="none", label=f"{name} (undefined: one class only)")
            continue
        fpr, tpr, _ = roc_curve(y[:, j], p[:, j])
        ax.plot(fpr, tpr, label=f"{name} (AUROC {label_auroc(y[:, j], p[:, j]):.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title or "ROC per label")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_label_pr_curves(Y: Any, P: Any, labels: Sequence[str], ax: Any = None, title: str | None = None,
                         thresholds: Sequence[float] | None = None) -> Any:
    """The precision-recall curve of each label (AP in the legend); with ``thresholds`` (one per label) each
    curve marks the operating point of its threshold."""
    y, p = multilabel_arrays(Y, P, labels)
    fig, ax = _axes(ax)
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
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title or ("Precision-recall per label" + (" (dot: threshold)" if thresholds is not None else "")))
    ax.legend(loc="lower left", fontsize="small")
    return fig


def plot_label_reliability(Y: Any, P: Any, labels: Sequence[str], n_bins: int = 10, ax: Any = None,
                           title: str | None = None) -> Any:
    """Reliability of each label's probability: observed frequency against mean probability per bin
    (marker area = images in the bin), the label's ECE in the legend."""
    y, p = multilabel_arrays(Y, P, labels)
    fig, ax = _axes(ax)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    total = max(len(y), 1)
    for j, name in enumerate(labels):
        tab = label_reliability(y[:, j], p[:, j], n_bins)
        full = tab[tab["count"] > 0]
        (line,) = ax.plot(full["mean_probability"], full["frequency"], lw=1.5,
                          label=f"{name} (ECE {label_ece(y[:, j], p[:, j], n_bins):.3f})")
        ax.scatter(full["mean_probability"], full["frequency"], s=15 + 300 * full["count"] / total,
                   color=line.get_color(), alpha=0.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(title or "Reliability per label")
    ax.legend(loc="upper left", fontsize="small")
    return fig


# ----------------------------------------------------------------------------- fairness
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
    fig, ax = _axes(ax, (1.1 * len(labels) + 2.5, 0.5 * len(order) + 1.8))
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
    fig, ax = _axes(ax, (max(5.0, 0.9 * len(labels) + 2.5), 3.6))
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


# ----------------------------------------------------------------------------- Grad-CAM
def _caption(name: str, j: int, probs: Any, thresholds: Any, truths: Any) -> str:
    text = name
    if probs is not None:
        text += f"\np={float(probs[j]):.2f}"
        if thresholds is not None:
            text += f" t={float(thresholds[j]):.2f}"
    if truths is not None:
        text += " (true)" if int(truths[j]) else " (absent)"
    return text


def plot_gradcam_labels(
    model: nn.Module,
    images: Sequence[np.ndarray],
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    labels: Sequence[str],
    probs: Sequence[Sequence[float]] | None = None,
    thresholds: Sequence[Sequence[float]] | Sequence[float] | None = None,
    truths: Sequence[Sequence[int]] | None = None,
    titles: Sequence[str] | None = None,
    alpha: float = 0.4,
    tile_h: int = 120,
    ax: Any = None,
    title: str | None = "Grad-CAM per label (each label's own logit)",
) -> Any:
    """One row per image: the image, then one Grad-CAM overlay per label
    (:func:`auxiliary.inference.explain.gradcam_labels`) captioned with its probability, its threshold
    (one per label, or one row per image) and whether the label is truly present."""
    rows_thr = None if thresholds is None else np.atleast_2d(np.asarray(thresholds, dtype=np.float64))
    tiles: list[np.ndarray] = []
    captions: list[str] = []
    for i, im in enumerate(images):
        rgb = as_rgb(im)
        cams = gradcam_labels(model, rgb, img_size, mean, std, len(labels))
        tiles.append(rgb)
        captions.append(str(titles[i]) if titles is not None else f"image {i + 1}")
        t_row = None if rows_thr is None else rows_thr[min(i, len(rows_thr) - 1)]
        for j, name in enumerate(labels):
            tiles.append(overlay(rgb, cams[j], alpha))
            captions.append(_caption(name, j, None if probs is None else probs[i], t_row,
                                     None if truths is None else truths[i]))
    return plot_tiles(tiles, captions, n_cols=len(labels) + 1, tile_h=tile_h, ax=ax, title=title)


# ----------------------------------------------------------------------------- comparison
def plot_label_comparison(table: pd.DataFrame, metric: str = "auroc", group: str = "all", ax: Any = None,
                          title: str | None = None) -> Any:
    """Grouped bars of ``metric`` per label (and macro) for each model of a multi-label comparison table
    (levels model, split, group, label, metric)."""
    part = table.xs((group, metric), level=("group", "metric"))["value"].reset_index()
    part = part[part["label"] != "all"]
    fig, ax = _axes(ax, (max(5.0, 1.0 * part["label"].nunique() + 3), 3.8))
    sns.barplot(data=part, x="label", y="value", hue="model", ax=ax)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} per label ({group})")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig



def plot_gradcam_label_gallery(cmp: Any, model: str, n: int = 4, ax: Any = None) -> Any:
    """Grad-CAM per label of one model of a multi-label comparison (notebook 05): the first ``n`` test
    images showing at least one label, captioned with each label's probability, threshold and truth."""
    pred = cmp.predictions[model]
    labels = [str(x) for x in cmp.runs[model]["classes"]]
    shown = pred[(pred[labels].sum(axis=1) > 0) & pred[[f"prob_{lab}" for lab in labels]].notna().all(axis=1)].head(n)
    torch_model, info = cmp.torch_model(model)
    glob = (info.get("thresholds") or {}).get("global") or {}
    return plot_gradcam_labels(
        torch_model, [read_image(p) for p in shown["path"]], info["img_size"], info["mean"], info["std"], labels,
        probs=shown[[f"prob_{lab}" for lab in labels]].to_numpy(),
        thresholds=[float(glob.get(lab, 0.5)) for lab in labels], truths=shown[labels].to_numpy(),
        titles=[Path(p).name for p in shown["path"]], ax=ax, title=f"{model}: Grad-CAM per label (test images)")
