"""Mixup and CutMix of a training batch: timm's :class:`timm.data.Mixup`, made safe for this package's loops.

:class:`BatchMix` pairs timm's batch mixer with the loss that reads its soft targets. What differs between tasks
(which losses may train on mixed targets, the soft-target loss, whether targets are class indices or a 0/1
matrix) is the task's (:meth:`auxiliary.tasks.Task.mixer`); the training epoch only calls ``mix(x, y)``.

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
