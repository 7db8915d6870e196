"""notebooks/04_fine_tuning.ipynb runs on the smoke profile after 01-03 and records its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _executed import shows_a_static_figure

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def test_notebook_04_fine_tunes_and_records_results(series):
    res = series.run("04_fine_tuning")
    assert res["notebook"] == "04_fine_tuning"
    assert res["config"]["profile"] == "smoke"
    selected = Path(series.out) / "models" / "selected-smoke.json"
    expected_model = json.loads(selected.read_text())["model"] if selected.is_file() else res["config"]["train"]["model"]
    assert res["model"] == expected_model
    assert 1 <= res["epochs_run"] <= res["config"]["train"]["max_epochs"]
    for key in ("best_val_balanced_acc", "test_balanced_acc", "test_macro_auroc"):
        assert 0.0 <= res[key] <= 1.0, key
    assert res["seconds"] > 0 and res["images_per_second"] > 0
    assert set(res["per_class_recall"]["validation"]) == {"acne", "erythema", "none"}
    run = Path(res["run_dir"])
    for f in ("best.pt", "last.pt", "summary.json", "val_predictions.csv", "logs/metrics.csv",
              "logs/loss_curve.png", "logs/accuracy_curve.png", "logs/confusion_matrix.png"):
        assert (run / f).is_file(), f
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["model_name"] == res["model"] and ckpt["classes"] == ["acne", "erythema", "none"]
    for fig in ("04_learning_curves", "04_confusion_matrix", "04_per_class_recall"):
        assert (Path(series.out) / "figures" / f"{fig}.png").is_file(), fig
        # each figure names the run it shows, its config hash and data version (auxiliary.base.provenance)
        prov = json.loads((Path(series.out) / "figures" / f"{fig}.png.json").read_text())
        assert prov["notebook"] == "04_fine_tuning" and prov["training_run"] == res["run_dir"], fig
        assert prov["run_id"] == run.name and len(prov["config_hash"]) == len(prov["data_version"]) == 12, fig
    assert res["recent_runs"] >= 1  # the table of recent runs lists at least this one
    # the training monitor: under papermill the run trained in the foreground and its curves are one static figure
    assert res["widgets"] == {"training_monitor": "static"} and res["stopped_by_user"] is False
    assert shows_a_static_figure(series.out, "04_fine_tuning", "cell-monitor-result")


def test_notebook_04_multilabel(ml_series):
    """TASK multilabel: a BCE run with per-label temperatures and thresholds, recall per label."""
    import torch

    res = ml_series.run("04_fine_tuning")
    labels = ["acne", "erythema", "hyperpigmentation", "wrinkles"]
    assert res["task"] == "multilabel"
    assert 0.0 <= res["test_macro_auroc"] <= 1.0 and 0.0 <= res["val_macro_auroc"] <= 1.0
    assert set(res["per_class_recall"]["validation"]) == set(labels)
    ckpt = torch.load(Path(res["run_dir"]) / "best.pt", weights_only=True)
    assert ckpt["task"] == "multilabel" and ckpt["classes"] == labels
    assert len(ckpt["temperatures"]) == 4 and set(ckpt["thresholds"]["global"]) == set(labels)
    for fig in ("04_learning_curves", "04_confusion_matrix", "04_per_class_recall"):
        assert (Path(ml_series.out) / "figures" / f"{fig}.png").is_file(), fig
    assert res["widgets"] == {"training_monitor": "static"}
    assert shows_a_static_figure(ml_series.out, "04_fine_tuning", "cell-monitor-result")
