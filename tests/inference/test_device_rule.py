"""The one device rule after training: every step that runs a model asks it, ONNX Runtime follows it (or says in one
line that it cannot), and speed figures record the device they were measured on."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import torch
from _tiny_runs import CLASSES, make_run, make_split, tiny_checkpoint

from auxiliary.base import devices
from auxiliary.faces import cli
from auxiliary.inference import backends
from auxiliary.inference.predictor import Predictor
from auxiliary.models import export, onnx_model
from auxiliary.steps import select as selection

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU: asking for one is fine")


def test_predictors_default_to_the_rule(tmp_path):
    ckpt, _ = tiny_checkpoint(tmp_path / "best.pt")
    here = devices.resolve_device("auto")
    assert Predictor.from_checkpoint(ckpt).device == here
    assert backends.load_predictor(ckpt, backend="torch").device == here
    assert str(next(Predictor.from_checkpoint(ckpt).model.parameters()).device).startswith(here)


@no_cuda
@pytest.mark.parametrize("step", ["evaluate", "compare", "export", "sort", "serve"])
def test_every_step_that_runs_a_model_refuses_an_absent_gpu_in_one_line(step, tmp_path, capsys):
    split = make_split(tmp_path, n_per_class=2)
    ckpt = make_run(tmp_path / "run")
    photos = tmp_path / "images" / "acne"
    args = {
        "evaluate": ["--ckpt", ckpt, "--data", split / "test.csv", "--out", tmp_path / "ev"],
        "compare": ["--runs", tmp_path / "run", "--data", split / "test.csv", "--out", tmp_path / "cmp"],
        "export": ["--ckpt", ckpt, "--out", tmp_path / "m.onnx"],
        "sort": ["--ckpt", ckpt, "--input", photos, "--out", tmp_path / "sorted"],
        "serve": ["--ckpt", ckpt, "--port", "0"],
    }[step]
    code = cli.main([step, *map(str, args), "--device", "cuda"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and "no CUDA GPU" in err[0], err


def test_onnx_runtime_without_a_cuda_provider_runs_on_the_cpu_and_says_so_once(tmp_path, monkeypatch, capsys):
    ckpt, _ = tiny_checkpoint(tmp_path / "best.pt")
    path = export.export_onnx(ckpt, device="cpu").path
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(onnx_model, "_NOTED", set())
    first = onnx_model.onnx_session(path, device="cuda")
    onnx_model.onnx_session(path, device="cuda")
    assert onnx_model.session_device(first) == "CPUExecutionProvider"
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert notes == ["note: ONNX Runtime runs on the CPU, not on cuda: this onnxruntime has no CUDA provider "
                     "(pip install onnxruntime-gpu)"]
    onnx_model.onnx_session(path, device="cpu")
    assert capsys.readouterr().out == ""  # on the CPU there is nothing to say


def test_the_export_records_where_its_parity_check_ran(tmp_path):
    ckpt, _ = tiny_checkpoint(tmp_path / "best.pt")
    res = export.export_onnx(ckpt, device="cpu")
    assert res.device == "cpu" and "(cpu)" in str(res) and res.max_abs_diff <= export.PARITY_ATOL


def test_selection_timings_record_the_device_and_are_measured_again_on_another(tmp_path, monkeypatch):
    run = tmp_path / "run"
    make_run(run)
    pd.DataFrame({"label": CLASSES, **{f"prob_{c}": np.eye(3)[i] for i, c in enumerate(CLASSES)}}).to_csv(
        run / "val_predictions.csv", index=False)
    (run / "summary.json").write_text(json.dumps({"device": "cuda (NVIDIA H200)", "images_per_second": 10}))
    row = selection.measure_run(run, "resnet18", device="cpu")
    assert row["infer_device"] == devices.device_label("cpu") and row["train_device"] == "cuda (NVIDIA H200)"
    assert np.isfinite(row["infer_img_per_s"])
    calls = []
    monkeypatch.setattr(selection, "inference_speed", lambda *a, **k: calls.append(k) or 1.0)
    assert selection.measure_run(run, "resnet18", device="cpu")["infer_img_per_s"] == row["infer_img_per_s"]
    assert calls == []  # cached for the same device
    monkeypatch.setattr(selection, "device_label", lambda d: "cuda (another GPU)")
    assert selection.measure_run(run, "resnet18", device="cpu")["infer_img_per_s"] == 1.0  # measured again
