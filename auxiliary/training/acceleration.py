"""How training uses the hardware: the accelerator (the device rule of :mod:`auxiliary.base.devices`), the precision
rule, ``channels_last`` and ``torch.compile`` with its fall-back.

``precision: auto`` is ``32-true`` on the CPU and on MPS, ``bf16-mixed`` on a CUDA GPU that supports
bfloat16 (Ampere and newer), else ``16-mixed`` (Fabric scales the loss). bf16 autocast on a CPU without
native bfloat16 (no AVX512-BF16 / AMX, like most laptops) is *slower* than float32, and some CPU kernels
lose accuracy in it, so ``auto`` never picks it on a CPU; an explicit ``bf16-mixed`` is honoured (an AMX Xeon
trained resnet18 1.18x faster; on an AMD EPYC with AVX512-BF16 the HAM10000 recipe, lite0 at 224 px, trained
1.15x faster end to end with balanced accuracy within seed noise: under the 1.2x that would make ``auto`` pick it,
README "Installing by hand" and benchmarks/ham10000_runs.md). ``channels_last: auto`` is on for a GPU only (on this CPU it cost 10% at 64 px).

``compile: true`` first compiles a tiny function on the device (:func:`compile_support`, once per
process): where that fails (no C++ compiler, no Triton for the GPU, a Python that Dynamo does not support)
training goes on eagerly after one ``note:`` line saying why, instead of failing at the first batch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from auxiliary.base.config import TrainConfig
from auxiliary.base.devices import DeviceError, device_kind, device_label, resolve_device
from auxiliary.base.errors import TrainError

#: Fabric precisions this package accepts, besides ``auto``.
PRECISIONS: tuple[str, ...] = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")


def resolve_accelerator(tcfg: TrainConfig) -> tuple[str, Any]:
    """``(accelerator, devices)`` for Fabric: ``accelerator`` when set, else the ``device`` rule
    (``cuda:1`` becomes accelerator ``cuda`` on device [1] when ``devices`` is left at 1)."""
    acc = str(tcfg.accelerator).strip().lower()
    devices: Any = tcfg.devices
    try:
        if acc == "auto":
            name = resolve_device(tcfg.device)
            if ":" in name and str(devices).strip() == "1":
                devices = [int(name.split(":", 1)[1])]
            return device_kind(name), devices
        if acc in ("cpu", "cuda", "mps"):
            return device_kind(resolve_device(acc)), devices
    except DeviceError as exc:
        raise TrainError(str(exc)) from None
    return acc, devices  # another Fabric accelerator (gpu, tpu...): Fabric checks it


def resolve_precision(precision: str, accelerator: str) -> str:
    """The Fabric precision for ``precision`` on ``accelerator`` (``auto``: see the module docstring)."""
    p = str(precision).strip().lower()
    if p != "auto":
        if p not in PRECISIONS:
            raise TrainError(f"unknown precision {precision!r} (choose from: auto, {', '.join(PRECISIONS)})")
        return p
    if device_kind(accelerator) in ("cuda", "gpu") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def use_channels_last(value: Any, accelerator: str) -> bool:
    """``channels_last``: ``auto`` -> on a GPU (CUDA or MPS) only; ``true``/``false`` as given."""
    v = str(value).strip().lower()
    if v == "auto":
        return device_kind(accelerator) in ("cuda", "gpu", "mps")
    return v in ("true", "1", "yes", "on")


@functools.lru_cache(maxsize=8)
def compile_support(device_type: str) -> str | None:
    """None when ``torch.compile`` works on ``device_type`` here (a tiny function is compiled and run
    forward and backward), else the reason in one line."""
    try:
        fn = torch.compile(lambda x: (torch.sin(x) * 2).sum())
        x = torch.randn(8, device=device_type, requires_grad=True)
        fn(x).backward()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure of the compiler stack means: no compiling here
        text = str(exc).strip().splitlines()
        return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def compile_model(model: nn.Module, device_type: str, announce: Any = print) -> tuple[nn.Module, str]:
    """``(torch.compile(model), "inductor")`` when compiling works on ``device_type``, else ``(model,
    "eager (<reason>)")`` after one ``note:`` line through ``announce``."""
    reason = compile_support(device_type)
    if reason is None:
        try:
            return torch.compile(model), "inductor"
        except Exception as exc:  # noqa: BLE001
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
    announce(f"note: torch.compile is not available here ({reason}); training without compiling")
    return model, f"eager ({reason})"


@dataclass
class Hardware:
    """How one run uses its Fabric: the device, the resolved precision, ``channels_last`` and compiling.

    Made by :func:`hardware` right after Fabric; the run's ``summary.json`` records :meth:`record`."""

    device: str
    kind: str
    precision: str
    channels_last: bool
    compile: bool
    processes: int = 1
    compiled: str = "off"

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` in the memory format of this run."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def forward_model(self, model: nn.Module, announce: Any = print) -> nn.Module:
        """``model`` compiled when ``compile`` is asked for and works here (else the model itself)."""
        if not self.compile:
            return model
        compiled, self.compiled = compile_model(model, self.kind, announce)
        return compiled

    def record(self) -> dict[str, Any]:
        return {"device": self.device, "precision": self.precision, "channels_last": self.channels_last,
                "compile": self.compiled, "processes": self.processes}

    def __str__(self) -> str:
        per = f"{self.processes} processes on " if self.processes > 1 else ""
        return (f"{per}{self.device}, precision {self.precision}"
                + (", channels_last" if self.channels_last else "") + (", torch.compile" if self.compile else ""))


def hardware(fabric: Any, tcfg: TrainConfig) -> Hardware:
    """The :class:`Hardware` of a run on ``fabric`` with the settings of ``tcfg``."""
    kind = fabric.device.type
    return Hardware(device=device_label(fabric.device), kind=kind, precision=resolve_precision(tcfg.precision, kind),
                    channels_last=use_channels_last(tcfg.channels_last, kind), compile=bool(tcfg.compile),
                    processes=int(fabric.world_size))


def precision_here(precision: str) -> str:
    """What ``precision`` means on this machine's ``auto`` device: how a recorded run is compared with a
    request (``auto`` on this CPU is ``32-true``, so a run recorded with either is the same run here)."""
    p = str(precision).strip().lower()
    return resolve_precision(p, resolve_device("auto")) if p == "auto" else p
