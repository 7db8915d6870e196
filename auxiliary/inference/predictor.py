"""Inference on images with a trained checkpoint: the one preprocessing and prediction path.

Evaluation, comparison, sorting and the web demo all go through :class:`Predictor`, so an
image is resized and normalised exactly as in validation during training (area resize to
``img_size`` square, ImageNet-style mean/std), and probabilities are calibrated by the
checkpoint's temperature. :meth:`Predictor.from_checkpoint` loads the PyTorch model (on the device of
the one device rule, :func:`auxiliary.base.devices.resolve_device`: a CUDA GPU when there is one); a
predictor on ONNX Runtime (``backend="onnx"``), or on whichever backend is faster here
(``"auto"``), comes from :func:`auxiliary.inference.backends.load_predictor` (the export itself is
:mod:`auxiliary.models.export`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from auxiliary.base.devices import resolve_device
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.evaluation.calibration import softmax
from auxiliary.evaluation.multilabel import decisions
from auxiliary.evaluation.multilabel_calibration import sigmoid
from auxiliary.evaluation.multilabel_thresholds import LabelThresholds, thresholds_from_dict
from auxiliary.models.checkpoint import load_checkpoint
from auxiliary.models.preprocess import batched, preprocess, tta_views

#: ``Predictor.task`` values: one class per image (softmax) or several labels per image (one sigmoid each).
TASKS: tuple[str, ...] = ("single", "multilabel")


#: A label's threshold when the checkpoint records none.
DEFAULT_THRESHOLD = 0.5


class Predictor:
    """Calibrated class probabilities for RGB images from a checkpoint (PyTorch or ONNX Runtime).

    ``task="single"``: one softmax over the classes at ``temperature`` (rows sum to 1).
    ``task="multilabel"``: one probability per label, ``sigmoid(logit_j / temperatures[j])``, each in
    [0, 1] on its own; ``thresholds`` (the checkpoint's dict: ``global`` per label and ``per_group``
    per tone group and label, fitted on validation; 0.5 for a label without one) turn them into
    decisions: :meth:`decide` (0/1 per label), :meth:`label_thresholds`, :meth:`threshold_rows`.
    """

    def __init__(
        self,
        model: Any,
        classes: Sequence[str],
        img_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        temperature: float = 1.0,
        name: str = "model",
        backend: str = "torch",
        info: dict[str, Any] | None = None,
        device: str = "cpu",
        task: str = "single",
        temperatures: Sequence[float] | None = None,
        thresholds: dict[str, Any] | None = None,
    ):
        if task not in TASKS:
            raise AuxiliaryError(f"unknown task {task!r} (choose {', '.join(TASKS)})")
        self.model = model
        self.classes = list(classes)
        self.img_size = int(img_size)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.temperature = float(temperature)
        self.name = name
        self.backend = backend
        self.info = info or {}
        self.device = device
        self.task = task
        self.temperatures = [float(t) for t in temperatures] if temperatures is not None else None
        if self.multilabel and self.temperatures is None:
            self.temperatures = [1.0] * len(self.classes)
        self.thresholds = thresholds or {}

    @property
    def multilabel(self) -> bool:
        """True for a multi-label model (one independent probability per label)."""
        return self.task == "multilabel"

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw logits: softmax at ``temperature``, or per-label sigmoids."""
        if self.multilabel:
            return sigmoid(logits, self.temperatures)
        return softmax(logits, self.temperature)

    # ----------------------------------------------------------------- multi-label decisions
    def label_thresholds(self) -> LabelThresholds:
        """The checkpoint's thresholds: ``global`` per label (0.5 where none is recorded) and ``per_group``."""
        if not self.multilabel:
            raise AuxiliaryError(f"{self.name} is a single-label model: it has no per-label thresholds")
        return _label_thresholds(self.thresholds, self.classes)

    def threshold_rows(self, n: int, tone_groups: Sequence[str] | None = None) -> np.ndarray:
        """(n, L) thresholds: the global ones, or with ``tone_groups`` (one per row) each row's tone group's
        (the global ones for a group the checkpoint has none for, e.g. ``unknown``)."""
        lt = self.label_thresholds()
        if tone_groups is None:
            return np.tile(lt.for_rows(None), (int(n), 1))
        if len(tone_groups) != int(n):
            raise AuxiliaryError(f"{len(tone_groups)} tone groups for {n} rows")
        return lt.for_rows(list(tone_groups), use_groups=True).reshape(int(n), len(self.classes))

    def decide(self, probs: Any, tone_groups: Sequence[str] | None = None) -> np.ndarray:
        """0/1 per label of a multi-label model: ``probability >= threshold`` with the checkpoint's thresholds
        (global, or per tone group with ``tone_groups``, one per row). ``probs``: (n, L), (L,) or a dict
        label -> probability (as :meth:`predict_image` gives); NaN is never positive. Same shape back, int."""
        if isinstance(probs, dict):
            probs = [float(probs[c]) for c in self.classes]
        p = np.asarray(probs, dtype=np.float64)
        rows = np.atleast_2d(p)
        if rows.ndim != 2 or rows.shape[1] != len(self.classes):
            raise AuxiliaryError(f"probabilities of shape {p.shape} do not fit {len(self.classes)} labels")
        out = decisions(rows, self.threshold_rows(len(rows), tone_groups), self.classes).astype(np.int64)
        return out[0] if p.ndim == 1 else out

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_checkpoint(cls, ckpt: str | Path, device: str = "auto") -> Predictor:
        """The PyTorch model of ``ckpt`` on ``device`` (``auto``: CUDA, then MPS, then the CPU) with its
        classes, preprocessing and temperature.

        For ONNX Runtime, or whichever backend is faster here, use
        :func:`auxiliary.inference.backends.load_predictor`.
        """
        device = resolve_device(device)
        model, info = load_checkpoint(ckpt, device=device)
        return cls(model, backend="torch", device=device, **checkpoint_settings(info))

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
            batch = np.stack([preprocess(im, self.img_size, self.mean, self.std) for im in chunk])
            out.append(self.predict_batch(batch, tta=tta))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)))

    def predict_paths(
        self, paths: Sequence[str | Path], batch_size: int = 32, tta: bool = False, progress: bool = True
    ) -> tuple[np.ndarray, dict[int, str]]:
        """Probabilities for image files; unreadable ones get a NaN row and a reason in the dict."""
        probs = np.full((len(paths), len(self.classes)), np.nan)
        errors: dict[int, str] = {}
        bar = tqdm(total=len(paths), desc=f"predict {self.name}", unit="img", disable=not progress)
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


def checkpoint_settings(info: dict[str, Any]) -> dict[str, Any]:
    """The :class:`Predictor` arguments recorded in a checkpoint's ``info`` (classes, preprocessing, temperature;
    task, per-label temperatures and thresholds of a multi-label checkpoint)."""
    return dict(
        task=str(info.get("task", "single")),
        temperatures=info.get("temperatures"),
        thresholds=info.get("thresholds"),
        classes=info["classes"],
        img_size=info["img_size"],
        mean=info["mean"],
        std=info["std"],
        temperature=info.get("temperature", 1.0),
        name=info["model_name"],
        info=info,
    )


def _threshold(value: Any, where: str) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = float("nan")
    if not 0.0 <= t <= 1.0:
        raise AuxiliaryError(f"the checkpoint's threshold {where} is {value!r}, not a number between 0 and 1")
    return t


def _label_thresholds(d: dict[str, Any] | None, labels: Sequence[str]) -> LabelThresholds:
    """A multi-label checkpoint's ``thresholds`` dict (``global``, ``per_group``, ``fallback``) as a
    :class:`LabelThresholds` (:func:`auxiliary.evaluation.multilabel_thresholds.thresholds_from_dict`), after
    checking it: every threshold a number in [0, 1], no label the model lacks; a label without a global
    threshold gets 0.5, one without a group's gets the global one."""
    d = d or {}
    names = [str(c) for c in labels]
    glob_in = d.get("global") or {}
    groups_in = d.get("per_group") or {}
    unknown = sorted(({str(k) for k in glob_in} | {str(k) for t in groups_in.values() for k in t}) - set(names))
    if unknown:
        raise AuxiliaryError(f"the checkpoint's thresholds name labels it does not have: {', '.join(unknown)} "
                             f"(labels: {', '.join(names)})")
    glob = {c: _threshold(glob_in[c], f"of {c}") if c in glob_in else DEFAULT_THRESHOLD for c in names}
    groups = {str(g): {c: _threshold(v, f"of {c} in {g}") for c, v in t.items()} for g, t in groups_in.items()}
    return thresholds_from_dict({"global": glob, "per_group": groups, "fallback": d.get("fallback") or {}}, names)
