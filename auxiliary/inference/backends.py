"""PyTorch or ONNX Runtime: timing both, choosing the faster once per checkpoint and machine, and loading a predictor on either.

Both run on the device of the one device rule (:func:`auxiliary.base.devices.resolve_device`): PyTorch on the
GPU when there is one, ONNX Runtime on its CUDA provider when it has one (``onnxruntime-gpu``), else on
the CPU with a one-line note (:func:`auxiliary.models.onnx_model.onnx_session`).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auxiliary.base.devices import device_label, module_device, resolve_device
from auxiliary.base.files import write_json_atomic
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.models.export import ensure_onnx
from auxiliary.models.onnx_model import ExportError, onnx_logits, onnx_session, session_device

#: Batch size at which ``backend="auto"`` times both backends.
AUTO_BATCH = 16


# ---------------------------------------------------------------------------------- speed
def measure(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1, min_time: float = 0.05) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` timed repeats after ``warmup`` calls.

    Each repeat calls ``fn`` until at least ``min_time`` seconds have passed and divides,
    so that fast calls (batch 1) are not dominated by timer resolution.
    """
    for _ in range(max(0, warmup)):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_time:
                break
        times.append(dt / n)
    return float(statistics.median(times))


def speed(
    logits_fn: Callable[[np.ndarray], Any], img_size: int, batch: int, repeats: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Milliseconds per image and images per second of ``logits_fn`` on a random batch."""
    x = np.random.default_rng(0).standard_normal((batch, 3, img_size, img_size)).astype(np.float32)
    sec = measure(lambda: logits_fn(x), repeats=repeats, warmup=warmup)
    return {"ms_per_image": 1000.0 * sec / batch, "images_per_s": batch / sec}


def torch_logits_fn(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """PyTorch eager inference on a numpy batch, on the model's device (what
    :class:`auxiliary.inference.predictor.Predictor` does; the copy back to the CPU waits for a GPU)."""
    model.eval()
    device = module_device(model)

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(batch).to(device)).float().cpu().numpy()

    return run


def onnx_logits_fn(sess: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda batch: onnx_logits(sess, batch)


_BACKEND_CACHE: dict[tuple, dict[str, Any]] = {}


def choose_backend(
    model: Any, sess: Any, sha: str, onnx_path: str | Path, img_size: int, batch: int = AUTO_BATCH,
    repeats: int = 3,
) -> dict[str, Any]:
    """Time PyTorch and ONNX Runtime once for the checkpoint of SHA-256 ``sha`` and keep the faster.

    The decision is cached in memory and in ``<onnx>.backend.json`` (keyed by the checkpoint's
    SHA-256, image size, batch, thread count and both devices), so it is measured once per machine.
    """
    threads = torch.get_num_threads()
    devices = f"torch {device_label(module_device(model))}, onnx {session_device(sess)}"
    key = (sha, int(img_size), int(batch), threads, devices)
    if key in _BACKEND_CACHE:
        return _BACKEND_CACHE[key]
    cache_file = Path(onnx_path).with_suffix(".backend.json")
    if cache_file.is_file():
        try:
            saved = json.loads(cache_file.read_text(encoding="utf-8"))
            if (saved.get("source_sha256"), saved.get("img_size"), saved.get("batch"), saved.get("threads"),
                    saved.get("devices")) == key:
                _BACKEND_CACHE[key] = saved
                return saved
        except (ValueError, OSError):
            pass
    t_torch = speed(torch_logits_fn(model), img_size, batch, repeats=repeats)["ms_per_image"]
    t_onnx = speed(onnx_logits_fn(sess), img_size, batch, repeats=repeats)["ms_per_image"]
    decision = {
        "backend": "onnx" if t_onnx < t_torch else "torch",
        "torch_ms_per_image": t_torch,
        "onnx_ms_per_image": t_onnx,
        "source_sha256": sha,
        "img_size": int(img_size),
        "batch": int(batch),
        "threads": threads,
        "devices": devices,
    }
    _BACKEND_CACHE[key] = decision
    try:
        write_json_atomic(cache_file, decision)
    except OSError:  # read-only folder: the in-memory cache still applies
        pass
    return decision


def load_predictor(
    checkpoint: Checkpoint | str | Path, backend: str = "torch", onnx_path: str | Path | None = None,
    device: str = "auto",
) -> Predictor:
    """A :class:`~auxiliary.inference.predictor.Predictor` for ``checkpoint`` (a :class:`Checkpoint`, or a path
    opened here) on ``backend`` torch, onnx or auto.

    ``onnx``: runs an ONNX file through onnxruntime, used only when it matches the checkpoint
    (:func:`auxiliary.models.export.onnx_mismatch`: recorded source SHA-256, classes, input size
    and normalisation). Without ``onnx_path`` it is the file beside the checkpoint, exported when
    missing and re-exported, with a one-line note, when it does not match; an explicit ``onnx_path``
    that does not match is never replaced: an :class:`ExportError` in one line.
    ``auto``: whichever of PyTorch and ONNX Runtime is faster here (measured once, cached); when no
    matching ONNX file can be had, PyTorch, with a one-line note saying why.
    ``device``: the one device rule (``auto``: CUDA, then MPS, then the CPU) for both backends.
    """
    backend = str(backend).lower()
    if backend not in ("torch", "onnx", "auto"):
        raise ExportError(f"unknown inference backend {backend!r} (choose torch, onnx or auto)")
    ckpt = Checkpoint.of(checkpoint)
    device = resolve_device(device)
    model = ckpt.model(device)
    if backend == "torch":
        return Predictor(model, ckpt.info, ckpt.task, device=device)
    info = dict(ckpt.info)
    try:
        path = ensure_onnx(ckpt, onnx_path, device=device)
        sess = onnx_session(path, device=device)
        width = sess.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != len(ckpt.classes):  # belt and braces: the graph itself
            raise ExportError(f"{path} gives {width} class scores, the checkpoint has {len(ckpt.classes)} classes")
    except (ExportError, OSError) as exc:
        reason = f"cannot write the ONNX file for {ckpt.path}: {exc}" if isinstance(exc, OSError) else str(exc)
        if backend == "onnx":
            raise ExportError(reason) from None
        print(f"note: not using ONNX Runtime ({reason}); using PyTorch", flush=True)
        info["backend_choice"] = {"backend": "torch", "reason": reason}
        return Predictor(model, info, ckpt.task, device=device)
    info["onnx_path"] = str(path)
    if backend == "auto":
        info["backend_choice"] = choose_backend(model, sess, ckpt.sha256, path, int(info["img_size"]))
    if backend == "onnx" or info["backend_choice"]["backend"] == "onnx":
        return Predictor(sess, info, ckpt.task, backend="onnx", device=session_device(sess))
    return Predictor(model, info, ckpt.task, device=device)
