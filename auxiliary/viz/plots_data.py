"""Figures of notebook 02: class and tone distributions, balancing, estimated tone, sample grids, augmentation montages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.tone import ITA_BOUNDS, TONE_GROUPS
from auxiliary.data.augment import augment_only
from auxiliary.data.balance import tone_column
from auxiliary.data.labels import label_outcomes


# ----------------------------------------------------------------------------------- plots
def plot_distribution(
    table: pd.DataFrame,
    by: str = "label",
    hue: str | None = None,
    weights: np.ndarray | None = None,
    title: str | None = None,
    ax: Any = None,
    classes: Sequence[str] | None = None,
) -> Any:
    """Bar plot (seaborn) of samples per ``by`` (coloured by ``hue``); with ``weights`` (a sampler's per-row
    weights, e.g. a task's ``sample_weights``) the expected draws per epoch instead of raw counts. Returns the figure.

    ``classes`` with ``by="label"``: one bar per class, counting the images showing it
    (:func:`auxiliary.data.labels.label_outcomes`: with several labels per image, each label and ``no label``)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    n = len(table)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64) / max(np.sum(weights), 1e-12) * n
    order = None
    if classes is not None and by == "label":
        shown = label_outcomes(table, classes)
        order = list(map(str, shown.columns))
        df = pd.DataFrame({by: np.repeat([order], n, axis=0).ravel(), "n": (shown.to_numpy() * w[:, None]).ravel()})
        hue = None
    else:
        df = pd.DataFrame({by: table[by].astype(str).to_numpy(), "n": w})
    keys = [by]
    if hue:
        df[hue] = table[hue].astype(str).to_numpy()
        keys.append(hue)
    agg = df.groupby(keys, as_index=False)["n"].sum()
    if by.startswith("tone_group"):
        order = [t for t in (*TONE_GROUPS, "unknown") if t in set(agg[by])]
    hue_order = [t for t in (*TONE_GROUPS, "unknown") if t in set(agg[hue])] if hue and hue.startswith("tone") else None
    sns.barplot(data=agg, x=by, y="n", hue=hue, order=order, hue_order=hue_order, ax=ax, errorbar=None)
    ax.set_ylabel("expected draws per epoch" if weights is not None else "images")
    ax.set_title(title or (f"{by} drawn per epoch" if weights is not None else f"{by} counts"))
    ax.tick_params(axis="x", rotation=30)
    return fig


def plot_balance(table: pd.DataFrame, classes: Sequence[str], weights: np.ndarray | None,
                 title: str | None = None) -> Any:
    """2×2 figure: images per class (or label, with ``no label``, for several labels per image) and per tone
    group, as stored (left) and as drawn per epoch by a sampler with per-row ``weights`` (right; ``None``: plain
    shuffling). The tone is ``tone_group`` or, without labels, the estimate."""
    tcol = tone_column(table)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    plot_distribution(table, "label", title="per class (stored)", ax=axes[0, 0], classes=classes)
    plot_distribution(table, "label", weights=weights, title="per class, drawn per epoch", ax=axes[0, 1],
                      classes=classes)
    plot_distribution(table, tcol, title=f"{tcol} (stored)", ax=axes[1, 0])
    plot_distribution(table, tcol, weights=weights, title=f"{tcol} drawn per epoch", ax=axes[1, 1])
    for row in axes:
        top = max(a.get_ylim()[1] for a in row)
        for a in row:
            a.set_ylim(0, top)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_tone_estimate(table: pd.DataFrame, ax: Any = None) -> Any:
    """Known tone group vs the pixel estimate (heat map of counts) when labels exist, else a
    histogram of the estimated ITA with the group boundaries. Returns the figure."""

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    order = [*TONE_GROUPS, "unknown"]
    known = table[table["tone_group"] != "unknown"]
    if len(known):
        ct = pd.crosstab(known["tone_group"], known["tone_group_est"])
        ct = ct.reindex(index=[g for g in order if g in ct.index], columns=[g for g in order if g in ct.columns])
        sns.heatmap(ct, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
        ax.set_xlabel("estimated from pixels (tone_group_est)")
        ax.set_ylabel("known (tone_group)")
        ax.set_title("skin tone: label vs estimate")
    else:
        vals = table["ita_est"].dropna()
        sns.histplot(vals, bins=40, ax=ax)
        for g, (lo, _hi) in ITA_BOUNDS.items():
            if lo > -90:
                ax.axvline(lo, color="grey", lw=0.8, ls="--")
            ax.text(np.clip(lo + 2, vals.min() if len(vals) else -60, 85), ax.get_ylim()[1] * 0.9, g,
                    rotation=90, fontsize=7, va="top")
        ax.set_xlabel("estimated ITA (degrees) -- an estimate, not a Fitzpatrick label")
        ax.set_title("estimated skin tone (ITA outside the image centre)")
    return fig


def plot_dataset_samples(table: pd.DataFrame, n: int = 8, size: int = 96, title: str | None = None, ax: Any = None) -> Any:
    """A row of up to ``n`` images from ``table`` with their labels. Returns the figure."""
    rows = table.head(n)
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.5 * max(1, len(rows)), 2))
    else:
        fig = ax.figure
    pad = 4
    canvas = np.full((size, max(1, len(rows)) * (size + pad) - pad, 3), 255, dtype=np.uint8)
    for k, p in enumerate(rows["path"]):
        try:
            img = cv2.resize(read_image(p), (size, size), interpolation=cv2.INTER_AREA)
        except ImageReadError:
            continue
        canvas[:, k * (size + pad) : k * (size + pad) + size] = img
    ax.imshow(canvas)
    ax.set_xticks([(k + 0.5) * (size + pad) for k in range(len(rows))])
    ax.set_xticklabels([f"{lab}\n{t}" for lab, t in zip(rows["label"], rows.get("tone_group", rows["label"]))],
                       fontsize=7)
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title)
    return fig


def plot_augmentations(
    images: Sequence[np.ndarray],
    preset: str,
    n_aug: int = 5,
    img_size: int = 128,
    seed: int = 0,
    titles: Sequence[str] | None = None,
    ax: Any = None,
) -> Any:
    """Grid: one row per image, the original then ``n_aug`` augmented copies by ``preset``. Returns the figure."""
    tf = augment_only(preset, img_size, seed=seed)
    rows = []
    for img in images:
        base = cv2.resize(np.asarray(img), (img_size, img_size), interpolation=cv2.INTER_AREA)
        rows.append([base] + [tf(image=np.asarray(img))["image"] for _ in range(n_aug)])
    n_r, n_c = max(1, len(rows)), n_aug + 1
    pad = 4
    canvas = np.full((n_r * (img_size + pad) - pad, n_c * (img_size + pad) - pad, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            y, x = r * (img_size + pad), c * (img_size + pad)
            canvas[y : y + img_size, x : x + img_size] = im
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.6 * n_c, 1.6 * n_r + 0.4))
    else:
        fig = ax.figure
    ax.imshow(canvas)
    ax.set_xticks([(c + 0.5) * (img_size + pad) for c in range(n_c)])
    ax.set_xticklabels(["original"] + [f"aug {i + 1}" for i in range(n_aug)], fontsize=8)
    if titles is not None:
        ax.set_yticks([(r + 0.5) * (img_size + pad) for r in range(n_r)])
        ax.set_yticklabels(list(titles), fontsize=8)
    else:
        ax.set_yticks([])
    ax.grid(False)
    ax.set_title(f"augmentation preset: {preset}")
    return fig
