"""Image mosaics: galleries of predictions and Grad-CAM heat maps, the figures that show images rather than numbers.

:func:`plot_tiles` lays RGB tiles out with a caption above each; on it are built the galleries of a comparison
(:func:`plot_gallery`, :func:`plot_error_gallery`: most confident mistakes and the low-confidence band, with the
Grad-CAM of each image's predicted class), Grad-CAM grids (:func:`plot_gradcam_grid`, :func:`plot_gradcam_comparison`:
the same images explained by every model) and, for several labels per image, one Grad-CAM per label
(:func:`plot_gradcam_labels`, :func:`plot_gradcam_label_gallery`). Every function takes ``ax=None`` (a new figure)
or an axes to draw on, and returns the figure.
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
from torch import nn

from auxiliary.base.images import ImageReadError, read_image
from auxiliary.evaluation.comparison_table import (
    CompareError,
    low_confidence_rows,
    most_confident_mistakes,
    sample_rows,
)
from auxiliary.inference.explain import as_rgb, gradcam_batch, gradcam_labels, overlay
from auxiliary.models.preprocess import Preprocessing


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


# ----------------------------------------------------------------------------- galleries
def plot_gallery(
    rows: pd.DataFrame,
    title: str | None = None,
    n_cols: int | None = None,
    gradcam: tuple[Any, Preprocessing] | None = None,
    per_class: bool = True,
    ax: Any = None,
) -> Any:
    """Images of a prediction table (e.g. :func:`auxiliary.evaluation.comparison_table.most_confident_mistakes`), captioned
    ``true -> predicted (p)``; one line per true class when ``per_class``. With
    ``gradcam=(model, preprocessing)`` each image is shown beside the Grad-CAM
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
        model, spec = gradcam  # Grad-CAM of each image's predicted class
        cams = gradcam_batch(model, [images[i] for i in todo], spec)
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
        cam = (torch_model, Preprocessing.of(info))
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
        cams = gradcam_batch(torch_model, images, Preprocessing.of(info))
        pred = cmp.predictions[m].set_index("path").loc[picked["path"]]
        for im, cam, (_, r) in zip(images, cams, pred.iterrows()):
            tiles.append(overlay(im, cam))
            titles.append(f"{m}\n{r['pred']} {r['conf']:.2f} (true {r['label']})")
    return plot_tiles(tiles, titles, n_cols=len(images), tile_h=150, ax=ax,
                           title="Grad-CAM of the predicted class, same images for every model")


# ----------------------------------------------------------------------------- Grad-CAM
def plot_gradcam_grid(
    model: nn.Module,
    images: Sequence[np.ndarray],
    preprocessing: Preprocessing,
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
    cams = gradcam_batch(model, imgs, preprocessing, target_classes) if imgs else []
    pairs = []
    for im, cam in zip(imgs, cams):
        ov = overlay(im, cam, alpha)
        sep = np.full((im.shape[0], max(2, im.shape[1] // 40), 3), 255, np.uint8)
        pairs.append(np.concatenate([im, sep, ov], axis=1))
    return plot_tiles(pairs, titles, n_cols=n_cols, tile_h=tile_h, ax=ax, title=title)


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
    preprocessing: Preprocessing,
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
        cams = gradcam_labels(model, rgb, preprocessing, len(labels))
        tiles.append(rgb)
        captions.append(str(titles[i]) if titles is not None else f"image {i + 1}")
        t_row = None if rows_thr is None else rows_thr[min(i, len(rows_thr) - 1)]
        for j, name in enumerate(labels):
            tiles.append(overlay(rgb, cams[j], alpha))
            captions.append(_caption(name, j, None if probs is None else probs[i], t_row,
                                     None if truths is None else truths[i]))
    return plot_tiles(tiles, captions, n_cols=len(labels) + 1, tile_h=tile_h, ax=ax, title=title)


def plot_gradcam_label_gallery(cmp: Any, model: str, n: int = 4, ax: Any = None) -> Any:
    """Grad-CAM per label of one model of a multi-label comparison (notebook 05): the first ``n`` test
    images showing at least one label, captioned with each label's probability, threshold and truth."""
    pred = cmp.predictions[model]
    labels = [str(x) for x in cmp.runs[model]["classes"]]
    shown = pred[(pred[labels].sum(axis=1) > 0) & pred[[f"prob_{lab}" for lab in labels]].notna().all(axis=1)].head(n)
    torch_model, info = cmp.torch_model(model)
    glob = (info.get("thresholds") or {}).get("global") or {}
    return plot_gradcam_labels(
        torch_model, [read_image(p) for p in shown["path"]], Preprocessing.of(info), labels,
        probs=shown[[f"prob_{lab}" for lab in labels]].to_numpy(),
        thresholds=[float(glob.get(lab, 0.5)) for lab in labels], truths=shown[labels].to_numpy(),
        titles=[Path(p).name for p in shown["path"]], ax=ax, title=f"{model}: Grad-CAM per label (test images)")
