"""benchmarks/bench_preprocess.py in smoke form: the same weights evaluated with the square resize and with the
model's own preprocessing, side by side, the checkpoint file untouched (issue 29)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from _benchmarks import load_benchmark
from _tiny_runs import CLASSES, make_split

from auxiliary.base import files
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing


def _checkpoint(path: Path, **kw) -> Path:
    torch.manual_seed(0)
    return checkpoints.save_checkpoint(path, models.create_model("resnet18", len(CLASSES)), model_name="resnet18",
                                       classes=CLASSES, img_size=32, **kw)


def test_smoke_run_prints_both_preprocessings_side_by_side(tmp_path, capsys):
    split = make_split(tmp_path / "data", n_per_class=4, size=40)
    spec = Preprocessing(32, (0.5,) * 3, (0.5,) * 3, resize="shorter_side", crop_pct=0.875, interpolation="bicubic")
    ckpt = _checkpoint(tmp_path / "run" / "best.pt", preprocessing=spec)
    before = files.sha256_file(ckpt)
    out = tmp_path / "bench"
    bench = load_benchmark("bench_preprocess")
    assert bench.main(["--ckpt", str(ckpt), "--split", str(split), "--tta", "--out", str(out),
                       "--device", "cpu", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| metric | square | square + TTA | own | own + TTA |" in printed
    assert "test balanced accuracy" in printed and "test macro AUROC" in printed and "recall acne" in printed
    assert "recorded in the checkpoint" in printed and "centre 32 x 32 crop" in printed
    res = json.loads((out / "results.json").read_text())
    assert res["images"] == 12 and res["sha256"] == before == files.sha256_file(ckpt)  # weights untouched
    assert Preprocessing(**res["own"]["preprocessing"]) == spec
    assert Preprocessing(**res["square"]["preprocessing"]) == Preprocessing(32, (0.5,) * 3, (0.5,) * 3)
    for name in ("square", "own"):
        for variant in ("plain", "tta"):
            row = res[name][variant]
            assert 0 <= row["balanced_acc"] <= 1 and 0 <= row["macro_auroc"] <= 1 and set(row["recall"]) == set(CLASSES)
            assert np.mean(list(row["recall"].values())) == row["balanced_acc"]


def test_an_old_checkpoint_from_scratch_has_nothing_to_compare(tmp_path, capsys):
    """A checkpoint recording no spec: its own preprocessing is decided from its config as training decides it now
    (from scratch: the square resize), and the benchmark says both columns agree."""
    split = make_split(tmp_path / "data", n_per_class=2, size=40)
    ckpt = _checkpoint(tmp_path / "run" / "best.pt", config={"train": {"pretrained": "false"}})
    assert load_benchmark("bench_preprocess").main(["--ckpt", str(ckpt), "--split", str(split), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "decided from its config" in printed and "both columns agree" in printed
    assert load_benchmark("bench_preprocess").main(["--ckpt", str(tmp_path / "nope.pt"), "--split", str(split)]) == 2
    assert capsys.readouterr().err.startswith("error:")
