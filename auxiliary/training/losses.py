"""Training criteria: cross entropy with label smoothing and class weights, focal loss, logit-adjusted loss;
the multi-label ones (:data:`~auxiliary.training.multilabel_losses.MULTILABEL_LOSSES`) by the same call.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from auxiliary.config import TrainConfig
from auxiliary.errors import TrainError
from auxiliary.training.multilabel_losses import MULTILABEL_LOSSES, multilabel_criterion

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
