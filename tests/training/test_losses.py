"""auxiliary.training.losses: focal, weighted and logit-adjusted criteria against plain cross entropy."""

from __future__ import annotations

import pytest
import torch
from _tiny_training import make_cfg

from auxiliary.base import errors
from auxiliary.training import losses


def test_losses():
    logits = torch.randn(16, 3)
    y = torch.arange(16) % 3
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert losses.FocalLoss(gamma=0.0)(logits, y) == pytest.approx(float(ce), rel=1e-5)
    assert float(losses.FocalLoss(gamma=2.0)(logits, y)) < float(ce)
    w = torch.tensor([1.0, 2.0, 3.0])
    weighted = losses.build_criterion(make_cfg(loss="weighted_ce").train, w)
    assert float(weighted(logits, y)) == pytest.approx(float(torch.nn.functional.cross_entropy(
        logits, y, weight=w, label_smoothing=0.05)), rel=1e-5)
    with pytest.raises(errors.TrainError, match="class weights"):
        losses.build_criterion(make_cfg(loss="weighted_ce").train, None)


def test_logit_adjusted_loss_trains_on_logits_plus_log_prior():
    logits = torch.randn(32, 3)
    y = torch.arange(32) % 3
    prior = torch.tensor([0.7, 0.2, 0.1])
    crit = losses.build_criterion(make_cfg(loss="logit_adjusted", label_smoothing=0.0).train, None, prior * 10)
    want = torch.nn.functional.cross_entropy(logits + prior.log(), y)
    assert float(crit(logits, y)) == pytest.approx(float(want), rel=1e-5)
    # A uniform prior adds the same constant to every logit: plain cross entropy.
    flat = losses.build_criterion(make_cfg(loss="logit_adjusted", label_smoothing=0.0).train, None, torch.ones(3))
    assert float(flat(logits, y)) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-5)
    # With the offset, equal raw logits already give the frequent class most of the training probability,
    # so the loss pushes the rare classes' raw logits up: raw argmax favours no class for its frequency.
    zero = torch.zeros(3, 3, requires_grad=True)
    crit(zero, torch.tensor([0, 1, 2])).backward()
    assert zero.grad[2, 2] < zero.grad[0, 0] < 0
    with pytest.raises(errors.TrainError, match="class prior"):
        losses.build_criterion(make_cfg(loss="logit_adjusted").train, None, None)
    with pytest.raises(errors.TrainError, match="non-negative"):
        losses.build_criterion(make_cfg(loss="logit_adjusted").train, None, torch.tensor([1.0, -1.0, 0.5]))
