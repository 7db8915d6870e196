"""Checkpoints: what ``best.pt`` holds, how it is written, and :class:`Checkpoint`, the file opened once.

A checkpoint is a plain dict of tensors and Python literals (weights, model name, classes,
image size, normalisation, temperature, config, metrics, library versions; a multi-label one also its
task, per-label temperatures and thresholds), loadable with ``torch.load(path, weights_only=True)``.
Format 2 adds ``preprocessing``, the model's own resize, crop and normalisation
(:class:`~auxiliary.models.preprocess.Preprocessing`, decided when training built the model); a checkpoint without
it (format 1, or written without a spec) is read as the square area resize it was trained and used with. The format
number rose so that an older version of this package refuses a checkpoint whose preprocessing it would ignore.

:meth:`Checkpoint.open` reads the file's bytes once, hashes those very bytes (SHA-256: what an ONNX export
records as its source and what a sort's model id is made of) and loads them, refusing in one line
whatever is not a checkpoint of this project. The :class:`Checkpoint` value it returns is what the rooms
above hand down (predictor, backends, ONNX export, sorting, the web demo): the path, the hash, the
entries (``info``: all but the weights), the weights and the :class:`~auxiliary.tasks.task.Task` of the
checkpoint, so that nothing reads or hashes the file a second time. Paths are accepted only at the public
entry points, which open them there (:meth:`Checkpoint.of`).
The resume state ``last.pt`` follows the same rule and is written by :mod:`auxiliary.training.runs`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import atomic_write
from auxiliary.models.factory import architecture, data_config
from auxiliary.models.preprocess import Preprocessing, PreprocessingError
from auxiliary.models.pretrained import load_weights_bytes, read_file_bytes
from auxiliary.tasks import task_of
from auxiliary.tasks.task import Task

CHECKPOINT_FORMAT = 2


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
    preprocessing: Preprocessing | None = None,
) -> Path:
    """Save weights plus everything needed to rebuild and use the model (atomic write).

    ``preprocessing``: the model's spec, recorded as ``preprocessing`` (``img_size``, ``mean`` and ``std`` are then its
    own: given ones that differ are refused); without it the checkpoint records none and is used with the square area
    resize.
    """
    if preprocessing is not None:
        given = (int(img_size), tuple(mean or preprocessing.mean), tuple(std or preprocessing.std))
        if given != (preprocessing.img_size, preprocessing.mean, preprocessing.std):
            raise ValueError(f"img_size, mean and std {given} are not those of the preprocessing {preprocessing}")
        mean, std = preprocessing.mean, preprocessing.std
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
    if preprocessing is not None:
        payload["preprocessing"] = preprocessing.entry()
    if extra:
        payload.update(extra)
    p = Path(path)
    with atomic_write(p) as tmp:
        torch.save(payload, tmp)
    return p


def save_with_entries(path: str | Path, checkpoint: Checkpoint, entries: dict[str, Any]) -> Path:
    """A copy of ``checkpoint`` (its weights and every entry) at ``path`` with ``entries`` added or replaced (atomic
    write): a stored operating point, an adaptation record. The source file is left as it is."""
    payload = {k: v for k, v in checkpoint.info.items() if k != "path"}
    payload.update(entries, state_dict=checkpoint.state_dict)
    p = Path(path)
    with atomic_write(p) as tmp:
        torch.save(payload, tmp)
    return p


#: What every checkpoint of this project records besides its format number.
REQUIRED_KEYS = ("state_dict", "model_name", "classes", "img_size", "mean", "std")

#: What a refusal suggests instead.
HINT = "use a best.pt written by this package (python -m auxiliary train)"


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A checkpoint file, opened once (:meth:`open`): everything the rooms above need of it, handed down as one value.

    ``info`` holds every entry but the weights (``classes``, ``img_size``, ``mean``, ``std``, ``model_name``,
    ``temperature``, ``metrics``...; ``path`` too): it is also the ``calibration`` the :attr:`task` reads
    (``task.probabilities(logits, checkpoint.info)``).
    """

    path: Path
    sha256: str
    info: dict[str, Any]
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    task: Task

    @classmethod
    def open(cls, path: str | Path) -> Checkpoint:
        """Read ``path`` once, hash and load those bytes (``weights_only=True``).

        Raises :class:`CheckpointError` with one line for: not found, a folder, empty, truncated, a text
        file, not a PyTorch file, a pickle holding code or objects (refused, never run), a file of another
        kind (bare weights, a tensor), a newer checkpoint format, or missing entries.
        """
        p = Path(path)
        data = read_file_bytes(p, "checkpoint", CheckpointError)
        ckpt = load_weights_bytes(data, p, "checkpoint", CheckpointError, HINT)
        check_entries(ckpt, p)
        info = {k: v for k, v in ckpt.items() if k != "state_dict"}
        info["path"] = str(p)
        return cls(p, hashlib.sha256(data).hexdigest(), info, ckpt["state_dict"], task_of(info))

    @classmethod
    def of(cls, source: Checkpoint | str | Path) -> Checkpoint:
        """``source`` itself when it is already open, else the file it names, opened (a public entry point's
        way of taking either)."""
        return source if isinstance(source, Checkpoint) else cls.open(source)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.info["classes"]]

    @property
    def preprocessing(self) -> Preprocessing:
        """How an image becomes this model's input (:meth:`Preprocessing.of` its entries: the recorded spec, or the
        square area resize of a checkpoint that records none)."""
        return Preprocessing.of(self.info)

    def model(self, device: str | torch.device = "cpu") -> nn.Module:
        """A fresh model of this checkpoint, its weights loaded, in eval mode on ``device``."""
        model = architecture(self.info["model_name"], len(self.info["classes"]))  # every weight is loaded below
        missing, unexpected = model.load_state_dict(self.state_dict, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"{self.path}: weights do not match {self.info['model_name']} "
                                  f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
        return model.to(device).eval()


def procedural_notice(checkpoint: Checkpoint) -> str | None:
    """The one line ``sort``, ``evaluate``, ``predict`` and ``serve`` print for a model trained on procedural
    synthetic skin only (its ``trained_on``, recorded by training): such a model is for teaching the workflow and
    controlled tone experiments, and is not asked to recognise conditions in real photos. None otherwise."""
    if checkpoint.info.get("trained_on") != "procedural":
        return None
    return (f"note: {checkpoint.path} was trained on procedural synthetic skin only: it teaches the workflow, it is "
            "not meant to recognise conditions in real photos; for photos, train on conditions simulated on clean "
            "face photos (simulate --input FACES), then adapt it to yours (adapt)")


def check_entries(ckpt: Any, p: Path) -> None:
    """Refuse, in one line, what a weights file holds when it is not a checkpoint of this project."""
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
    try:
        Preprocessing.of(ckpt)
    except (PreprocessingError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{p} records a preprocessing this version cannot apply ({exc})") from None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The model of a checkpoint in eval mode and its entries, ``(model, info)``: training's one-call reader
    (the rooms that hand a checkpoint on use :class:`Checkpoint`)."""
    ckpt = Checkpoint.open(path)
    return ckpt.model(device), ckpt.info


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's entries and weights as one plain dict (``info`` plus ``state_dict``), for a caller that
    only reads entries; the rooms that hand a checkpoint on use :class:`Checkpoint`."""
    ckpt = Checkpoint.open(path)
    return {**ckpt.info, "state_dict": ckpt.state_dict}
