"""Mixup and CutMix of a training batch: timm's :class:`timm.data.Mixup`, made safe for this package's loops.

:func:`batch_mix` builds the run's mixer from ``train.mixup`` / ``train.cutmix``; :class:`BatchMix` pairs timm's
batch mixer with the loss that reads its soft targets. What differs between tasks (which losses may train on mixed
targets, the label smoothing folded into them, the soft-target loss, class indices or label rows) is the task's
(:meth:`auxiliary.tasks.Task.mixing`); the training epoch only calls ``mix(x, y)``.

Written around timm rather than by hand: timm draws the mixing weight and the CutMix box; this wrapper only adds
what its ``Mixup`` does not do: a batch of odd size (timm asserts an even one) keeps its last image unmixed, and
the loss for the mixed targets travels with the mixer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from timm.data import Mixup
from timm.data.mixup import mixup_target
from torch import nn

from auxiliary.base.config import TrainConfig
from auxiliary.tasks import Task


@dataclass
class BatchMix:
    """``mix(x, y) -> (x_mixed, soft_targets)`` and the ``criterion`` that trains on those soft targets."""

    mixer: Mixup
    criterion: nn.Module

    @classmethod
    def build(cls, mixup: float, cutmix: float, n_classes: int, smoothing: float, multi_label: bool,
              criterion: nn.Module) -> BatchMix:
        """timm's batch mixer: Mixup with Beta(``mixup``, ``mixup``) weights and CutMix with Beta(``cutmix``,
        ``cutmix``) boxes (either alone when the other is 0; with both, each batch uses one of them, half each),
        ``smoothing`` folded into the soft targets."""
        return cls(Mixup(mixup_alpha=float(mixup), cutmix_alpha=float(cutmix), prob=1.0, switch_prob=0.5,
                         mode="batch", label_smoothing=float(smoothing), num_classes=int(n_classes),
                         multi_label=bool(multi_label)), criterion)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = int(x.shape[0])
        even = n - n % 2
        if even < 2:  # a single image has nobody to mix with: only its targets become soft (smoothed)
            return x, self._soft(y)
        if even == n:
            return self.mixer(x, y)
        head_x, head_y = self.mixer(x[:even].clone(), y[:even])
        return torch.cat([head_x, x[even:]]), torch.cat([head_y, self._soft(y[even:])])

    def _soft(self, y: torch.Tensor) -> torch.Tensor:
        return mixup_target(y, self.mixer.num_classes, 1.0, self.mixer.label_smoothing, self.mixer.multi_label)


def batch_mix(task: Task, tcfg: TrainConfig, n_classes: int, criterion: nn.Module) -> BatchMix | None:
    """The run's Mixup/CutMix for ``tcfg.mixup`` / ``tcfg.cutmix`` (``None`` when both are 0), with ``task``'s loss
    for the mixed targets; a loss of ``task`` that cannot read soft targets is refused in one line."""
    if tcfg.mixup <= 0 and tcfg.cutmix <= 0:
        return None
    smoothing, soft_criterion = task.mixing(tcfg, criterion)
    return BatchMix.build(tcfg.mixup, tcfg.cutmix, n_classes, smoothing, task.mix_label_rows, soft_criterion)
