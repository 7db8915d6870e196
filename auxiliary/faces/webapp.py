"""The web demo's Gradio page and server for a trained checkpoint (``python -m auxiliary serve --ckpt runs/NAME/best.pt``).

Upload a photo (or pick a synthetic example made at start-up): calibrated class probabilities (in the
view the model's task asks for, :attr:`~auxiliary.tasks.task.Task.probability_view`: a single-label model's
class list, or a multi-label model's bars, one per label, its threshold marked, present labels highlighted,
"No condition found" when none), the Grad-CAM heat map, a "low confidence — have it reviewed" banner
below ``cfg.sort.conf``, the model's validation metrics, and a plain statement that this is not a
diagnosis. A button files the image with a chosen label into the feedback folder given (``feedback_dir=``,
``--feedback-dir``), else the served run's ``feedback/`` (:func:`auxiliary.steps.serve.feedback_folder`;
:func:`auxiliary.data.feedback.file_image`; only for a task that describes an image by one class).

Safety defaults: the server binds to 127.0.0.1, never runs in debug mode, makes no share link,
sends no analytics and loads nothing from the internet (fonts and scripts ship with Gradio).
An upload over the size limit is refused by Gradio while it arrives (``max_file_size``), before it is stored;
the others go to a private folder of this demo (:func:`upload_folder`), removed when the demo is closed (or at
exit). Uploads are checked by :func:`auxiliary.steps.serve.load_upload`: size and pixel-count limits, and
bad files (not an image, corrupt, truncated, unusual modes) become a readable message in the page.

The page logic is :mod:`auxiliary.steps.serve` (tested without a browser; :func:`~auxiliary.steps.serve.serve`
opens the checkpoint once); here :func:`build_app` lays it out with Gradio 6 (``pip install -e .[web]``) and
:func:`launch` serves it, also inline in a notebook:
``demo = webapp.launch("runs/NAME/best.pt", cfg=cfg, inline=True)``, then ``demo.close()``.
"""

from __future__ import annotations

import atexit
import html
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from auxiliary.base.config import Config
from auxiliary.base.errors import AuxiliaryError
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.steps.serve import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DISCLAIMER,
    DemoError,
    analyse,
    display_copy,
    explain_status,
    file_feedback,
    megabytes,
    model_card,
    serve,
)
from auxiliary.tasks.task import NO_CONDITION

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


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
    return _banner(*result["banner"], notes)


def label_bars_html(result: dict[str, Any] | None) -> str:
    """One bar per label: its probability, a marker at its threshold and the text "threshold 0.42"; present
    labels highlighted, labels too close to their threshold marked "unsure", "No condition found" when none
    (a multi-label result of the multi-label task's :meth:`~auxiliary.tasks.task.Task.analysis`)."""
    if not result or not result.get("ok", True) or "thresholds" not in result:
        return ""
    rows = []
    for label, p in result["probs"].items():
        t, on = result["thresholds"][label], bool(result["present"][label])
        unsure = label in result["uncertain"]
        colour = "#b91c1c" if on else "#94a3b8"
        state = "present" if on else "absent"
        tag = (" · <b>unsure</b>" if unsure else "") + (" · <b>present</b>" if on else "")
        rows.append(
            f'<div class="aux-label aux-{state}" data-label="{html.escape(label)}" data-present="{int(on)}" '
            f'style="margin:6px 0;{"font-weight:600;" if on else ""}">'
            f'<div>{html.escape(label)}: {p:.0%} <span style="font-size:0.85em">(threshold {t:.2f}){tag}</span></div>'
            f'<div style="position:relative;height:14px;background:#f1f5f9;border-radius:4px">'
            f'<div style="width:{100 * p:.1f}%;height:100%;background:{colour};border-radius:4px"></div>'
            f'<div class="aux-threshold" title="threshold {t:.2f}" style="position:absolute;top:-3px;bottom:-3px;'
            f'left:{100 * t:.1f}%;width:2px;background:#0f172a"></div></div></div>')
    if not result["positives"]:
        rows.append(f'<p class="aux-none" style="margin:6px 0;font-weight:600">{NO_CONDITION}</p>')
    return '<div class="aux-label-bars">' + "".join(rows) + "</div>"


def _class_list(gr: Any, classes: list[str]) -> tuple[Any, Any]:
    return (gr.Label(num_top_classes=len(classes), label="Calibrated class probabilities", elem_id="aux-probs"),
            lambda res: res["probs"])


def _label_bars(gr: Any, classes: list[str]) -> tuple[Any, Any]:
    return (gr.HTML("", label="Calibrated label probabilities and thresholds", elem_id="aux-probs"),
            label_bars_html)


#: How the page shows an image's probabilities, by the view a task asks for
#: (:attr:`~auxiliary.tasks.task.Task.probability_view`): the component and what it is given of a result.
PROBABILITY_VIEWS = {"classes": _class_list, "label_bars": _label_bars}


# ----------------------------------------------------------------------------- gradio app
#: ``GRADIO_TEMP_DIR`` as it was before a demo of this module changed it: where the demos' upload folders are made
#: (else the system's temporary folder).
_GIVEN_TEMP_DIR = os.environ.get("GRADIO_TEMP_DIR")


def upload_folder() -> Path:
    """A new private folder for the uploads of the demo built next, made Gradio's upload folder
    (``GRADIO_TEMP_DIR``, which Gradio reads when a page is built and when it is served), not a ``/tmp/gradio``
    shared with other users and demos. :func:`build_app` removes it when its demo is closed, and at exit at the
    latest (a demo that is never closed)."""
    parent = Path(_GIVEN_TEMP_DIR).expanduser() if _GIVEN_TEMP_DIR else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="auxiliary-webapp-uploads-", dir=parent))
    atexit.register(shutil.rmtree, folder, True)
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    return folder


def _remove_on_close(demo: Any, folder: Path) -> None:
    """``demo.close()`` also removes ``folder`` (the demo's uploads and Gradio's copies of its examples): what
    Gradio stored goes when the demo ends, not when Python does. ``demo.upload_folder`` names it."""
    close = demo.close

    def close_and_remove(verbose: bool = True) -> None:
        try:
            close(verbose=verbose)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    demo.close = close_and_remove
    demo.upload_folder = folder


def _import_gradio():
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry, no version check (offline)
    os.environ.setdefault("GRADIO_RUN_HISTORY", "False")
    try:
        import gradio as gr
    except ImportError:
        raise DemoError("the web demo needs Gradio: pip install -e .[web]") from None
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
    """The Gradio Blocks page for ``predictor`` (not launched), its uploads in a private :func:`upload_folder`
    removed by ``demo.close()``."""
    uploads = upload_folder()  # before Gradio is imported: its module-level temporary folders follow it
    gr = _import_gradio()
    explain_ok, explain_why = explain_status()
    classes = list(predictor.classes)
    view = PROBABILITY_VIEWS[predictor.task.probability_view]

    def on_file(file_path: str | None):
        name = Path(file_path).name if file_path else ""
        res = analyse(predictor, file_path, conf, heatmap=heatmap, max_bytes=max_bytes, max_pixels=max_pixels,
                      name=name) if file_path else None
        if res is None or not res["ok"]:
            return (status_html(res), None, None, None, "", gr.update(value=None), gr.update(interactive=False),
                    _note(""), None)
        state = {"path": str(file_path), "name": name, "top": res["top"], "probs": res["probs"]}
        return (
            status_html(res),
            probs_value(res),
            display_copy(res["image"]),
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
        if not isinstance(label, str) or label not in classes:  # a forged request: answered here, no traceback
            return f"Choose one of: {', '.join(classes)}."
        try:
            dest = file_feedback(
                state["path"], label, feedback_dir,
                source=f"web upload: {state['name']}", model_guess=state["top"], probs=state["probs"], classes=classes,
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
                    label=f"Photo (JPEG, PNG, ...; up to {megabytes(max_bytes)})",
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
                probs, probs_value = view(gr, classes)
                with gr.Row():
                    photo = gr.Image(label="Your photo", type="numpy", format="png", interactive=False, elem_id="aux-photo")
                    overlay = gr.Image(
                        label="Grad-CAM heat map", type="numpy", format="png", interactive=False, elem_id="aux-heatmap"
                    )
                unavailable = "" if explain_ok and heatmap else f"Heat map unavailable: {explain_why or 'switched off'}."
                heat_note = gr.HTML(_note(unavailable), elem_id="aux-heatmap-note")
                with gr.Group():
                    gr.Markdown(
                        "**Send for review.** Pick the correct label and file the image into the feedback folder"
                        + (f" (`{feedback_dir}`)." if feedback_dir else " (switched off).")
                    )
                    with gr.Row():
                        # allow_custom_value: Gradio's own check of the choices raises (a server-side traceback)
                        # on a crafted label; _feedback_message refuses it with a message in the page instead
                        fb_label = gr.Dropdown(choices=classes, value=None, label="Correct label", elem_id="aux-fb-label",
                                               allow_custom_value=True)
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
    _remove_on_close(demo, uploads)
    return demo


# ----------------------------------------------------------------------------- launching
def _no_proxy_for_localhost() -> None:
    # Gradio checks that its own URL answers; a proxy set for the internet must not catch it.
    hosts = ["127.0.0.1", "localhost", "::1"]
    for var in ("NO_PROXY", "no_proxy"):
        cur = [h for h in os.environ.get(var, "").split(",") if h]
        os.environ[var] = ",".join(dict.fromkeys(cur + hosts))


def launch(
    ckpt: Checkpoint | str | Path,
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
    """Serve the demo for ``ckpt`` (:func:`auxiliary.steps.serve.serve` opens it once); returns the running
    ``gr.Blocks`` (call ``.close()`` to stop it).

    ``inline=True`` (a notebook) shows the page in the output cell and returns at once;
    otherwise ``block`` (default: not inline) keeps serving until Ctrl+C. The server binds to
    ``host`` (127.0.0.1 by default, i.e. only this computer), never in debug mode; ``share``
    (a public gradio.live link) is off unless asked for explicitly.
    """
    cfg = cfg if cfg is not None else Config()
    served = serve(cfg, ckpt, conf=conf, feedback_dir=feedback_dir, examples=examples, quiet=quiet)
    demo = build_app(served.predictor, conf=served.conf, feedback_dir=served.feedback_dir, examples=served.examples,
                     max_bytes=max_bytes, max_pixels=max_pixels)
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
        _launch(demo, gr, inline, share, host, port, block, quiet, height, max_bytes, served.examples)
    except KeyboardInterrupt:
        demo.close(verbose=False)
        raise
    except OSError as exc:
        where = f"{host}:{port}" if port else host
        raise DemoError(f"cannot serve on {where}: {str(exc).splitlines()[0][:160]} (try another --port, or 0)") from None
    return demo


def _launch(demo, gr, inline, share, host, port, block, quiet, height, max_bytes, example_files) -> None:
    os.environ["GRADIO_TEMP_DIR"] = str(demo.upload_folder)  # the server stores uploads where it is told when it starts
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
        max_file_size=max_bytes,  # refused while it arrives, before it is stored (load_upload checks it again)
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


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
