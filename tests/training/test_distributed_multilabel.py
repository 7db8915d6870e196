"""A two-process (DDP, gloo) multi-label run on this CPU: every rank evaluates its share of validation with float
(B, L) targets, gathered back in order, so the recorded metrics are those of a single-process pass of the same weights."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _tiny_multilabel import LABELS, multilabel_split
from lightning_fabric import Fabric

from auxiliary.base import config_overrides
from auxiliary.data.loaders import build_loader
from auxiliary.data.readers import load_split
from auxiliary.evaluation.calibration import sigmoid
from auxiliary.models import checkpoint as checkpoints
from auxiliary.tasks import losses, task_of_split
from auxiliary.training import epochs

pytestmark = pytest.mark.slow

SETTINGS = {"model": "test_resnet", "img_size": 32, "batch": 4, "max_epochs": 2, "freeze_epochs": 1, "patience": 0,
            "loss": "bce", "balance": "class", "cache": False}


def test_ddp_multilabel_validation_is_gathered_in_order(tmp_path):
    split = multilabel_split(tmp_path)
    run = tmp_path / "run"
    args = [a for k, v in SETTINGS.items() for a in (f"--{k.replace('_', '-')}", str(v).lower())]
    proc = subprocess.run([sys.executable, "-m", "auxiliary", "train", "--data", str(split), "--out", str(run),
                           "--profile", "smoke", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
                           "--no-progress", *args], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["task"] == "multilabel" and summary["test"]["images"] == 12
    best = pd.read_csv(run / "logs" / "metrics.csv").set_index("epoch").loc[summary["best_epoch"]]

    cfg = config_overrides.resolve("smoke", overrides=SETTINGS)
    model, info = checkpoints.load_checkpoint(run / "best.pt")
    tables, classes = load_split(split)
    loader = build_loader(tables["val"], targets=task_of_split(split).targets(tables["val"], classes), img_size=32,
                          mean=info["mean"], std=info["std"], train=False, data_cfg=cfg.data, batch_size=4,
                          progress=False)
    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    crit = losses.build_criterion(cfg.train, pos_weight=None)
    va = epochs.validate(fabric, fabric.setup_module(model), fabric.setup_dataloaders(loader), crit,
                         n_classes=3, progress=False)
    assert va["images"] == 16 and va["labels"].shape == (16, 3)
    assert best["val_macro_auroc"] == pytest.approx(va["macro_auroc"], abs=1e-9)
    assert best["val_hamming_loss"] == pytest.approx(va["hamming_loss"], abs=1e-9)
    pred = pd.read_csv(run / "val_predictions.csv", keep_default_na=False)
    assert pred["path"].tolist() == tables["val"]["path"].astype(str).tolist()  # all 16, in table order
    np.testing.assert_array_equal(pred[LABELS].to_numpy(), tables["val"][LABELS].to_numpy())
    np.testing.assert_allclose(pred[[f"prob_{c}" for c in classes]].to_numpy(),
                               sigmoid(va["logits"], info["temperatures"]), atol=1e-5)
