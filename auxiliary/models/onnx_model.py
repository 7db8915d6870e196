"""ONNX files: exporting a checkpoint's model with its metadata, reading the metadata back, ONNX Runtime sessions and logits.

The graph has a dynamic batch axis (input ``image``: float32 ``(N, 3, S, S)``, normalised RGB;
output ``logits``: ``(N, C)``). Everything needed to use it without this package is stored in
the file's metadata (``metadata_props``, decoded by :func:`onnx_metadata`): ``classes`` (JSON
list), ``img_size``, ``mean`` and ``std`` (JSON lists), ``temperature`` (probabilities are
``softmax(logits / temperature)``), ``model_name``, ``resize`` (in words) and ``preprocessing`` (JSON: the
checkpoint's spec, resize, ``crop_pct``, interpolation, mean/std, :class:`~auxiliary.models.preprocess.Preprocessing`;
absent from files exported before specs existed, which mean the square area resize) and the SHA-256 of the source
checkpoint; and whatever the checkpoint's task records
(:meth:`auxiliary.tasks.task.Task.onnx_metadata`: a multi-label model's ``task``, ``temperatures``, one per label,
for ``sigmoid(logits[:, j] / temperatures[j])``, and ``thresholds``), passed in as ``metadata``.
The export with a parity check is :mod:`auxiliary.models.export`.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from auxiliary.base.errors import AuxiliaryError

#: Names of the graph's input and output.
INPUT_NAME = "image"


OUTPUT_NAME = "logits"


#: Default opset (supported by the legacy TorchScript exporter and onnxruntime >= 1.14).
DEFAULT_OPSET = 17


class ExportError(AuxiliaryError, RuntimeError):
    """The model cannot be exported, or an ONNX file is missing, unreadable or does not match."""


def default_onnx_path(ckpt: str | Path) -> Path:
    """The ONNX file of a checkpoint, beside it (``runs/NAME/best.pt`` -> ``runs/NAME/best.onnx``): where
    ``load_predictor(..., backend="onnx"/"auto")``, ``export`` and ``compare`` keep it by default."""
    return Path(ckpt).with_suffix(".onnx")


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
    """Export an in-memory PyTorch classifier to ``out`` (no parity check; see :func:`auxiliary.models.export.export_onnx`).

    The batch axis is dynamic; preprocessing and class names go into the metadata, and ``metadata`` on top
    (strings as they are, anything else as JSON): the source checkpoint and what its task records.
    """
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


def onnx_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of an exported file, decoded (classes/mean/std lists, img_size int, temperature float)."""
    p = Path(path)
    if not p.is_file():
        raise ExportError(f"ONNX file not found: {p}")
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"cannot read ONNX file {p}: {str(exc).splitlines()[0][:200]}") from None
    raw = {prop.key: prop.value for prop in proto.metadata_props}
    out: dict[str, Any] = dict(raw)
    for key in ("classes", "mean", "std", "temperatures", "thresholds", "preprocessing"):
        if key in raw:
            out[key] = json.loads(raw[key])
    if "img_size" in raw:
        out["img_size"] = int(raw["img_size"])
    if "temperature" in raw:
        out["temperature"] = float(raw["temperature"])
    return out


#: Devices already told (once per process) that ONNX Runtime runs on the CPU there.
_NOTED: set[str] = set()


def onnx_session(path: str | Path, threads: int | None = None, device: str = "cpu") -> Any:
    """An onnxruntime InferenceSession on ``device`` (a name :func:`auxiliary.base.devices.resolve_device` gave):
    the CUDA provider for ``cuda`` when ONNX Runtime has it (``onnxruntime-gpu``), else the CPU, saying so in
    one ``note:`` line (once per device and process). ``threads`` (CPU) defaults to torch's intra-op count.
    ``session_device(sess)`` tells which provider runs it."""
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise ExportError(f"ONNX file not found: {p}")
    kind, _, index = str(device).partition(":")
    providers: list[Any] = ["CPUExecutionProvider"]
    why = ""
    if kind == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(index or torch.cuda.current_device())}))
    elif kind in ("cuda", "mps"):
        why = ("this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)" if kind == "cuda"
               else "ONNX Runtime has no MPS provider")
    opts = ort.SessionOptions()
    if threads is None:
        threads = torch.get_num_threads()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(p), sess_options=opts, providers=providers)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"onnxruntime cannot load {p}: {str(exc).splitlines()[0][:200]}") from None
    if len(providers) > 1 and session_device(sess) != "CUDAExecutionProvider":
        why = "its CUDA provider could not start (CUDA or cuDNN libraries missing?)"
    if why and kind not in _NOTED:
        _NOTED.add(kind)
        print(f"note: ONNX Runtime runs on the CPU, not on {device}: {why}", flush=True)
    return sess


def session_device(sess: Any) -> str:
    """The execution provider that runs ``sess`` first (``CUDAExecutionProvider``, ``CPUExecutionProvider``)."""
    return str(sess.get_providers()[0])


def onnx_logits(sess: Any, batch: np.ndarray) -> np.ndarray:
    """Run a session on a preprocessed float32 batch (N, 3, S, S)."""
    name = sess.get_inputs()[0].name
    return np.asarray(sess.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})[0])
