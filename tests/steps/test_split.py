"""auxiliary.steps.split (with steps.simulate): one step function behind the command line and the notebooks, for data
with one class or several labels per image: `simulate --task multilabel`, `split` and `train --loss bce` on the command
line, the notebook helpers ``ensure_synthetic`` / ``ensure_splits`` with ``synth.task: multilabel``, and the CLI and
notebook calls giving the same split folder."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from auxiliary.base import config_overrides
from auxiliary.data import readers
from auxiliary.data.balance import OversampleError
from auxiliary.faces import cli
from auxiliary.steps import split as split_step
from auxiliary.steps import train as finetuning


def test_simulate_split_train_on_the_command_line(tmp_path, capsys):
    sim, split, run = tmp_path / "faces", tmp_path / "split", tmp_path / "runs" / "ml"
    assert cli.main(["simulate", "--task", "multilabel", "--out", str(sim), "--n", "60", "--size", "32",
                     "--quiet"]) == 0
    assert cli.main(["split", "--data", str(sim), "--out", str(split), "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "share of images showing each label" in out and "hyperpigmentation" in out and "no label" in out
    assert "group leakage (group): 0" in out
    assert readers.split_task(split) == "multilabel"
    assert cli.main(["train", "--data", str(split), "--out", str(run), "--loss", "bce", "--model", "test_resnet",
                     "--img-size", "32", "--batch", "8", "--epochs", "2", "--freeze-epochs", "1", "--threads", "1",
                     "--set", "data.cache=false", "--profile", "smoke", "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "multilabel" and summary["labels"] == json.loads(
        (split / "classes.json").read_text())["classes"]
    ckpt = torch.load(run / "best.pt", weights_only=True)
    assert ckpt["task"] == "multilabel" and len(ckpt["temperatures"]) == 4 and "per_group" in ckpt["thresholds"]
    assert list(pd.read_csv(run / "test_predictions.csv").columns)[-1] == "pred"


def test_split_refuses_oversampling_multilabel_data_before_writing(tmp_path, capsys):
    sim = tmp_path / "faces"
    assert cli.main(["simulate", "--task", "multilabel", "--out", str(sim), "--n", "8", "--size", "32",
                     "--quiet"]) == 0
    assert cli.main(["split", "--data", str(sim), "--out", str(tmp_path / "s"), "--oversample-to", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "single-label" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_split_refuses_before_anything_is_made(tmp_path, monkeypatch, capsys):
    """Issue 28: a setting that does not fit the data is refused before the synthetic default is simulated (its
    task is known from the config), and a ``--report`` among the dataset's own files before the dataset is read."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("AUXILIARY_CACHE", str(tmp_path / "cache"))
    assert cli.main(["split", "--profile", "smoke", "--set", "synth.task=multilabel", "--oversample-to", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "single-label" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "cache").exists()
    data = tmp_path / "data"
    data.mkdir()
    assert cli.main(["split", "--data", str(data), "--out", str(tmp_path / "s"), "--report",
                     str(data / "problems.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --report") and "inside the input" in err and len(err.splitlines()) == 1
    assert list(data.iterdir()) == [] and not (tmp_path / "s").exists()


def test_split_of_a_labels_csv_with_auto_detection(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "d").mkdir()
    rows = ["path,labels,group"]
    for i in range(20):
        Image.new("RGB", (16, 16), (i * 10, 255 - i * 10, (i * 37) % 255)).save(tmp_path / "d" / f"{i}.png")
        rows.append(f"{i}.png,{['acne', 'wrinkles|acne', '', 'wrinkles'][i % 4]},g{i}")
    (tmp_path / "d" / "list.csv").write_text("\n".join(rows) + "\n")
    assert cli.main(["split", "--data", str(tmp_path / "d" / "list.csv"), "--out", str(tmp_path / "s"),
                     "--no-duplicate-check"]) == 0
    tables, classes = readers.load_split(tmp_path / "s")
    assert classes == ["acne", "wrinkles"] and sum(len(t) for t in tables.values()) == 20


def test_notebook_helpers_make_a_multilabel_split(monkeypatch, tmp_path):
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))
    cfg = config_overrides.resolve("smoke", overrides={"synth.task": "multilabel", "n_per_class": 30, "size": 32})
    split = split_step.ensure_splits(cfg, progress=False)
    assert readers.split_task(split) == "multilabel"
    tables, classes = readers.load_split(split)
    assert sum(len(t) for t in tables.values()) == 30  # n_per_class faces
    assert split_step.ensure_splits(cfg, progress=False) == split  # made once
    over = config_overrides.apply_overrides(cfg, {"oversample_to": 40})
    with pytest.raises(OversampleError):
        split_step.ensure_splits(over, progress=False)
    assert finetuning.resolve_split(cfg, str(split)) == split


def test_the_command_line_and_the_notebook_call_make_the_same_split(monkeypatch, tmp_path, capsys):
    """`split` and notebook 02's `split(cfg, reuse=True)` are one function: the same lists from the same dataset;
    the notebook call keeps a complete folder (and still reads the dataset's report)."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))
    cfg = config_overrides.resolve("smoke", overrides={"n_per_class": 6, "size": 32})
    made = split_step.split(cfg, progress=False)
    assert made.made and made.task.name == "single" and made.classes == ["acne", "erythema", "none"]
    assert made.report.n_kept == 18 and made.summary().loc["total"].sum() == 18
    kept = split_step.split(cfg, reuse=True, progress=False)
    assert not kept.made and kept.out == made.out and kept.report.n_kept == 18
    out = tmp_path / "cli"
    assert cli.main(["split", "--profile", "smoke", "--set", "n_per_class=6", "--set", "size=32", "--out",
                     str(out)]) == 0
    printed = capsys.readouterr().out
    assert "single-label split (3 classes: acne, erythema, none); images per class and split:" in printed
    ours, classes = readers.load_split(made.out)
    theirs, same_classes = readers.load_split(out)
    assert classes == same_classes
    for s in ours:
        pd.testing.assert_frame_equal(ours[s], theirs[s])
    assert json.loads((made.out / "classes.json").read_text()) == json.loads((out / "classes.json").read_text())
    with pytest.raises(split_step.SplitError, match="already holds a split"):
        split_step.split(cfg, progress=False)
