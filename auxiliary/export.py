"""ONNX export with a parity check, ONNX Runtime inference, and the torch/onnx backend choice.

``python -m auxiliary export --ckpt runs/NAME/best.pt --out models/NAME.onnx`` writes an ONNX
graph with a dynamic batch axis (input ``image``: float32 ``(N, 3, S, S)``, normalised RGB;
output ``logits``: ``(N, C)``). Everything needed to use it without this package is stored in
the file's metadata (``metadata_props``): ``classes`` (JSON list), ``img_size``, ``mean`` and
``std`` (JSON lists), ``temperature`` (probabilities are ``softmax(logits / temperature)``),
``model_name``, ``resize`` and the SHA-256 of the source checkpoint.

Before the file is moved into place, the ONNX Runtime probabilities are compared with
PyTorch's on real images (the run's validation images by default, or ``--images``); if the
largest absolute difference exceeds ``1e-4`` the export fails with :class:`OnnxParityError`
and no file is left behind.

:func:`predictor_with_backend` is what :meth:`auxiliary.infer.Predictor.from_checkpoint` calls
for ``backend="onnx"`` or ``"auto"``; ``auto`` times both backends once on this machine and
keeps the faster (the decision is cached in memory and beside the ONNX file).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AuxiliaryError
from .imageio import sha256_file

#: Names of the graph's input and output.
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
#: Default opset (supported by the legacy TorchScript exporter and onnxruntime >= 1.14).
DEFAULT_OPSET = 17
#: Largest allowed absolute difference between PyTorch and ONNX Runtime probabilities.
PARITY_ATOL = 1e-4
#: Images used for the parity check.
PARITY_IMAGES = 8
#: Batch size at which ``backend="auto"`` times both backends.
AUTO_BATCH = 16


class ExportError(AuxiliaryError, RuntimeError):
    """The model cannot be exported, or an ONNX file is missing, unreadable or does not match."""


class OnnxParityError(ExportError):
    """ONNX Runtime's probabilities differ from PyTorch's by more than the tolerance."""


# ---------------------------------------------------------------------------------- helpers


def default_onnx_path(ckpt: str | Path) -> Path:
    """Where ``Predictor.from_checkpoint(..., backend="onnx")`` keeps its ONNX file: beside the checkpoint."""
    return Path(ckpt).with_suffix(".onnx")


def _probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    from .calibration import softmax

    return softmax(np.asarray(logits, dtype=np.float64), temperature)


# ---------------------------------------------------------------------------------- export
def export_model(
    model: Any,
    out: str | Path,
    *,
    img_size: int,
    classes: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    temperature: float = 1.0,
    model_name: str = "model",
    metadata: dict[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export an in-memory PyTorch classifier to ``out`` (no parity check; see :func:`export_onnx`).

    The batch axis is dynamic; preprocessing and class names go into the metadata.
    """
    import onnx
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    dummy = torch.zeros(2, 3, int(img_size), int(img_size), dtype=torch.float32)
    try:
        dummy = dummy.to(next(model.parameters()).device)
    except StopIteration:  # pragma: no cover - parameter-free model
        pass
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer warnings
            with torch.no_grad():
                torch.onnx.export(
                    model,
                    (dummy,),
                    buf,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    opset_version=int(opset),
                    do_constant_folding=True,
                    dynamo=False,
                )
    except Exception as exc:  # noqa: BLE001 - any exporter failure becomes one line
        msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"cannot export {model_name} to ONNX (opset {opset}): {msg}") from None
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buf.getvalue())
    props = {
        "classes": json.dumps(list(classes)),
        "img_size": str(int(img_size)),
        "mean": json.dumps([float(v) for v in mean]),
        "std": json.dumps([float(v) for v in std]),
        "temperature": repr(float(temperature)),
        "model_name": str(model_name),
        "input": f"{INPUT_NAME}: float32 (N, 3, {int(img_size)}, {int(img_size)}) RGB, x/255 then (x-mean)/std",
        "resize": "cv2.INTER_AREA to img_size x img_size",
        "output": f"{OUTPUT_NAME}: float32 (N, {len(classes)}); probabilities = softmax(logits / temperature)",
        "producer": "auxiliary.export",
    }
    for k, v in (metadata or {}).items():
        props[str(k)] = v if isinstance(v, str) else json.dumps(v)
    onnx.helper.set_model_props(proto, props)
    proto.doc_string = f"{model_name} skin-condition classifier ({', '.join(classes)})"
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:  # pragma: no cover - exporter produced an invalid graph
        raise ExportError(f"exported ONNX graph of {model_name} is invalid: {str(exc).splitlines()[0]}") from None
    onnx.save(proto, str(out))
    return out


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of an exported file, decoded (classes/mean/std lists, img_size int, temperature float)."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise ExportError(f"ONNX file not found: {p}")
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"cannot read ONNX file {p}: {str(exc).splitlines()[0][:200]}") from None
    raw = {prop.key: prop.value for prop in proto.metadata_props}
    out: dict[str, Any] = dict(raw)
    for key in ("classes", "mean", "std"):
        if key in raw:
            out[key] = json.loads(raw[key])
    if "img_size" in raw:
        out["img_size"] = int(raw["img_size"])
    if "temperature" in raw:
        out["temperature"] = float(raw["temperature"])
    return out


def session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU InferenceSession (``threads`` defaults to torch's intra-op thread count)."""
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise ExportError(f"ONNX file not found: {p}")
    opts = ort.SessionOptions()
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"onnxruntime cannot load {p}: {str(exc).splitlines()[0][:200]}") from None


def onnx_logits(sess: Any, batch: np.ndarray) -> np.ndarray:
    """Run a session on a preprocessed float32 batch (N, 3, S, S)."""
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})[0])


# ---------------------------------------------------------------------------------- parity
def _read_paths(paths: Sequence[str | Path], n: int) -> list[np.ndarray]:
    from .imageio import ImageReadError, read_image

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
    import pandas as pd

    try:
        from . import data

        return [str(p) for p in data.read_table(csv_path)["path"]]
    except (ImportError, AttributeError):  # pragma: no cover - data module not available
        pass
    except Exception:  # noqa: BLE001 - not a split table: fall back to a plain CSV with a path column
        pass
    df = pd.read_csv(csv_path)
    if "path" not in df.columns:
        raise ExportError(f"{csv_path} has no 'path' column")
    return [str(p if Path(p).is_absolute() else (csv_path.parent / p)) for p in df["path"].astype(str)]


def parity_images(
    ckpt: str | Path | None = None, images: Any = None, n: int = PARITY_IMAGES
) -> tuple[list[np.ndarray], str]:
    """Real RGB images for the parity check and a description of where they came from.

    ``images``: a list of RGB arrays or paths, a folder of images, or a CSV with a ``path`` column.
    Default: the run's ``val_predictions.csv`` beside ``ckpt``. Only when no real image can be
    found are ``n`` deterministic generated images used (and the source says so).
    """
    from .imageio import IMAGE_EXTENSIONS

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
        import cv2

        img = cv2.resize(low, (96, 96), interpolation=cv2.INTER_CUBIC)
        img += rng.normal(0, 8, size=img.shape).astype(np.float32)
        arrays.append(np.clip(img, 0, 255).astype(np.uint8))
    return arrays, f"{n} generated images (no real image found beside the checkpoint)"


def check_parity(
    model: Any,
    onnx_path: str | Path,
    images: Sequence[np.ndarray],
    *,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    temperature: float = 1.0,
    atol: float = PARITY_ATOL,
    sess: Any = None,
) -> float:
    """Largest absolute difference of probabilities, PyTorch vs ONNX Runtime, on ``images``.

    Runs the whole batch and a batch of one (the batch axis must be dynamic). Raises
    :class:`OnnxParityError` when the difference exceeds ``atol``.
    """
    import torch

    from .infer import preprocess

    if len(images) == 0:
        raise ExportError("parity check needs at least one image")
    batch = np.stack([preprocess(im, img_size, mean, std) for im in images]).astype(np.float32)
    model.eval()
    with torch.inference_mode():
        try:
            device = next(model.parameters()).device
        except StopIteration:  # pragma: no cover
            device = torch.device("cpu")
        ref = model(torch.from_numpy(batch).to(device)).float().cpu().numpy()
    sess = sess or session(onnx_path)
    try:
        got = onnx_logits(sess, batch)
        got_one = onnx_logits(sess, batch[:1])
    except Exception as exc:  # noqa: BLE001
        raise OnnxParityError(f"{onnx_path}: ONNX Runtime failed on real inputs: {str(exc).splitlines()[0][:200]}") from None
    if got.shape != ref.shape:
        raise OnnxParityError(f"{onnx_path}: ONNX output shape {got.shape} differs from PyTorch's {ref.shape}")
    p_ref = _probs(ref, temperature)
    diff = max(float(np.max(np.abs(p_ref - _probs(got, temperature)))),
               float(np.max(np.abs(p_ref[:1] - _probs(got_one, temperature)))))
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

    def __str__(self) -> str:
        if self.reused:
            return f"{self.path} is up to date (exported from the same checkpoint)"
        return (f"wrote {self.path} ({self.path.stat().st_size / 1e6:.1f} MB) in {self.seconds:.1f} s; parity on "
                f"{self.parity_source}: max |p_torch - p_onnx| = {self.max_abs_diff:.2e}")


def export_onnx(
    ckpt: str | Path,
    out: str | Path | None = None,
    *,
    images: Any = None,
    overwrite: bool = False,
    opset: int = DEFAULT_OPSET,
    atol: float = PARITY_ATOL,
    n_parity: int = PARITY_IMAGES,
) -> ExportResult:
    """Export checkpoint ``ckpt`` to ``out`` (default ``models/<run>.onnx``) and check parity.

    An existing ``out`` exported from the same checkpoint (same SHA-256) is kept as is; one
    exported from another checkpoint is only replaced with ``overwrite=True``. The file is
    written under a temporary name and moved into place only after the parity check passed.
    """
    from . import paths
    from .models import load_checkpoint

    ckpt = Path(ckpt)
    if out is None:
        out = paths.models_dir() / f"{ckpt.parent.name or ckpt.stem}.onnx"
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ExportError(f"--out must end in .onnx, got {out}")
    model, info = load_checkpoint(ckpt)
    sha = sha256_file(ckpt)
    if out.exists():
        meta = read_metadata(out) if out.is_file() else {}
        if meta.get("source_sha256") == sha and not overwrite:
            return ExportResult(out, None, "", reused=True, metadata=meta)
        if not overwrite:
            raise ExportError(
                f"{out} exists and was not exported from {ckpt}; pass --overwrite (overwrite=True) to replace it"
            )
    t0 = time.perf_counter()
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.onnx")
    temperature = float(info.get("temperature", 1.0))
    try:
        export_model(
            model, tmp, img_size=info["img_size"], classes=info["classes"], mean=info["mean"], std=info["std"],
            temperature=temperature, model_name=info["model_name"], opset=opset,
            metadata={"source_checkpoint": str(ckpt), "source_sha256": sha},
        )
        arrays, source = parity_images(ckpt, images, n=n_parity)
        diff = check_parity(model, tmp, arrays, img_size=info["img_size"], mean=info["mean"], std=info["std"],
                            temperature=temperature, atol=atol)
        tmp.replace(out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return ExportResult(out, diff, source, seconds=time.perf_counter() - t0, metadata=read_metadata(out))


def ensure_onnx(ckpt: str | Path, onnx_path: str | Path | None = None, *, replace_stale: bool | None = None) -> Path:
    """An ONNX file of ``ckpt`` at ``onnx_path`` (default beside the checkpoint), exported when missing.

    A stale file (exported from another checkpoint) beside the checkpoint is re-exported; at an
    explicit path it is an error unless ``replace_stale``.
    """
    ckpt = Path(ckpt)
    path = Path(onnx_path) if onnx_path else default_onnx_path(ckpt)
    if replace_stale is None:
        replace_stale = onnx_path is None
    if path.is_file():
        meta = read_metadata(path)
        if meta.get("source_sha256") in (None, sha256_file(ckpt)):
            return path
        if not replace_stale:
            raise ExportError(f"{path} was exported from another checkpoint than {ckpt}; re-export it with --overwrite")
    return export_onnx(ckpt, path, overwrite=True).path


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
    """PyTorch eager inference on a numpy batch (what :class:`auxiliary.infer.Predictor` does)."""
    import torch

    model.eval()

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(batch)).numpy()

    return run


def onnx_logits_fn(sess: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda batch: onnx_logits(sess, batch)


_BACKEND_CACHE: dict[tuple, dict[str, Any]] = {}


def choose_backend(
    model: Any, sess: Any, ckpt: str | Path, onnx_path: str | Path, img_size: int, batch: int = AUTO_BATCH,
    repeats: int = 3,
) -> dict[str, Any]:
    """Time PyTorch and ONNX Runtime once for this checkpoint and keep the faster.

    The decision is cached in memory and in ``<onnx>.backend.json`` (keyed by the checkpoint's
    SHA-256, image size, batch and thread count), so it is measured once per machine.
    """
    import torch

    threads = torch.get_num_threads()
    sha = sha256_file(ckpt)
    key = (sha, int(img_size), int(batch), threads)
    if key in _BACKEND_CACHE:
        return _BACKEND_CACHE[key]
    cache_file = Path(onnx_path).with_suffix(".backend.json")
    if cache_file.is_file():
        try:
            saved = json.loads(cache_file.read_text(encoding="utf-8"))
            if (saved.get("source_sha256"), saved.get("img_size"), saved.get("batch"), saved.get("threads")) == (
                sha, int(img_size), int(batch), threads
            ):
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
    }
    _BACKEND_CACHE[key] = decision
    try:
        tmp = cache_file.with_name(cache_file.name + ".tmp")
        tmp.write_text(json.dumps(decision, indent=2), encoding="utf-8")
        tmp.replace(cache_file)
    except OSError:  # read-only folder: the in-memory cache still applies
        pass
    return decision


def predictor_with_backend(
    cls: type, model: Any, ckpt: str | Path, backend: str, onnx_path: str | Path | None, kwargs: dict[str, Any]
) -> Any:
    """Build a :class:`auxiliary.infer.Predictor` for ``backend`` onnx or auto (called by ``from_checkpoint``).

    ``onnx``: runs ``onnx_path`` (exported beside the checkpoint when not given) through
    onnxruntime; its metadata must match the checkpoint's classes and preprocessing.
    ``auto``: whichever of PyTorch and ONNX Runtime is faster here (measured once, cached); if
    the model cannot be exported, PyTorch with a warning.
    """
    backend = str(backend).lower()
    if backend == "torch":
        return cls(model, backend="torch", **kwargs)
    if backend not in ("onnx", "auto"):
        raise ExportError(f"unknown inference backend {backend!r} (choose torch, onnx or auto)")
    info = dict(kwargs.get("info") or {})
    try:
        path = ensure_onnx(ckpt, onnx_path)
        sess = session(path)
        meta = read_metadata(path)
    except (ExportError, OSError) as exc:
        if backend == "onnx":
            if isinstance(exc, OSError):
                raise ExportError(f"cannot write the ONNX file for {ckpt}: {exc}") from None
            raise
        warnings.warn(f"ONNX backend unavailable ({exc}); using PyTorch", stacklevel=2)
        info["backend_choice"] = {"backend": "torch", "reason": str(exc)}
        return cls(model, backend="torch", **{**kwargs, "info": info})
    if meta.get("classes") is not None and list(meta["classes"]) != list(kwargs["classes"]):
        raise ExportError(f"{path}: its classes {meta['classes']} differ from the checkpoint's {kwargs['classes']}")
    if meta.get("img_size") is not None and int(meta["img_size"]) != int(kwargs["img_size"]):
        raise ExportError(f"{path}: exported for img_size {meta['img_size']}, checkpoint uses {kwargs['img_size']}")
    info["onnx_path"] = str(path)
    if backend == "onnx":
        return cls(sess, backend="onnx", **{**kwargs, "info": info})
    decision = choose_backend(model, sess, ckpt, path, int(kwargs["img_size"]))
    info["backend_choice"] = decision
    if decision["backend"] == "onnx":
        return cls(sess, backend="onnx", **{**kwargs, "info": info})
    return cls(model, backend="torch", **{**kwargs, "info": info})


# ---------------------------------------------------------------------------------- CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint to export (runs/NAME/best.pt)")
    parser.add_argument("--out", default=None, help="ONNX file to write (default models/<run name>.onnx)")
    parser.add_argument("--images", default=None,
                        help="folder of images or CSV with a path column for the parity check "
                             "(default: the run's val_predictions.csv)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--atol", type=float, default=PARITY_ATOL,
                        help=f"largest allowed probability difference (default {PARITY_ATOL:g})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file exported from another checkpoint")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    from . import paths

    ckpt = paths.resolve_path(args.ckpt)
    out = paths.resolve_path(args.out) if args.out else None
    res = export_onnx(ckpt, out, images=args.images, overwrite=args.overwrite, opset=args.opset, atol=args.atol)
    print(res)
    meta = res.metadata
    print(f"  classes: {meta.get('classes')}; img_size {meta.get('img_size')}; temperature {meta.get('temperature')}")
    print(f"  mean {meta.get('mean')}; std {meta.get('std')}; input {INPUT_NAME!r} (dynamic batch), output {OUTPUT_NAME!r}")
    return 0
