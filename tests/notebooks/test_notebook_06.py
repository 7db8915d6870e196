"""notebooks/06_sorting_feedback.ipynb on the smoke profile: a full feedback round, with its invariants recorded in results.json."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


def test_notebook_06_full_feedback_round(series):
    res = series.run("06_sorting_feedback")
    # every input (the fresh images plus one broken upload) accounted for exactly once
    assert res["accounted_for_all"] is True
    assert res["n_inputs"] == res["n_new"] + 1 == sum(res["counts"].values())
    assert res["rejected"] == 1 == res["counts"]["rejected"]
    assert sum(res["files"].values()) == res["n_new"]  # one copy per readable image
    q = res["sort_quality"]
    assert q["n_labelled"] == res["n_new"] and q["n_sorted"] + q["n_low_confidence"] == res["n_new"]
    assert q["mistakes_in_class_folders"] + q["mistakes_caught_by_low_confidence"] == q["mistakes_total"]
    # review queue = low confidence + mistakes, every one filed, every one merged (fresh images, new bytes)
    assert res["n_queue"] == q["n_low_confidence"] + q["mistakes_in_class_folders"] == res["n_filed"]
    assert res["merge_added"] == res["n_filed"] and res["merge_dropped"] == 0
    assert res["val_test_unchanged"] is True
    if res["merge_added"]:
        assert Path(res["merged_split"]).name.endswith("-v2") and Path(res["after_run"], "best.pt").is_file()
    for key in ("before", "after"):
        m = res[key]
        assert m["n"] > 0 and 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["balanced_accuracy"] <= 1.0
    assert res["before"]["n"] == res["after"]["n"]  # the same untouched test split
    assert res["delta"]["balanced_accuracy"] == pytest.approx(res["after"]["balanced_accuracy"] - res["before"]["balanced_accuracy"])


def test_notebook_06_multilabel(ml_series):
    """TASK multilabel: every new image accounted for once, copies in every positive label's folder, a review queue."""
    res = ml_series.run("06_sorting_feedback")
    assert res["task"] == "multilabel" and res["accounted_for_all"]
    assert res["n_inputs"] == res["n_new"] + 1  # plus the broken upload
    q = res["sort_quality"]
    assert q["n_labelled"] == res["n_new"] == q["n_sorted"] + q["n_low_confidence"]
    assert set(q["per_label_sorted"]) == {"acne", "erythema", "hyperpigmentation", "wrinkles"}
    assert q["wrong_total"] == q["wrong_in_label_folders"] + q["wrong_caught_by_low_confidence"]
    assert res["n_queue"] == q["n_low_confidence"] + q["wrong_in_label_folders"]
    assert res["n_filed"] == res["n_queue"]  # the simulated reviewer filed every queued image's label set
    assert 0 <= res["merge_added"] <= res["n_filed"]
    if res["merge_added"]:
        assert res["val_test_unchanged"] and res["after_run"] != res["model"]
    assert 0.0 <= res["before"]["macro_auroc"] <= 1.0 and 0.0 <= res["after"]["macro_auroc"] <= 1.0
