"""auxiliary.steps.select: the table, the winner, the selection file and re-run skipping (training faked)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from auxiliary.base import config, config_overrides, errors, layout
from auxiliary.evaluation import comparison_table
from auxiliary.faces import cli
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.steps import select as selection
from auxiliary.viz import plots_evaluation

CLASSES = ["acne", "erythema", "none"]


#: wrong validation predictions per model (out of 12): the winner is test_convnext
WRONG = {"test_resnet": 4, "test_efficientnet": 6, "test_convnext": 1}


@pytest.fixture(autouse=True)
def _own_outputs(tmp_path, monkeypatch):
    """A fresh output root per test: runs of one test must not be reused by the next."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))


@pytest.fixture()
def split_dir(tmp_path: Path) -> Path:
    d = tmp_path / "split"
    d.mkdir()
    (d / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    rows = "\n".join(f"img{i}.png,{CLASSES[i % 3]}" for i in range(12))
    for name in ("train", "val", "test"):
        (d / f"{name}.csv").write_text("path,label\n" + rows + "\n")
    return d


class FakeFit:
    """Stands in for train.fit: writes best.pt, summary.json and val_predictions.csv like a real run."""

    def __init__(self, fail: set[str] | None = None):
        self.calls: list[dict] = []
        self.fail = fail or set()

    def __call__(self, cfg, split_dir, out_dir, *, resume=False, overwrite=False, progress=True):
        name = cfg.train.model
        self.calls.append({"model": name, "epochs": cfg.train.max_epochs, "freeze": cfg.train.freeze_epochs,
                           "resume": resume, "overwrite": overwrite, "out": Path(out_dir)})
        if name in self.fail:
            raise errors.TrainError(f"{name} cannot train here")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        model = models.create_model(name, len(CLASSES))
        checkpoints.save_checkpoint(out / "best.pt", model, model_name=name, classes=CLASSES, img_size=32)
        y = np.arange(12) % 3
        pred = y.copy()
        pred[: WRONG[name]] = (y[: WRONG[name]] + 1) % 3
        probs = np.full((12, 3), 0.15)
        probs[np.arange(12), pred] = 0.7
        df = pd.DataFrame({"path": [f"img{i}.png" for i in range(12)], "label": [CLASSES[i] for i in y],
                           "tone_group": ["light", "dark"] * 6})
        for j, c in enumerate(CLASSES):
            df[f"prob_{c}"] = probs[:, j]
        df.to_csv(out / "val_predictions.csv", index=False)
        summary = {"model": name, "epochs_run": cfg.train.max_epochs, "seconds_training": 1.5 + WRONG[name],
                   "images_per_second": 100.0 / (1 + WRONG[name])}
        (out / "summary.json").write_text(json.dumps(summary))
        return summary


def _cfg(models_=("test_resnet", "test_efficientnet", "test_convnext"), **over) -> config.Config:
    return config_overrides.resolve("smoke", overrides={"select_models": list(models_), "img_size": 32, "select_epochs": 2,
                                              "freeze_epochs": 3, **over})


def test_table_winner_and_selection_file(split_dir, monkeypatch):
    fake = FakeFit()
    monkeypatch.setattr(selection, "train_run", fake)
    cfg = _cfg()
    table = selection.run_selection(cfg, split_dir, progress=False)
    assert list(table.columns) == list(comparison_table.TABLE_COLUMNS)
    assert table["model"].tolist() == ["test_resnet", "test_efficientnet", "test_convnext"]
    # equal budget: every model gets select_epochs; a random backbone (pretrained false) is never frozen
    assert [(c["epochs"], c["freeze"]) for c in fake.calls] == [(2, 0)] * 3
    # with pretrained weights at most select_epochs - 1 frozen epochs, so every model fine-tunes
    assert selection.model_config(_cfg(pretrained="true"), "resnet18").train.freeze_epochs == 1
    assert selection.model_config(_cfg(pretrained="true", select_epochs=1), "resnet18").train.max_epochs == 1
    acc = dict(zip(table["model"], table["val_acc"]))
    assert acc == pytest.approx({m: (12 - w) / 12 for m, w in WRONG.items()})
    assert (table["val_ece"] >= 0).all() and table["val_macro_auroc"].between(0, 1).all()
    assert table.set_index("model").loc["test_resnet", "params"] == models.count_parameters(models.create_model("test_resnet", 3))
    assert table.set_index("model").loc["test_convnext", "train_seconds"] == 2.5
    assert (table["infer_img_per_s"] > 0).all() and not table["reused"].any()
    assert table.attrs["winner"] == "test_convnext" and table.attrs["metric"] == "val_balanced_acc"

    saved = json.loads(layout.selection_file(cfg).read_text())
    assert saved["model"] == "test_convnext" and saved["metric"] == "val_balanced_acc"
    assert saved["value"] == pytest.approx(table.set_index("model").loc["test_convnext", "val_balanced_acc"])
    assert len(saved["table"]) == 3
    assert selection.selected_model(cfg, split_dir) == "test_convnext"
    assert selection.read_selection(cfg)["model"] == "test_convnext"
    assert selection.winner_run(table) == fake.calls[2]["out"]
    assert selection.latest_runs(cfg, split_dir) == {c["model"]: c["out"] for c in fake.calls}
    # one rule for reusing runs: a selection made with other settings or on another split is not used
    other = _cfg(img_size=48)
    assert selection.latest_runs(other, split_dir) == {} and selection.selected_model(other, split_dir) == other.train.model
    assert selection.latest_runs(cfg) == {}  # cfg's own configured split is not the one selected on
    # runs live in runs/select-<profile>/<model>-<hash>
    assert all(c["out"].parent.name == "select-smoke" and c["out"].name.startswith(c["model"] + "-") for c in fake.calls)
    assert (fake.calls[0]["out"].parent / "selection.csv").is_file()
    # measurements are cached beside each run, so a re-run reads the same numbers back
    assert all((c["out"] / selection.ROW_FILE).is_file() for c in fake.calls)
    again = selection.run_selection(cfg, split_dir, progress=False)
    cols = ["model", "val_balanced_acc", "val_ece", "params", "infer_img_per_s", "run_dir"]
    pd.testing.assert_frame_equal(again[cols], table[cols])


def test_rerun_skips_trained_models_and_retrains_on_changed_settings(split_dir, monkeypatch):
    fake = FakeFit()
    monkeypatch.setattr(selection, "train_run", fake)
    selection.run_selection(_cfg(), split_dir, progress=False)
    assert len(fake.calls) == 3
    again = selection.run_selection(_cfg(), split_dir, progress=False)
    assert len(fake.calls) == 3 and again["reused"].all()
    # fewer models, another metric or other thread count: nothing learned changes, nothing retrains
    ece = selection.run_selection(_cfg(("test_convnext", "test_resnet"), select_metric="val_ece", threads=1), split_dir,
                               progress=False)
    assert len(fake.calls) == 3
    assert ece.attrs["winner"] == ece.loc[ece["val_ece"].idxmin(), "model"]
    # a setting that changes learning: a new hash, a new run
    selection.run_selection(_cfg(("test_convnext",), lr_ft=1e-4), split_dir, progress=False)
    assert len(fake.calls) == 4 and fake.calls[-1]["out"] != fake.calls[2]["out"]
    # other split content: a new run too
    (split_dir / "train.csv").write_text("path,label\nimg0.png,acne\n")
    selection.run_selection(_cfg(("test_convnext",)), split_dir, progress=False)
    assert len(fake.calls) == 5


def test_interrupted_run_is_resumed(split_dir, monkeypatch):
    fake = FakeFit()
    monkeypatch.setattr(selection, "train_run", fake)
    cfg = _cfg(("test_efficientnet",))
    run = selection.candidate_dir(cfg, "test_efficientnet", split_dir)
    run.mkdir(parents=True)
    (run / "last.pt").write_bytes(b"state")
    selection.run_selection(cfg, split_dir, progress=False)
    assert fake.calls[0]["resume"] is True and fake.calls[0]["out"] == run


def test_bad_settings_fail_before_training(split_dir, monkeypatch):
    fake = FakeFit()
    monkeypatch.setattr(selection, "train_run", fake)
    with pytest.raises(comparison_table.SelectionError, match="unknown select_metric 'speed'"):
        selection.run_selection(_cfg(select_metric="speed"), split_dir, progress=False)
    with pytest.raises(comparison_table.SelectionError, match="unknown timm model"):
        selection.run_selection(_cfg(("test_resnet", "resnet_9000")), split_dir, progress=False)
    with pytest.raises(comparison_table.SelectionError, match="not a split folder"):
        selection.run_selection(_cfg(), split_dir / "nope", progress=False)
    assert fake.calls == []
    assert comparison_table.metric_column("balanced_accuracy") == ("val_balanced_acc", True)
    assert comparison_table.metric_column("ECE") == ("val_ece", False)


def test_a_failing_model_is_reported_and_the_others_go_on(split_dir, monkeypatch):
    monkeypatch.setattr(selection, "train_run", FakeFit(fail={"test_convnext"}))
    table = selection.run_selection(_cfg(), split_dir, progress=False)
    row = table.set_index("model").loc["test_convnext"]
    assert "cannot train here" in row["error"] and np.isnan(row["val_balanced_acc"])
    assert table.attrs["winner"] == "test_resnet"
    retry = FakeFit()
    monkeypatch.setattr(selection, "train_run", retry)
    selection.run_selection(_cfg(), split_dir, progress=False)
    assert [c["model"] for c in retry.calls] == ["test_convnext"]  # only the failed one is tried again
    monkeypatch.setattr(selection, "train_run", FakeFit(fail=set(WRONG)))
    with pytest.raises(comparison_table.SelectionError, match="every model failed"):
        selection.run_selection(_cfg(lr_ft=1e-4), split_dir, progress=False)


def test_plots_and_cli(split_dir, monkeypatch, capsys):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(selection, "train_run", FakeFit())
    out = split_dir.parent / "sel"
    rc = cli.main(["select", "--split", str(split_dir), "--out", str(out), "--profile", "smoke", "--quiet",
                   "--select-models", "test_resnet,test_convnext", "--img-size", "32", "--select-metric", "val_acc"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "winner: test_convnext" in text
    assert (out / "selection.png").is_file() and (out / "selection.csv").is_file()
    table = pd.read_csv(out / "selection.csv")
    table.attrs["winner"] = "test_convnext"
    for fig in (plots_evaluation.plot_selection(table), plots_evaluation.plot_selection_tradeoff(table)):
        assert fig.axes
        plt.close(fig)
    rc = cli.main(["select", "--split", str(split_dir), "--profile", "smoke", "--select-metric", "nonsense"])
    assert rc == 2 and "unknown select_metric" in capsys.readouterr().err
