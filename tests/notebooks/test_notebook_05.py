"""notebooks/05_comparison.ipynb runs on the smoke profile and records the comparison of the notebook-03/04 models."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _executed import shows_a_static_figure

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.notebooks
@pytest.mark.slow
def test_notebook_05_comparison(series):
    res = series.run("05_comparison")
    assert res["index_levels"] == ["model", "split", "group", "metric"]
    assert res["split"] == "test" and res["fairness_col"] == "tone_group" and res["n_test"] > 0
    models = res["models"]
    assert any(m.endswith("(04)") for m in models)
    if (ROOT / "notebooks" / "03_model_selection.ipynb").is_file():
        assert any(m.endswith("(03)") for m in models) and res["n_models"] >= 2
    assert any(m.endswith("+tta") for m in models)  # smoke turns TTA on: reported beside plain inference
    for m in models:
        row = res["per_model"][m]
        assert 0.0 <= row["balanced_accuracy"] <= 1.0 and row["parameters"] > 0 and row["checkpoint_mb"] > 0
        assert "balanced_accuracy_gap" in row  # fairness gap across tone groups
        if not m.endswith("+tta"):
            assert row["torch_ms_per_image_b1"] > 0 and row["onnx_images_per_s_b32"] > 0
    for info in res["onnx"].values():
        assert Path(info["path"]).is_file() and info["max_abs_diff"] <= 1e-4
    table = pd.read_csv(res["comparison_csv"]).set_index(res["index_levels"])
    assert table.index.is_unique and len(table) == res["n_rows"]
    assert res["best_model"] in models
    assert res["runs_listed"] >= 2 and res["runs_tracked"] == 0  # run folders always; MLflow only when tracked
    figures = series.out / "figures"
    for name in res["figures"]:
        assert (figures / f"{name}.png").stat().st_size > 1000
    # the comparison browser: nobody can click under papermill, so it showed its static figure
    assert res["widgets"] == {"comparison_browser": "static"}
    assert shows_a_static_figure(series.out, "05_comparison", "cell-browser")


def test_notebook_05_multilabel(ml_series):
    """TASK multilabel: the comparison table gains a label level; Grad-CAM per label of the best model."""
    res = ml_series.run("05_comparison")
    assert res["task"] == "multilabel"
    assert res["index_levels"] == ["model", "split", "group", "label", "metric"]
    for model, m in res["per_model"].items():
        assert 0.0 <= m["macro_auroc"] <= 1.0, model
    for name in res["figures"]:
        assert (Path(ml_series.out) / "figures" / f"{name}.png").is_file(), name
    assert res["widgets"] == {"comparison_browser": "static"}
    assert shows_a_static_figure(ml_series.out, "05_comparison", "cell-browser")
