"""``python -m auxiliary predict IMAGE... --ckpt RUN/best.pt``: a trained model's answer for one photo or a few.

For each image: the classes (or, for a multi-label model, the labels) with their calibrated probabilities, what
the model decides (its task's :meth:`~auxiliary.tasks.task.Task.analysis`: the top class, or the labels present)
and whether it is unsure at the sort threshold (``sort.conf``: the image would go to ``low_confidence/``).
Optionally a Grad-CAM overlay per image (``gradcam``, a folder of PNGs) and, with ``face``, the prediction on the
largest face the simulator's detector finds (:func:`auxiliary.synth.skinmask.detect_faces`) instead of the whole
photo, as the face-and-skin project's ``predict.py`` does. A folder of images is the ``sort`` step's job.

The checkpoint is opened once for all the images; a file that is not an image stops the step with one line
naming it, before anything is written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import check_output_dir, safe_name
from auxiliary.base.images import ImageReadError, read_image, write_png
from auxiliary.base.layout import resolve_path
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint, procedural_notice
from auxiliary.steps.serve import heatmap_overlay
from auxiliary.synth.skinmask import detect_faces
from auxiliary.training.runs import trained_checkpoint

#: Margin kept around a detected face, as a share of its size on each side.
FACE_MARGIN = 0.15


class PredictError(AuxiliaryError):
    """An input ``predict`` cannot use (a folder, a file that is not an image)."""


def face_crop(rgb: np.ndarray, margin: float = FACE_MARGIN) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The largest face of ``rgb`` with ``margin`` around it, and its box (x, y, w, h); the whole image and ``None``
    when no face is found."""
    faces = detect_faces(rgb)
    if not faces:
        return rgb, None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    dx, dy = int(round(w * margin)), int(round(h * margin))
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(rgb.shape[1], x + w + dx), min(rgb.shape[0], y + h + dy)
    return rgb[y0:y1, x0:x1], (int(x), int(y), int(w), int(h))


def read_inputs(images: Sequence[str | Path]) -> list[tuple[Path, np.ndarray]]:
    """Every image read, or one line naming the first that cannot be (a folder says it is ``sort``'s job)."""
    if not images:
        raise PredictError("give at least one IMAGE")
    out = []
    for name in images:
        p = Path(name).expanduser()
        if p.is_dir():
            raise PredictError(f"{p} is a folder: `predict` takes image files; to sort a folder use "
                               f"`python -m auxiliary sort --input {p} --out OUT`")
        try:
            out.append((p, read_image(p)))
        except ImageReadError as exc:
            raise PredictError(f"{p}: {exc.reason}") from None
    return out


def predict(cfg: Any, images: Sequence[str | Path], ckpt: str | Path | Checkpoint | None = None, *,
            gradcam: str | Path | None = None, face: bool = False, tta: bool = False,
            device: str | None = None) -> list[dict[str, Any]]:
    """The ``predict`` step: one dict per image (``image``, ``probs`` class -> calibrated probability, ``top`` or
    the labels ``present``, ``low_confidence`` at ``cfg.sort.conf``, ``message``, ``face`` (the box used, with
    ``face``), ``gradcam`` (the overlay's path, with ``gradcam``)). ``ckpt`` defaults to the configured run's
    ``best.pt``."""
    inputs = read_inputs(images)
    out_dir = check_output_dir(resolve_path(gradcam), inputs=tuple(images), option="--gradcam") if gradcam else None
    checkpoint = Checkpoint.of(ckpt if ckpt is not None else trained_checkpoint(cfg))
    notice = procedural_notice(checkpoint)
    if notice:
        print(notice, file=sys.stderr)
    predictor = Predictor.from_checkpoint(checkpoint, device=device or cfg.eval.device)
    conf = float(cfg.sort.conf)
    results = []
    for path, rgb in inputs:
        if face:
            rgb, box = face_crop(rgb)
        probs = predictor.predict_image(rgb, tta=tta)
        res = {"image": str(path), **predictor.task.analysis(probs, predictor.info, predictor.classes, conf)}
        if face:
            res["face"] = list(box) if box else None  # None: no face found, the whole photo was used
        if out_dir is not None:
            target = predictor.classes.index(res["top"])  # the decided class (the operating point's, if stored)
            overlay, res["gradcam_note"] = heatmap_overlay(predictor, rgb, target)
            res["gradcam"] = None
            if overlay is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                dest = out_dir / f"{Path(safe_name(path.name)).stem}-gradcam.png"
                k = 1
                while dest.exists():  # never over an earlier file (two inputs of one name, an earlier run)
                    k += 1
                    dest = out_dir / f"{Path(safe_name(path.name)).stem}-gradcam-{k}.png"
                write_png(dest, overlay)
                res["gradcam"] = str(dest)
        results.append(res)
    return results
