"""Inference on images with a trained checkpoint: the one preprocessing and prediction path.

Evaluation, comparison, sorting and the web demo all go through :class:`Predictor`, so an
image is resized, cropped and normalised exactly as in validation during training (the checkpoint's
:class:`~auxiliary.models.preprocess.Preprocessing`: timm's own for a model from pretrained weights, the square area
resize for one from scratch or an older checkpoint), and probabilities are calibrated as the checkpoint's
task says (:meth:`auxiliary.tasks.task.Task.probabilities` with the checkpoint's entries: one temperature
for a softmax, or per-label temperatures for sigmoids). :meth:`Predictor.from_checkpoint` builds the PyTorch
model of a :class:`~auxiliary.models.checkpoint.Checkpoint` (on the device of the one device rule,
:func:`auxiliary.base.devices.resolve_device`: a CUDA GPU when there is one); a predictor on ONNX Runtime
(``backend="onnx"``), or on whichever backend is faster here (``"auto"``), comes from
:func:`auxiliary.inference.backends.load_predictor` (the export itself is :mod:`auxiliary.models.export`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auxiliary.base.devices import resolve_device
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.progress import progress_bar
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.models.preprocess import Preprocessing, batched, preprocess, tta_views
from auxiliary.tasks.task import Task


class Predictor:
    """Calibrated class (or label) probabilities for RGB images from a checkpoint (PyTorch or ONNX Runtime).

    ``info`` is the checkpoint's entries (classes, preprocessing, model name, calibration; :attr:`preprocessing` is
    :meth:`Preprocessing.of` them, and a caller that replaces ``info["preprocessing"]`` changes how images are
    prepared, never the weights); ``task`` its
    :class:`~auxiliary.tasks.task.Task` (chosen once, with the checkpoint: :attr:`Checkpoint.task`), which turns
    logits into probabilities (:meth:`probabilities`) and probabilities into decisions (:meth:`decide`) with ``info``.
    """

    def __init__(self, model: Any, info: Mapping[str, Any], task: Task, *, backend: str = "torch",
                 device: str = "cpu"):
        self.model = model
        self.info = dict(info)
        self.task = task
        self.classes = [str(c) for c in self.info["classes"]]
        self.preprocessing = Preprocessing.of(self.info)
        self.img_size = self.preprocessing.img_size
        self.mean = self.preprocessing.mean
        self.std = self.preprocessing.std
        self.name = str(self.info.get("model_name", "model"))
        self.backend = backend
        self.device = device

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw logits, as the checkpoint's task calibrates them."""
        return self.task.probabilities(logits, self.info)

    def decide(self, probs: Any, tone_groups: Sequence[str] | None = None) -> np.ndarray:
        """The task's decision of probabilities (rows, one row, or a dict class -> probability as
        :meth:`predict_image` gives) with the checkpoint's entries (per tone group with ``tone_groups``)."""
        if isinstance(probs, Mapping):
            probs = [float(probs[c]) for c in self.classes]
        return self.task.decide(np.asarray(probs, dtype=np.float64), self.info, self.classes, tone_groups)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint | str | Path, device: str = "auto") -> Predictor:
        """The PyTorch model of ``checkpoint`` (a :class:`Checkpoint`, or a path opened here) on ``device``
        (``auto``: CUDA, then MPS, then the CPU).

        For ONNX Runtime, or whichever backend is faster here, use
        :func:`auxiliary.inference.backends.load_predictor`.
        """
        ckpt = Checkpoint.of(checkpoint)
        device = resolve_device(device)
        return cls(ckpt.model(device), ckpt.info, ckpt.task, device=device)

    # ----------------------------------------------------------------- inference
    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw logits of a preprocessed float32 batch (N, 3, S, S); one column per class, else an error."""
        if self.backend == "onnx":
            sess = self.model
            out = np.asarray(sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(batch)})[0])
        else:
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
                out = self.model(x).float().cpu().numpy()
        if out.ndim != 2 or out.shape[1] != len(self.classes):
            raise AuxiliaryError(f"the {self.backend} model {self.name} gives {out.shape[-1]} class scores but "
                                 f"{len(self.classes)} classes are recorded ({', '.join(self.classes)}): "
                                 "model and checkpoint do not belong together")
        return out

    def predict_batch(self, batch: np.ndarray, tta: bool = False) -> np.ndarray:
        """Calibrated probabilities of a preprocessed batch; ``tta`` averages flip views' probabilities."""
        views = tta_views(batch) if tta else [batch]
        probs = [self.probabilities(self.logits(np.ascontiguousarray(v))) for v in views]
        return np.mean(probs, axis=0)

    def predict_arrays(self, images: Iterable[np.ndarray], batch_size: int = 32, tta: bool = False) -> np.ndarray:
        """Probabilities (N, C) for RGB uint8 arrays."""
        out = []
        for chunk in batched(images, batch_size):
            batch = np.stack([preprocess(im, self.preprocessing) for im in chunk])
            out.append(self.predict_batch(batch, tta=tta))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))

    def predict_paths(
        self, paths: Sequence[str | Path], batch_size: int = 32, tta: bool = False, progress: bool = True
    ) -> tuple[np.ndarray, dict[int, str]]:
        """Probabilities for image files; unreadable ones get a NaN row and a reason in the dict."""
        probs = np.full((len(paths), len(self.classes)), np.nan)
        errors: dict[int, str] = {}
        bar = progress_bar(total=len(paths), desc=f"predict {self.name}", unit="img", disable=not progress)
        for chunk in batched(range(len(paths)), batch_size):
            ok, arrays = [], []
            for i in chunk:
                try:
                    arrays.append(read_image(paths[i]))
                    ok.append(i)
                except ImageReadError as exc:
                    errors[i] = exc.reason
            if arrays:
                probs[ok] = self.predict_arrays(arrays, batch_size=batch_size, tta=tta)
            bar.update(len(chunk))
        bar.close()
        return probs, errors

    def predict_image(self, rgb: np.ndarray, tta: bool = False) -> dict[str, float]:
        """Class (or label) -> probability for one RGB image."""
        p = self.predict_arrays([rgb], batch_size=1, tta=tta)[0]
        return {c: float(v) for c, v in zip(self.classes, p)}

