"""notebooks/02_data.ipynb runs on the smoke profile (papermill) and records a leakage-free split."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def test_notebook_02_smoke(series):
    res = series.run("02_data")
    sizes = res["split_sizes"]
    assert set(sizes) == {"train", "val", "test"}
    assert sum(sizes.values()) == res["n_images"] > 0
    assert sizes["train"] > sizes["val"] > 0 and sizes["test"] > 0
    assert res["leakage"] == 0
    assert res["augmented_outside_train"] == 0
    assert isinstance(res["duplicates"], int) and res["duplicates"] == res["duplicates_exact"] + res["duplicates_near"]
    assert res["classes"] == ["acne", "erythema", "none"]
    for split, counts in res["class_counts"].items():
        assert sum(counts.values()) == sizes[split]
    assert set(res["class_counts"]["train"]) == set(res["classes"])
    assert res["format"] == "synthetic" and res["tone_column"] == "tone_group"
    draws = list(res["balanced_class_draws"].values())
    assert max(draws) - min(draws) < 1e-6  # class-balanced sampler: equal expected draws
    assert res["batch_shape"][1:] == [3, res["config"]["train"]["img_size"], res["config"]["train"]["img_size"]]
    for preset in ("geometric", "color", "tone_preserving", "none"):
        assert Path(res["montages"][preset]).is_file()
    split_dir = Path(res["split_dir"])
    assert all((split_dir / f).is_file() for f in ("train.csv", "val.csv", "test.csv", "classes.json",
                                                   "split_report.json"))


def test_notebook_02_multilabel(ml_series):
    """TASK multilabel: a multi-label split (every label in every split, no leak), label-balanced draws, float targets."""
    import json

    res = ml_series.run("02_data")
    labels = ["acne", "erythema", "hyperpigmentation", "wrinkles"]
    assert res["task"] == "multilabel" and res["classes"] == labels
    assert res["leakage"] == 0 and sum(res["split_sizes"].values()) == res["n_images"] == 36
    for counts in res["class_counts"].values():
        assert set(counts) == {*labels, "no label"}
    split_dir = Path(res["split_dir"])
    assert json.loads((split_dir / "classes.json").read_text())["task"] == "multilabel"
    assert set(res["balanced_class_draws"]) == {*labels, "no label"}
    assert res["batch_shape"][0] > 0
