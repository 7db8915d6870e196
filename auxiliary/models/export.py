"""ONNX export of a checkpoint with a parity check against PyTorch on real images.

:func:`export_onnx` (``python -m auxiliary export --ckpt runs/NAME/best.pt``, by default to
``runs/NAME/best.onnx`` beside the checkpoint; see :mod:`auxiliary.steps.export`) writes an
ONNX graph with a dynamic batch axis and the checkpoint's classes, preprocessing (its
:class:`~auxiliary.models.preprocess.Preprocessing` spec: resize, crop, interpolation, mean/std) and temperature
in its metadata (the file format and ONNX Runtime sessions are :mod:`auxiliary.models.onnx_model`), and what
the checkpoint's task records (:meth:`auxiliary.tasks.task.Task.onnx_metadata`: a multi-label checkpoint's task,
per-label temperatures and thresholds).

Before the file is moved into place, the ONNX Runtime probabilities are compared with
PyTorch's on real images (the run's validation images by default, or ``--images``), both fed by
:func:`~auxiliary.models.preprocess.preprocess` with the checkpoint's spec; if the
largest absolute difference exceeds ``1e-4`` (the probabilities of the checkpoint's task: a softmax, or
per-label sigmoids) the export fails with :class:`OnnxParityError`
and no file is left behind. The graph is traced on the CPU; the check runs on the device of the one
device rule (PyTorch on the GPU in float32 without TF32, ONNX Runtime on its CUDA provider when it has one).

An exported file stands in for its checkpoint only when :func:`onnx_mismatch` finds nothing: its
metadata records the checkpoint's SHA-256, classes, input size, normalisation and preprocessing, and its task's
entries.
Every function here takes the :class:`~auxiliary.models.checkpoint.Checkpoint` opened once (a path is opened
where it is given), so that the checkpoint is read and hashed once per export. :func:`ensure_onnx`
exports beside the checkpoint when the file there is missing or does not match (with a one-line note).

A predictor on ONNX Runtime (``backend="onnx"`` or ``"auto"``, which times both backends once on
this machine and keeps the faster) is :func:`auxiliary.inference.backends.load_predictor`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from auxiliary.base.devices import module_device, resolve_device
from auxiliary.base.files import atomic_write, read_csv
from auxiliary.base.images import IMAGE_EXTENSIONS, ImageReadError, read_image
from auxiliary.data.readers import read_table
from auxiliary.evaluation.calibration import softmax
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.models.onnx_model import (
    DEFAULT_OPSET,
    ExportError,
    default_onnx_path,
    export_model,
    onnx_logits,
    onnx_metadata,
    onnx_session,
)
from auxiliary.models.preprocess import Preprocessing, preprocess
from auxiliary.tasks import task_named

#: Largest allowed absolute difference between PyTorch and ONNX Runtime probabilities.
PARITY_ATOL = 1e-4


#: Images used for the parity check.
PARITY_IMAGES = 8


class OnnxParityError(ExportError):
    """ONNX Runtime's probabilities differ from PyTorch's by more than the tolerance."""


# ---------------------------------------------------------------------------------- parity
def _read_paths(paths: Sequence[str | Path], n: int) -> list[np.ndarray]:
    out = []
    for p in paths:
        try:
            out.append(read_image(p))
        except ImageReadError:
            continue
        if len(out) >= n:
            break
    return out


def _spread(items: Sequence[Any], n: int) -> list[Any]:
    """Up to ``n`` items spread evenly over ``items`` (covers every class of a sorted table)."""
    if len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in idx]


def _table_paths(csv_path: Path) -> list[str]:
    try:
        return [str(p) for p in read_table(csv_path)["path"]]
    except (ImportError, AttributeError):  # pragma: no cover - data module not available
        pass
    except Exception:  # noqa: BLE001 - not a split table: fall back to a plain CSV with a path column
        pass
    df = read_csv(csv_path)  # a run's val_predictions.csv: its cells as they were before write_csv_atomic
    if "path" not in df.columns:
        raise ExportError(f"{csv_path} has no 'path' column")
    return [str(p if Path(p).is_absolute() else (csv_path.parent / p)) for p in df["path"].astype(str)]


def parity_images(
    ckpt: str | Path | None = None, images: Any = None, n: int = PARITY_IMAGES
) -> tuple[list[np.ndarray], str]:
    """Real RGB images for the parity check and a description of where they came from.

    ``images``: a list of RGB arrays or paths, a folder of images, or a CSV with a ``path`` column.
    Default: the run's ``val_predictions.csv`` beside the checkpoint file ``ckpt``. Only when no real image can be
    found are ``n`` deterministic generated images used (and the source says so).
    """
    if images is not None and not isinstance(images, (str, Path)):
        items = list(images)
        arrays = [np.asarray(i) for i in items if isinstance(i, np.ndarray)]
        paths = [i for i in items if isinstance(i, (str, Path))]
        arrays += _read_paths(_spread(paths, n), n)
        if not arrays:
            raise ExportError("no readable image among the parity images given")
        return arrays[:n], f"{len(arrays[:n])} given images"
    if images is not None:
        src = Path(images)
        if src.is_dir():
            files = sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        elif src.is_file() and src.suffix.lower() == ".csv":
            files = _table_paths(src)
        else:
            raise ExportError(f"parity images: {src} is neither a folder of images nor a CSV with a path column")
        arrays = _read_paths(_spread(files, 4 * n), n)
        if not arrays:
            raise ExportError(f"no readable image found in {src} for the parity check")
        return arrays, f"{len(arrays)} images from {src}"
    if ckpt is not None:
        val = Path(ckpt).parent / "val_predictions.csv"
        if val.is_file():
            try:
                arrays = _read_paths(_spread(_table_paths(val), 4 * n), n)
            except Exception:  # noqa: BLE001 - unreadable predictions file: use generated images
                arrays = []
            if arrays:
                return arrays, f"{len(arrays)} validation images from {val}"
    rng = np.random.default_rng(0)
    arrays = []
    for _ in range(n):  # smooth colour fields with blobs: image-like statistics, not white noise
        low = rng.uniform(60, 220, size=(6, 6, 3)).astype(np.float32)

        img = cv2.resize(low, (96, 96), interpolation=cv2.INTER_CUBIC)
        img += rng.normal(0, 8, size=img.shape).astype(np.float32)
        arrays.append(np.clip(img, 0, 255).astype(np.uint8))
    return arrays, f"{n} generated images (no real image found beside the checkpoint)"


def check_parity(
    model: Any,
    onnx_path: str | Path,
    images: Sequence[np.ndarray],
    *,
    preprocessing: Preprocessing,
    probabilities: Callable[[np.ndarray], np.ndarray] = softmax,
    atol: float = PARITY_ATOL,
    sess: Any = None,
) -> float:
    """Largest absolute difference of ``probabilities(logits)``, PyTorch vs ONNX Runtime, on ``images`` (an
    export passes its checkpoint's task's calibrated probabilities; a plain softmax by default), both fed the
    ``images`` as ``preprocessing`` makes them (the checkpoint's spec: the one path of every prediction).

    Runs the whole batch and a batch of one (the batch axis must be dynamic). Raises
    :class:`OnnxParityError` when the difference exceeds ``atol``.
    """

    if len(images) == 0:
        raise ExportError("parity check needs at least one image")
    batch = np.stack([preprocess(im, preprocessing) for im in images]).astype(np.float32)
    model.eval()
    device = module_device(model)
    with torch.inference_mode(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # true float32
        ref = model(torch.from_numpy(batch).to(device)).float().cpu().numpy()
    sess = sess or onnx_session(onnx_path, device=str(device))
    try:
        got = onnx_logits(sess, batch)
        got_one = onnx_logits(sess, batch[:1])
    except Exception as exc:  # noqa: BLE001
        raise OnnxParityError(f"{onnx_path}: ONNX Runtime failed on real inputs: {str(exc).splitlines()[0][:200]}") from None
    if got.shape != ref.shape:
        raise OnnxParityError(f"{onnx_path}: ONNX output shape {got.shape} differs from PyTorch's {ref.shape}")

    def probs(logits: np.ndarray) -> np.ndarray:
        return probabilities(np.asarray(logits, dtype=np.float64))

    p_ref = probs(ref)
    diff = max(float(np.max(np.abs(p_ref - probs(got)))), float(np.max(np.abs(p_ref[:1] - probs(got_one)))))
    if not np.isfinite(diff) or diff > atol:
        raise OnnxParityError(
            f"ONNX parity check failed for {onnx_path}: max |p_torch - p_onnx| = {diff:.3g} > {atol:g} "
            f"on {len(images)} images; the ONNX file does not reproduce the PyTorch model"
        )
    return diff


@dataclass
class ExportResult:
    """What :func:`export_onnx` did."""

    path: Path
    max_abs_diff: float | None
    parity_source: str
    reused: bool = False
    seconds: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    def __str__(self) -> str:
        if self.reused:
            return f"{self.path} is up to date (exported from the same checkpoint)"
        return (f"wrote {self.path} ({self.path.stat().st_size / 1e6:.1f} MB) in {self.seconds:.1f} s; parity on "
                f"{self.parity_source} ({self.device}): max |p_torch - p_onnx| = {self.max_abs_diff:.2e}")


def _same_floats(a: Any, b: Sequence[float]) -> bool:
    try:
        return len(a) == len(b) and bool(np.allclose([float(v) for v in a], [float(v) for v in b], rtol=1e-6, atol=1e-9))
    except (TypeError, ValueError):
        return False


def _same_entry(recorded: Any, wanted: Any) -> bool:
    """Whether a decoded metadata entry records ``wanted`` (numbers within float precision, the rest as JSON)."""
    wanted = json.loads(json.dumps(wanted))
    if isinstance(wanted, list) and all(isinstance(v, (int, float)) for v in wanted):
        return _same_floats(recorded, wanted)
    return recorded == wanted


def onnx_mismatch(onnx_path: str | Path, checkpoint: Checkpoint | str | Path) -> str | None:
    """Why the ONNX file ``onnx_path`` may not stand in for ``checkpoint``; None when it may.

    The one rule for reusing an exported model: its metadata records the SHA-256 of the checkpoint file
    itself (it was exported from this very file), the checkpoint's classes, input size (``img_size``),
    normalisation (``mean``, ``std``) and resize and crop (``preprocessing``; a file that records none was exported
    with the square area resize), and what its task records (:meth:`~auxiliary.tasks.task.Task.onnx_metadata`:
    the task, a multi-label model's temperatures and thresholds). A file without that metadata (exported
    elsewhere, or edited) never matches.
    """
    path = Path(onnx_path)
    if not path.exists():
        return "it does not exist"
    if not path.is_file():
        return "it is not a file"
    try:
        meta = onnx_metadata(path)
    except ExportError as exc:
        return f"it cannot be read ({exc})"
    ckpt = Checkpoint.of(checkpoint)
    info = ckpt.info
    if not any(k in meta for k in ("classes", "img_size", "source_sha256")):
        return "it carries no metadata of this package (classes, input size, source checkpoint)"
    why = []
    theirs = str(meta.get("task") or task_named(None).name)
    if theirs != ckpt.task.name:
        why.append(f"it records the task {theirs!r}, the checkpoint is {ckpt.task.name!r}")
    else:
        for key, want in ckpt.task.onnx_metadata(info, ckpt.classes).items():
            if key != "output" and not _same_entry(meta.get(key), want):
                why.append(f"its {key} {meta.get(key)} differ from the checkpoint's {want}")
    if meta.get("classes") is None:
        why.append("it records no classes")
    elif list(meta["classes"]) != list(info["classes"]):
        why.append(f"its classes {list(meta['classes'])} differ from the checkpoint's {list(info['classes'])}")
    if meta.get("img_size") is None:
        why.append("it records no input size")
    elif int(meta["img_size"]) != int(info["img_size"]):
        why.append(f"its input size {meta['img_size']} differs from the checkpoint's {info['img_size']}")
    if not (_same_floats(meta.get("mean"), info["mean"]) and _same_floats(meta.get("std"), info["std"])):
        why.append(f"its normalisation (mean {meta.get('mean')}, std {meta.get('std')}) differs from the "
                   f"checkpoint's (mean {list(info['mean'])}, std {list(info['std'])})")
    try:
        theirs_spec = Preprocessing.of(meta).geometry() if meta.get("img_size") is not None else None
    except (ValueError, KeyError, TypeError):
        theirs_spec = "unreadable"
    if theirs_spec is not None and theirs_spec != ckpt.preprocessing.geometry():
        why.append(f"its preprocessing {theirs_spec} differs from the checkpoint's {ckpt.preprocessing.geometry()}")
    recorded = meta.get("source_sha256")
    if not recorded:
        why.append("it records no source checkpoint")
    elif recorded != ckpt.sha256:
        why.append(f"it was exported from another checkpoint ({meta.get('source_checkpoint') or 'unknown'})")
    return "; ".join(why) or None


def export_onnx(
    checkpoint: Checkpoint | str | Path,
    out: str | Path | None = None,
    *,
    images: Any = None,
    overwrite: bool = False,
    opset: int = DEFAULT_OPSET,
    atol: float = PARITY_ATOL,
    n_parity: int = PARITY_IMAGES,
    device: str = "auto",
) -> ExportResult:
    """Export ``checkpoint`` (a :class:`Checkpoint`, or a path opened here) to ``out`` (default beside it:
    ``runs/NAME/best.onnx``) and check parity.

    An existing ``out`` that matches the checkpoint (:func:`onnx_mismatch`) is kept as is; any other
    file is only replaced with ``overwrite=True``. The file is written under a temporary name and
    moved into place only after the parity check passed.
    """
    ckpt = Checkpoint.of(checkpoint)
    out = Path(out) if out is not None else default_onnx_path(ckpt.path)
    if out.suffix.lower() != ".onnx":
        raise ExportError(f"--out must end in .onnx, got {out}")
    device = resolve_device(device)
    if out.exists():
        if out.is_dir():
            raise ExportError(f"--out {out} is a folder; name an .onnx file")
        why = onnx_mismatch(out, ckpt)
        if why is None and not overwrite:
            return ExportResult(out, None, "", reused=True, metadata=onnx_metadata(out))
        if why is not None and not overwrite:
            raise ExportError(f"{out} exists and was not exported from {ckpt.path} ({why}); pass --overwrite "
                              f"(overwrite=True) to replace it")
    t0 = time.perf_counter()
    info = ckpt.info
    spec = ckpt.preprocessing
    model = ckpt.model()  # traced on the CPU
    arrays, source = parity_images(ckpt.path, images, n=n_parity)  # before anything is made: a refusal leaves none
    with atomic_write(out) as tmp:  # only a file that passed the parity check replaces ``out``
        export_model(
            model, tmp, img_size=spec.img_size, classes=info["classes"], mean=spec.mean, std=spec.std,
            temperature=float(info.get("temperature", 1.0)), model_name=info["model_name"], opset=opset,
            metadata={**ckpt.task.onnx_metadata(info, ckpt.classes), "preprocessing": spec.entry(),
                      "resize": spec.describe(), "source_checkpoint": str(ckpt.path), "source_sha256": ckpt.sha256},
        )
        model.to(device)  # checked on the device
        try:
            diff = check_parity(model, tmp, arrays, preprocessing=spec,
                                probabilities=lambda z: ckpt.task.probabilities(z, info), atol=atol)
        except OnnxParityError as exc:  # named after the file asked for, not the temporary one (removed)
            raise OnnxParityError(str(exc).replace(str(tmp), str(out), 1)) from None
    return ExportResult(out, diff, source, seconds=time.perf_counter() - t0, metadata=onnx_metadata(out),
                        device=device)


def ensure_onnx(checkpoint: Checkpoint | str | Path, onnx_path: str | Path | None = None, *,
                replace_stale: bool | None = None, device: str = "auto") -> Path:
    """An ONNX file of ``checkpoint`` that matches it (:func:`onnx_mismatch`), at ``onnx_path`` (default: beside
    the checkpoint, ``runs/NAME/best.onnx``), exported when missing.

    A file there that does not match is re-exported, with a one-line note, when ``replace_stale``
    (default: only the file beside the checkpoint, which this package manages); otherwise it is an
    :class:`ExportError` saying why, and the file is left alone.
    """
    ckpt = Checkpoint.of(checkpoint)
    path = Path(onnx_path) if onnx_path else default_onnx_path(ckpt.path)
    if replace_stale is None:
        replace_stale = onnx_path is None
    if path.exists():
        why = onnx_mismatch(path, ckpt)
        if why is None:
            return path
        if not replace_stale or not path.is_file():
            raise ExportError(f"{path} does not match {ckpt.path}: {why}; re-export it with `python -m auxiliary "
                              f"export --ckpt {ckpt.path} --out {path} --overwrite`")
        print(f"note: {path} does not match {ckpt.path} ({why}); re-exporting it", flush=True)
    return export_onnx(ckpt, path, overwrite=True, device=device).path
