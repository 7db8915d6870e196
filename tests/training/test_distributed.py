"""Distributed training, proven on this CPU: ``train`` with ``--accelerator cpu --devices 2 --strategy ddp`` (gloo).

Three real two-process runs of the command line (through tests/training/ddp_train.py, which records what each
rank trains on and writes): one uninterrupted, one interrupted after its first epoch and resumed. They show
that the ranks train on disjoint shares of the balanced sampler's order, that validation metrics are those of
every validation sample (equal to a single-process evaluation of the same weights), that only rank 0 writes,
and that a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _tiny_runs import make_split
from lightning_fabric import Fabric

from auxiliary.base import config_overrides
from auxiliary.data.loaders import build_loader
from auxiliary.data.readers import load_split
from auxiliary.evaluation.calibration import softmax
from auxiliary.models import checkpoint as checkpoints
from auxiliary.tasks import losses, task_of_split
from auxiliary.training import epochs
from auxiliary.training.seeding import epoch_seed, reseed_loader

SCRIPT = Path(__file__).with_name("ddp_train.py")
SETTINGS = {"model": "test_resnet", "img_size": 32, "batch": 4, "max_epochs": 2, "freeze_epochs": 1, "patience": 0,
            "balance": "class", "cache": False}
ARGS = ["--profile", "smoke", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--no-progress",
        *[a for k, v in SETTINGS.items() for a in (f"--{k.replace('_', '-')}", str(v).lower())]]

pytestmark = pytest.mark.slow


def launch(root: Path, split: Path, run: str, *extra: str, stop_after: int = 0) -> subprocess.CompletedProcess:
    record = root / f"record-{run}"
    record.mkdir(exist_ok=True)
    env = dict(os.environ, AUX_TEST_RECORD=str(record), AUX_TEST_STOP_AFTER=str(stop_after), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(SCRIPT), "train", "--data", str(split), "--out", str(root / run), *ARGS, *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=root)


def records(root: Path, run: str, rank: int) -> list[dict]:
    f = root / f"record-{run}" / f"rank{rank}.jsonl"
    return [json.loads(line) for line in f.read_text().splitlines()] if f.is_file() else []


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    split = make_split(root, n_per_class=8, size=32)  # 24 images in each of train, val, test
    a = launch(root, split, "a")
    assert a.returncode == 0, a.stderr[-3000:]
    b1 = launch(root, split, "b", stop_after=1)
    b2 = launch(root, split, "b", "--resume")
    assert b2.returncode == 0, b2.stderr[-3000:]
    return {"root": root, "split": split, "a": a, "b1": b1, "b2": b2}


def sampler_order(split: Path, epoch: int) -> list[int]:
    """The order one process's balanced sampler draws in ``epoch`` (0-based), as the loop seeds it."""
    cfg = config_overrides.resolve("smoke", overrides=SETTINGS)
    tables, classes = load_split(split)
    task = task_of_split(split)
    loader = build_loader(tables["train"], targets=task.targets(tables["train"], classes),
                          weights=task.sample_weights(tables["train"], classes, cfg.data.balance), img_size=32,
                          mean=(0.5,) * 3, std=(0.5,) * 3, train=True, data_cfg=cfg.data, batch_size=4,
                          seed=cfg.train.seed, progress=False)
    assert type(loader.sampler).__name__ == "WeightedRandomSampler"
    reseed_loader(loader, epoch_seed(cfg.train.seed, epoch))
    return list(loader.sampler)


def test_the_ranks_train_on_disjoint_shares_of_the_balanced_samplers_order(ddp):
    for epoch in (0, 1):
        order = sampler_order(ddp["split"], epoch)
        shares = [[r["indices"] for r in records(ddp["root"], "a", rank) if r.get("epoch") == str(epoch + 1)]
                  for rank in (0, 1)]
        assert [len(s) for s in shares] == [1, 1]  # one training pass per rank and epoch
        # rank r trains on positions r, r + 2, ... of the one order: no position twice, none left out
        assert shares[0][0] == order[0::2] and shares[1][0] == order[1::2]
        assert len(shares[0][0]) + len(shares[1][0]) == len(order) == 24
    # the with-replacement draws differ from epoch to epoch (the sampler is reseeded, not repeated)
    assert sampler_order(ddp["split"], 0) != sampler_order(ddp["split"], 1)


def test_validation_metrics_are_those_of_every_sample_as_one_process_computes_them(ddp):
    run = ddp["root"] / "a"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["processes"] == 2 and summary["test"]["images"] == 24
    metrics = pd.read_csv(run / "logs" / "metrics.csv")
    assert metrics["epoch"].tolist() == [1, 2]
    best = metrics.set_index("epoch").loc[summary["best_epoch"]]

    cfg = config_overrides.resolve("smoke", overrides=SETTINGS)
    model, info = checkpoints.load_checkpoint(run / "best.pt")
    tables, classes = load_split(ddp["split"])
    loader = build_loader(tables["val"], targets=task_of_split(ddp["split"]).targets(tables["val"], classes),
                          img_size=32, mean=info["mean"], std=info["std"], train=False, data_cfg=cfg.data, batch_size=4,
                          progress=False)
    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    va = epochs.validate(fabric, fabric.setup_module(model), fabric.setup_dataloaders(loader),
                         losses.build_criterion(cfg.train), n_classes=3, progress=False)
    assert va["images"] == 24
    assert best["val_balanced_acc"] == pytest.approx(va["balanced_acc"], abs=1e-9)
    assert best["val_acc"] == pytest.approx(va["acc"], abs=1e-9)
    assert best["val_loss"] == pytest.approx(va["loss"], rel=1e-5)
    pred = pd.read_csv(run / "val_predictions.csv")
    assert pred["path"].tolist() == tables["val"]["path"].astype(str).tolist()  # all 24, in table order
    np.testing.assert_allclose(pred[[f"prob_{c}" for c in classes]].to_numpy(),
                               softmax(va["logits"], info["temperature"]), atol=1e-5)


def test_only_rank_zero_writes_checkpoints_logs_predictions_and_figures(ddp):
    run = ddp["root"] / "a"
    zero, one = records(ddp["root"], "a", 0), records(ddp["root"], "a", 1)
    assert [r for r in one if "write" in r and r["write"].startswith(str(run))] == []
    assert [r for r in one if "figures" in r] == []
    assert [r["figures"] for r in zero if "figures" in r] == [str(run)]
    written = {Path(r["write"]).relative_to(run).as_posix() for r in zero if r.get("write", "").startswith(str(run))}
    assert {"best.pt", "last.pt", "logs/metrics.csv", "val_predictions.csv", "test_predictions.csv",
            "summary.json"} <= written
    assert sorted(p.name for p in (run / "logs").glob("*.png")) == ["accuracy_curve.png", "confusion_matrix.png",
                                                                    "loss_curve.png"]
    assert not list(run.rglob("*.part"))


def test_an_interrupted_run_resumes_and_ends_with_the_same_weights(ddp):
    assert ddp["b1"].returncode == 130, ddp["b1"].stderr[-2000:]
    assert "interrupted" in ddp["b1"].stderr and "resuming" in ddp["b2"].stdout
    a, b = ddp["root"] / "a", ddp["root"] / "b"
    # the resumed launch trained epoch 2 only, on the same shares as the uninterrupted run
    for rank in (0, 1):
        b_epochs = [r for r in records(ddp["root"], "b", rank) if "epoch" in r]
        assert [r["epoch"] for r in b_epochs] == ["1", "2"]
        assert [r["indices"] for r in b_epochs] == [r["indices"] for r in records(ddp["root"], "a", rank)
                                                    if "epoch" in r]
    for name in ("last.pt", "best.pt"):
        sa = torch.load(a / name, map_location="cpu", weights_only=True)
        sb = torch.load(b / name, map_location="cpu", weights_only=True)
        wa, wb = (s["model"] if name == "last.pt" else s["state_dict"] for s in (sa, sb))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name
    cols = ["epoch", "phase", "train_loss", "val_loss", "val_balanced_acc", "val_macro_f1"]
    pd.testing.assert_frame_equal(pd.read_csv(a / "logs" / "metrics.csv")[cols],
                                  pd.read_csv(b / "logs" / "metrics.csv")[cols])
