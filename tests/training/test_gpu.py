"""Checks that need a CUDA GPU (marked ``gpu``; skipped with the reason where PyTorch sees none): a mixed-precision
training epoch, torch.compile on the GPU, CPU-vs-GPU prediction parity, ONNX Runtime's CUDA provider against PyTorch.

Run them on a GPU machine with ``pytest -m gpu``; ``benchmarks/bench_train.py --device cuda`` measures the speeds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny_runs import tiny_checkpoint
from _tiny_training import make_cfg, run

from auxiliary.inference import backends
from auxiliary.inference.predictor import Predictor
from auxiliary.models import export, onnx_model

pytestmark = pytest.mark.gpu


def images(n: int = 8, size: int = 48) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def test_an_amp_epoch_trains_on_the_gpu_with_the_auto_precision(tmp_path):
    summary = run(tmp_path, "amp", make_cfg(device="auto", max_epochs=2, freeze_epochs=1), callbacks=[])
    expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    assert summary["device"].startswith("cuda") and summary["precision"] == expected
    assert summary["channels_last"] is True and summary["epochs_run"] == 2
    assert np.isfinite(summary["best_val_loss"]) and summary["best_val_balanced_acc"] > 0.5


def test_compile_works_on_the_gpu(tmp_path):
    summary = run(tmp_path, "compiled", make_cfg(compile=True, freeze_epochs=0, max_epochs=1), callbacks=[])
    assert summary["compile"] == "inductor" and summary["device"].startswith("cuda")


def test_auto_predicts_on_the_gpu_as_the_cpu_does(tmp_path):
    ckpt, _ = tiny_checkpoint(tmp_path / "best.pt", img_size=48)
    gpu, cpu = Predictor.from_checkpoint(ckpt), Predictor.from_checkpoint(ckpt, device="cpu")
    assert gpu.device == "cuda" and next(gpu.model.parameters()).is_cuda
    np.testing.assert_allclose(gpu.predict_arrays(images()), cpu.predict_arrays(images()), atol=1e-3)
    np.testing.assert_allclose(gpu.predict_arrays(images(), tta=True), cpu.predict_arrays(images(), tta=True), atol=1e-3)


def test_onnx_runtime_cuda_provider_matches_pytorch(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(f"onnxruntime {ort.__version__} has no CUDA provider here (pip install onnxruntime-gpu)")
    ckpt, _ = tiny_checkpoint(tmp_path / "best.pt", img_size=48)
    res = export.export_onnx(ckpt, device="cuda", images=None)  # the parity check itself runs on the GPU
    assert res.device == "cuda" and res.max_abs_diff <= export.PARITY_ATOL
    sess = onnx_model.onnx_session(res.path, device="cuda")
    assert onnx_model.session_device(sess) == "CUDAExecutionProvider"
    onnx_pred = backends.load_predictor(ckpt, backend="onnx", device="cuda")
    cpu = Predictor.from_checkpoint(ckpt, device="cpu")
    np.testing.assert_allclose(onnx_pred.predict_arrays(images()), cpu.predict_arrays(images()), atol=1e-3)
