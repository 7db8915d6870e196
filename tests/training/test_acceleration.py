"""The device rule (auxiliary.base.devices), the precision and channels_last rules, and torch.compile with its fall-back
(auxiliary.training.acceleration), on this CPU: the GPU branches are reached by pretending CUDA is there."""

from __future__ import annotations

import pytest
import torch
from _tiny_training import make_cfg, run

from auxiliary.base import devices, errors
from auxiliary.training import acceleration


@pytest.fixture()
def fake_cuda(monkeypatch):
    """CUDA 'visible' with two GPUs; ``fake_cuda(bf16=False)`` makes them pre-Ampere."""

    def make(bf16: bool = True, count: int = 2):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)

    return make


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch, fake_cuda):
    monkeypatch.setattr(devices, "mps_available", lambda: False)
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    assert devices.resolve_device("auto") == "cpu" and devices.resolve_device(None) == "cpu"
    monkeypatch.setattr(devices, "mps_available", lambda: True)
    assert devices.resolve_device("auto") == "mps"
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    assert devices.resolve_device("AUTO") == "cuda"
    assert devices.resolve_device("cpu") == "cpu"


def test_a_device_that_is_not_there_is_one_line_not_a_silent_cpu(monkeypatch):
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    monkeypatch.setattr(devices, "mps_available", lambda: False)
    for asked, words in (("cuda", "no CUDA GPU"), ("mps", "MPS"), ("gpu", "unknown device"), ("tpu", "unknown")):
        with pytest.raises(devices.DeviceError, match=words) as exc:
            devices.resolve_device(asked)
        assert "\n" not in str(exc.value)


def test_an_indexed_gpu_is_checked_against_the_gpus_present(fake_cuda):
    fake_cuda(count=2)
    assert devices.resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(devices.DeviceError, match="2 CUDA GPU"):
        devices.resolve_device("cuda:2")


def test_precision_auto_is_32_on_cpu_bf16_on_recent_gpus_else_16(monkeypatch, fake_cuda):
    assert acceleration.resolve_precision("auto", "cpu") == "32-true"
    assert acceleration.resolve_precision("auto", "mps") == "32-true"
    assert acceleration.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"  # an explicit choice is kept
    fake_cuda(bf16=True)
    assert acceleration.resolve_precision("auto", "cuda") == "bf16-mixed"
    fake_cuda(bf16=False)
    assert acceleration.resolve_precision("auto", "cuda") == "16-mixed"
    assert acceleration.resolve_precision("32-true", "cuda") == "32-true"
    with pytest.raises(errors.TrainError, match="unknown precision"):
        acceleration.resolve_precision("8-mixed", "cuda")


def test_channels_last_auto_is_on_for_gpus_only():
    assert [acceleration.use_channels_last("auto", d) for d in ("cpu", "cuda", "mps")] == [False, True, True]
    assert acceleration.use_channels_last("true", "cpu") and not acceleration.use_channels_last("false", "cuda")


def test_training_follows_the_device_rule_and_accelerator_overrides_it(monkeypatch, fake_cuda):
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    monkeypatch.setattr(devices, "mps_available", lambda: False)
    assert acceleration.resolve_accelerator(make_cfg().train) == ("cpu", "1")
    with pytest.raises(errors.TrainError, match="no CUDA GPU"):
        acceleration.resolve_accelerator(make_cfg(device="cuda").train)
    fake_cuda(count=2)
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    assert acceleration.resolve_accelerator(make_cfg().train) == ("cuda", "1")
    assert acceleration.resolve_accelerator(make_cfg(device="cuda:1").train) == ("cuda", [1])
    assert acceleration.resolve_accelerator(make_cfg(accelerator="cpu").train) == ("cpu", "1")


@pytest.mark.slow
def test_compile_compiles_and_trains_a_tiny_model_on_this_cpu(tmp_path, capsys):
    reason = acceleration.compile_support("cpu")
    if reason is not None:  # e.g. no C++ compiler: the fall-back test below still runs
        pytest.skip(f"torch.compile cannot compile on this machine: {reason}")
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    summary = run(tmp_path, "compiled", make_cfg(compile=True, freeze_epochs=0, max_epochs=1), callbacks=[])
    assert summary["compile"] == "inductor" and summary["epochs_run"] == 1
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > before  # graphs were really captured
    assert summary["best_val_balanced_acc"] > 0.5  # it learned (chance 1/3)
    assert "note: torch.compile" not in capsys.readouterr().out


def test_compile_falls_back_to_eager_with_one_note_where_it_cannot_compile(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("Compiler: cc is not found\nmore lines")

    monkeypatch.setattr(torch, "compile", broken)
    acceleration.compile_support.cache_clear()
    try:
        summary = run(tmp_path, "eager", make_cfg(compile=True, freeze_epochs=0, max_epochs=1), callbacks=[])
    finally:
        acceleration.compile_support.cache_clear()
    assert summary["compile"] == "eager (RuntimeError: Compiler: cc is not found)"
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: torch.compile")]
    assert notes == ["note: torch.compile is not available here (RuntimeError: Compiler: cc is not found); "
                     "training without compiling"]
    assert summary["best_val_balanced_acc"] > 0.5
