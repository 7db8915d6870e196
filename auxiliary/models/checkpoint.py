"""Checkpoints: what ``best.pt`` holds and how it is written and read (``torch.load(..., weights_only=True)`` only).

A checkpoint is a plain dict of tensors and Python literals (weights, model name, classes,
image size, normalisation, temperature, config, metrics, library versions), loadable with
``torch.load(path, weights_only=True)``; :func:`load_checkpoint` rebuilds the model in one call.
The resume state ``last.pt`` follows the same rule and is written by :mod:`auxiliary.training.runs`.
"""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import atomic_write
from auxiliary.models.factory import create_model, data_config
from auxiliary.models.pretrained import read_weights_file

CHECKPOINT_FORMAT = 1


class CheckpointError(AuxiliaryError, RuntimeError):
    """A checkpoint file is missing, unreadable, or not one of this project's."""


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": str(torch.__version__), "timm": str(timm.__version__)}
    out["lightning_fabric"] = importlib.metadata.version("lightning-fabric")
    return out


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    classes: list[str],
    img_size: int,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    temperature: float = 1.0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save weights plus everything needed to rebuild and use the model (atomic write)."""
    norm = data_config(model)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": state,
        "model_name": model_name,
        "classes": list(classes),
        "img_size": int(img_size),
        "mean": list(mean or norm["mean"]),
        "std": list(std or norm["std"]),
        "temperature": float(temperature),
        "config": config or {},
        "metrics": {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in (metrics or {}).items()},
        "versions": library_versions(),
    }
    if extra:
        payload.update(extra)
    p = Path(path)
    with atomic_write(p) as tmp:
        torch.save(payload, tmp)
    return p


#: What every checkpoint of this project records besides its format number.
REQUIRED_KEYS = ("state_dict", "model_name", "classes", "img_size", "mean", "std")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, loaded with ``weights_only=True``.

    Raises :class:`CheckpointError` with one line for: not found, a folder, empty, truncated, a text
    file, not a PyTorch file, a pickle holding code or objects (refused, never run), a file of another
    kind (bare weights, a tensor), a newer checkpoint format, or missing entries.
    """
    p = Path(path)
    ckpt = read_weights_file(p, what="checkpoint", error=CheckpointError,
                             hint="use a best.pt written by this package (python -m auxiliary train)")
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{p} is not a checkpoint of this project: it holds a {type(ckpt).__name__}, "
                              "not the dict that training writes (runs/NAME/best.pt)")
    if "state_dict" not in ckpt and "model_name" not in ckpt:
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            raise CheckpointError(f"{p} is not a checkpoint of this project: it holds bare weights (a state dict) "
                                  f"without model name, classes or preprocessing; to start training from them, "
                                  f"pass --pretrained {p}")
        keys = ", ".join(map(str, list(ckpt)[:5])) or "none"
        raise CheckpointError(f"{p} is not a checkpoint of this project (no model_name/state_dict; its keys: {keys})")
    fmt = ckpt.get("format", CHECKPOINT_FORMAT)
    if not isinstance(fmt, int) or fmt > CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p} was written by a newer version of this package (checkpoint format {fmt!r}; "
                              f"this version reads format {CHECKPOINT_FORMAT}): update auxiliary")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{p} is not a complete checkpoint of this project: it records no {', '.join(missing)}")
    return ckpt


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint in eval mode; returns ``(model, info)`` (info = all but weights)."""
    ckpt = read_checkpoint(path)
    model = create_model(ckpt["model_name"], num_classes=len(ckpt["classes"]), pretrained=False)
    missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match {ckpt['model_name']} (missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
        )
    model.to(device).eval()
    info = {k: v for k, v in ckpt.items() if k != "state_dict"}
    info["path"] = str(path)
    return model, info
