"""auxiliary.steps.train: one rule to reuse a trained run (same recorded settings), in every step."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _hostile import HOSTILE_CLASSES, assert_safe_csv
from data_fixtures import class_folders

from auxiliary.base import config_overrides, layout
from auxiliary.base.config import save
from auxiliary.base.errors import TrainError
from auxiliary.data import readers
from auxiliary.evaluation.comparison_table import CompareError
from auxiliary.faces import cli
from auxiliary.steps import compare as comparison
from auxiliary.steps import train as finetuning
from auxiliary.training import runs


class FakeTrain:
    """Stands in for ``train_run``: records the call and writes what a finished run leaves."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, cfg, split_dir, out_dir, *, resume=False, overwrite=False, progress=True, callbacks=()):
        out = Path(out_dir)
        self.calls.append({"split": Path(split_dir), "out": out, "resume": resume, "overwrite": overwrite})
        out.mkdir(parents=True, exist_ok=True)
        save(cfg, out / "config.yaml")
        (out / "best.pt").write_bytes(b"weights")
        (out / "summary.json").write_text(json.dumps({"split_dir": str(split_dir)}), encoding="utf-8")
        return {"run_dir": str(out)}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))  # runs of this test only
    f = FakeTrain()
    monkeypatch.setattr(finetuning, "train_run", f)
    return f


def _split_folder(path: Path) -> Path:
    """The smallest split folder ``train`` accepts (its lists are never read: ``train_run`` is faked)."""
    path.mkdir(parents=True)
    (path / "classes.json").write_text(json.dumps({"classes": ["acne", "none"]}), encoding="utf-8")
    (path / "train.csv").write_text("path,label\n", encoding="utf-8")
    return path


def _cfg(**over):
    return config_overrides.resolve("smoke", overrides={"data": "some/dataset", **over})


def test_ensure_run_reuses_only_a_run_with_the_same_settings(tmp_path, fake, capsys):
    split = _split_folder(tmp_path / "split")
    cfg = _cfg()
    run = finetuning.ensure_run(cfg, split_dir=split)
    assert run == layout.run_dir(cfg, runs.run_name(cfg)) and len(fake.calls) == 1
    assert finetuning.ensure_run(cfg, split_dir=split) == run and len(fake.calls) == 1  # reused
    assert "reusing the finished run" in capsys.readouterr().out

    # a setting that changes what the run learns: trained again in its place, saying so
    changed = _cfg(lr_ft=1e-2)
    assert finetuning.ensure_run(changed, split_dir=split) == run and len(fake.calls) == 2
    assert fake.calls[-1]["overwrite"] and "other settings" in capsys.readouterr().out
    # a setting that only changes speed does not retrain
    assert finetuning.ensure_run(config_overrides.apply_overrides(changed, {"threads": 1}), split_dir=split) == run
    assert len(fake.calls) == 2
    # the same settings on another split: trained again
    other = _split_folder(tmp_path / "split-v2")
    finetuning.ensure_run(changed, split_dir=other)
    assert len(fake.calls) == 3 and fake.calls[-1]["split"] == other


def test_trained_checkpoint_refuses_a_missing_or_stale_run(tmp_path, fake):
    cfg = _cfg()
    with pytest.raises(TrainError, match="no trained run"):
        runs.trained_checkpoint(cfg)
    split = _split_folder(tmp_path / "split")
    run = finetuning.ensure_run(cfg, split_dir=split)
    assert runs.trained_checkpoint(cfg) == run / "best.pt"
    with pytest.raises(TrainError, match="other settings"):
        runs.trained_checkpoint(_cfg(label_smoothing=0.3))


def test_sort_without_ckpt_says_why_it_cannot_use_a_stale_run(tmp_path, fake, capsys):
    split = _split_folder(tmp_path / "split")
    finetuning.ensure_run(_cfg(), split_dir=split)
    inp = tmp_path / "in"
    inp.mkdir()
    code = cli.main(["sort", "--profile", "smoke", "--set", "data=some/dataset", "--set", "lr_ft=0.5",
                     "--input", str(inp), "--out", str(tmp_path / "sorted")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "other settings" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sorted").exists()


def test_comparison_leaves_out_a_stale_run_of_notebook_04(tmp_path, fake, capsys):
    split = _split_folder(tmp_path / "split")
    cfg = _cfg()
    finetuning.ensure_run(cfg, split_dir=split)
    with pytest.raises(CompareError, match="no trained model"):
        comparison.find_runs(_cfg(lr_ft=0.5), train_missing=False)
    assert "trained with other settings" in capsys.readouterr().out
    assert comparison.find_runs(cfg, train_missing=False) == {"resnet18 (04)": layout.run_dir(cfg, runs.run_name(cfg))}


@pytest.mark.parametrize("argv", [
    ["--set", "train.devices=-1"],  # a device count Fabric cannot set up here
    ["--set", "train.precision=8-bit"],  # no such precision
    ["--task", "multilabel"],  # the configured (synthetic, single-label) data is not multi-label
    ["--from-selection"],  # no selection was made
], ids=["devices", "precision", "task", "selection"])
def test_a_refused_train_leaves_nothing_behind(argv, tmp_path, monkeypatch, capsys):
    """Issue 28: every setting is checked before the first write: a refused ``train`` on the configured data exits 2
    with one ``error:`` line and makes no synthetic data, no split, no image cache and no run folder."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("AUXILIARY_CACHE", str(tmp_path / "cache"))
    code = cli.main(["train", "--profile", "smoke", "--set", "data.cache=true", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:"), err
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "cache").exists()


def test_classes_named_like_formulas_are_split_trained_and_stay_text(tmp_path, monkeypatch):
    """Issue 28: class folders named ``=1+1``, ``+cmd``, ``@SUM(A1)``, ``-2+3`` are split and trained on; every CSV
    of the split and of the run has no cell a spreadsheet would run, and the package reads the names back."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))
    data = class_folders(tmp_path / "dataset", n_per_class=5, classes=HOSTILE_CLASSES)
    run = tmp_path / "run"
    assert cli.main(["train", "--profile", "smoke", "--data", str(data), "--out", str(run), "--model", "test_resnet",
                     "--img-size", "32", "--batch", "4", "--epochs", "1", "--freeze-epochs", "0", "--threads", "1",
                     "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    split = Path(summary["split_dir"])
    for f in (split / "train.csv", split / "val.csv", split / "test.csv", run / "val_predictions.csv",
              run / "test_predictions.csv", run / "logs" / "metrics.csv"):
        assert_safe_csv(f)
    tables, classes = readers.load_split(split)
    assert classes == summary["classes"] == sorted(HOSTILE_CLASSES)
    assert set(pd.concat(tables.values())["label"]) == set(HOSTILE_CLASSES)
    done = runs.load_run(run)
    for name in ("val_predictions", "test_predictions"):
        assert set(done[name]["label"]) <= set(HOSTILE_CLASSES) and len(done[name])
        assert [f"prob_{c}" for c in classes] == [c for c in done[name].columns if c.startswith("prob_")]


def test_classify_images_sorts_a_folder_with_the_new_best_checkpoint(tmp_path, capsys):
    """The original course scripts' ``--classify_images/--classify_out``: train, then sort a folder, in one command."""
    from _tiny_runs import make_split

    split = make_split(tmp_path, n_per_class=4, size=32)
    photos = tmp_path / "new"
    photos.mkdir()
    for p in sorted((tmp_path / "images" / "acne").glob("*.png"))[:3]:
        (photos / p.name).write_bytes(p.read_bytes())
    base = ["train", "--data", str(split), "--model", "test_resnet", "--img-size", "32", "--batch", "4",
            "--max-epochs", "1", "--freeze-epochs", "0", "--threads", "1", "--set", "data.cache=false",
            "--profile", "smoke", "--no-progress"]
    assert cli.main([*base, "--out", str(tmp_path / "runs" / "c"), "--classify_images", str(photos)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--classify-out" in err and len(err.splitlines()) == 1 and not (tmp_path / "runs" / "c").exists()
    assert cli.main([*base, "--out", str(tmp_path / "runs" / "c"), "--classify-images", str(photos),
                     "--classify-out", str(photos / "sorted")]) == 2  # never among the images it sorts
    assert "inside" in capsys.readouterr().err and not (tmp_path / "runs" / "c").exists()
    sorted_dir = tmp_path / "sorted"
    assert cli.main([*base, "--out", str(tmp_path / "runs" / "c"), "--classify_images", str(photos),
                     "--classify_out", str(sorted_dir)]) == 0
    out = capsys.readouterr().out
    assert f"sorted 3 images of --classify-images into {sorted_dir}" in out
    assert (sorted_dir / "predictions.csv").is_file() and (tmp_path / "runs" / "c" / "best.pt").is_file()
    assert sum(1 for p in sorted_dir.rglob("*.png")) == 3
