"""Checkpoints: what ``best.pt`` holds and how it is written and read (``torch.load(..., weights_only=True)`` only).

A checkpoint is a plain dict of tensors and Python literals (weights, model name, classes,
image size, normalisation, temperature, config, metrics, library versions), loadable with
``torch.load(path, weights_only=True)``; :func:`load_checkpoint` rebuilds the model in one call.
The resume state ``last.pt`` follows the same rule and is written by :mod:`auxiliary.training.runs`.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import lightning_fabric
import timm
import torch
from torch import nn

from auxiliary.errors import AuxiliaryError
from auxiliary.files import atomic_write
from auxiliary.training.models import create_model, data_config

CHECKPOINT_FORMAT = 1


class CheckpointError(AuxiliaryError, RuntimeError):
    """A checkpoint file is missing, unreadable, or not one of this project's."""


def library_versions() -> dict[str, str]:

    out = {"python": platform.python_version(), "torch": str(torch.__version__), "timm": str(timm.__version__)}
    out["lightning_fabric"] = str(lightning_fabric.__version__)
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


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dict, loaded with ``weights_only=True``."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"cannot read checkpoint {p}: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "model_name" not in ckpt:
        raise CheckpointError(f"{p} is not a checkpoint of this project (no model_name/state_dict)")
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
