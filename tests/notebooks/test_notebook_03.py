"""notebooks/03_model_selection.ipynb runs on the smoke profile after 01-02 and records its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _executed import shows_a_static_figure

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def test_notebook_03_selects_a_model_and_records_results(series):
    res = series.run("03_model_selection")
    assert res["notebook"] == "03_model_selection"
    assert res["config"]["profile"] == "smoke"
    models = res["config"]["train"]["select_models"]
    assert res["n_models"] == len(models) == 2 and res["n_failed"] == 0
    rows = {r["model"]: r for r in res["table"]}
    assert list(rows) == models
    for r in rows.values():
        assert 0.0 <= r["val_balanced_acc"] <= 1.0 and 0.0 <= r["val_ece"] <= 1.0
        assert r["params"] > 1e5 and r["train_seconds"] > 0 and r["infer_img_per_s"] > 0
    # the winner is the best by the named metric, and notebook 04 will read it
    metric = res["metric"]
    assert metric == res["config"]["train"]["select_metric"] == "val_balanced_acc"
    assert res["value"] == max(r[metric] for r in rows.values())
    assert res["winner"] in rows and rows[res["winner"]][metric] == res["value"]
    selected = Path(series.out) / "models" / "selected-smoke.json"
    assert json.loads(selected.read_text())["model"] == res["winner"]
    # calibration, operating point and fairness of the winner were recorded
    assert res["temperature"] > 0 and res["val_ece_before"] >= 0 and res["val_ece_after"] >= 0
    assert res["high_recall"]["positive_classes"] == ["acne"] and "positives" in res["high_recall"]["note"]
    assert res["fairness_col"] == "tone_group"
    assert sum(g["support"] for g in res["groups"]) == rows[res["winner"]]["n_val"]
    small = res["config"]["eval"]["min_group_size"]
    assert all(g["flagged_small"] == (g["support"] < small) for g in res["groups"])
    for fig in ("03_model_selection", "03_winner_calibration", "03_winner_pr_curves", "03_winner_fairness"):
        assert (Path(series.out) / "figures" / f"{fig}.png").is_file(), fig
    # the results explorer: nobody can click under papermill, so it showed its static figure
    assert res["widgets"] == {"results_explorer": "static"}
    assert shows_a_static_figure(series.out, "03_model_selection", "cell-explorer")


def test_notebook_03_multilabel(ml_series):
    """TASK multilabel: candidates ranked by validation macro AUROC, per-label calibration and fairness."""
    res = ml_series.run("03_model_selection")
    assert res["task"] == "multilabel" and res["n_failed"] == 0
    assert res["metric"] == "val_macro_auroc"
    rows = {r["model"]: r for r in res["table"]}
    assert res["value"] == max(r["val_macro_auroc"] for r in rows.values())
    for r in rows.values():
        assert 0.0 <= r["val_macro_auroc"] <= 1.0 and r["val_balanced_acc"] is None
    assert set(res["temperature"]) == {"acne", "erythema", "hyperpigmentation", "wrinkles"}
    assert 0.0 <= res["val_ece_after"] <= 1.0
    assert res["widgets"] == {"results_explorer": "static"}
    assert shows_a_static_figure(ml_series.out, "03_model_selection", "cell-explorer")
