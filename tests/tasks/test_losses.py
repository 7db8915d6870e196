"""auxiliary.tasks.losses: focal, weighted and logit-adjusted criteria against plain cross entropy; BCE with
pos_weight, asymmetric loss and focal BCE for one sigmoid per label."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny_training import make_cfg
from torch import nn

from auxiliary.base import errors
from auxiliary.base.errors import TrainError
from auxiliary.tasks import losses
from auxiliary.tasks import losses as ml


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


def batch(seed: int = 0, n: int = 16, L: int = 3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, L, generator=g) * 3
    target = (torch.rand(n, L, generator=g) < 0.3).float()
    return logits, target


def test_pos_weights_from_prevalence():
    Y = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]])
    w = ml.pos_weights(Y)
    assert w.dtype == torch.float32
    assert w.tolist() == [3.0, 1.0, pytest.approx(1 / 3)]  # middle: no positives -> 1
    assert ml.pos_weights(Y, max_weight=2.0).tolist()[0] == 2.0
    assert torch.equal(ml.pos_weights(torch.tensor(Y)), w)
    with pytest.raises(TrainError, match="0/1"):
        ml.pos_weights([[2, 0]])
    with pytest.raises(TrainError, match="2-D"):
        ml.pos_weights([1, 0])


@pytest.mark.parametrize("use_pw", [False, True])
def test_all_three_match_torch_bce_without_focusing(use_pw):
    logits, target = batch()
    pw = torch.tensor([3.0, 0.5, 2.0]) if use_pw else None
    ref = nn.BCEWithLogitsLoss(pos_weight=pw)(logits, target)
    for crit in (ml.MultilabelBCE(pw), ml.AsymmetricLoss(0, 0, 0, pw), ml.FocalBCE(0.0, None, pw)):
        assert torch.allclose(crit(logits, target), ref, atol=1e-6), crit
    assert torch.allclose(ml.AsymmetricLoss(0, 0, 0, pw, reduction="sum")(logits, target),
                          nn.BCEWithLogitsLoss(pos_weight=pw, reduction="sum")(logits, target), atol=1e-5)


def test_integer_targets_and_half_logits_are_accepted():
    logits, target = batch()
    ref = nn.BCEWithLogitsLoss()(logits, target)
    out = ml.MultilabelBCE()(logits.half(), target.long())
    assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=1e-2)
    with pytest.raises(TrainError, match="differ in shape"):
        ml.MultilabelBCE()(logits, target[:, :2])


def test_gradients_flow():
    logits, target = batch()
    for crit in (ml.MultilabelBCE(), ml.AsymmetricLoss(), ml.FocalBCE(alpha=0.25)):
        x = logits.clone().requires_grad_(True)
        crit(x, target).backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_asymmetric_downweights_easy_negatives():
    """Easy negatives (p < clip) cost nothing; a hard negative still costs; positives are untouched at gamma_pos 0."""
    target = torch.tensor([[0.0, 0.0, 1.0]])
    easy = torch.tensor([[-4.0, -4.0, 1.0]])  # p(neg) = 0.018 < clip 0.05
    asl = ml.AsymmetricLoss(gamma_pos=0, gamma_neg=4, clip=0.05, reduction="none")
    bce = nn.BCEWithLogitsLoss(reduction="none")
    a, b = asl(easy, target), bce(easy, target)
    assert a[0, 0] == 0 and b[0, 0] > 0.01
    assert torch.allclose(a[0, 2], b[0, 2])
    hard = torch.tensor([[2.0, -4.0, 1.0]])  # p = 0.88 for a negative
    assert asl(hard, target)[0, 0] > 0.1
    # focusing alone (no clip): a mildly easy negative weighs much less than under BCE
    mild = torch.tensor([[-1.0, -1.0, 1.0]])
    ratio = ml.AsymmetricLoss(0, 4, 0, reduction="none")(mild, target)[0, 0] / bce(mild, target)[0, 0]
    assert ratio < 0.01


def test_focal_bce_downweights_easy_examples():
    target = torch.tensor([[1.0, 0.0]])
    easy = torch.tensor([[4.0, -4.0]])
    hard = torch.tensor([[-1.0, 1.0]])
    focal, bce = ml.FocalBCE(2.0, reduction="none"), nn.BCEWithLogitsLoss(reduction="none")
    assert (focal(easy, target) / bce(easy, target)).max() < 0.01
    assert (focal(hard, target) / bce(hard, target)).min() > 0.5
    alpha = ml.FocalBCE(0.0, alpha=0.75, reduction="none")(hard, target) / bce(hard, target)
    assert torch.allclose(alpha, torch.tensor([[0.75, 0.25]]))


@pytest.mark.parametrize("name", ["bce", "asymmetric", "focal_bce"])
def test_tiny_linear_model_learns(name):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(128, 8, generator=g)
    W = torch.randn(8, 3, generator=g)
    Y = (X @ W + torch.tensor([0.0, -1.5, -3.0]) > 0).float()  # three prevalences
    torch.manual_seed(0)
    model = nn.Linear(8, 3)
    crit = ml.multilabel_criterion(name, ml.pos_weights(Y, max_weight=10))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = crit(model(X), Y).item()
    for _ in range(30):
        opt.zero_grad()
        loss = crit(model(X), Y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_criterion_by_name_and_refusals():
    assert isinstance(ml.multilabel_criterion("ASL"), ml.AsymmetricLoss)
    assert isinstance(ml.multilabel_criterion("focal"), ml.FocalBCE)
    assert ml.multilabel_criterion("bce", torch.ones(3)).pos_weight.shape == (3,)
    with pytest.raises(TrainError, match="choose from"):
        ml.multilabel_criterion("hinge")
    with pytest.raises(TrainError, match="clip"):
        ml.AsymmetricLoss(clip=1.5)
    with pytest.raises(TrainError, match="alpha"):
        ml.FocalBCE(alpha=2)


def test_focal_bce_is_torchvisions_focal_loss_with_pos_weight_on_the_positive_terms():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(32, 4, generator=g) * 3
    target = (torch.rand(32, 4, generator=g) < 0.3).float()
    pw = torch.tensor([1.0, 2.0, 5.0, 0.5])
    for alpha in (None, 0.25):
        got = ml.FocalBCE(2.0, alpha, pw, reduction="none")(logits, target)
        bce = nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * target + (1 - p) * (1 - target)
        want = (1 - p_t) ** 2 * bce
        if alpha is not None:
            want = want * (alpha * target + (1 - alpha) * (1 - target))
        assert torch.allclose(got, want, atol=1e-5)
