"""A two-process DDP run (``--accelerator cpu --devices 2 --strategy ddp``, gloo) with ``--tracking tensorboard,mlflow``
is one tracked run, not two: Fabric's loggers log on rank 0 only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _tiny_runs import make_split

mlflow = pytest.importorskip("mlflow", reason="the tracking extra is not installed: pip install -e '.[tracking]'")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_a_ddp_run_is_one_mlflow_run_and_one_tensorboard_log(tmp_path):
    split = make_split(tmp_path, n_per_class=4, size=32)
    out, store = tmp_path / "run", tmp_path / "store"
    cmd = [sys.executable, "-m", "auxiliary", "train", "--data", str(split), "--out", str(out), "--profile", "smoke",
           "--model", "test_resnet", "--img-size", "32", "--batch", "4", "--max-epochs", "2", "--freeze-epochs", "1",
           "--patience", "0", "--set", "data.cache=false", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
           "--no-progress", "--tracking", "tensorboard,mlflow", "--tracking-uri", str(store)]
    env = dict(os.environ, AUXILIARY_OUTPUT=str(tmp_path / "outputs"), PYTHONUNBUFFERED="1")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    found = mlflow.search_runs(experiment_names=["auxiliary-smoke"])
    assert len(found) == 1 and found["status"].tolist() == ["FINISHED"]
    client = mlflow.MlflowClient()
    history = sorted(m.step for m in client.get_metric_history(found["run_id"][0], "val_balanced_acc"))
    assert history == [1, 2]  # each epoch logged once, by rank 0
    assert pd.read_csv(out / "logs" / "metrics.csv")["epoch"].tolist() == [1, 2]
    assert len(list((out / "logs" / "tensorboard").glob("events.out.tfevents.*"))) == 1
