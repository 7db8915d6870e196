"""auxiliary.training.optimization: the warm-up then cosine schedule, the EMA of the weights."""

from __future__ import annotations

import pytest
import torch
from _tiny_training import Toy
from torch.utils.data import DataLoader

from auxiliary.models import factory as models
from auxiliary.training import epochs, optimization


def test_warmup_then_cosine_schedule():
    s = optimization.WarmupCosine(1.0, total_steps=20, warmup_steps=4)
    lrs = [s(i) for i in range(20)]
    assert lrs[:5] == sorted(lrs[:5]) and lrs[4] == pytest.approx(1.0)
    assert lrs[4:] == sorted(lrs[4:], reverse=True)
    assert lrs[-1] == pytest.approx(optimization.MIN_LR_RATIO)


def test_ema_is_the_moving_average_of_the_weights_after_each_step():
    from lightning_fabric import Fabric

    torch.manual_seed(0)
    model = models.create_model("test_resnet", 3)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    fm = fabric.setup_module(model)
    opt = fabric.setup_optimizers(optimization.make_optimizer(model, 1e-2, 0.05))
    ema = optimization.make_ema(model, 0.75)
    one_batch = DataLoader(Toy(8), batch_size=8)
    epochs.train_epoch(fabric, fm, opt, one_batch, torch.nn.CrossEntropyLoss(), ema=ema, progress=False)
    after, averaged = model.state_dict(), ema.module.state_dict()
    moved = [k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])]
    assert moved, "one optimizer step changed the weights"
    for k in moved:  # one update: 0.75 * old + 0.25 * new, parameters and BatchNorm statistics alike
        torch.testing.assert_close(averaged[k], 0.75 * before[k] + 0.25 * after[k])
    assert not any(p.requires_grad for p in ema.module.parameters())
