"""Multi-label training end to end: one sigmoid per label, BCE with pos_weight, best.pt with per-label temperatures
and thresholds, the predictions frames, resume, and the refusal of a loss or task that does not fit the data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from _tiny_multilabel import LABELS, ToyMultilabel, loaders, multilabel_split
from _tiny_training import make_cfg

from auxiliary.base import config_overrides, errors
from auxiliary.evaluation.calibration import sigmoid
from auxiliary.evaluation.thresholds import (
    LabelThresholds,
    thresholds_from_dict,
    thresholds_to_dict,
)
from auxiliary.faces import cli
from auxiliary.models import checkpoint as checkpoints
from auxiliary.tasks import TASKS, choose_task
from auxiliary.tasks.losses import MultilabelBCE, build_criterion
from auxiliary.tasks.multilabel import TEST_KEYS, label_pos_weight
from auxiliary.training import engine, loop


def _cfg(**over):
    base = {"loss": "bce", "max_epochs": 4, "freeze_epochs": 1, "lr_head": 5e-3, "lr_ft": 5e-3}
    base.update(over)
    return make_cfg(**base)


def _run(tmp_path, name, cfg=None, **kw):
    tr, va = loaders()
    return loop.fit_loaders(cfg or _cfg(), LABELS, tr, va, tmp_path / name, progress=False, **kw)


def test_bce_on_separable_labels_learns_and_records_what_a_multilabel_run_needs(tmp_path):
    summary = _run(tmp_path, "r")
    out = tmp_path / "r"
    assert summary["task"] == "multilabel" and summary["labels"] == LABELS
    assert summary["monitor"] == "val_macro_auroc"  # the single-label default is replaced
    metrics = pd.read_csv(out / "logs" / "metrics.csv")
    assert list(metrics.columns) == list(TASKS["multilabel"].metric_columns)
    assert metrics["train_loss"].iloc[-1] < metrics["train_loss"].iloc[0]
    assert metrics["val_macro_auroc"].max() > 0.85  # chance is 0.5
    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["task"] == "multilabel" and ckpt["classes"] == LABELS and ckpt["temperature"] == 1.0
    assert len(ckpt["temperatures"]) == 3 and all(0.05 <= t <= 20 for t in ckpt["temperatures"])
    th = ckpt["thresholds"]
    assert set(th) == {"global", "per_group", "fallback"} and set(th["global"]) == set(LABELS)
    assert set(th["per_group"]) == {"unknown"}  # in-memory loaders: no tone column
    saved = json.loads((out / "thresholds.json").read_text())
    assert saved["labels"] == LABELS and saved["temperatures"] == ckpt["temperatures"]
    assert saved["global"] == th["global"]
    # the validation predictions are the calibrated probabilities of the best weights
    model, info = checkpoints.load_checkpoint(out / "best.pt")
    val = ToyMultilabel(32, seed=1)
    with torch.no_grad():
        probs = sigmoid(model(val.x).numpy(), info["temperatures"])
    pred = pd.read_csv(out / "val_predictions.csv", keep_default_na=False)
    cols = (["path", "label", "tone_group", *LABELS] + [f"prob_{c}" for c in LABELS]
            + [f"pred_{c}" for c in LABELS] + ["pred"])
    assert list(pred.columns) == cols
    np.testing.assert_allclose(pred[[f"prob_{c}" for c in LABELS]].to_numpy(), probs, atol=1e-5)
    np.testing.assert_array_equal(pred[LABELS].to_numpy(), val.y.numpy().astype(int))
    # thresholds sit on validation probabilities: decide on the recorded ones
    flags = pred[[f"prob_{c}" for c in LABELS]].to_numpy() >= np.asarray([th["global"][c] for c in LABELS])
    np.testing.assert_array_equal(pred[[f"pred_{c}" for c in LABELS]].to_numpy(), flags.astype(int))
    first = "|".join(c for c, f in zip(LABELS, flags[0]) if f) or "none"
    assert pred["pred"].iloc[0] == first


def test_thresholds_dict_round_trip():
    th = LabelThresholds(["a", "b"], {"a": 0.3, "b": 0.6}, {"dark": {"a": 0.2, "b": 0.6}}, {"dark": ["b"]})
    d = thresholds_to_dict(th)
    assert d == {"global": {"a": 0.3, "b": 0.6}, "per_group": {"dark": {"a": 0.2, "b": 0.6}},
                 "fallback": {"dark": ["b"]}}
    back = thresholds_from_dict(json.loads(json.dumps(d)))
    assert back == th
    np.testing.assert_allclose(back.for_rows(["dark", "light"]), [[0.2, 0.6], [0.3, 0.6]])


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    cfg = _cfg(max_epochs=3, accumulate=2)
    full = _run(tmp_path, "full", cfg)
    assert _run(tmp_path, "cut", cfg, stop_after_epochs=2) == {"interrupted": True, "epochs_run": 2}
    resumed = _run(tmp_path, "cut", cfg, resume=True)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert resumed["best_epoch"] == full["best_epoch"] and resumed["temperatures"] == full["temperatures"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "full" / "logs" / "metrics.csv").drop(
        columns=["seconds", "images_per_second"]), pd.read_csv(tmp_path / "cut" / "logs" / "metrics.csv").drop(
        columns=["seconds", "images_per_second"]))


def test_fit_on_a_multilabel_split_folder_writes_the_contract(tmp_path):
    split = multilabel_split(tmp_path)
    cfg = config_overrides.apply_overrides(_cfg(max_epochs=2, batch=8), {"data.cache": False, "data.augment": "none"})
    summary = loop.fit(cfg, split, tmp_path / "runs" / "a", progress=False)
    out = tmp_path / "runs" / "a"
    assert summary["task"] == "multilabel" and math.isfinite(summary["test_macro_auroc"])
    for k in TEST_KEYS:
        assert k in summary["test"]
    val = pd.read_csv(out / "val_predictions.csv", keep_default_na=False)
    test = pd.read_csv(out / "test_predictions.csv", keep_default_na=False)
    assert len(val) == 16 and len(test) == 12 and set(val["tone_group"]) <= {"very_light", "light", "intermediate"}
    assert val["label"].iloc[0] == ("|".join(c for c in LABELS if val[c].iloc[0]) or "none")
    ckpt = torch.load(out / "best.pt", weights_only=True)
    assert set(ckpt["thresholds"]["per_group"]) == set(val["tone_group"])  # groups = the val table's tone_group
    assert ckpt["config"]["train"]["loss"] == "bce"


def test_loss_and_task_must_fit_the_data(tmp_path):
    split = multilabel_split(tmp_path)
    for over, needle in (({"loss": "focal"}, "loss focal is single-label"), ({"task": "single"}, "classes.json says"),
                         ({"monitor": "val_balanced_acc_x"}, "unknown monitor"),
                         ({"monitor": "val_acc"}, "not a metric of a multi-label run")):
        cfg = _cfg(**over)
        with pytest.raises(errors.TrainError, match=needle):
            loop.fit(cfg, split, tmp_path / "runs" / "x", progress=False)
    assert not (tmp_path / "runs" / "x").exists()
    # a multi-label loss on single-label loaders (task single), and the reverse guess of auto
    with pytest.raises(errors.TrainError, match="loss bce is multi-label"):
        choose_task(_cfg(task="single").train)
    assert choose_task(_cfg(task="auto").train).name == "multilabel"
    assert choose_task(make_cfg().train).name == "single"
    assert TASKS["multilabel"].monitor(_cfg(monitor="val_hamming_loss").train) == "val_hamming_loss"
    assert engine.monitor_mode("val_hamming_loss") == "min"


def test_criterion_and_pos_weight_of_the_sampled_labels():
    crit = build_criterion(_cfg().train, pos_weight=torch.tensor([2.0, 1.0]))
    assert isinstance(crit, MultilabelBCE) and crit.pos_weight.tolist() == [2.0, 1.0]
    table = pd.DataFrame({"a": [1, 0, 0, 0], "b": [1, 1, 0, 1], "tone_group": ["dark"] * 4})
    assert label_pos_weight(table, ["a", "b"], "none").tolist() == pytest.approx([3.0, 1 / 3])
    balanced = label_pos_weight(table, ["a", "b"], "class")
    assert balanced[0] < 3.0  # the sampler already draws the rare label more often


def test_command_line_bce_on_a_multilabel_split_and_a_refusal(tmp_path, capsys):
    split = multilabel_split(tmp_path)
    args = ["train", "--data", str(split), "--out", str(tmp_path / "runs" / "cli"), "--model", "test_resnet",
            "--img-size", "32", "--batch", "8", "--epochs", "1", "--freeze-epochs", "0", "--loss", "bce",
            "--threads", "1", "--set", "data.cache=false", "--profile", "smoke", "--no-progress"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "macro AUROC" in out and "thresholds.json" in out
    assert (tmp_path / "runs" / "cli" / "logs" / "loss_curve.png").is_file()
    bad = [a if a != "bce" else "weighted_ce" for a in args[:-1]] + ["--overwrite"]
    assert cli.main(bad) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "bce" in err and len(err.splitlines()) == 1
    assert cli.main(args + ["--task", "single", "--overwrite"]) == 2
    assert "classes.json says multilabel" in capsys.readouterr().err


def test_default_loss_on_multilabel_data_trains_with_bce(tmp_path):
    """The single-label default (ce) left alone on a multi-label split trains with bce; config.yaml keeps ce."""
    split = multilabel_split(tmp_path)
    cfg = _cfg(loss="ce")
    assert TASKS["multilabel"].loss_name(cfg.train) == "bce" and TASKS["single"].loss_name(cfg.train) == "ce"
    loop.fit(cfg, split, tmp_path / "runs" / "d", progress=False)
    ckpt = torch.load(tmp_path / "runs" / "d" / "best.pt", weights_only=True)
    assert ckpt["task"] == "multilabel" and len(ckpt["temperatures"]) == len(LABELS)
    assert ckpt["config"]["train"]["loss"] == "ce"
