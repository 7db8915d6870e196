"""auxiliary.training.loop: the Fabric loop on tiny in-memory data (timm's ``test_resnet``, 32 px), fit on a split folder, CLI."""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _tiny_training import CLASSES, Toy, loaders, make_cfg, run

from auxiliary.base import config_overrides, errors
from auxiliary.evaluation.calibration import softmax
from auxiliary.faces import cli
from auxiliary.inference.predictor import Predictor
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing
from auxiliary.tasks import TASKS
from auxiliary.training import engine, loop
from auxiliary.viz.plots_training import RunFigures


def test_tiny_model_learns_separable_task_and_writes_the_run_folder(tmp_path):
    summary = run(tmp_path, "r", make_cfg(max_epochs=4))
    out = tmp_path / "r"
    assert summary["best_val_balanced_acc"] >= 0.8  # chance is 1/3
    assert summary["epochs_run"] == 4 and summary["finished"]
    for f in ("best.pt", "last.pt", "config.yaml", "summary.json", "val_predictions.csv",
              "logs/metrics.csv", "logs/loss_curve.png", "logs/accuracy_curve.png", "logs/confusion_matrix.png"):
        assert (out / f).is_file(), f
    metrics = pd.read_csv(out / "logs" / "metrics.csv")
    assert list(metrics.columns) == list(TASKS["single"].metric_columns)
    assert metrics["phase"].tolist() == ["head", "finetune", "finetune", "finetune"]
    assert (metrics["images_per_second"] > 0).all()
    # the saved config is the resolved one
    assert config_overrides.load_config(out / "config.yaml").train.model == "test_resnet"


def test_checkpoint_round_trip_reproduces_validation_predictions(tmp_path):
    run(tmp_path, "r")
    out = tmp_path / "r"
    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["model_name"] == "test_resnet" and ckpt["classes"] == CLASSES and ckpt["img_size"] == 32
    assert 0.05 <= ckpt["temperature"] <= 20 and ckpt["epoch"] >= 1
    model, info = checkpoints.load_checkpoint(out / "best.pt")
    val = Toy(24, seed=1)
    with torch.no_grad():
        logits = model(val.x).numpy()

    probs = softmax(logits, info["temperature"])
    pred = pd.read_csv(out / "val_predictions.csv")
    assert list(pred.columns[:3]) == ["path", "label", "tone_group"]
    assert [c for c in pred.columns if c.startswith("prob_")] == [f"prob_{c}" for c in CLASSES]
    np.testing.assert_allclose(pred[[f"prob_{c}" for c in CLASSES]].to_numpy(), probs, atol=1e-5)
    assert pred["label"].tolist() == [CLASSES[i] for i in val.y.tolist()]


def test_last_checkpoint_is_weights_only_with_full_resume_state(tmp_path):
    run(tmp_path, "r", make_cfg(max_epochs=2))
    state = torch.load(tmp_path / "r" / "last.pt", map_location="cpu", weights_only=True)
    for key in ("model", "optimizer", "scheduler", "epoch", "rng", "history", "phase_step"):
        assert key in state, key
    assert state["epoch"] == 2 and state["finished"]
    assert isinstance(state["rng"]["torch"], torch.Tensor) and isinstance(state["rng"]["python_state"], torch.Tensor)
    assert state["optimizer"]["state"], "optimizer moments are saved"
    assert state["scheduler"]["step"] == state["phase_step"] > 0


def test_fit_with_ema_validates_and_keeps_the_averaged_weights(tmp_path):
    cfg = make_cfg(max_epochs=1, freeze_epochs=0, ema_decay=0.9)
    run(tmp_path, "r", cfg)
    last = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    best = torch.load(tmp_path / "r" / "best.pt", weights_only=True)
    assert last["ema"] is not None
    w = next(k for k in last["model"] if k.endswith(".weight"))
    assert not torch.equal(last["ema"][w], last["model"][w])  # the average lags the trained weights
    assert torch.equal(best["state_dict"][w], last["ema"][w])  # and is what best.pt keeps
    # the validation predictions recorded are those of the averaged weights
    model, info = checkpoints.load_checkpoint(tmp_path / "r" / "best.pt")
    with torch.no_grad():
        logits = model(Toy(24, seed=1).x).numpy()

    pred = pd.read_csv(tmp_path / "r" / "val_predictions.csv")
    np.testing.assert_allclose(pred[[f"prob_{c}" for c in CLASSES]].to_numpy(),
                               softmax(logits, info["temperature"]), atol=1e-5)
    with pytest.raises(errors.TrainError, match="ema_decay"):  # resolve refuses it too; a config built in code
        engine.check_config(replace(make_cfg().train, ema_decay=1.0))


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path, ema_decay):
    cfg = make_cfg(max_epochs=4, freeze_epochs=1, accumulate=2, ema_decay=ema_decay)
    full = run(tmp_path, "full", cfg)
    partial = run(tmp_path, "cut", cfg, stop_after_epochs=2)
    assert partial == {"interrupted": True, "epochs_run": 2}
    assert not (tmp_path / "cut" / "summary.json").exists()
    resumed = run(tmp_path, "cut", cfg, resume=True)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
        if ema_decay:
            assert torch.equal(a["ema"][k], b["ema"][k]), k
    cols = ["epoch", "phase", "lr", "train_loss", "val_loss", "val_balanced_acc"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "full" / "logs" / "metrics.csv")[cols],
                                  pd.read_csv(tmp_path / "cut" / "logs" / "metrics.csv")[cols])
    assert resumed["best_epoch"] == full["best_epoch"]
    assert resumed["temperature"] == pytest.approx(full["temperature"])


def test_resume_with_other_settings_is_refused(tmp_path):
    run(tmp_path, "cut", make_cfg(max_epochs=3), stop_after_epochs=1)
    with pytest.raises(errors.TrainError, match="max_epochs"):
        run(tmp_path, "cut", make_cfg(max_epochs=5), resume=True)


def test_early_stopping_stops(tmp_path):
    cfg = make_cfg(max_epochs=12, freeze_epochs=0, patience=2, lr_ft=5e-3)
    summary = run(tmp_path, "r", cfg)
    assert summary["stopped_early"]
    assert summary["epochs_run"] == summary["best_epoch"] + 2 < 12
    assert len(pd.read_csv(tmp_path / "r" / "logs" / "metrics.csv")) == summary["epochs_run"]


class _StopAfter:
    """A callback asking the run to stop once epoch ``epoch`` has ended (what notebook 04's stop button does)."""

    def __init__(self, epoch: int):
        self.epoch, self.seen, self.stop_requested = epoch, [], False

    def on_epoch_end(self, row, history, max_epochs, monitor):
        self.seen.append((row["epoch"], len(history), max_epochs, monitor))
        self.stop_requested = row["epoch"] >= self.epoch


def test_a_stop_request_ends_the_run_cleanly_after_the_current_epoch(tmp_path):
    stop = _StopAfter(2)
    _, va = loaders()
    summary = run(tmp_path, "r", make_cfg(max_epochs=6), callbacks=[RunFigures(), stop], test_loader=va)
    out = tmp_path / "r"
    assert stop.seen == [(1, 1, 6, "val_balanced_acc"), (2, 2, 6, "val_balanced_acc")]  # rank 0, after each epoch
    assert summary["stopped_by_user"] and not summary["stopped_early"] and summary["finished"]
    assert summary["epochs_run"] == 2 and summary["test_balanced_acc"] is not None  # tested as any finished run
    assert json.loads((out / "summary.json").read_text())["stopped_by_user"] is True
    for f in ("best.pt", "last.pt", "val_predictions.csv", "test_predictions.csv", "logs/loss_curve.png"):
        assert (out / f).is_file(), f
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["finished"] and last["epoch"] == 2
    assert len(pd.read_csv(out / "logs" / "metrics.csv")) == 2
    # a finished run is not trained again: resuming it returns what it recorded
    assert run(tmp_path, "r", make_cfg(max_epochs=6), resume=True)["epochs_run"] == 2
    # a run nobody stops says so
    assert run(tmp_path, "plain", make_cfg(max_epochs=1))["stopped_by_user"] is False


def test_metrics_match_scikit_learn():
    from sklearn.metrics import balanced_accuracy_score, f1_score

    y = np.array([0, 0, 1, 1, 2, 2, 2])
    logits = np.eye(3)[[0, 1, 1, 1, 2, 0, 2]] * 3
    m = TASKS["single"].pass_metrics(y, logits)
    pred = logits.argmax(1)
    assert m["balanced_acc"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert 0.5 < m["macro_auroc"] <= 1


def _write_split(root: Path, n_per_class: int = 10) -> Path:
    """A split folder per the data contract: PNGs, train/val/test CSVs with relative paths, classes.json."""
    import cv2

    rng = np.random.default_rng(0)
    rows = []
    colours = {"acne": (200, 40, 40), "erythema": (40, 200, 40), "none": (40, 40, 200)}
    for label, colour in colours.items():
        (root / "images" / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = np.clip(rng.normal(colour, 30, size=(40, 40, 3)), 0, 255).astype(np.uint8)
            p = root / "images" / label / f"{label}_{i}.png"
            cv2.imwrite(str(p), img[:, :, ::-1])
            split = "train" if i < n_per_class - 4 else ("val" if i < n_per_class - 2 else "test")
            rows.append({"path": str(p), "label": label, "group": f"{label}{i}", "tone_group": "light",
                         "ita": 45.0, "is_augmented": False, "split": split})
    df = pd.DataFrame(rows)
    sdir = root / "split"
    sdir.mkdir()
    for split in ("train", "val", "test"):
        part = df[df["split"] == split].drop(columns="split").copy()
        part["path"] = [os.path.relpath(p, sdir) for p in part["path"]]
        part.to_csv(sdir / f"{split}.csv", index=False)
    (sdir / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    (sdir / "split_report.json").write_text("{}")
    return sdir


def test_fit_with_the_logit_adjusted_loss(tmp_path):
    sdir = _write_split(tmp_path)
    cfg = make_cfg(max_epochs=2, freeze_epochs=0, loss="logit_adjusted", batch=6)
    cfg = config_overrides.apply_overrides(cfg, {"data.cache": False, "data.balance": "none", "data.augment": "none"})
    summary = loop.fit(cfg, sdir, tmp_path / "runs" / "la", progress=False)
    assert summary["epochs_run"] == 2 and math.isfinite(summary["test_balanced_acc"])
    ckpt = torch.load(tmp_path / "runs" / "la" / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["config"]["train"]["loss"] == "logit_adjusted"


def test_fit_validates_with_the_models_preprocessing_and_records_it(tmp_path):
    """Issue 29: the preprocessing is decided once, when fit builds the model (here fine-tuned from a checkpoint that
    records a centre-crop spec: it keeps it), the validation loader applies it, best.pt records it, and so the
    validation predictions of training are exactly what the predictor gives for the same images afterwards."""
    sdir = _write_split(tmp_path)
    spec = Preprocessing(32, (0.5,) * 3, (0.5,) * 3, resize="shorter_side", crop_pct=0.875, interpolation="bicubic")
    torch.manual_seed(0)
    start = checkpoints.save_checkpoint(tmp_path / "start.pt", models.create_model("test_resnet", 3),
                                        model_name="test_resnet", classes=CLASSES, img_size=32, preprocessing=spec)
    cfg = make_cfg(max_epochs=1, freeze_epochs=0, batch=6, pretrained=str(start))
    cfg = config_overrides.apply_overrides(cfg, {"data.cache": False, "data.balance": "none", "data.augment": "none"})
    loop.fit(cfg, sdir, tmp_path / "runs" / "p", progress=False)
    ck = checkpoints.Checkpoint.open(tmp_path / "runs" / "p" / "best.pt")
    assert ck.preprocessing == spec and ck.info["preprocessing"] == spec.entry()
    val = pd.read_csv(tmp_path / "runs" / "p" / "val_predictions.csv")
    recorded = val[[f"prob_{c}" for c in CLASSES]].to_numpy()
    probs, errors = Predictor.from_checkpoint(ck, device="cpu").predict_paths(list(val["path"]), progress=False)
    assert not errors and np.allclose(probs, recorded, atol=1e-5)
    square = Predictor(ck.model("cpu"), {**ck.info, "preprocessing": None}, ck.task)  # what the spec changed
    assert not np.allclose(square.predict_paths(list(val["path"]), progress=False)[0], recorded, atol=1e-5)


def test_fit_with_colour_constancy_trains_validates_and_predicts_through_it(tmp_path):
    """Issue 30: ``train.color_constancy`` joins the spec decided when fit builds the model; the training and the
    cached validation images go through it, best.pt records it, and the predictor's probabilities for the validation
    images are the ones training recorded (the one preprocessing path); an unknown name is refused in one line."""
    sdir = _write_split(tmp_path)
    cfg = make_cfg(max_epochs=1, freeze_epochs=0, batch=6, color_constancy="shades_of_gray")
    cfg = config_overrides.apply_overrides(cfg, {"data.cache": True, "data.balance": "none", "data.augment": "none"})
    loop.fit(cfg, sdir, tmp_path / "runs" / "cc", progress=False)
    ck = checkpoints.Checkpoint.open(tmp_path / "runs" / "cc" / "best.pt")
    assert ck.preprocessing.color_constancy == "shades_of_gray"
    assert ck.info["preprocessing"]["color_constancy"] == "shades_of_gray"
    val = pd.read_csv(tmp_path / "runs" / "cc" / "val_predictions.csv")
    recorded = val[[f"prob_{c}" for c in CLASSES]].to_numpy()
    probs, bad = Predictor.from_checkpoint(ck, device="cpu").predict_paths(list(val["path"]), progress=False)
    assert not bad and np.allclose(probs, recorded, atol=1e-5)
    plain = Predictor(ck.model("cpu"), {**ck.info, "preprocessing": {**ck.info["preprocessing"],
                                                                      "color_constancy": "none"}}, ck.task)
    assert not np.allclose(plain.predict_paths(list(val["path"]), progress=False)[0], recorded, atol=1e-4)
    with pytest.raises(errors.TrainError, match="unknown color_constancy 'white_patch'"):
        engine.check_config(make_cfg(color_constancy="white_patch").train)


def test_fit_on_a_split_folder_and_the_command_line(tmp_path, capsys):

    sdir = _write_split(tmp_path)
    cfg = make_cfg(max_epochs=2, freeze_epochs=1, loss="weighted_ce", batch=6)
    cfg = config_overrides.apply_overrides(cfg, {"data.cache": False, "data.balance": "class", "data.augment": "geometric"})
    summary = loop.fit(cfg, sdir, tmp_path / "runs" / "a", progress=False)
    out = tmp_path / "runs" / "a"
    assert summary["epochs_run"] == 2 and summary["classes"] == CLASSES
    assert summary["test_balanced_acc"] is not None and not math.isnan(summary["test_balanced_acc"])
    val_pred = pd.read_csv(out / "val_predictions.csv")
    assert len(val_pred) == 6 and Path(val_pred["path"][0]).is_file()
    assert set(val_pred["tone_group"]) == {"light"}
    assert len(pd.read_csv(out / "test_predictions.csv")) == 6
    assert json.loads((out / "summary.json").read_text())["model"] == "test_resnet"

    # the command line: the original script's spellings, refusal of an existing run name, resume
    args = ["train", "--data", str(sdir), "--out", str(tmp_path / "runs" / "cli"), "--model", "test_resnet",
            "--img_size", "32", "--batch", "6", "--epochs", "1", "--freeze_epochs", "0", "--lr-ft", "1e-3",
            "--threads", "1", "--set", "data.cache=false", "--profile", "smoke", "--no-progress"]
    assert cli.main(args) == 0
    assert (tmp_path / "runs" / "cli" / "best.pt").is_file()
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--overwrite" in err and len(err.splitlines()) == 1
    assert cli.main(args + ["--overwrite"]) == 0
