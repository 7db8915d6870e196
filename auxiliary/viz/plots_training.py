"""Figures of a training run: loss and accuracy curves, the validation confusion matrix, per-class recall.

:class:`RunFigures` is the Fabric callback that :func:`auxiliary.steps.train.train_run` passes to
:func:`auxiliary.training.loop.fit`: it writes a finished run's ``logs/*.png`` (:func:`save_run_figures`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import confusion_matrix


def plot_curves(metrics: Any, kind: str = "loss", freeze_epochs: int | None = None, ax: Any = None) -> Any:
    """Training curves from ``logs/metrics.csv``: ``kind="loss"`` (train/val loss) or ``"accuracy"``
    (train/val accuracy, val balanced accuracy and macro-F1; for a multi-label run train accuracy per
    (image, label), val subset accuracy, macro-F1 and macro AUROC). Returns the figure."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    cols = {"loss": ["train_loss", "val_loss"],
            "accuracy": ["train_acc", "val_acc", "val_balanced_acc", "val_macro_f1"]}.get(kind)
    if cols is None:
        raise ValueError(f"kind must be loss or accuracy, got {kind!r}")
    if kind == "accuracy" and "val_subset_accuracy" in metrics:  # a multi-label run: its own measures
        cols = ["train_acc", "val_subset_accuracy", "val_macro_f1", "val_macro_auroc"]
    for c in [c for c in cols if c in metrics]:
        ax.plot(metrics["epoch"], metrics[c], marker="o", label=c)
    if freeze_epochs is None and "phase" in metrics:
        freeze_epochs = int((metrics["phase"] == "head").sum())
    if freeze_epochs and 0 < freeze_epochs < len(metrics):
        ax.axvline(freeze_epochs + 0.5, color="grey", ls="--", lw=1, label="unfreeze")

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(kind)
    if kind == "accuracy":
        ax.set_ylim(0, 1.02)
    ax.set_title(f"{kind} per epoch")
    ax.legend(fontsize=8)
    return fig


def plot_run_confusion(predictions: Any, classes: Sequence[str], normalize: bool = True, title: str = "validation",
                   ax: Any = None) -> Any:
    """Confusion matrix (rows = true class, row-normalised with counts) of a predictions frame."""
    if ax is None:
        n = len(classes)
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * n, 1.0 + 0.8 * n))
    else:
        fig = ax.figure
    probs = predictions[[f"prob_{c}" for c in classes]].to_numpy()
    pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
    lookup = {c: i for i, c in enumerate(classes)}
    true = predictions["label"].astype(str).map(lookup).to_numpy()
    cm = confusion_matrix(true, pred, labels=list(range(len(classes))))
    shown = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None) if normalize else cm
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(len(classes)):
        for j in range(len(classes)):
            txt = f"{shown[i, j]:.2f}\n({cm[i, j]})" if normalize else f"{cm[i, j]}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > (0.5 if normalize else cm.max() / 2) else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.grid(False)
    ax.set_title(f"confusion matrix ({title})")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig


def plot_per_class_recall(recalls: dict[str, Any], ax: Any = None) -> Any:
    """Bar chart of per-class recall; ``recalls`` maps a split name to :func:`auxiliary.training.runs.per_class_recall` output."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    names = list(recalls)
    classes = list(next(iter(recalls.values())).index) if names else []
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        r = recalls[name]["recall"].reindex(classes).to_numpy(dtype=float)
        ax.bar(np.arange(len(classes)) + (k - (len(names) - 1) / 2) * width, np.nan_to_num(r), width, label=name)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.set_title("per-class recall")
    ax.legend(fontsize=8)
    return fig


#: The figures of a finished run of each task (``loss``, ``accuracy`` curves, the validation ``confusion`` matrix):
#: a multi-label run has no single-class confusion matrix, and its accuracy curves are the per-label figures of
#: notebook 04.
RUN_FIGURES: dict[str, tuple[str, ...]] = {"single": ("loss", "accuracy", "confusion"), "multilabel": ("loss",)}


def save_run_figures(run_dir: Path, history: list[dict[str, Any]], val_predictions: Any, classes: Sequence[str],
                     figures: Sequence[str] = RUN_FIGURES["single"]) -> None:
    """Write ``logs/loss_curve.png``, ``logs/accuracy_curve.png`` and ``logs/confusion_matrix.png`` of a run
    (those of ``figures``)."""
    metrics = pd.DataFrame(history)
    for kind in ("loss", "accuracy"):
        if kind in figures:
            fig = plot_curves(metrics, kind)
            fig.savefig(Path(run_dir) / "logs" / f"{kind}_curve.png", dpi=120, bbox_inches="tight")
            plt.close(fig)
    if "confusion" in figures and val_predictions is not None and len(val_predictions):
        fig = plot_run_confusion(val_predictions, classes, title="validation, best epoch")
        fig.savefig(Path(run_dir) / "logs" / "confusion_matrix.png", dpi=120, bbox_inches="tight")
        plt.close(fig)


class RunFigures:
    """A Fabric callback: saves a finished run's figures (:func:`save_run_figures`, those :data:`RUN_FIGURES` lists
    for the run's ``task`` name) on rank 0."""

    def __init__(self, task: str = "single"):
        self.figures = RUN_FIGURES[task]

    def on_run_end(self, run_dir: Path, history: list[dict[str, Any]], val_predictions: Any,
                   classes: Sequence[str]) -> None:
        save_run_figures(run_dir, history, val_predictions, classes, self.figures)
