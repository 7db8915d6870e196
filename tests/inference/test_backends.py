"""auxiliary.inference.backends: the ONNX predictor matches PyTorch; the auto choice is measured once, cached."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _tiny_runs import make_run, make_split

from auxiliary import images as images_mod
from auxiliary.inference import backends, onnx_model, predictor


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread avoids oversubscription on a shared CPU
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    split = make_split(root, n_per_class=4)
    ckpt = make_run(root / "runs" / "tiny", "resnet18", seed=0, img_size=32, temperature=1.7, val_csv=split / "val.csv")
    return root, split, ckpt


def test_predictor_backends_onnx_and_auto(run, monkeypatch):
    root, split, ckpt = run
    images = [images_mod.read_image(p) for p in sorted((split.parent / "images").rglob("*.png"))]
    torch_pred = predictor.Predictor.from_checkpoint(ckpt)
    onnx_pred = backends.load_predictor(ckpt, backend="onnx")
    assert onnx_pred.backend == "onnx" and onnx_model.default_onnx_path(ckpt).is_file()
    p_t, p_o = torch_pred.predict_arrays(images), onnx_pred.predict_arrays(images)
    assert np.max(np.abs(p_t - p_o)) <= 1e-4
    assert np.max(np.abs(torch_pred.predict_arrays(images, tta=True) - onnx_pred.predict_arrays(images, tta=True))) <= 1e-4

    backends._BACKEND_CACHE.clear()
    auto = backends.load_predictor(ckpt, backend="auto")
    choice = auto.info["backend_choice"]
    assert auto.backend == choice["backend"] in ("torch", "onnx")
    assert choice["torch_ms_per_image"] > 0 and choice["onnx_ms_per_image"] > 0
    saved = json.loads(onnx_model.default_onnx_path(ckpt).with_suffix(".backend.json").read_text())
    assert saved["backend"] == choice["backend"]

    def no_more_timing(*a, **k):
        raise AssertionError("the backend decision must be cached, not measured again")

    monkeypatch.setattr(backends, "speed", no_more_timing)
    assert backends.load_predictor(ckpt, backend="auto").backend == choice["backend"]
    backends._BACKEND_CACHE.clear()  # a new process: the decision is read back from disk
    assert backends.load_predictor(ckpt, backend="auto").backend == choice["backend"]
    with pytest.raises(onnx_model.ExportError, match="unknown inference backend"):
        backends.load_predictor(ckpt, backend="tensorrt")
