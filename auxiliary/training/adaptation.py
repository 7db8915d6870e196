"""Adapting a trained model to the photos it is about to sort, without their labels.

Two unsupervised methods, composed by the ``adapt`` step (:mod:`auxiliary.steps.adapt`):

* :func:`adapt_batchnorm` (AdaBN, Li et al. 2016, "Revisiting Batch Normalization For Practical Domain
  Adaptation"): every BatchNorm layer's running mean and variance are estimated afresh on the target photos
  (a cumulative average over all of them, the weights untouched). A network trained on synthetic skin normalises
  real photos with synthetic statistics; with the target's own, its features are centred again.
* self-training on confident pseudo-labels: :func:`confidence_threshold` picks, on the *synthetic* validation
  predictions of the run (never on a target label), the lowest confidence at which the model is right often
  enough; :func:`balanced_pseudo_labels` keeps the target photos above it, the same number per class at most, so
  that the class the model over-predicts on real photos does not take over. The step then fine-tunes on the
  synthetic training list plus those photos, with strong augmentation.

Written by hand because neither timm nor Lightning has them: timm's ``BatchNormAct2d`` and torch's BatchNorm
both keep ``running_mean``/``running_var``, which is all AdaBN needs (``momentum=None`` gives torch's cumulative
average).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.progress import progress_bar
from auxiliary.models.preprocess import Preprocessing, batched, preprocess

#: The precision the confident synthetic validation predictions must reach (the pseudo-label threshold).
PSEUDO_PRECISION = 0.95


class AdaptError(AuxiliaryError):
    """Adaptation cannot run on these inputs (no BatchNorm layer, no image, no confident prediction)."""


def batchnorm_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, images: Iterable[np.ndarray], preprocessing: Preprocessing, *, batch: int = 32,
                    total: int | None = None, progress: bool = True, device: str | torch.device = "cpu") -> int:
    """AdaBN in place: reset every BatchNorm's running statistics and estimate them on ``images`` (RGB uint8,
    prepared as ``preprocessing`` says: the checkpoint's, as the predictor does), as a cumulative average; the weights
    are not changed. Returns the number of images seen; the model is left in eval mode."""
    layers = batchnorm_layers(model)
    if not layers:
        raise AdaptError(f"{type(model).__name__} has no BatchNorm layer: AdaBN has nothing to re-estimate")
    momenta = [bn.momentum for bn in layers]
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over every batch
    model.eval()
    for bn in layers:
        bn.train()
    seen = 0
    bar = progress_bar(total=total, desc="AdaBN", unit="img", disable=not progress)
    try:
        for chunk in batched(images, batch):
            x = torch.from_numpy(np.stack([preprocess(im, preprocessing) for im in chunk])).to(device)
            model(x)
            seen += len(chunk)
            bar.update(len(chunk))
    finally:
        bar.close()
        for bn, m in zip(layers, momenta):
            bn.momentum = m
        model.eval()
    if seen == 0:
        raise AdaptError("AdaBN needs at least one readable target image")
    return seen


def confidence_threshold(val_probs: np.ndarray, val_labels: np.ndarray, precision: float = PSEUDO_PRECISION,
                         floor: float = 0.5) -> float:
    """The lowest top-probability ``t`` (at least ``floor``) such that the validation predictions with a top
    probability of at least ``t`` are right at least ``precision`` of the time; 1.0 when none is."""
    p = np.asarray(val_probs, dtype=np.float64)
    y = np.asarray(val_labels)
    keep = np.isfinite(p).all(axis=1) & (y >= 0)
    p, y = p[keep], y[keep]
    if not len(p):
        return 1.0
    conf = p.max(axis=1)
    right = p.argmax(axis=1) == y
    order = np.argsort(-conf, kind="stable")
    conf, right = conf[order], right[order]
    running = np.cumsum(right) / np.arange(1, len(right) + 1)
    ok = np.flatnonzero((running >= precision) & (conf >= floor))
    return float(conf[ok[-1]]) if len(ok) else 1.0


def balanced_pseudo_labels(paths: Sequence[str], probs: np.ndarray, classes: Sequence[str], threshold: float,
                           max_per_class: int | None = None) -> pd.DataFrame:
    """The target photos whose top probability reaches ``threshold``, labelled with that class, the most confident
    first and at most as many per class as the class with the fewest (``max_per_class`` caps it further):
    ``path, label, confidence`` (no target label is read: there is none)."""
    p = np.asarray(probs, dtype=np.float64)
    ok = np.isfinite(p).all(axis=1)
    conf = np.where(ok, np.nan_to_num(p).max(axis=1), -1.0)
    pred = np.nan_to_num(p).argmax(axis=1)
    rows = pd.DataFrame({"path": [str(x) for x in paths], "label": [str(classes[i]) for i in pred],
                         "confidence": conf})[ok & (conf >= threshold)]
    counts = rows["label"].value_counts()
    if counts.empty:
        return rows.reset_index(drop=True)
    cap = int(counts.reindex([str(c) for c in classes], fill_value=0).replace(0, np.nan).min())
    if max_per_class is not None:
        cap = min(cap, int(max_per_class))
    rows = rows.sort_values(["confidence", "path"], ascending=[False, True], kind="mergesort")
    return rows.groupby("label", sort=False).head(cap).sort_values("path").reset_index(drop=True)


def model_summary_line(seen: int, threshold: float | None, pseudo: pd.DataFrame | None) -> dict[str, Any]:
    """What ``adapt`` records of an adaptation in its run's ``summary.json``."""
    out: dict[str, Any] = {"target_images": int(seen)}
    if threshold is not None:
        out["pseudo_threshold"] = float(threshold)
    if pseudo is not None:
        out["pseudo_labels"] = int(len(pseudo))
        out["pseudo_per_class"] = {str(k): int(v) for k, v in pseudo["label"].value_counts().sort_index().items()}
    return out
