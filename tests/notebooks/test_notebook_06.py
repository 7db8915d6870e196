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


def test_notebook_06_on_real_photos_adapts_reviews_k_and_judges_on_the_held_back_half(series, tmp_path):
    """REAL given: half the photos are sorted (after AdaBN, with no label read), the K a reviewer should label
    first are filed, merged and the adapted model fine-tuned; the other half, never trained on, judges."""
    import json
    import os

    from _photos import face_photo

    from auxiliary.base.images import write_png
    from auxiliary.faces import runner

    series.run("05_comparison")  # the series' model and split, reused
    real = tmp_path / "real"
    tones = [(235, 200, 180), (200, 150, 120), (150, 100, 70), (95, 62, 45)]
    for label in ("clear", "rosacea", "acne_closeup"):
        (real / label).mkdir(parents=True)
        for i in range(6):
            write_png(real / label / f"{label}{i}.png",
                      face_photo(h=120, w=110, skin_rgb=tones[i % 4], bg=(40, 40 + 20 * i, 90))[0])
    params = {"REAL": str(real), "LABEL_MAP": "clear=none,rosacea=erythema,acne_closeup=acne", "ADAPT": "adabn",
              "K": 4, "REAL_WEIGHT": 10}
    old = {k: os.environ.get(k) for k in ("AUXILIARY_OUTPUT", "AUXILIARY_CACHE")}
    os.environ.update(AUXILIARY_OUTPUT=str(series.out), AUXILIARY_CACHE=str(series.out / "cache"))
    try:
        runner.run_notebook(Path(__file__).resolve().parents[2] / "notebooks" / "06_sorting_feedback.ipynb",
                            profile="smoke", parameters=params, out_dir=tmp_path / "executed", cell_timeout=600)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    res = json.loads((series.out / "runs" / "06_sorting_feedback" / "results.json").read_text())
    assert res["real"] == str(real) and res["adapted"] is True
    assert res["n_new"] == 9 and res["n_inputs"] == 9  # one half sorted (no broken upload among real photos)
    assert res["n_queue"] == 4 == res["n_filed"]  # the K photos to label first, each filed under its true class
    assert res["before"]["n"] == res["after"]["n"] == 9  # the held-back half judges both models
    assert sorted(p.name for p in (real / "clear").iterdir()) == [f"clear{i}.png" for i in range(6)]  # untouched
