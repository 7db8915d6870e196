"""Figures of the multi-label conditions: hyperpigmentation and wrinkles across tones and strengths.
"""

from __future__ import annotations

import numpy as np

from auxiliary.base.tone import TONE_GROUPS
from auxiliary.synth.hyperpigmentation import add_hyperpigmentation
from auxiliary.synth.procedural import render_skin
from auxiliary.synth.skin import lab_image_to_rgb
from auxiliary.synth.wrinkles import add_wrinkles
from auxiliary.viz.plots_synth import plot_images

#: condition -> its canvas-level simulator
CONDITIONS = {"hyperpigmentation": add_hyperpigmentation, "wrinkles": add_wrinkles}


def typical_face(size: int, group: str, seed: list[int], tries: int = 30):
    """A procedural face of ``group`` that fills 95-130 % of the frame's width (the first of ``tries`` draws),
    so a montage compares tones, not framings."""
    canvas = None
    for k in range(tries):
        canvas = render_skin(size, group, np.random.default_rng([*seed, k]), layout="face")
        if 0.95 <= float(canvas.meta.get("face_width_px", 0)) / size <= 1.3 and abs(canvas.meta.get("roll", 0)) < 8:
            break
    return canvas


def condition_images(kind: str, strengths: tuple[float, ...] = (0.3, 0.6, 0.9), seed: int = 0,
                     size: int = 128) -> list[np.ndarray]:
    """RGB images, rows = ``strengths``, columns = the six tone groups, on procedural faces.

    Each column keeps one face (same seed per tone group) and each row one simulator seed, so a row
    compares tones and a column compares strengths of the same pattern.
    """
    if kind not in CONDITIONS:
        raise ValueError(f"unknown condition {kind!r} (choose from {', '.join(CONDITIONS)})")
    sim = CONDITIONS[kind]
    canvases = [typical_face(size, g, [seed, gi]) for gi, g in enumerate(TONE_GROUPS)]
    images = []
    for s in strengths:
        for c in canvases:
            lab = c.lab.copy()
            sim(lab, c, np.random.default_rng([seed, 99]), strength=float(s))
            images.append(lab_image_to_rgb(lab))
    return images


def plot_condition_montage(kind: str | tuple[str, ...], strengths: tuple[float, ...] = (0.3, 0.6, 0.9), seed: int = 0,
                           size: int = 128, ax=None):
    """Montage of a condition (``hyperpigmentation`` or ``wrinkles``, or a tuple of them, one block of rows
    each): rows = strengths, columns = the six tone groups (procedural face layout); returns the figure."""
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    images, rows = [], []
    for k in kinds:
        images += condition_images(k, strengths, seed, size)
        rows += [f"{k}\nstrength {s:.2f}" for s in strengths]
    titles = [g.replace("_", " ") for g in TONE_GROUPS] + [""] * (len(images) - len(TONE_GROUPS))
    return plot_images(images, titles=titles, ncols=len(TONE_GROUPS), row_labels=rows)
