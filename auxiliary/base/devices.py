"""The one device rule: where PyTorch runs, for training and for everything after it.

``device`` (every config section that runs a model, and ``--device`` on the command line) is
``auto``, ``cpu``, ``cuda`` or ``mps``. ``auto`` picks CUDA when a CUDA GPU is visible, then Apple's
MPS, then the CPU: :func:`resolve_device`. Training (Fabric's accelerator), evaluation, the selection
timings, the comparison, TTA, Grad-CAM, sorting, the export's parity check and the web demo all ask
this module, so a GPU is used everywhere once it is there. Asking for a device that is not there is
a one-line :class:`DeviceError`, not a silent fall-back to the CPU.

Speed figures carry :func:`device_label` (``cuda (NVIDIA H200)``, ``cpu (2 threads)``) so that a
table says what it was measured on. The precision rule of training (``precision: auto``) is
:func:`auxiliary.training.acceleration.resolve_precision`.
"""

from __future__ import annotations

import itertools

import torch

from auxiliary.base.config import DEVICES
from auxiliary.base.errors import AuxiliaryError


class DeviceError(AuxiliaryError, RuntimeError):
    """A device that was asked for is unknown or not present on this machine."""


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device | None = "auto") -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is visible, else ``mps``, else ``cpu``; an explicit device is
    checked (``cuda:1`` is kept as is). Raises :class:`DeviceError` for an unknown name or a device that
    this machine does not have."""
    if isinstance(device, torch.device):
        device = str(device)
    name = str(device or "auto").strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in DEVICES:
        raise DeviceError(f"unknown device {device!r} (choose from: {', '.join(DEVICES)})")
    if kind == "auto":
        return "cuda" if cuda_available() else "mps" if mps_available() else "cpu"
    if kind == "cuda" and not cuda_available():
        raise DeviceError(f"device {name} asked for, but PyTorch sees no CUDA GPU here (torch "
                          f"{torch.__version__}); use --device auto or cpu")
    if kind == "cuda" and ":" in name:
        index = name.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise DeviceError(f"device {name} asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if kind == "mps" and not mps_available():
        raise DeviceError(f"device {name} asked for, but PyTorch's MPS backend is not available here; "
                          "use --device auto or cpu")
    return name


def device_kind(device: str | torch.device) -> str:
    """``cuda``, ``mps`` or ``cpu`` of a device name or ``torch.device`` (``cuda:1`` -> ``cuda``)."""
    return str(device).split(":", 1)[0].lower()


def device_label(device: str | torch.device) -> str:
    """What a speed table records: ``cuda (NVIDIA H200)``, ``mps``, ``cpu (2 threads)``."""
    name = str(device)
    kind = device_kind(name)
    if kind == "cuda" and cuda_available():
        index = int(name.split(":", 1)[1]) if ":" in name else torch.cuda.current_device()
        return f"{name} ({torch.cuda.get_device_name(index)})"
    if kind == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return name


def module_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); the CPU for a model without either."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")
