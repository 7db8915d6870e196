"""Optimiser, schedule and weight averaging: AdamW without decay on biases and norms, warm-up + cosine per phase, EMA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from timm.utils import ModelEmaV3
from torch import nn

from auxiliary.base.config import TrainConfig
from auxiliary.base.errors import TrainError

MIN_LR_RATIO = 0.01


def phase_plan(tcfg: TrainConfig) -> list[tuple[str, int, int]]:
    """``[(phase, first_epoch, end_epoch)]``: ``head`` (frozen backbone) then ``finetune``."""
    k = min(max(int(tcfg.freeze_epochs), 0), int(tcfg.max_epochs))
    plan = []
    if k > 0:
        plan.append(("head", 0, k))
    if tcfg.max_epochs > k:
        plan.append(("finetune", k, int(tcfg.max_epochs)))
    return plan


def phase_of(plan: Sequence[tuple[str, int, int]], epoch: int) -> tuple[str, int, int]:
    for p in plan:
        if p[1] <= epoch < p[2]:
            return p
    raise TrainError(f"epoch {epoch} is outside the schedule {plan}")


class WarmupCosine:
    """Learning rate as a pure function of the optimizer step: linear warm-up, then cosine decay.

    ``lr(step)`` for ``step`` in ``[0, total_steps)``; the final value is ``min_ratio * base_lr``.
    Being a function of the step count only, it resumes exactly from a saved step.
    """

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0, min_ratio: float = MIN_LR_RATIO):
        self.base_lr = float(base_lr)
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = int(min(max(0, warmup_steps), self.total_steps - 1))
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        step = min(max(int(step), 0), self.total_steps - 1)
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / (self.warmup_steps + 1)
        span = max(1, self.total_steps - self.warmup_steps - 1)
        progress = (step - self.warmup_steps) / span
        low = self.base_lr * self.min_ratio
        return low + (self.base_lr - low) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    def state_dict(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_ratio": self.min_ratio,
        }


def make_ema(model: nn.Module, decay: float) -> Any:
    """A ``timm.utils.ModelEmaV3`` of ``model`` (every parameter and buffer averaged, on the model's device)."""
    ema = ModelEmaV3(model, decay=float(decay))
    for p in ema.module.parameters():
        p.requires_grad_(False)
    return ema


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases and normalisation weights."""
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0})
              if g["params"]]
    return torch.optim.AdamW(groups, lr=lr)
