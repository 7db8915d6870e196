"""Model selection on a multi-label split (steps.select): ranked by the split's task's own metric."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from _tiny_multilabel import LABELS, multilabel_split

from auxiliary.base import config_overrides
from auxiliary.evaluation.metrics import multilabel_summary
from auxiliary.steps import select as selection
from auxiliary.tasks import task_of_split


def _cfg(**over):
    base = {"select_models": ["test_resnet", "test_efficientnet"], "img_size": 32, "select_epochs": 2,
            "freeze_epochs": 1, "batch": 8, "threads": 1, "data.cache": False, "lr_head": 5e-3, "lr_ft": 5e-3}
    base.update(over)
    return config_overrides.resolve("smoke", overrides=base)


def test_default_metric_becomes_macro_auroc_on_multilabel_splits(tmp_path, split_dir):
    ml = multilabel_split(tmp_path / "ml")
    assert task_of_split(ml).select_metric(_cfg().train) == "val_macro_auroc"
    assert task_of_split(ml).select_metric(_cfg(select_metric="val_ece").train) == "val_ece"  # the user's is kept
    assert task_of_split(split_dir).select_metric(_cfg().train) == "val_balanced_acc"


def test_selection_ranks_multilabel_runs_by_macro_auroc(tmp_path):
    split = multilabel_split(tmp_path, n=80)
    table = selection.run_selection(_cfg(), split, tmp_path / "select", progress=False)
    assert table.attrs["metric"] == "val_macro_auroc"
    ok = table[table["error"] == ""]
    assert len(ok) == 2
    assert ok["val_balanced_acc"].isna().all()
    for col in ("val_macro_auroc", "val_macro_f1", "val_acc", "val_ece", "val_log_loss"):
        assert ok[col].between(0, math.inf).all(), col
    assert (ok["val_macro_auroc"] <= 1).all() and (ok["val_acc"] <= 1).all()
    best = ok.sort_values("val_macro_auroc", ascending=False).iloc[0]
    assert table.attrs["winner"] == best["model"]
    # the row equals a recomputation from the run's own validation predictions
    run = Path(best["run_dir"])
    val = pd.read_csv(run / "val_predictions.csv")
    s = multilabel_summary(val[LABELS].to_numpy(), val[[f"prob_{lab}" for lab in LABELS]].to_numpy(), LABELS)
    assert best["val_macro_auroc"] == pytest.approx(s["macro_auroc"])
    assert best["n_val"] == len(val)
    sel = json.loads(selection.selection_file(_cfg()).read_text())
    assert sel["metric"] == "val_macro_auroc" and sel["model"] == best["model"]
