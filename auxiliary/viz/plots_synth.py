"""Figures of notebook 01: image grids, the class x tone montage, tone and strength distributions.
"""

from __future__ import annotations

import math

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from auxiliary.base.images import read_image
from auxiliary.base.tone import ITA_BOUNDS, TONE_GROUPS
from auxiliary.synth.dataset import multilabel_columns, preview
from auxiliary.synth.samplers import CLASSES


def plot_images(images: list[np.ndarray], titles: list[str] | None = None, ncols: int | None = None,
                row_labels: list[str] | None = None, ax=None, cell: float = 1.7):
    """A grid of images; returns the figure."""
    n = len(images)
    ncols = ncols or n
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows + 0.3), squeeze=False)
    for i, a in enumerate(axes.ravel()):
        a.set_xticks([])
        a.set_yticks([])
        for sp in a.spines.values():
            sp.set_visible(False)
        if i < n:
            a.imshow(images[i])
            if titles and i < len(titles) and titles[i]:
                a.set_title(titles[i], fontsize=8)
        else:
            a.axis("off")
    if row_labels:
        for r, lab in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(lab, fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


def plot_montage(strengths: tuple[float, ...] = (0.2, 0.5, 0.85), *, seed: int = 0, size: int = 160, count: int = 24,
                 ax=None):
    """Montage: rows = classes x strengths, columns = the six tone groups (fixed parameters)."""
    images, rows = [], []
    for kind in CLASSES:
        for s in (strengths if kind != "none" else (0.0,)):
            for gi, g in enumerate(TONE_GROUPS):
                layout = "face" if (gi + len(rows)) % 2 == 0 else "patch"
                images.append(preview(kind, tone_group=g, strength=s, count=count, seed=seed + 31 * gi + len(rows),
                                      size=size, layout=layout, camera_on=True))
            rows.append(f"{kind}" + (f"\nstrength {s:.2f}" if kind != "none" else ""))
    fig = plot_images(images, titles=[g.replace("_", " ") for g in TONE_GROUPS] + [""] * (len(images) - 6),
                      ncols=len(TONE_GROUPS), row_labels=rows)
    return fig


def plot_tone_distribution(table: pd.DataFrame, ax=None):
    """Counts of tone groups per class and the ITA histogram with the group bounds."""
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    else:
        axes = ax
        fig = axes[0].figure
    order = [g for g in TONE_GROUPS if g in set(table["tone_group"])]
    ct = pd.crosstab(table["tone_group"], table["label"]).reindex(order)
    ct.plot.bar(ax=axes[0], rot=30)
    axes[0].set_xlabel("tone group (ITA)")
    axes[0].set_ylabel("images")
    axes[0].set_title("tone groups per class")
    sns.histplot(data=table, x="ita", hue="tone_group", hue_order=order, bins=40, ax=axes[1], palette="copper_r")
    for lo, _ in ITA_BOUNDS.values():
        if -90 < lo < 90:
            axes[1].axvline(lo, color="k", lw=0.6, ls="--")
    axes[1].set_xlabel("ITA measured from the generated pixels (degrees)")
    axes[1].set_title("ITA distribution with group bounds")
    fig.tight_layout()
    return fig


def plot_strength(table: pd.DataFrame, ax=None):
    """Distribution of the drawn strength per class, or per condition where present (the difficulty spread)."""
    fig, ax = (plt.subplots(figsize=(5, 3)) if ax is None else (ax.figure, ax))
    labels = multilabel_columns(table)
    if labels:  # one row per (face, condition present)
        sub = pd.concat([pd.DataFrame({"label": c, "strength": table.loc[table[c].astype(int) == 1, f"{c}_strength"]})
                         for c in labels], ignore_index=True)
    else:
        sub = table[table["label"] != "none"]
    sns.histplot(data=sub, x="strength", hue="label", bins=20, ax=ax, element="step")
    ax.set_title("strength drawn per image")
    fig.tight_layout()
    return fig


def plot_synthetic_samples(table: pd.DataFrame, n: int = 6, seed: int = 0, ax=None):
    """Random images of each class from a generated dataset (rows = classes), titled tone and strength.

    Multi-label: one row per condition (faces showing it, whatever else they show, titled with the
    condition's strength and the other conditions present) and a row of faces without any."""
    images, titles, rows = [], [], []
    labels = multilabel_columns(table)
    for label in (*labels, "none") if labels else CLASSES:
        if labels:
            sub = table[table[label].astype(int) == 1] if label != "none" else table[table[labels].sum(axis=1) == 0]
        else:
            sub = table[table["label"] == label]
        if sub.empty:
            continue
        pick = sub.sample(min(n, len(sub)), random_state=seed)
        for _, r in pick.iterrows():
            images.append(read_image(r["path"]))
            strength = r[f"{label}_strength"] if labels and label != "none" else r.get("strength", 0.0)
            others = [c for c in labels if c != label and int(r[c]) == 1]
            titles.append(f"{r['tone_group'].replace('_', ' ')}" + (f", s={strength:.2f}" if label != "none" else "")
                          + (f"\n+{'+'.join(others)}" if others else ""))
        images += [np.full_like(images[-1], 255)] * (n - len(pick))
        titles += [""] * (n - len(pick))
        rows.append(label)
    return plot_images(images, titles, ncols=n, row_labels=rows)


def plot_real_vs_synthetic(synthetic: pd.DataFrame, real: pd.DataFrame, n: int = 4, seed: int = 0,
                           size: int = 160, ax=None):
    """Synthetic and real images side by side: one row per class, ``n`` synthetic then ``n`` real images.

    Both tables need ``path`` and ``label`` (real labels already mapped onto the synthetic classes).
    Meant for the user's own screen: real photos are never written into the project."""
    images, titles, rows = [], [], []
    blank = np.full((size, size, 3), 255, np.uint8)
    for label in CLASSES:
        row = []
        for name, table in (("synthetic", synthetic), ("real", real)):
            sub = table[table["label"].astype(str) == label]
            pick = sub.sample(min(n, len(sub)), random_state=seed) if len(sub) else sub
            for p in pick["path"]:
                img = read_image(p)
                row.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
            row += [blank] * (n - len(pick))
            titles += [name] * n
        images += row
        rows.append(label)
    return plot_images(images, titles, ncols=2 * n, row_labels=rows)
