"""auxiliary.training.mixing and Task.mixing: timm's Mixup/CutMix of training batches, per task, and a run that uses it."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch
from _tiny_training import make_cfg, run
from torch import nn

from auxiliary.base import errors
from auxiliary.tasks import TASKS
from auxiliary.training import engine
from auxiliary.training.mixing import BatchMix, batch_mix


def _batch(n: int, k: int = 3):
    torch.manual_seed(0)
    return torch.rand(n, 3, 16, 16), torch.arange(n) % k


def test_mixup_mixes_images_and_one_hot_targets_with_the_same_weight():
    x, y = _batch(8)
    mix = BatchMix.build(0.4, 0.0, 3, 0.0, False, nn.Identity())
    mx, t = mix(x.clone(), y)
    assert t.shape == (8, 3) and torch.allclose(t.sum(1), torch.ones(8))
    lam = float(t[0, y[0]]) if y[0] != y[-1] else None  # image 0 is mixed with image 7 (the batch flipped)
    assert lam is not None and 0 < lam < 1
    assert torch.allclose(mx[0], lam * x[0] + (1 - lam) * x[-1], atol=1e-5)


def test_cutmix_pastes_a_box_and_weights_targets_by_its_area():
    x, _ = _batch(4)
    y = torch.tensor([0, 1, 2, 1])
    mix = BatchMix.build(0.0, 1.0, 3, 0.0, False, nn.Identity())
    torch.manual_seed(3)
    mx, t = mix(x.clone(), y)
    from_other = (mx[0] == x[-1]).all(0)  # pixels of image 0 that now come from image 3
    kept = (mx[0] == x[0]).all(0)
    assert bool((from_other | kept).all())
    share_other = float(from_other.float().mean())
    assert t[0, y[-1]] == pytest.approx(share_other, abs=1e-6)  # timm corrects lambda to the box's real area


def test_label_smoothing_is_folded_into_the_soft_targets():
    x, y = _batch(4)
    _, t = BatchMix.build(0.2, 0.0, 3, 0.3, False, nn.Identity())(x, y)
    assert float(t.min()) >= 0.1 - 1e-6  # 0.3 spread over 3 classes: no target below 0.1


def test_an_odd_batch_keeps_its_last_image_unmixed():
    x, y = _batch(5)
    mx, t = BatchMix.build(0.4, 0.0, 3, 0.0, False, nn.Identity())(x.clone(), y)
    assert torch.equal(mx[-1], x[-1]) and torch.equal(t[-1], torch.nn.functional.one_hot(y[-1], 3).float())
    assert not torch.equal(mx[0], x[0])
    one_x, one_t = BatchMix.build(0.4, 0.0, 3, 0.0, False, nn.Identity())(x[:1].clone(), y[:1])
    assert torch.equal(one_x, x[:1]) and one_t.shape == (1, 3)


def test_single_label_mixes_with_cross_entropy_on_soft_targets_and_refuses_other_losses():
    task = TASKS["single"]
    tcfg = make_cfg().train
    assert batch_mix(task, tcfg, 3, nn.CrossEntropyLoss()) is None  # off by default
    mix = batch_mix(task, replace(tcfg, mixup=0.2, cutmix=1.0), 3, nn.CrossEntropyLoss())
    x, y = _batch(8)
    mx, t = mix(x, y)
    logits = torch.randn(8, 3)
    expected = (-t * torch.log_softmax(logits, 1)).sum(1).mean()
    assert float(mix.criterion(logits, t)) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(errors.TrainError, match="loss focal .* cannot read.*--loss ce"):
        batch_mix(task, replace(tcfg, mixup=0.2, loss="focal"), 3, nn.CrossEntropyLoss())


def test_multilabel_mixes_label_rows_for_bce_and_refuses_asymmetric():
    task = TASKS["multilabel"]
    tcfg = replace(make_cfg().train, mixup=0.4, loss="bce")
    bce = nn.BCEWithLogitsLoss()
    mix = batch_mix(task, tcfg, 4, bce)
    x = torch.rand(6, 3, 8, 8)
    y = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 1, 1, 1]]).float()
    _, t = mix(x, y)
    lam = float(t[0, 0])  # row 0 (1,0,0,1) mixed with row 5 (0,1,1,1)
    assert torch.allclose(t[0], torch.tensor([lam, 1 - lam, 1 - lam, 1.0])) and mix.criterion is bce
    with pytest.raises(errors.TrainError, match="asymmetric"):
        batch_mix(task, replace(tcfg, loss="asymmetric"), 4, bce)


def test_an_odd_batch_size_is_refused_with_mixing_on():
    with pytest.raises(errors.TrainError, match="batch must be even"):
        engine.check_config(replace(make_cfg().train, batch=7, cutmix=1.0))
    engine.check_config(replace(make_cfg().train, batch=7))  # without mixing an odd batch is fine


def test_a_run_with_mixup_and_cutmix_trains_and_records_them(tmp_path):
    plain = run(tmp_path, "plain", make_cfg(max_epochs=2))
    mixed = run(tmp_path, "mixed", make_cfg(max_epochs=2, mixup=0.2, cutmix=1.0))
    ckpt = torch.load(tmp_path / "mixed" / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["config"]["train"]["mixup"] == 0.2 and ckpt["config"]["train"]["cutmix"] == 1.0
    # the same seed and data order: only the mixing differs, and it raises the training loss (soft targets)
    loss = {name: pd.read_csv(tmp_path / name / "logs" / "metrics.csv")["train_loss"].iloc[-1]
            for name in ("plain", "mixed")}
    assert loss["mixed"] > loss["plain"] and plain["finished"] and mixed["finished"]
