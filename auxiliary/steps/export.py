"""``python -m auxiliary export``: a checkpoint to ONNX with a parity check, by :func:`export`.

The checkpoint is opened once (:class:`~auxiliary.models.checkpoint.Checkpoint`); what its task records
(a multi-label checkpoint's task and per-label temperatures) goes into the metadata, and the parity check
compares the task's calibrated probabilities (:func:`auxiliary.models.export.export_onnx`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auxiliary.base.config import DEVICES, Config
from auxiliary.base.layout import resolve_path
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.models.export import PARITY_ATOL, ExportResult, export_onnx
from auxiliary.models.onnx_model import DEFAULT_OPSET, ExportError


def export(cfg: Config, ckpt: Checkpoint | str | Path, out: str | Path | None = None, *, images: Any = None,
           opset: int = DEFAULT_OPSET, atol: float = PARITY_ATOL, device: str | None = None,
           overwrite: bool = False) -> ExportResult:
    """The ``export`` step: ``ckpt`` (a checkpoint file, or one already opened) to the ONNX file ``out`` (default:
    beside the checkpoint, ``runs/NAME/best.onnx``, the file sorting and evaluation with ``--backend onnx/auto``
    use), checked against PyTorch on ``images`` (default: the run's validation images) on ``device`` (default:
    ``cfg.eval.device``). An existing file that matches the checkpoint is kept; another is replaced only with
    ``overwrite``."""
    device = device or cfg.eval.device
    if str(device).split(":", 1)[0].lower() not in DEVICES:
        raise ExportError(f"--device: unknown device {device!r} (choose from: {', '.join(DEVICES)})")
    checkpoint = Checkpoint.of(ckpt if isinstance(ckpt, Checkpoint) else resolve_path(ckpt))
    return export_onnx(checkpoint, resolve_path(out) if out else None, images=images, overwrite=overwrite,
                       opset=opset, atol=atol, device=device)
