"""auxiliary.steps.compare on multi-label runs: the table gains a label level; mixing tasks is refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _multilabel_runs import LABELS, make_multilabel_run, make_multilabel_split, shifted_logits, split_arrays
from _tiny_runs import make_run

from auxiliary.base import config_overrides
from auxiliary.evaluation import comparison_table
from auxiliary.evaluation import metrics as multilabel
from auxiliary.faces import cli
from auxiliary.steps import compare as comparison

THRESHOLDS = {"global": {lab: 0.2 for lab in LABELS}, "per_group": {"dark": {lab: 0.25 for lab in LABELS}}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare_multilabel")
    split = make_multilabel_split(root)
    _, Y, _ = split_arrays(split)
    a = make_multilabel_run(root / "runs" / "A", split, shifted_logits(Y), thresholds=THRESHOLDS)
    noisy = shifted_logits(Y) + np.random.default_rng(1).normal(0, 1.5, Y.shape)
    b = make_multilabel_run(root / "runs" / "B", split, noisy, temperatures=[1.0, 2.0, 1.0, 1.0])
    cfg = config_overrides.resolve("smoke", overrides={"min_group_size": 3, "tta": False})
    cmp = comparison.compare(cfg, [a.parent, b.parent], split / "test.csv", root / "cmp", export_onnx=False,
                             measure_speed=False, progress=False)
    return root, split, Y, cfg, cmp


def test_the_table_has_a_label_level_with_per_label_and_macro_rows(setup):
    _, _, Y, _, cmp = setup
    t = cmp.table
    assert list(t.index.names) == list(comparison_table.MULTILABEL_LEVELS) and t.index.is_unique and cmp.task.name == "multilabel"
    assert set(t.index.get_level_values("model")) == {"A", "B"}
    assert set(t.index.get_level_values("label")) == {*LABELS, "macro", "micro", "all"}
    v = t["value"]
    for name, thr in (("A", [0.2] * 4), ("B", [0.5] * 4)):  # B records no thresholds: 0.5
        pred = cmp.predictions[name]
        P = pred[[f"prob_{lab}" for lab in LABELS]].to_numpy()
        per = multilabel.per_label_metrics(Y, P, LABELS, thr, target_recall=setup[3].eval.target_recall)
        for lab in LABELS:
            for m in ("auroc", "average_precision", "f1", "threshold"):
                assert v[name, "test", "all", lab, m] == pytest.approx(per.loc[lab, m])
        assert v[name, "test", "all", "macro", "auroc"] == pytest.approx(per["auroc"].mean())
        assert (pred[[f"pred_{lab}" for lab in LABELS]].to_numpy() == (P >= np.array(thr))).all()
    assert v["A", "test", "all", "macro", "f1"] == 1.0 and v["A", "test", "all", "all", "subset_accuracy"] == 1.0
    assert v["B", "test", "all", "erythema", "temperature"] == 2.0
    assert v["A", "test", "all", "all", "parameters"] > 1e6  # size rows join with label "all"
    assert v["A", "test", "tone_group:dark", "wrinkles", "support"] == 6
    assert ("A", "test", "dark-intermediate:tone_group", "macro", "f1_group_thresholds") in t.index
    wide = cmp.wide()
    assert {"macro_auroc", "macro_f1", "micro_f1", "subset_accuracy", "hamming_loss", "n_images"} <= set(wide.columns)
    assert cmp.wide(label="acne").loc["A", "f1"] == 1.0
    assert cmp.best_model() == "A" and cmp.best_model("macro_f1") == "A"
    key = cmp.key_results()
    assert key["A"]["macro_f1"] == 1.0 and "macro_f1_gap" in key["A"] and "n_images" in key["B"]
    assert set(cmp.worst_groups["label"]) == {*LABELS, "macro"}


def test_save_round_trip_and_the_cli(setup, tmp_path, capsys):
    root, split, _, _, cmp = setup
    written = cmp.save(tmp_path / "saved")
    back = comparison.load_comparison(written["csv"])
    pd.testing.assert_frame_equal(back, cmp.table, check_exact=False)
    assert json.loads(written["json"].read_text())["levels"] == list(comparison_table.MULTILABEL_LEVELS)
    out = tmp_path / "cli"
    rc = cli.main(["compare", "--runs", str(root / "runs" / "A"), str(root / "runs" / "B"), "--data",
                   str(split / "test.csv"), "--out", str(out), "--no-onnx", "--no-speed", "--profile", "smoke",
                   "--set", "tta=false"])
    text = capsys.readouterr().out
    assert rc == 0 and "macro_auroc" in text and "error galleries skipped" in text
    flat = pd.read_csv(out / "comparison.csv")
    assert list(flat.columns) == [*comparison_table.MULTILABEL_LEVELS, "value"]
    assert {"prob_acne", "pred_acne", "pred"} <= set(pd.read_csv(out / "predictions" / "A.csv").columns)


def test_mixed_tasks_and_single_label_data_are_refused(setup, tmp_path, capsys):
    root, split, _, cfg, _ = setup
    single = make_run(tmp_path / "single", "resnet18", img_size=32)
    with pytest.raises(comparison_table.CompareError, match="cannot compare single-label and multi-label runs"):
        comparison.compare(cfg, [root / "runs" / "A", single.parent], split / "test.csv", tmp_path / "mixed",
                           export_onnx=False, measure_speed=False, progress=False)
    table = pd.read_csv(split / "test.csv").drop(columns=["wrinkles"])
    table["path"] = [str((split / p).resolve()) for p in table["path"]]
    table.to_csv(tmp_path / "no_wrinkles.csv", index=False)
    rc = cli.main(["compare", "--runs", str(root / "runs" / "A"), "--data", str(tmp_path / "no_wrinkles.csv"),
                   "--out", str(tmp_path / "o"), "--no-onnx", "--no-speed"])
    err = capsys.readouterr().err
    assert rc == 2 and "A: the data has no 0/1 column for the labels wrinkles" in err
