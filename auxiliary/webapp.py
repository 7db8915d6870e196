"""Web demo of a trained checkpoint (``python -m auxiliary serve --ckpt runs/NAME/best.pt``).

Upload a photo (or pick one of a few synthetic examples made at start-up) and the page shows
the calibrated class probabilities, the Grad-CAM heat map, a "low confidence — have it
reviewed" banner below the sorting threshold (``cfg.sort.conf``), the model's name and
validation metrics, and a plain statement that this is not a diagnosis. A button files the
image with a chosen label into the feedback folder of notebook 06 (``cfg.sort.feedback_dir``),
with the same provenance record as the sorting step.

Safety defaults: the server binds to 127.0.0.1, never runs in debug mode, makes no share link,
sends no analytics and loads nothing from the internet (fonts and scripts ship with Gradio).
Uploads are checked by :func:`load_image`: size and pixel-count limits, and bad files (not an
image, corrupt, truncated, unusual modes) become a readable message in the page.

The page logic is the pure function :func:`analyse` (tested without a browser); :func:`build_app`
lays it out with Gradio and :func:`launch` serves it. In a notebook::

    demo = webapp.launch("runs/NAME/best.pt", cfg=cfg, inline=True)  # the page in the output cell
    demo.close()                                                       # stop it

Needs Gradio 6 (``pip install -e .[web]``).
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import html
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AuxiliaryError
from .imageio import ImageReadError, read_image, read_image_bytes

#: Uploads above this many bytes are refused with a message (Gradio itself refuses twice this).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: Images above this many pixels are refused (about a 50-megapixel photo).
DEFAULT_MAX_PIXELS = 50_000_000
#: Images with a side shorter than this are refused (nothing to see).
MIN_SIDE = 16
#: Side of the photo shown back in the page (the model sees its own ``img_size``).
DISPLAY_SIDE = 512
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

DISCLAIMER = (
    "This is a research demo, not a medical device and not a diagnosis. "
    "It was trained on synthetic or research images and can be wrong; "
    "see a dermatologist about any skin concern."
)
LOW_CONFIDENCE_TITLE = "Low confidence — have it reviewed"


class WebappError(AuxiliaryError):
    """The demo cannot start (missing checkpoint, Gradio unavailable, bad option)."""


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
        from PIL import Image

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


def load_image(
    image: str | Path | bytes | np.ndarray,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> tuple[np.ndarray, list[str]]:
    """An upload (path, bytes or array) as RGB uint8 plus notes on conversions.

    Raises :class:`~auxiliary.imageio.ImageReadError` with a readable ``reason`` for files that
    are too big, have too many or too few pixels, are not images, or are corrupt.
    """
    notes: list[str] = []
    if isinstance(image, np.ndarray):
        rgb, notes = _array_to_rgb(image)
        label = name or "<array>"
    elif isinstance(image, (bytes, bytearray)):
        label = name or "<upload>"
        if len(image) > max_bytes:
            raise ImageReadError(label, f"file too big ({_mb(len(image))}, limit {_mb(max_bytes)})")
        rgb = read_image_bytes(bytes(image), name=label, max_pixels=max_pixels)
    else:
        p = Path(image)
        label = name or p.name
        if p.is_file() and p.stat().st_size > max_bytes:
            raise ImageReadError(label, f"file too big ({_mb(p.stat().st_size)}, limit {_mb(max_bytes)})")
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


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def _display_copy(rgb: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1.0:
        return rgb
    import cv2

    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------- prediction
def explain_status() -> tuple[bool, str]:
    """Whether Grad-CAM heat maps are available (``auxiliary.explain``), and why not."""
    try:
        from . import explain
    except ImportError as exc:
        return False, f"the Grad-CAM module could not be imported ({exc})"
    if not hasattr(explain, "gradcam_overlay"):
        return False, "auxiliary.explain has no gradcam_overlay()"
    return True, ""


_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(predictor: Any) -> threading.Lock:
    # Grad-CAM hooks the model: one analysis per model at a time.
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(predictor), threading.Lock())


def _heatmap(predictor: Any, rgb: np.ndarray, target: int) -> tuple[np.ndarray | None, str]:
    ok, why = explain_status()
    if not ok:
        return None, f"Heat map unavailable: {why}."
    if getattr(predictor, "backend", "torch") != "torch":
        return None, "Heat map unavailable: Grad-CAM needs the PyTorch backend."
    from . import explain

    try:
        overlay = explain.gradcam_overlay(
            predictor.model, rgb, predictor.img_size, predictor.mean, predictor.std, target_class=target
        )
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

    Returns a dict: ``ok`` (bool), ``error`` (reason or None), ``message`` (one readable
    sentence; ``detail`` is the same without the headline), ``probs`` (class -> calibrated probability, most likely first), ``top``,
    ``top_prob``, ``low_confidence`` (``top_prob < conf``), ``conf``, ``overlay`` (Grad-CAM
    RGB uint8 or None), ``heatmap_note``, ``image`` (the RGB array read), ``notes``
    (conversions applied). Bad input gives ``ok=False`` and a message instead of an exception.
    """
    out: dict[str, Any] = dict(
        ok=False, error=None, message="", detail="", probs={}, top=None, top_prob=None, low_confidence=False,
        conf=float(conf), overlay=None, heatmap_note="", image=None, notes=[],
    )
    if image is None:
        out.update(error="no image", message="Upload a photo (JPEG or PNG) or pick an example.")
        return out
    try:
        rgb, notes = load_image(image, max_bytes=max_bytes, max_pixels=max_pixels, name=name)
    except ImageReadError as exc:
        shown = name or (Path(image).name if isinstance(image, (str, Path)) else None)
        what = f"this file ({shown})" if shown else "this file"
        out.update(error=exc.reason, message=f"Could not use {what}: {exc.reason}. Please upload a photo (JPEG or PNG).")
        return out
    with _lock_for(predictor):
        probs = predictor.predict_image(rgb)
        order = sorted(probs, key=probs.get, reverse=True)
        top = order[0]
        overlay, note = (None, "Heat map switched off.")
        if heatmap:
            overlay, note = _heatmap(predictor, rgb, predictor.classes.index(top))
    top_prob = float(probs[top])
    low = bool(top_prob < conf)
    if low:
        detail = (
            f"The most likely class “{top}” has only {top_prob:.0%} calibrated probability, below the "
            f"review threshold of {conf:.0%}: the model is unsure, a person should look at this image."
        )
        msg = f"{LOW_CONFIDENCE_TITLE}. {detail}"
    else:
        detail = f"“{top}” with {top_prob:.0%} calibrated probability (review threshold {conf:.0%})."
        msg = f"Most likely {detail}"
    out.update(
        ok=True, probs={c: float(probs[c]) for c in order}, top=top, top_prob=top_prob, low_confidence=low,
        message=msg, detail=detail, overlay=overlay, heatmap_note=note, image=rgb, notes=notes,
    )
    return out


# ----------------------------------------------------------------------------- page text
def _fmt_metric(v: Any) -> str:
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) >= 1 else f"{v:.3f}"
    return html.escape(str(v))


def model_card(predictor: Any, conf: float) -> str:
    """Markdown describing the model: name, classes, input size, validation metrics, threshold."""
    info = getattr(predictor, "info", {}) or {}
    lines = [
        f"**Model:** `{predictor.name}` · classes: {', '.join(predictor.classes)} · input {predictor.img_size} px"
        f" · calibration temperature {predictor.temperature:.2f}",
        "",
        f"**Review threshold:** images whose top calibrated probability is below **{conf:.0%}** are flagged for review.",
        "",
    ]
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


_STYLES = {
    "info": ("#1e3a8a", "#eff6ff", "#93c5fd"),
    "ok": ("#14532d", "#f0fdf4", "#86efac"),
    "low": ("#7c2d12", "#fff7ed", "#fb923c"),
    "error": ("#7f1d1d", "#fef2f2", "#f87171"),
}


def _banner(kind: str, title: str, body: str = "", extra: str = "") -> str:
    fg, bg, border = _STYLES[kind]
    parts = [
        f'<div class="aux-banner aux-{kind}" data-kind="{kind}" role="status" '
        f'style="color:{fg};background:{bg};border:2px solid {border};border-radius:8px;padding:12px 16px;">',
        f'<div style="font-weight:700;font-size:1.15em">{html.escape(title)}</div>',
    ]
    if body:
        parts.append(f"<div>{html.escape(body)}</div>")
    if extra:
        parts.append(f'<div style="font-size:0.9em;margin-top:4px">{html.escape(extra)}</div>')
    parts.append("</div>")
    return "".join(parts)


def status_html(result: dict[str, Any] | None) -> str:
    """The banner above the results: prompt, confident result, low confidence, or a read error."""
    if result is None or result.get("error") == "no image":
        return _banner("info", "Upload a photo to start", "Or pick one of the synthetic examples.")
    notes = "; ".join(result.get("notes") or [])
    if not result["ok"]:
        return _banner("error", "Could not read this file", result["message"], "Accepted: JPEG, PNG, BMP, TIFF, WebP.")
    if result["low_confidence"]:
        return _banner("low", f"⚠ {LOW_CONFIDENCE_TITLE}", result["detail"], notes)
    return _banner("ok", f"Most likely: {result['top']} ({result['top_prob']:.0%})", result["detail"], notes)


# ----------------------------------------------------------------------------- feedback
def file_feedback(
    image_path: str | Path,
    label: str,
    feedback_dir: str | Path,
    *,
    source: str,
    model_guess: str | None,
    probs: dict[str, float] | None,
) -> Path:
    """File an analysed image under ``feedback_dir/<label>/`` with its provenance (via :mod:`auxiliary.feedback`)."""
    try:
        from . import feedback
    except ImportError as exc:
        raise WebappError(f"feedback filing is not available ({exc})") from None
    dest = feedback.file_image(
        Path(image_path), label, Path(feedback_dir), source=source, model_guess=model_guess, probs=probs, reviewer="web"
    )
    return Path(dest) if isinstance(dest, (str, Path)) else Path(feedback_dir) / label


# ----------------------------------------------------------------------------- examples
def make_examples(synth_cfg: Any = None, out_dir: str | Path | None = None, classes: list[str] | None = None) -> list[Path]:
    """One synthetic example image per class in a temporary folder (empty list if synthesis is unavailable).

    The examples use a seed different from the training data's; they are generated, not shipped.
    """
    try:
        from . import synth
        from .config import SynthConfig
    except ImportError:
        return []
    base = synth_cfg if synth_cfg is not None else SynthConfig()
    small = dataclasses.replace(
        base, n_per_class=1, size=min(int(base.size), 256), workers=1, input_dir=None, seed=int(base.seed) + 10_007
    )
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="auxiliary-webapp-examples-"))
    gen = out / "generated"
    try:
        synth.generate_dataset(small, gen, overwrite=True, progress=False)
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


# ----------------------------------------------------------------------------- gradio app
def _import_gradio():
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry, no version check (offline)
    if "gradio" not in sys.modules and not os.environ.get("GRADIO_TEMP_DIR"):
        # Uploads go to a private folder removed at exit, not a shared /tmp/gradio.
        tmp = tempfile.mkdtemp(prefix="auxiliary-webapp-uploads-")
        atexit.register(shutil.rmtree, tmp, True)
        os.environ["GRADIO_TEMP_DIR"] = tmp
    os.environ.setdefault("GRADIO_RUN_HISTORY", "False")
    try:
        import gradio as gr
    except ImportError:
        raise WebappError("the web demo needs Gradio: pip install -e .[web]") from None
    return gr


def _note(text: str) -> str:
    """Plain text as a small HTML paragraph (escaped: file names and errors are not markup)."""
    return f'<p class="aux-note" style="margin:4px 0">{html.escape(text)}</p>' if text else ""


_CSS = """
#aux-disclaimer {font-weight: 600;}
.aux-banner div {line-height: 1.4;}
"""


def build_app(
    predictor: Any,
    *,
    conf: float = 0.6,
    feedback_dir: str | Path | None = None,
    examples: list[Path] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    heatmap: bool = True,
):
    """The Gradio Blocks page for ``predictor`` (not launched)."""
    gr = _import_gradio()
    explain_ok, explain_why = explain_status()
    classes = list(predictor.classes)

    def on_file(file_path: str | None):
        if not file_path:
            return (
                status_html(None), None, None, None, "",
                gr.update(value=None), gr.update(interactive=False), _note(""), None,
            )
        name = Path(file_path).name
        res = analyse(predictor, file_path, conf, heatmap=heatmap, max_bytes=max_bytes, max_pixels=max_pixels, name=name)
        if not res["ok"]:
            return (
                status_html(res), None, None, None, "",
                gr.update(value=None), gr.update(interactive=False), _note(""), None,
            )
        state = {"path": str(file_path), "name": name, "top": res["top"], "probs": res["probs"]}
        return (
            status_html(res),
            res["probs"],
            _display_copy(res["image"]),
            res["overlay"],
            _note(res["heatmap_note"]),
            gr.update(value=res["top"]),
            gr.update(interactive=feedback_dir is not None),
            _note(""),
            state,
        )

    def on_feedback(label: str | None, state: dict | None):
        return _note(_feedback_message(label, state))

    def _feedback_message(label: str | None, state: dict | None) -> str:
        if not state:
            return "Analyse an image first."
        if feedback_dir is None:
            return "Filing is switched off for this demo."
        if label not in classes:
            return f"Choose one of: {', '.join(classes)}."
        try:
            dest = file_feedback(
                state["path"], label, feedback_dir,
                source=f"web upload: {state['name']}", model_guess=state["top"], probs=state["probs"],
            )
        except (AuxiliaryError, OSError, ValueError) as exc:
            return f"Could not file the image: {exc}"
        try:
            shown = dest.relative_to(Path(feedback_dir))
        except ValueError:
            shown = dest
        return f"Filed as “{label}” for review: {shown} (the model said “{state['top']}”)."

    # Uploaded photos older than an hour are deleted from Gradio's cache while the demo runs.
    with gr.Blocks(title="Skin-condition classifier demo", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown("# Skin-condition classifier — demo")
        gr.HTML(
            f'<div id="aux-disclaimer-text" style="padding:8px 12px;border-left:4px solid #b91c1c;background:#fef2f2;'
            f'color:#7f1d1d">{html.escape(DISCLAIMER)}</div>',
            elem_id="aux-disclaimer",
        )
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    label=f"Photo (JPEG, PNG, ...; up to {_mb(max_bytes)})",
                    file_count="single",
                    type="filepath",
                    elem_id="aux-upload",
                )
                if examples:
                    gr.Examples(
                        examples=[[str(p)] for p in examples],
                        inputs=[upload],
                        label="Synthetic examples (generated at start-up)",
                        example_labels=[p.stem.replace("example_", "synthetic ") for p in examples],
                        elem_id="aux-examples",
                    )
                gr.Markdown(model_card(predictor, conf), elem_id="aux-model-card")
            with gr.Column(scale=1):
                status = gr.HTML(status_html(None), elem_id="aux-status")
                probs = gr.Label(num_top_classes=len(classes), label="Calibrated class probabilities", elem_id="aux-probs")
                with gr.Row():
                    photo = gr.Image(label="Your photo", type="numpy", format="png", interactive=False, elem_id="aux-photo")
                    overlay = gr.Image(
                        label="Grad-CAM heat map", type="numpy", format="png", interactive=False, elem_id="aux-heatmap"
                    )
                if explain_ok and heatmap:
                    heat_note = gr.HTML(_note(""), elem_id="aux-heatmap-note")
                else:
                    why = explain_why or "switched off"
                    heat_note = gr.HTML(_note(f"Heat map unavailable: {why}."), elem_id="aux-heatmap-note")
                with gr.Group():
                    gr.Markdown(
                        "**Send for review.** Pick the correct label and file the image into the feedback folder"
                        + (f" (`{feedback_dir}`)." if feedback_dir else " (switched off).")
                    )
                    with gr.Row():
                        fb_label = gr.Dropdown(choices=classes, value=None, label="Correct label", elem_id="aux-fb-label")
                        fb_button = gr.Button("File image for review", interactive=False, elem_id="aux-fb-button")
                    fb_status = gr.HTML(_note(""), elem_id="aux-fb-status")
        state = gr.State(None)

        upload.change(
            on_file,
            inputs=[upload],
            outputs=[status, probs, photo, overlay, heat_note, fb_label, fb_button, fb_status, state],
            api_visibility="private",
        )
        fb_button.click(on_feedback, inputs=[fb_label, state], outputs=[fb_status], api_visibility="private")
    return demo


# ----------------------------------------------------------------------------- launching
def _no_proxy_for_localhost() -> None:
    # Gradio checks that its own URL answers; a proxy set for the internet must not catch it.
    hosts = ["127.0.0.1", "localhost", "::1"]
    for var in ("NO_PROXY", "no_proxy"):
        cur = [h for h in os.environ.get(var, "").split(",") if h]
        os.environ[var] = ",".join(dict.fromkeys(cur + hosts))


def launch(
    ckpt: str | Path,
    *,
    cfg: Any = None,
    inline: bool | None = None,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    block: bool | None = None,
    examples: bool = True,
    share: bool = False,
    quiet: bool = False,
    conf: float | None = None,
    feedback_dir: str | Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    height: int = 900,
):
    """Serve the demo for ``ckpt``; returns the running ``gr.Blocks`` (call ``.close()`` to stop it).

    ``inline=True`` (a notebook) shows the page in the output cell and returns at once;
    otherwise ``block`` (default: not inline) keeps serving until Ctrl+C. The server binds to
    ``host`` (127.0.0.1 by default, i.e. only this computer), never in debug mode; ``share``
    (a public gradio.live link) is off unless asked for explicitly.
    """
    from . import paths
    from .config import Config
    from .infer import Predictor

    cfg = cfg if cfg is not None else Config()
    ckpt_path = paths.resolve_path(ckpt)
    if not ckpt_path.is_file():
        raise WebappError(f"checkpoint not found: {ckpt_path} (train one with `python -m auxiliary train`)")
    predictor = Predictor.from_checkpoint(ckpt_path, backend="torch")
    conf = float(cfg.sort.conf if conf is None else conf)
    if not 0.0 <= conf <= 1.0:
        raise WebappError(f"conf must be between 0 and 1, got {conf}")
    fb_dir = paths.resolve_path(feedback_dir if feedback_dir is not None else cfg.sort.feedback_dir)
    example_files: list[Path] = []
    if examples:
        ex_dir = Path(tempfile.mkdtemp(prefix="auxiliary-webapp-examples-"))
        atexit.register(shutil.rmtree, ex_dir, True)
        example_files = make_examples(cfg.synth, ex_dir, classes=predictor.classes)
        if not example_files and not quiet:
            print("webapp: synthetic examples unavailable; upload your own images")
    demo = build_app(
        predictor, conf=conf, feedback_dir=fb_dir, examples=example_files, max_bytes=max_bytes, max_pixels=max_pixels
    )
    if host not in ("127.0.0.1", "localhost", "::1") and not quiet:
        print(f"webapp: WARNING binding to {host}: anyone who can reach this machine can use the demo")
    if share and not quiet:
        print("webapp: WARNING share=True creates a public link through gradio.live (needs internet)")
    _no_proxy_for_localhost()
    block = (not inline) if block is None else block
    port = port or None  # 0 = any free port (Gradio picks one from 7860 up)
    gr = _import_gradio()
    demo.queue(default_concurrency_limit=1)
    try:
        _launch(demo, gr, inline, share, host, port, block, quiet, height, max_bytes, example_files)
    except KeyboardInterrupt:
        demo.close(verbose=False)
        raise
    except OSError as exc:
        where = f"{host}:{port}" if port else host
        raise WebappError(f"cannot serve on {where}: {str(exc).splitlines()[0][:160]} (try another --port, or 0)") from None
    return demo


def _launch(demo, gr, inline, share, host, port, block, quiet, height, max_bytes, example_files) -> None:
    demo.launch(
        inline=inline,
        share=share,
        debug=False,
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        show_error=False,
        quiet=quiet,
        height=height,
        max_file_size=max(2 * max_bytes, max_bytes + 1024 * 1024),
        allowed_paths=[str(p.parent) for p in example_files[:1]],
        footer_links=[],
        run_history=False,
        enable_monitoring=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        theme=gr.themes.Default(),
        css=_CSS,
    )


# ----------------------------------------------------------------------------- command line
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint to serve, e.g. runs/NAME/best.pt")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 7860; 0 = any free port)")
    parser.add_argument("--no-examples", action="store_true", help="do not generate synthetic examples at start-up")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_BYTES / 1024 / 1024, help="largest upload in MB")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="largest image in pixels")
    parser.add_argument(
        "--share", action="store_true", help="also make a public gradio.live link (off by default; needs internet)"
    )


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    if args.max_mb <= 0 or args.max_pixels <= 0:
        raise WebappError("--max-mb and --max-pixels must be positive")
    if threading.current_thread() is threading.main_thread():
        # `kill` stops the server like Ctrl+C does: closed cleanly, temporary files removed.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    port = None if args.port == 0 else args.port
    if port is not None and not 1 <= port <= 65535:
        raise WebappError(f"--port must be between 1 and 65535, got {args.port}")
    try:
        _serve_cli(args, cfg, port)
    except KeyboardInterrupt:
        pass  # Ctrl+C or kill while starting: the server is closed
    print("webapp: stopped", flush=True)
    return 0


def _serve_cli(args: argparse.Namespace, cfg: Any, port: int | None) -> None:
    demo = launch(
        args.ckpt,
        cfg=cfg,
        inline=False,
        host=args.host,
        port=port if port is not None else _free_port(args.host),
        block=True,
        examples=not args.no_examples,
        share=bool(args.share),
        max_bytes=int(args.max_mb * 1024 * 1024),
        max_pixels=args.max_pixels,
    )
    demo.close(verbose=False)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _free_port(host: str = DEFAULT_HOST) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
