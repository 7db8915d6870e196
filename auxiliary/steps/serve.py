"""What the web demo does, without the web: :func:`serve` opens the checkpoint once and prepares the demo;
reading an upload safely, analysing it (probabilities + Grad-CAM), the model card, the examples, filing feedback.

``python -m auxiliary serve`` and notebook 06 (``webapp.launch``) call :func:`serve`, then
:mod:`auxiliary.faces.webapp` lays the page out with Gradio on the :class:`Demo` it returns. What differs
between tasks is asked of the checkpoint's task: what the page says about one image
(:meth:`~auxiliary.tasks.task.Task.analysis`: a single-label model's most likely class, a multi-label model's
labels with their thresholds, present ones and the low-confidence rule of sorting), the model card's lines
(:meth:`~auxiliary.tasks.task.Task.card_lines`), and whether images can be filed under one class
(:attr:`~auxiliary.tasks.task.Task.one_class_per_image`: the feedback folders hold one class per image).
"""

from __future__ import annotations

import atexit
import dataclasses
import html
import importlib.util
import shutil
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from auxiliary.base.config import Config, SortConfig, SynthConfig
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.images import ImageReadError, read_image, read_image_bytes
from auxiliary.base.layout import resolve_path
from auxiliary.data.feedback import FeedbackError, file_image
from auxiliary.inference.explain import gradcam_overlay
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint, procedural_notice
from auxiliary.synth.dataset import generate_dataset

#: Uploads above this many bytes are refused: by Gradio while they arrive (the web page's ``max_file_size``, so they
#: are never stored), and by :func:`load_upload` with a message for any other way in.
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


#: Images above this many pixels are refused (about a 50-megapixel photo).
DEFAULT_MAX_PIXELS = 50_000_000


#: Images with a side shorter than this are refused (nothing to see).
MIN_SIDE = 16


#: Side of the photo shown back in the page (the model sees its own ``img_size``).
DISPLAY_SIDE = 512


DISCLAIMER = (
    "This is a research demo, not a medical device and not a diagnosis. "
    "It was trained on synthetic or research images and can be wrong; "
    "see a dermatologist about any skin concern."
)


class DemoError(AuxiliaryError):
    """The demo cannot start (missing checkpoint, Gradio unavailable, bad option)."""


# ----------------------------------------------------------------------------- the step
@dataclasses.dataclass
class Demo:
    """What the page serves: the model (opened once), the review threshold, where filed images go (``None``:
    filing off) and the synthetic example images."""

    predictor: Predictor
    conf: float
    feedback_dir: Path | None
    examples: list[Path]


def serve(cfg: Config, ckpt: Checkpoint | str | Path, *, conf: float | None = None,
          feedback_dir: str | Path | None = None, examples: bool = True, quiet: bool = False) -> Demo:
    """The ``serve`` step without the web: open ``ckpt`` once (a checkpoint file, or one already opened) into a
    predictor on ``cfg.sort.device``, check the review threshold (``conf``, default ``cfg.sort.conf``), choose the
    feedback folder (:func:`feedback_folder`; none when the model's task does not describe an image by one class)
    and, with ``examples``, make one synthetic example per class in a temporary folder removed at exit."""
    if not isinstance(ckpt, Checkpoint):
        path = resolve_path(ckpt)
        if not path.exists():
            raise DemoError(f"checkpoint not found: {path} (train one with `python -m auxiliary train`)")
        ckpt = Checkpoint.open(path)
    notice = procedural_notice(ckpt)  # the demo is for people's photos: one line, never a refusal
    if notice:
        print(notice, file=sys.stderr)
    predictor = Predictor.from_checkpoint(ckpt, device=cfg.sort.device)
    conf = float(cfg.sort.conf if conf is None else conf)
    if not 0.0 <= conf <= 1.0:
        raise DemoError(f"conf must be between 0 and 1, got {conf}")
    fb_dir = feedback_folder(cfg, ckpt, feedback_dir) if ckpt.task.one_class_per_image else None
    example_files: list[Path] = []
    if examples:
        ex_dir = Path(tempfile.mkdtemp(prefix="auxiliary-webapp-examples-"))
        atexit.register(shutil.rmtree, ex_dir, True)
        example_files = make_examples(cfg.synth, ex_dir, classes=predictor.classes)
        if not example_files and not quiet:
            print("webapp: synthetic examples unavailable; upload your own images")
    return Demo(predictor, conf, fb_dir, example_files)


def feedback_folder(cfg: Config, ckpt: Checkpoint, feedback_dir: str | Path | None = None) -> Path:
    """Where the demo files images: ``feedback_dir`` when given (``~`` expanded, relative to the working folder), else
    ``cfg.sort.feedback_dir`` when it was set (a profile, ``--set``, a YAML file), else the run folder's ``feedback/``
    beside the checkpoint. Never the configured default ``data/feedback`` of whatever project folder the package was
    imported from: a demo started anywhere files into the run it serves (the page names the folder; merge it with
    ``python -m auxiliary feedback merge --feedback-dir runs/NAME/feedback``)."""
    if feedback_dir is not None:
        return Path(feedback_dir).expanduser().absolute()
    if cfg.sort.feedback_dir != SortConfig().feedback_dir:
        return resolve_path(cfg.sort.feedback_dir)
    return ckpt.path.expanduser().absolute().parent / "feedback"


# ----------------------------------------------------------------------------- images
def _mode_note(mode: str) -> str | None:
    names = {
        "L": "grayscale",
        "LA": "grayscale with transparency",
        "1": "black-and-white",
        "P": "palette",
        "PA": "palette with transparency",
        "RGBA": "RGB with transparency (composited on white)",
        "CMYK": "CMYK",
        "YCbCr": "YCbCr",
        "I;16": "16-bit grayscale",
        "I;16B": "16-bit grayscale",
        "I;16L": "16-bit grayscale",
        "I": "32-bit grayscale",
        "F": "floating-point grayscale",
    }
    if mode == "RGB":
        return None
    return f"the image was {names.get(mode, mode)} and was converted to RGB; results may be less reliable"


def _probe_mode(path: Path) -> str | None:
    try:
        with Image.open(path) as im:
            return im.mode
    except Exception:  # noqa: BLE001 - read_image reports the real problem
        return None


def _array_to_rgb(arr: np.ndarray) -> tuple[np.ndarray, list[str]]:
    a = np.asarray(arr)
    notes: list[str] = []
    if a.dtype != np.uint8:
        if a.dtype == np.uint16:
            a = (a.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
            notes.append("16-bit image scaled to 8 bits")
        elif np.issubdtype(a.dtype, np.floating) and a.size and np.nanmin(a) >= 0.0 and np.nanmax(a) <= 1.0:
            a = (np.nan_to_num(a) * 255.0 + 0.5).astype(np.uint8)
        else:
            raise ImageReadError("<array>", f"unsupported pixel type {a.dtype} (expected 8-bit RGB)")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
        notes.append(_mode_note("L") or "")
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
        notes.append(_mode_note("L") or "")
    elif a.ndim == 3 and a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
        notes.append(_mode_note("RGBA") or "")
    elif not (a.ndim == 3 and a.shape[2] == 3):
        raise ImageReadError("<array>", f"unsupported array shape {a.shape} (expected height x width x 3)")
    return np.ascontiguousarray(a), [n for n in notes if n]


def load_upload(
    image: str | Path | bytes | np.ndarray,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> tuple[np.ndarray, list[str]]:
    """An upload (path, bytes or array) as RGB uint8 plus notes on conversions.

    Raises :class:`~auxiliary.base.images.ImageReadError` with a readable ``reason`` for files that
    are too big, have too many or too few pixels, are not images, or are corrupt.
    """
    notes: list[str] = []
    if isinstance(image, np.ndarray):
        rgb, notes = _array_to_rgb(image)
        label = name or "<array>"
    elif isinstance(image, (bytes, bytearray)):
        label = name or "<upload>"
        if len(image) > max_bytes:
            raise ImageReadError(label, f"file too big ({megabytes(len(image))}, limit {megabytes(max_bytes)})")
        rgb = read_image_bytes(bytes(image), name=label, max_pixels=max_pixels)
    else:
        p = Path(image)
        label = name or p.name
        if p.is_file() and p.stat().st_size > max_bytes:
            raise ImageReadError(label, f"file too big ({megabytes(p.stat().st_size)}, limit {megabytes(max_bytes)})")
        try:
            rgb = read_image(p, max_pixels=max_pixels)
        except ImageReadError as exc:
            raise ImageReadError(label, exc.reason) from None
        note = _mode_note(_probe_mode(p) or "RGB")
        if note:
            notes.append(note)
    h, w = rgb.shape[:2]
    if h * w > max_pixels:
        raise ImageReadError(label, f"too large ({w}x{h} pixels, limit {max_pixels:,})")
    if min(h, w) < MIN_SIDE:
        raise ImageReadError(label, f"too small ({w}x{h} pixels, at least {MIN_SIDE} per side needed)")
    return rgb, notes


def megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def display_copy(rgb: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return rgb

    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------- prediction
def explain_status() -> tuple[bool, str]:
    """Whether Grad-CAM heat maps are available (the ``pytorch-grad-cam`` package), and why not."""
    if importlib.util.find_spec("pytorch_grad_cam") is None:
        return False, "the Grad-CAM package pytorch-grad-cam is not installed (pip install grad-cam)"
    return True, ""


_LOCKS: dict[int, threading.Lock] = {}


_LOCKS_GUARD = threading.Lock()


def _lock_for(predictor: Any) -> threading.Lock:
    # Grad-CAM hooks the model: one analysis per model at a time.
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(predictor), threading.Lock())


def heatmap_overlay(predictor: Any, rgb: np.ndarray, target: int) -> tuple[np.ndarray | None, str]:
    """The Grad-CAM overlay of ``target`` on ``rgb`` and a sentence saying what it shows (or why there is none)."""
    ok, why = explain_status()
    if not ok:
        return None, f"Heat map unavailable: {why}."
    if getattr(predictor, "backend", "torch") != "torch":
        return None, "Heat map unavailable: Grad-CAM needs the PyTorch backend."

    try:
        overlay = gradcam_overlay(predictor.model, rgb, predictor.preprocessing, target_class=target)
    except Exception as exc:  # noqa: BLE001 - a failed heat map must not hide the prediction
        return None, f"Heat map unavailable: Grad-CAM failed ({type(exc).__name__}: {str(exc)[:160]})."
    overlay = np.asarray(overlay)
    if overlay.dtype != np.uint8 or overlay.ndim != 3 or overlay.shape[2] != 3:
        return None, f"Heat map unavailable: Grad-CAM returned an array of shape {overlay.shape}, {overlay.dtype}."
    cls = predictor.classes[target]
    return overlay, f"Grad-CAM: the regions that pushed the model towards “{cls}” are red."


def analyse(
    predictor: Any,
    image: str | Path | bytes | np.ndarray | None,
    conf: float,
    *,
    heatmap: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> dict[str, Any]:
    """Everything the page shows for one upload, without any web machinery.

    Returns a dict: ``ok`` (bool), ``error`` (reason or None), ``message`` (one readable sentence; ``detail``
    is the same without the headline), ``banner`` (kind, title, body), ``probs`` (class -> calibrated
    probability, in the order shown), ``top``, ``top_prob``, ``low_confidence``, ``conf``, ``overlay`` (Grad-CAM
    of ``top``, RGB uint8, or None), ``heatmap_note``, ``image`` (the RGB array read), ``notes`` (conversions
    applied); and what the model's task adds (:meth:`~auxiliary.tasks.task.Task.analysis`: a multi-label model's
    ``task``, ``thresholds``, ``present``, ``positives`` and ``uncertain``). Bad input gives ``ok=False`` and a
    message instead of an exception.
    """
    out: dict[str, Any] = dict(
        ok=False, error=None, message="", detail="", probs={}, top=None, top_prob=None, low_confidence=False,
        conf=float(conf), overlay=None, heatmap_note="", image=None, notes=[],
    )
    if image is None:
        out.update(error="no image", message="Upload a photo (JPEG or PNG) or pick an example.")
        return out
    try:
        rgb, notes = load_upload(image, max_bytes=max_bytes, max_pixels=max_pixels, name=name)
    except ImageReadError as exc:
        shown = name or (Path(image).name if isinstance(image, (str, Path)) else None)
        what = f"this file ({shown})" if shown else "this file"
        out.update(error=exc.reason, message=f"Could not use {what}: {exc.reason}. Please upload a photo (JPEG or PNG).")
        return out
    with _lock_for(predictor):
        probs = predictor.predict_image(rgb)
        found = predictor.task.analysis(probs, predictor.info, predictor.classes, conf)
        overlay, note = (None, "Heat map switched off.")
        if heatmap:  # of the decided class (the checkpoint's operating point, when it stores one)
            overlay, note = heatmap_overlay(predictor, rgb, predictor.classes.index(found["top"]))
    out.update(found, ok=True, overlay=overlay, heatmap_note=note, image=rgb, notes=notes)
    return out


# ----------------------------------------------------------------------------- page text
def _fmt_metric(v: Any) -> str:
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) >= 1 else f"{v:.3f}"
    return html.escape(str(v))


def model_card(predictor: Any, conf: float) -> str:
    """Markdown describing the model: what its task says of it (name, classes, input size, calibration, the
    review rule), its validation metrics and the checkpoint."""
    info = getattr(predictor, "info", {}) or {}
    lines = predictor.task.card_lines(info, conf)
    metrics = {k: v for k, v in (info.get("metrics") or {}).items() if isinstance(v, (int, float, str))}
    if metrics:
        lines += ["**Validation metrics** (from the checkpoint):", "", "| metric | value |", "|---|---|"]
        lines += [f"| {html.escape(str(k))} | {_fmt_metric(v)} |" for k, v in metrics.items()]
    else:
        lines.append("**Validation metrics:** none recorded in this checkpoint.")
    ckpt = info.get("path")
    if ckpt:
        lines += ["", f"Checkpoint: `{ckpt}`"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- feedback
def file_feedback(
    image_path: str | Path,
    label: str,
    feedback_dir: str | Path,
    *,
    source: str,
    model_guess: str | None,
    probs: dict[str, float] | None,
    classes: Sequence[str] | None = None,
) -> Path:
    """File an analysed image under ``feedback_dir/<label>/`` with its provenance (via :func:`auxiliary.data.feedback.file_image`).

    ``classes`` are the model's: any other ``label`` (e.g. from a forged request) is refused with a
    :class:`~auxiliary.data.feedback.FeedbackError` naming them, before anything is written.
    """
    if classes is not None and (not isinstance(label, str) or label not in [str(c) for c in classes]):
        shown = repr(label) if isinstance(label, str) else f"of type {type(label).__name__}"
        raise FeedbackError(f"unknown label {shown[:80]}: choose one of {', '.join(str(c) for c in classes)}")
    dest = file_image(
        Path(image_path), label, Path(feedback_dir), source=source, model_guess=model_guess, probs=probs, reviewer="web",
        classes=classes,
    )
    return Path(dest) if isinstance(dest, (str, Path)) else Path(feedback_dir) / label


# ----------------------------------------------------------------------------- examples
def make_examples(synth_cfg: Any = None, out_dir: str | Path | None = None, classes: list[str] | None = None) -> list[Path]:
    """One synthetic example image per class in a temporary folder (empty list if synthesis is unavailable).

    The examples use a seed different from the training data's; they are generated, not shipped.
    """
    base = synth_cfg if synth_cfg is not None else SynthConfig()
    small = dataclasses.replace(
        base, n_per_class=1, size=min(int(base.size), 256), workers=1, input_dir=None, seed=int(base.seed) + 10_007
    )
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="auxiliary-webapp-examples-"))
    gen = out / "generated"
    try:
        generate_dataset(small, gen, overwrite=True, progress=False)
    except Exception as exc:  # noqa: BLE001 - examples are a convenience; say why and go on
        print(f"webapp: no examples ({type(exc).__name__}: {str(exc)[:160]})")
        return []
    found: list[Path] = []
    for cls_dir in sorted(p for p in gen.iterdir() if p.is_dir()):
        if classes and cls_dir.name not in classes:
            continue
        imgs = sorted(cls_dir.glob("*.png"))
        if imgs:
            dest = out / f"example_{cls_dir.name}.png"
            shutil.copyfile(imgs[0], dest)
            found.append(dest)
    return found
