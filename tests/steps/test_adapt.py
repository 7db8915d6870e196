"""auxiliary.steps.adapt and auxiliary.training.adaptation: AdaBN changes the BatchNorm statistics only, pseudo-labels
come from the model (never from a target label), self-training writes a normal run folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from _multilabel_checkpoint import multilabel_checkpoint, noise_image
from _tiny_runs import make_split

from auxiliary.base import config_overrides
from auxiliary.base.images import read_image, write_png
from auxiliary.data.readers import load_split
from auxiliary.faces import cli
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.steps import adapt as adapt_mod
from auxiliary.steps.predict import predict
from auxiliary.steps.train import train_run
from auxiliary.training import adaptation

TINY = {"train.model": "test_resnet", "train.img_size": 32, "train.max_epochs": 3, "train.freeze_epochs": 0,
        "train.batch": 8, "train.threads": 1, "data.cache": False, "train.patience": 0}


def cfg(**over):
    return config_overrides.resolve("smoke", None, {**TINY, **over})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny run trained on synthetic-like colour patches, and a folder of 'real' photos of another look."""
    root = tmp_path_factory.mktemp("adapt")
    split = make_split(root, n_per_class=8, size=40)
    train_run(cfg(), split, root / "run", progress=False)
    rng = np.random.default_rng(1)
    photos = root / "photos"
    photos.mkdir()
    for i in range(12):  # brighter and noisier than the training images: another domain
        base = np.array([(230, 90, 90), (240, 150, 140), (215, 190, 160)][i % 3], dtype=np.float32)
        write_png(photos / f"p{i:02d}.png", np.clip(base + rng.normal(0, 40, (48, 48, 3)), 0, 255).astype(np.uint8))
    (photos / "notes.txt").write_text("not a photo")
    return {"root": root, "split": split, "ckpt": root / "run" / "best.pt", "photos": photos}


def bn_stats(model: torch.nn.Module) -> list[torch.Tensor]:
    return [t.clone() for m in adaptation.batchnorm_layers(model) for t in (m.running_mean, m.running_var)]


def test_adabn_changes_the_batchnorm_statistics_and_nothing_else(source, tmp_path):
    summary = adapt_mod.adapt(cfg(), source["ckpt"], source["photos"], tmp_path / "adabn", method="adabn",
                              progress=False)
    before, after = Checkpoint.open(source["ckpt"]), Checkpoint.open(tmp_path / "adabn" / "best.pt")
    m0, m1 = before.model(), after.model()
    changed = [not torch.allclose(a, b) for a, b in zip(bn_stats(m0), bn_stats(m1))]
    assert changed and all(changed)
    weights = {k: v for k, v in before.state_dict.items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(v, after.state_dict[k]) for k, v in weights.items())
    assert after.info["temperature"] == before.info["temperature"] and after.classes == before.classes
    assert summary["adaptation"]["method"] == "adabn" and summary["adaptation"]["target_images"] == 12
    assert json.loads((tmp_path / "adabn" / "summary.json").read_text())["adaptation"]["source_sha256"] == before.sha256
    assert len(predict(cfg(), [source["photos"] / "p00.png"], tmp_path / "adabn" / "best.pt")) == 1  # a normal run


def test_the_threshold_is_chosen_on_validation_and_pseudo_labels_are_balanced():
    p = np.array([[0.99, 0.01, 0.0], [0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.6, 0.4, 0.0], [0.55, 0.45, 0.0]])
    y = np.array([0, 0, 0, 1, 1])
    assert adaptation.confidence_threshold(p, y, precision=0.95) == 0.8
    assert adaptation.confidence_threshold(p, y, precision=0.75) == 0.6
    assert adaptation.confidence_threshold(p, np.array([1, 1, 1, 0, 0]), precision=0.95) == 1.0
    probs = np.array([[0.9, 0.1, 0], [0.95, 0.05, 0], [0.97, 0.03, 0], [0.1, 0.85, 0.05], [0.2, 0.2, 0.6],
                      [np.nan, np.nan, np.nan]])
    rows = adaptation.balanced_pseudo_labels([f"f{i}" for i in range(6)], probs, ["a", "b", "c"], 0.8)
    assert rows["label"].value_counts().to_dict() == {"a": 1, "b": 1}  # capped at the rarest class's count
    assert rows.loc[rows["label"] == "a", "path"].tolist() == ["f2"]  # the most confident of its class


def test_self_training_pseudo_labels_are_the_models_answers_and_the_run_folder_is_normal(source, tmp_path,
                                                                                        monkeypatch):
    chosen = []
    real = adapt_mod.confidence_threshold

    def threshold(p, y, precision, floor):  # the tiny model is never sure enough for a real threshold: record, then 0
        chosen.append(real(p, y, precision, floor))
        return 0.0

    monkeypatch.setattr(adapt_mod, "confidence_threshold", threshold)
    out = tmp_path / "self"
    summary = adapt_mod.adapt(cfg(), source["ckpt"], source["photos"], out, method="adabn+self",
                              split=source["split"], epochs=1, precision=0.5, progress=False)
    pseudo = pd.read_csv(out / "pseudo_labels.csv")
    assert len(pseudo) == summary["adaptation"]["pseudo_labels"] > 0
    # the labels are what the AdaBN-adapted source model says (the photos' names and folder carry no label)
    ck = Checkpoint.open(source["ckpt"])
    model = ck.model()
    photos = sorted(source["photos"].glob("*.png"))
    images = [read_image(p) for p in photos]
    adaptation.adapt_batchnorm(model, images, ck.preprocessing, progress=False)
    said = Predictor(model, ck.info, ck.task).predict_arrays(images).argmax(axis=1)
    answer = {str(p): ck.classes[k] for p, k in zip(photos, said)}
    assert all(answer[p] == lab for p, lab in zip(pseudo["path"], pseudo["label"]))
    train = pd.read_csv(out / "split" / "train.csv")
    assert set(train.loc[train["origin"] == "pseudo", "path"]) == set(pseudo["path"])
    new, old = load_split(out / "split")[0], load_split(source["split"])[0]
    for name in ("val", "test"):  # unchanged: only the training list gains the pseudo-labelled photos
        assert new[name][["path", "label"]].equals(old[name][["path", "label"]])
    assert len(new["train"]) == len(old["train"]) + len(pseudo)
    for name in ("best.pt", "summary.json", "config.yaml", "val_predictions.csv"):
        assert (out / name).is_file()
    assert not (out / "adapted_start.pt").exists()
    assert summary["adaptation"]["pseudo_threshold"] == 0.0 and len(chosen) == 1  # asked once, of validation
    assert Checkpoint.open(out / "best.pt").info["adaptation"]["method"] == "adabn+self"


def test_a_multilabel_model_adapts_its_batchnorm_but_is_refused_self_training(tmp_path):
    images = [noise_image(s) for s in range(4)]
    ck = multilabel_checkpoint(tmp_path / "ml" / "best.pt", images, np.zeros((4, 4)))
    photos = tmp_path / "photos"
    for k, im in enumerate(images):
        write_png(photos / f"{k}.png", im)
    with pytest.raises(adapt_mod.AdaptStepError, match="use --method adabn"):
        adapt_mod.adapt(cfg(), ck, photos, tmp_path / "o1", method="self", progress=False)
    assert not (tmp_path / "o1").exists()
    assert adapt_mod.adapt(cfg(), ck, photos, tmp_path / "o2", method="adabn", progress=False)["adaptation"]


def test_the_command_adapts_and_refuses_in_one_line(source, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["adapt", "--ckpt", str(source["ckpt"]), "--input", str(source["photos"]), "--out", str(out),
            "--method", "adabn", "--profile", "smoke", "--no-progress"]
    assert cli.main(args) == 0
    assert "adapted" in capsys.readouterr().out and (out / "best.pt").is_file()
    assert cli.main(args) == 2  # an existing run is never replaced without --overwrite
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
    assert cli.main(["adapt", "--ckpt", str(source["ckpt"]), "--input", str(tmp_path / "nothing"), "--out",
                     str(tmp_path / "x"), "--method", "adabn"]) == 2
    assert "not a folder of photos" in capsys.readouterr().err and not (tmp_path / "x").exists()
