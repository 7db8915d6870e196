"""Figures of notebook 05 and 06: error galleries, Grad-CAM side by side, trade-offs, per-class and fairness bars, sorting counts, feedback rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from torch import nn

from auxiliary.base.images import ImageReadError, read_image
from auxiliary.evaluation.comparison_table import (
    CompareError,
    low_confidence_rows,
    most_confident_mistakes,
    sample_rows,
)
from auxiliary.evaluation.fairness import group_order
from auxiliary.inference.explain import as_rgb, gradcam_batch, overlay


def plot_gallery(
    rows: pd.DataFrame,
    title: str | None = None,
    n_cols: int | None = None,
    gradcam: tuple[Any, int, Sequence[float], Sequence[float]] | None = None,
    per_class: bool = True,
    ax: Any = None,
) -> Any:
    """Images of a prediction table (e.g. :func:`auxiliary.evaluation.comparison_table.most_confident_mistakes`), captioned
    ``true -> predicted (p)``; one line per true class when ``per_class``. With
    ``gradcam=(model, img_size, mean, std)`` each image is shown beside the Grad-CAM
    of its predicted class. Returns the figure."""
    items: list[tuple[np.ndarray | None, str, str]] = []
    if per_class and len(rows):
        width = int(rows.groupby("label").size().max())
        for _cls, grp in rows.groupby("label", sort=True):
            for _, r in grp.iterrows():
                items.append((None, str(r["path"]), f"{r['label']} -> {r['pred']} ({r['conf']:.2f})"))
            items += [(np.full((8, 8, 3), 255, np.uint8), "", "")] * (width - len(grp))
        n_cols = width
    else:
        for _, r in rows.iterrows():
            items.append((None, str(r["path"]), f"{r['label']} -> {r['pred']} ({r['conf']:.2f})"))
    images, titles, todo = [], [], []
    for arr, path, cap in items:
        if arr is None:
            try:
                arr = read_image(path)
                todo.append(len(images))
            except ImageReadError:
                arr, cap = np.full((8, 8, 3), 200, np.uint8), f"unreadable: {Path(path).name}"
        images.append(arr)
        titles.append(cap)
    if gradcam is not None and todo:
        model, img_size, mean, std = gradcam  # Grad-CAM of each image's predicted class
        cams = gradcam_batch(model, [images[i] for i in todo], img_size, mean, std)
        for i, cam in zip(todo, cams):
            im = images[i]
            sep = np.full((im.shape[0], max(2, im.shape[1] // 40), 3), 255, np.uint8)
            images[i] = np.concatenate([im, sep, overlay(im, cam)], axis=1)
        for i in range(len(images)):
            if i not in todo:  # keep blank padding tiles the same width as image pairs
                im = images[i]
                images[i] = np.concatenate([im, im], axis=1)
    return plot_tiles(images, titles, n_cols=n_cols or 4, tile_h=120, ax=ax, title=title)


def plot_error_gallery(
    cmp: Any,
    model: str | None = None,
    kind: str = "mistakes",
    n: int | None = None,
    gradcam: bool = True,
    ax: Any = None,
    gallery_size: int = 8,
) -> Any:
    """Gallery of ``kind`` = ``"mistakes"`` (most confident) or ``"low_confidence"`` (top p < cmp.conf)
    for one model (default: the best), per true class, with Grad-CAM beside each image."""
    model = model or cmp.best_model()
    if model not in cmp.predictions:
        raise CompareError(f"no predictions for {model!r} (models: {', '.join(cmp.predictions)})")
    pred = cmp.predictions[model]
    n_classes = max(1, pred["label"].nunique())
    n = n or max(2, math.ceil(gallery_size / n_classes))
    if kind == "mistakes":
        rows = most_confident_mistakes(pred, n=n)
        title = f"{model}: most confident mistakes per true class (true -> predicted (p))"
    elif kind in ("low_confidence", "low"):
        rows = low_confidence_rows(pred, conf=cmp.conf, n=n)
        title = f"{model}: low-confidence band (top p < {cmp.conf:g}) per true class"
    else:
        raise CompareError(f"unknown gallery kind {kind!r} (mistakes or low_confidence)")
    cam = None
    if gradcam and len(rows):
        torch_model, info = cmp.torch_model(model)
        cam = (torch_model, info["img_size"], info["mean"], info["std"])
    if rows.empty:
        title += ": none"
    return plot_gallery(rows, title=title, gradcam=cam, ax=ax)


def plot_gradcam_comparison(cmp: Any, n: int = 4, models: Sequence[str] | None = None, ax: Any = None) -> Any:
    """The same ``n`` test images explained by every model (one line per model), Grad-CAM of
    each model's predicted class; returns the figure."""
    models = [m for m in (models or cmp.models) if not m.endswith("+tta")]
    base = cmp.predictions[models[0]]
    picked = sample_rows(base, n)
    images = [read_image(p) for p in picked["path"]]
    tiles, titles = [], []
    for m in models:
        torch_model, info = cmp.torch_model(m)
        cams = gradcam_batch(torch_model, images, info["img_size"], info["mean"], info["std"])
        pred = cmp.predictions[m].set_index("path").loc[picked["path"]]
        for im, cam, (_, r) in zip(images, cams, pred.iterrows()):
            tiles.append(overlay(im, cam))
            titles.append(f"{m}\n{r['pred']} {r['conf']:.2f} (true {r['label']})")
    return plot_tiles(tiles, titles, n_cols=len(images), tile_h=150, ax=ax,
                           title="Grad-CAM of the predicted class, same images for every model")


# ----------------------------------------------------------------------------- charts
def _ax(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


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
    fig, ax = _ax(ax, (6.5, 4.5))
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


def _drop_tta(df: pd.DataFrame, include_tta: bool) -> pd.DataFrame:
    return df if include_tta else df[~df["model"].str.endswith("+tta")]


def plot_per_class(table: pd.DataFrame, metric: str = "recall", include_tta: bool = False, ax: Any = None) -> Any:
    """Seaborn bars of a per-class metric (default recall), one bar per model within each class."""
    df = _drop_tta(table.reset_index(), include_tta)
    df = df[df["group"].str.startswith("class:") & (df["metric"] == metric)].copy()
    df["class"] = df["group"].str.slice(len("class:"))
    fig, ax = _ax(ax, (7, 4))
    sns.barplot(data=df, x="class", y="value", hue="model", ax=ax)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"per-class {metric}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


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
    fig, ax = _ax(ax, (8, 4))
    sns.barplot(data=sub, x="grp", y="value", hue="model", order=order, ax=ax)
    ax.set_xlabel(fairness_col + ("  (* = fewer samples than min_group_size)" if small else ""))
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {fairness_col}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def plot_gaps(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1", "ece"),
              fairness_col: str = "tone_group", stat: str = "gap", include_tta: bool = False, ax: Any = None) -> Any:
    """Seaborn bars of the fairness gap (max - min across groups) per metric, one bar per model."""
    df = _drop_tta(table.reset_index(), include_tta)
    sub = df[(df["group"] == f"{stat}:{fairness_col}") & df["metric"].isin(list(metrics))]
    fig, ax = _ax(ax, (7, 4))
    sns.barplot(data=sub, x="metric", y="value", hue="model", order=[m for m in metrics if m in set(sub["metric"])],
                ax=ax)
    ax.set_ylabel(f"{stat} across {fairness_col} groups")
    ax.set_title(f"fairness {stat} by {fairness_col} (small groups excluded)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def plot_gradcam_grid(
    model: nn.Module,
    images: Sequence[np.ndarray],
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    titles: Sequence[str] | None = None,
    target_classes: Sequence[int | None] | int | None = None,
    alpha: float = 0.4,
    n_cols: int = 4,
    tile_h: int = 140,
    title: str | None = "Grad-CAM (image | heat map of the explained class)",
    ax: Any = None,
) -> Any:
    """Each image beside its Grad-CAM overlay, in a grid; returns the figure."""
    imgs = [as_rgb(im) for im in images]
    cams = gradcam_batch(model, imgs, img_size, mean, std, target_classes) if imgs else []
    pairs = []
    for im, cam in zip(imgs, cams):
        ov = overlay(im, cam, alpha)
        sep = np.full((im.shape[0], max(2, im.shape[1] // 40), 3), 255, np.uint8)
        pairs.append(np.concatenate([im, sep, ov], axis=1))
    return plot_tiles(pairs, titles, n_cols=n_cols, tile_h=tile_h, ax=ax, title=title)


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


# ------------------------------------------------------------------------ mosaics
def plot_tiles(
    tiles: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    n_cols: int = 4,
    tile_h: int = 160,
    ax: Any = None,
    title: str | None = None,
    gap: int = 6,
) -> Any:
    """Draw RGB tiles (each resized to ``tile_h`` high) as one mosaic with a caption above each; returns the figure."""
    tiles = [as_rgb(t) for t in tiles]
    n = len(tiles)
    n_cols = max(1, min(n_cols, n or 1))
    n_rows = max(1, math.ceil(n / n_cols))
    resized = [cv2.resize(t, (max(1, round(t.shape[1] * tile_h / t.shape[0])), tile_h), interpolation=cv2.INTER_AREA)
               for t in tiles]
    tile_w = max((t.shape[1] for t in resized), default=tile_h)
    lines = max((str(t).count("\n") + 1 for t in titles), default=1) if titles else 0
    cap = 13 * lines + 6 if titles else 0
    H = n_rows * (tile_h + cap + gap) + gap
    W = n_cols * (tile_w + gap) + gap
    canvas = np.full((H, W, 3), 255, dtype=np.uint8)
    positions = []
    for i, t in enumerate(resized):
        r, c = divmod(i, n_cols)
        y = gap + r * (tile_h + cap + gap) + cap
        x = gap + c * (tile_w + gap)
        canvas[y : y + tile_h, x : x + t.shape[1]] = t
        positions.append((x, y))
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(3.0, W / 100), max(2.0, H / 100)))
    else:
        fig = ax.figure
    ax.imshow(canvas)
    ax.set_axis_off()
    if titles:
        longest = max((len(line) for t in titles for line in str(t).split("\n")), default=1)
        size = float(np.clip(tile_w * 0.72 / (0.7 * max(longest, 1)), 4.0, 8.0))  # 1 px = 0.72 pt at 100 dpi
        for (x, y), text in zip(positions, titles):
            ax.text(x, y - 3, str(text), fontsize=size, va="bottom", ha="left")
    if n == 0:
        ax.text(W / 2, H / 2, "nothing to show", ha="center", va="center")
    if title:
        ax.set_title(title)
    return fig
