"""Training criteria of both tasks, built by name from ``train.loss``.

One class per image (softmax over the classes): cross entropy with label smoothing and class weights
(``ce``, ``weighted_ce``), :class:`FocalLoss` (``focal``) and :class:`LogitAdjustedLoss` (``logit_adjusted``).

Several labels per image (one sigmoid per label): binary cross entropy with per-label ``pos_weight``,
asymmetric and focal BCE (``bce``, ``asymmetric``, ``focal_bce``). Each takes ``logits`` (N, L) and 0/1 ``target`` (N, L) (any dtype; cast to float) and
averages over all N * L terms, like ``nn.BCEWithLogitsLoss``:

* :class:`MultilabelBCE` - ``BCEWithLogitsLoss`` with an optional per-label ``pos_weight``
  (:func:`pos_weights`: negatives / positives of each label), computed in float32 under mixed precision.
* :class:`AsymmetricLoss` - Ridnik et al. 2021 ("Asymmetric Loss For Multi-Label
  Classification"): positives ``-(1-p)^gamma_pos log p``, negatives ``-p_m^gamma_neg log(1-p_m)``
  with the probability shifted down by ``clip`` (``p_m = max(p - clip, 0)``), so easy negatives
  (p < clip) cost nothing and the many negatives of rare labels do not drown the positives.
  ``gamma_pos = gamma_neg = clip = 0`` is BCE exactly.
* :class:`FocalBCE` - the focal loss of Lin et al. 2017 per label: BCE times ``(1 - p_t)^gamma``,
  with the optional class balance ``alpha`` (weight of positives; negatives get ``1 - alpha``).

:func:`build_criterion` builds any of them from a training config; which names a task accepts is the task's
(:mod:`auxiliary.tasks`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import sigmoid_focal_loss

from auxiliary.base.config import TrainConfig
from auxiliary.base.errors import TrainError

LOSSES: tuple[str, ...] = ("ce", "weighted_ce", "focal", "logit_adjusted")


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): cross entropy scaled by ``(1 - p_true) ** gamma``.

    ``weight`` (per-class alpha) and ``label_smoothing`` behave as in ``F.cross_entropy``; the mean
    is taken over the weights of the samples' classes, like weighted cross entropy.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("weight", weight.float() if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        ce = F.cross_entropy(logits, target, reduction="none", label_smoothing=self.label_smoothing)
        p_true = torch.softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        loss = (1.0 - p_true).clamp(min=0).pow(self.gamma) * ce
        if self.weight is not None:
            w = self.weight[target]
            return (loss * w).sum() / w.sum().clamp(min=1e-12)
        return loss.mean()


class LogitAdjustedLoss(nn.Module):
    """Logit-adjusted cross entropy (Menon et al. 2021, "Long-tail learning via logit adjustment").

    Trains on ``logits + tau * log(prior)``, where ``prior`` is the class distribution the model
    sees in training (after any sampler). The network's raw logits then score each class as if
    all were equally frequent: their argmax targets balanced accuracy without oversampling the
    rare images (no change at inference). ``tau = 1`` is the Fisher-consistent choice.
    """

    def __init__(self, prior: torch.Tensor, tau: float = 1.0, label_smoothing: float = 0.0):
        super().__init__()
        p = torch.as_tensor(prior, dtype=torch.float32)
        if p.ndim != 1 or not torch.isfinite(p).all() or (p < 0).any() or float(p.sum()) <= 0:
            raise TrainError(f"logit_adjusted needs a class prior of non-negative counts, got {p.tolist()}")
        p = (p / p.sum()).clamp(min=1e-8)  # an absent class gets a very negative offset, not -inf
        self.register_buffer("offset", float(tau) * p.log())
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float() + self.offset, target, label_smoothing=self.label_smoothing)


MULTILABEL_LOSSES: tuple[str, ...] = ("bce", "asymmetric", "focal_bce")


def pos_weights(Y: Any, max_weight: float | None = None) -> torch.Tensor:
    """Per-label ``pos_weight`` = n_negatives / n_positives of each column of ``Y`` (N, L) 0/1.

    A label without positives (or without negatives) gets 1 (nothing to rebalance);
    ``max_weight`` caps very rare labels (a weight of 500 makes training jumpy).
    """
    y = np.asarray(Y.detach().cpu() if isinstance(Y, torch.Tensor) else Y, dtype=np.float64)
    if y.ndim != 2:
        raise TrainError(f"pos_weights needs a 2-D label matrix (N, L), got shape {y.shape}")
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise TrainError("pos_weights needs 0/1 labels")
    pos = y.sum(axis=0)
    neg = len(y) - pos
    w = np.where((pos > 0) & (neg > 0), neg / np.maximum(pos, 1.0), 1.0)
    if max_weight is not None:
        w = np.minimum(w, float(max_weight))
    return torch.tensor(w, dtype=torch.float32)


def _check(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if logits.shape != target.shape:
        raise TrainError(f"logits {tuple(logits.shape)} and targets {tuple(target.shape)} differ in shape")
    return logits.float(), target.float()


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _pos_weight_buffer(module: nn.Module, pos_weight: Any) -> None:
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32).reshape(-1)
    module.register_buffer("pos_weight", pw)


class MultilabelBCE(nn.Module):
    """Binary cross entropy with logits, optional per-label ``pos_weight`` (tensor of L)."""

    def __init__(self, pos_weight: Any = None, reduction: str = "mean"):
        super().__init__()
        _pos_weight_buffer(self, pos_weight)
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = _check(logits, target)
        return F.binary_cross_entropy_with_logits(x, y, pos_weight=self.pos_weight, reduction=self.reduction)


class AsymmetricLoss(nn.Module):
    """Asymmetric loss (Ridnik et al. 2021), averaged over labels and samples.

    ``gamma_pos``/``gamma_neg``: focusing of positives / negatives (paper default 0 and 4);
    ``clip``: probability margin of negatives (0.05); ``pos_weight``: per-label weight of the
    positive term, as in ``BCEWithLogitsLoss``; ``eps``: floor inside the logarithm of the
    shifted negatives. The focusing factors carry gradient, as in the paper's default.
    """

    def __init__(self, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05, pos_weight: Any = None,
                 eps: float = 1e-8, reduction: str = "mean"):
        super().__init__()
        if gamma_pos < 0 or gamma_neg < 0 or not 0 <= clip < 1:
            raise TrainError(f"asymmetric loss needs gamma >= 0 and 0 <= clip < 1 (got {gamma_pos}, {gamma_neg}, {clip})")
        self.gamma_pos, self.gamma_neg, self.clip, self.eps = float(gamma_pos), float(gamma_neg), float(clip), float(eps)
        self.reduction = reduction
        _pos_weight_buffer(self, pos_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = _check(logits, target)
        p = torch.sigmoid(x)
        log_p = F.logsigmoid(x)
        if self.clip > 0:
            p_neg = (p - self.clip).clamp(min=0)
            log_1mp = torch.log((1 - p_neg).clamp(min=self.eps))
        else:
            p_neg, log_1mp = p, F.logsigmoid(-x)
        loss_pos = log_p if self.gamma_pos == 0 else (1 - p).pow(self.gamma_pos) * log_p
        loss_neg = log_1mp if self.gamma_neg == 0 else p_neg.pow(self.gamma_neg) * log_1mp
        if self.pos_weight is not None:
            loss_pos = loss_pos * self.pos_weight
        return _reduce(-(y * loss_pos + (1 - y) * loss_neg), self.reduction)


class FocalBCE(nn.Module):
    """Focal binary cross entropy per label: ``alpha_t (1 - p_t)^gamma BCE`` (``alpha=None``: no class balance),
    computed by ``torchvision.ops.sigmoid_focal_loss`` with the per-label ``pos_weight`` on top."""

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, pos_weight: Any = None, reduction: str = "mean"):
        super().__init__()
        if gamma < 0 or (alpha is not None and not 0 <= alpha <= 1):
            raise TrainError(f"focal BCE needs gamma >= 0 and alpha in [0, 1] (got {gamma}, {alpha})")
        self.gamma, self.alpha, self.reduction = float(gamma), alpha, reduction
        _pos_weight_buffer(self, pos_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = _check(logits, target)
        # torchvision's focal loss (alpha -1: no class balance); a 0/1 target's pos_weight scales its positive terms,
        # exactly as BCEWithLogitsLoss's pos_weight does
        loss = sigmoid_focal_loss(x, y, alpha=-1.0 if self.alpha is None else float(self.alpha), gamma=self.gamma,
                                  reduction="none")
        if self.pos_weight is not None:
            loss = loss * (1 + (self.pos_weight - 1) * y)
        return _reduce(loss, self.reduction)


def multilabel_criterion(
    loss: str = "bce",
    pos_weight: Any = None,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    focal_gamma: float = 2.0,
    focal_alpha: float | None = None,
) -> nn.Module:
    """The multi-label criterion named ``loss`` (:data:`MULTILABEL_LOSSES`), with ``pos_weight`` when given."""
    name = str(loss).strip().lower().replace("-", "_")
    name = {"asl": "asymmetric", "focal": "focal_bce", "bce_with_logits": "bce"}.get(name, name)
    if name == "bce":
        return MultilabelBCE(pos_weight)
    if name == "asymmetric":
        return AsymmetricLoss(gamma_pos, gamma_neg, clip, pos_weight)
    if name == "focal_bce":
        return FocalBCE(focal_gamma, focal_alpha, pos_weight)
    raise TrainError(f"unknown multi-label loss {loss!r} (choose from: {', '.join(MULTILABEL_LOSSES)})")


def build_criterion(
    tcfg: TrainConfig, class_weights: torch.Tensor | None = None, class_prior: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
) -> nn.Module:
    """The training loss of ``tcfg.loss``; ``weighted_ce`` and ``focal`` use ``class_weights``,
    ``logit_adjusted`` the class distribution of training batches ``class_prior``; the multi-label losses
    (bce, asymmetric, focal_bce, with ``focal_gamma``) the per-label ``pos_weight``."""
    if tcfg.loss in MULTILABEL_LOSSES:
        return multilabel_criterion(tcfg.loss, pos_weight, focal_gamma=tcfg.focal_gamma)
    if tcfg.loss not in LOSSES:
        raise TrainError(f"unknown loss {tcfg.loss!r} (choose from: {', '.join(LOSSES + MULTILABEL_LOSSES)})")
    if tcfg.loss == "logit_adjusted":
        if class_prior is None:
            raise TrainError("loss logit_adjusted needs the class prior of the training batches "
                             "(data.sampled_class_prior of the training table)")
        return LogitAdjustedLoss(class_prior, 1.0, tcfg.label_smoothing)
    weight = None
    if tcfg.loss in ("weighted_ce", "focal") and class_weights is not None:
        weight = torch.as_tensor(class_weights, dtype=torch.float32)
    if tcfg.loss == "focal":
        return FocalLoss(tcfg.focal_gamma, weight, tcfg.label_smoothing)
    if tcfg.loss == "weighted_ce" and weight is None:
        raise TrainError("loss weighted_ce needs class weights (data.class_weights of the training table)")
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=tcfg.label_smoothing)
