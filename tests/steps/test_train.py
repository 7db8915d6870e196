"""auxiliary.steps.train: one rule to reuse a trained run (same recorded settings), in every step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auxiliary.base import config_overrides, layout
from auxiliary.base.config import save
from auxiliary.base.errors import TrainError
from auxiliary.evaluation.comparison_table import CompareError
from auxiliary.faces import cli
from auxiliary.steps import compare as comparison
from auxiliary.steps import train as finetuning
from auxiliary.training import runs


class FakeTrain:
    """Stands in for ``train_run``: records the call and writes what a finished run leaves."""

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, cfg, split_dir, out_dir, *, resume=False, overwrite=False, progress=True):
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


def _cfg(**over):
    return config_overrides.resolve("smoke", overrides={"data": "some/dataset", **over})


def test_ensure_run_reuses_only_a_run_with_the_same_settings(tmp_path, fake, capsys):
    split = tmp_path / "split"
    split.mkdir()
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
    other = tmp_path / "split-v2"
    other.mkdir()
    finetuning.ensure_run(changed, split_dir=other)
    assert len(fake.calls) == 3 and fake.calls[-1]["split"] == other


def test_trained_checkpoint_refuses_a_missing_or_stale_run(tmp_path, fake):
    cfg = _cfg()
    with pytest.raises(TrainError, match="no trained run"):
        finetuning.trained_checkpoint(cfg)
    split = tmp_path / "split"
    split.mkdir()
    run = finetuning.ensure_run(cfg, split_dir=split)
    assert finetuning.trained_checkpoint(cfg) == run / "best.pt"
    with pytest.raises(TrainError, match="other settings"):
        finetuning.trained_checkpoint(_cfg(label_smoothing=0.3))


def test_sort_without_ckpt_says_why_it_cannot_use_a_stale_run(tmp_path, fake, capsys):
    split = tmp_path / "split"
    split.mkdir()
    finetuning.ensure_run(_cfg(), split_dir=split)
    inp = tmp_path / "in"
    inp.mkdir()
    code = cli.main(["sort", "--profile", "smoke", "--set", "data=some/dataset", "--set", "lr_ft=0.5",
                     "--input", str(inp), "--out", str(tmp_path / "sorted")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "other settings" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sorted").exists()


def test_comparison_leaves_out_a_stale_run_of_notebook_04(tmp_path, fake, capsys):
    split = tmp_path / "split"
    split.mkdir()
    cfg = _cfg()
    finetuning.ensure_run(cfg, split_dir=split)
    with pytest.raises(CompareError, match="no trained model"):
        comparison.find_runs(_cfg(lr_ft=0.5), train_missing=False)
    assert "trained with other settings" in capsys.readouterr().out
    assert comparison.find_runs(cfg, train_missing=False) == {"resnet18 (04)": layout.run_dir(cfg, runs.run_name(cfg))}
