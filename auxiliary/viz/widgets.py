"""ipywidgets panels for notebooks: the synthesis preview, the dataset browser, the review panel of notebook 06, and
what the panels of notebooks 03-05 share (:class:`Panel`).

ipywidgets is an optional extra (``pip install -e .[notebooks]``): :func:`ipywidgets` is the one place it is imported.
A panel is only worth building where a person can click it: :func:`live` tells (a Jupyter, VS Code or Colab front
end), and elsewhere (papermill, ``nbconvert --execute``, CI, a script) a :class:`Panel` shows a static figure of its
current view instead, so an executed notebook still holds the picture.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.tone import TONE_GROUPS
from auxiliary.data.balance import tone_column
from auxiliary.data.feedback import file_image
from auxiliary.data.labels import label_set_folder
from auxiliary.synth.acne import ACNE_KINDS
from auxiliary.synth.dataset import preview
from auxiliary.synth.samplers import CLASSES
from auxiliary.viz.plots_data import plot_dataset_samples


class WidgetsUnavailableError(AuxiliaryError, ImportError):
    """ipywidgets, an optional extra (``pip install -e .[notebooks]``), is not installed."""


def ipywidgets() -> Any:
    """The ipywidgets module: the one place it is imported, with a clear message when it is missing."""
    try:
        import ipywidgets as widgets
    except ImportError:
        raise WidgetsUnavailableError("the notebook widgets need ipywidgets: pip install -e .[notebooks]") from None
    return widgets


def ipython() -> Any:
    """IPython, with ``IPython.display`` loaded (``None`` where it is not installed): the one place it is imported."""
    try:
        import IPython.display
    except ImportError:  # pragma: no cover - ipykernel brings it wherever a notebook runs
        return None
    return IPython


#: ``AUXILIARY_WIDGETS=live`` or ``static`` decides what :func:`live` otherwise finds out.
WIDGETS_ENV = "AUXILIARY_WIDGETS"


def live() -> bool:
    """Whether the notebook panels can be interactive here: ipywidgets is installed and the code runs in an IPython
    kernel whose current request comes from a front end a person answers (``allow_stdin``: Jupyter, VS Code,
    Colab). Papermill and ``nbconvert --execute`` run every cell with ``allow_stdin`` off: nobody could click there,
    so the panels show static figures (as in scripts and tests). ``AUXILIARY_WIDGETS`` (``live`` or ``static``)
    overrides the guess, e.g. for Voila."""
    forced = os.environ.get(WIDGETS_ENV, "").strip().lower()
    if forced == "static":
        return False
    try:
        ipywidgets()
    except WidgetsUnavailableError:
        return False
    if forced == "live":
        return True
    ip = ipython()
    kernel = getattr(ip.get_ipython(), "kernel", None) if ip is not None else None
    parent = kernel.get_parent() if hasattr(kernel, "get_parent") else None
    return bool(((parent or {}).get("content") or {}).get("allow_stdin"))


def show(*objects: Any) -> None:
    """Display ``objects`` in the notebook (a widget, ``IPython.display.Image`` or ``HTML``); outside IPython,
    nothing."""
    ip = ipython()
    if ip is not None and ip.get_ipython() is not None:
        ip.display.display(*objects)


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """A figure as PNG bytes (what an ``Image`` widget shows). The panels draw on a :class:`matplotlib.figure.Figure`
    of their own, never through pyplot: no inline backend shows it twice, and a training thread may draw it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def html_table(frame: pd.DataFrame, row: Any = None, column: Any = None, digits: int = 3, caption: str = "") -> str:
    """``frame`` as an HTML table, numbers rounded, the ``row`` and the ``column`` a panel's selectors point at shaded
    (written by hand: pandas' Styler needs jinja2, which the package does not require)."""
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    shade = "background:#fdf1c7;"
    head = "".join(f"<th style='{shade if c == column else ''}padding:2px 6px'>{c}</th>" for c in frame.columns)
    body = []
    for idx, values in frame.iterrows():
        on_row = idx == row
        tds = "".join(
            f"<td style='{shade if on_row or c == column else ''}"
            f"{'font-weight:bold;' if on_row and c == column else ''}"
            f"padding:2px 6px;text-align:right'>{cell(v)}</td>" for c, v in values.items())
        body.append(f"<tr><th style='{shade if on_row else ''}padding:2px 6px;text-align:left'>{idx}</th>{tds}</tr>")
    cap = f"<caption style='caption-side:top;text-align:left'>{caption}</caption>" if caption else ""
    return (f"<table style='border-collapse:collapse;font-size:12px'>{cap}<thead><tr><th></th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


class Panel:
    """What the panels of notebooks 03-05 share: interactive where a person can use them (:func:`live`), a static
    figure of the current view elsewhere.

    A subclass builds its widgets in ``self.widget`` when ``self.mode`` is ``"live"`` and draws its current view in
    :meth:`draw` either way (with the tables of :meth:`tables` beside it). Displaying the panel (the last expression
    of a cell) shows the widget, or the static figure and tables; ``shown`` then records which (``"live"`` or
    ``"static"``: a notebook's results say what its reader saw)."""

    def __init__(self, interactive: bool | None = None):
        self.mode = "live" if (live() if interactive is None else interactive) else "static"
        self.widget: Any = None
        self.shown: str | None = None

    def draw(self) -> Figure:
        """The current view as a figure."""
        raise NotImplementedError

    def tables(self) -> list[str]:
        """HTML tables shown with the static figure (none by default)."""
        return []

    def static(self) -> None:
        """Show the static figure of the current view and its tables."""
        ip = ipython()
        png = figure_png(self.draw(), dpi=100)
        if ip is not None:
            show(ip.display.Image(data=png, format="png"), *[ip.display.HTML(t) for t in self.tables()])
        self.shown = "static"

    def _ipython_display_(self) -> None:
        if self.widget is None:
            self.static()
            return
        show(self.widget)
        self.shown = "live"


def preview_panel(size: int = 192):
    """An ipywidgets panel (kind, lesion kind, count, strength, tone, seed) re-rendering a preview live.

    Returns the widget (display it in Jupyter); building it needs no display, so it also runs
    under papermill.
    """
    w = ipywidgets()
    kind = w.Dropdown(options=list(CLASSES), value="acne", description="class")
    lkind = w.Dropdown(options=["mixed", *ACNE_KINDS], value="mixed", description="lesion kind")
    count = w.IntSlider(value=20, min=0, max=80, description="count")
    strength = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="strength")
    tone_w = w.Dropdown(options=list(TONE_GROUPS), value="light", description="tone")
    seed = w.IntSlider(value=0, min=0, max=99, description="seed")
    layout = w.Dropdown(options=["face", "patch"], value="face", description="layout")
    img = w.Image(format="png", width=size * 2, height=size * 2)

    def update(*_):
        rgb = preview(kind.value, tone_group=tone_w.value, strength=strength.value, count=count.value, seed=seed.value,
                      size=size, layout=layout.value, lesion_kind=lkind.value, camera_on=True)
        img.value = cv2.imencode(".png", rgb[..., ::-1])[1].tobytes()

    for c in (kind, lkind, count, strength, tone_w, seed, layout):
        c.observe(update, names="value")
    update()
    return w.HBox([w.VBox([kind, lkind, count, strength, tone_w, seed, layout]), img])


def dataset_browser(table: pd.DataFrame, n: int = 8, size: int = 96, group_col: str | None = None) -> Any:
    """An ipywidgets browser: pick a class and a tone/group value, see ``n`` matching images.

    Built without displaying anything, so it also works under papermill (returns the widget box;
    ``None`` if ipywidgets is missing).
    """
    try:
        widgets = ipywidgets()
    except WidgetsUnavailableError:  # pragma: no cover
        return None

    gcol = group_col or tone_column(table)
    classes = ["(all)"] + sorted(table["label"].astype(str).unique())
    groups = ["(all)"] + sorted(table[gcol].astype(str).unique())
    cls_dd = widgets.Dropdown(options=classes, description="class")
    grp_dd = widgets.Dropdown(options=groups, description=gcol[:12])
    status = widgets.Label()
    out = widgets.Image(format="png")

    # The view is a PNG in an Image widget (a widget state update), not output captured by an
    # Output widget: the latter has hung papermill's notebook client on a busy machine.
    def _show(*_: Any) -> None:
        sel = table
        if cls_dd.value != "(all)":
            sel = sel[sel["label"].astype(str) == cls_dd.value]
        if grp_dd.value != "(all)":
            sel = sel[sel[gcol].astype(str) == grp_dd.value]
        if sel.empty:
            status.value = "no image matches"
            out.value = b""
            return
        status.value = f"{len(sel)} images: class={cls_dd.value}, {gcol}={grp_dd.value}"
        fig = plot_dataset_samples(sel, n=n, size=size, title=status.value)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        out.value = buf.getvalue()

    cls_dd.observe(_show, names="value")
    grp_dd.observe(_show, names="value")
    box = widgets.VBox([widgets.HBox([cls_dd, grp_dd]), status, out])
    box.refresh = _show  # type: ignore[attr-defined]
    return box


def _thumbnail_png(path: str | Path, size: int) -> bytes:
    try:
        rgb = read_image(path)
    except ImageReadError:
        rgb = np.full((size, size, 3), 200, np.uint8)
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return bytes(buf) if ok else b""


class ReviewPanel:
    """ipywidgets review panel: the image, its probabilities, the controls of the sorting model's task
    (:data:`REVIEW_CONTROLS`: one button per class, which files the image under that class; or one tick box per label
    and a "file" button, which files it under its label set, ``acne+wrinkles`` or ``none``) through
    :func:`auxiliary.data.feedback.file_image`, skip and back. Construction needs no front end (works under
    papermill); ``panel.widget`` is the widget to display."""

    def __init__(self, queue: pd.DataFrame, classes: Sequence[str], feedback_dir: str | Path, *,
                 reviewer: str = "reviewer", thumb: int = 224, show_truth: bool = False, task: str = "single"):
        w = ipywidgets()
        self.queue = queue.reset_index(drop=True)
        self.classes = list(classes)
        self.feedback_dir = Path(feedback_dir)
        self.reviewer = reviewer
        self.thumb = int(thumb)
        self.show_truth = show_truth
        self.pos = 0
        self.filed: dict[int, Path] = {}
        self.image = w.Image(format="png", width=self.thumb, height=self.thumb)
        self.info = w.HTML()
        self.status = w.HTML()
        self.class_buttons: list[Any] = []
        self.label_boxes: list[Any] = []
        controls = REVIEW_CONTROLS[task](self, w)
        self.skip_button = w.Button(description="skip", tooltip="next image without filing")
        self.skip_button.on_click(lambda _b: self.go(self.pos + 1))
        self.back_button = w.Button(description="back", tooltip="previous image")
        self.back_button.on_click(lambda _b: self.go(self.pos - 1))
        self.widget = w.VBox([
            w.HBox([self.image, self.info]),
            w.HBox([*controls, self.skip_button, self.back_button]),
            self.status,
        ])
        self._render()

    def _make_handler(self, label: str):
        def handler(_button: Any) -> None:
            self.file_current(label)

        return handler

    @property
    def current(self) -> pd.Series | None:
        return self.queue.iloc[self.pos] if 0 <= self.pos < len(self.queue) else None

    def go(self, pos: int) -> None:
        self.pos = int(min(max(pos, 0), len(self.queue)))
        self._render()

    def file_current(self, label: str) -> Path | None:
        """File the image shown under ``label`` and move to the next one."""
        row = self.current
        if row is None:
            return None
        probs = {c: float(row[f"prob_{c}"]) for c in self.classes if f"prob_{c}" in row}
        dest = file_image(row["source"], label, self.feedback_dir, source=row["source"],
                          model_guess=row.get("predicted", row.get("pred")), probs=probs, reviewer=self.reviewer,
                          classes=self.classes)
        self.filed[self.pos] = dest
        self.status.value = f"filed <code>{Path(row['source']).name}</code> under <b>{label}</b>"
        self.go(self.pos + 1)
        return dest

    def _render(self) -> None:
        n = len(self.queue)
        row = self.current
        if row is None:
            self.image.value = b""
            self.info.value = (f"<h4>Review done</h4><p>{len(self.filed)} of {n} images filed into "
                               f"<code>{self.feedback_dir}</code>.</p>")
            for b in self.class_buttons:
                b.disabled = True
            return
        for b in self.class_buttons:
            b.disabled = False
        for box in self.label_boxes:
            box.value = bool(int(row.get(f"pred_{box.description}", 0) or 0))
        self.image.value = _thumbnail_png(row.get("image", row["source"]), self.thumb)
        probs = {c: float(row[f"prob_{c}"]) for c in self.classes if f"prob_{c}" in row}
        bars = "".join(
            f"<tr><td>{c}</td><td><div style='background:#4c72b0;height:10px;width:{max(1, int(150 * p))}px'>"
            f"</div></td><td>{p:.2f}</td></tr>" for c, p in probs.items()
        )
        truth = f"<br>known label: <b>{row['label']}</b>" if self.show_truth and row.get("label") else ""
        self.info.value = (
            f"<p><b>{self.pos + 1} / {n}</b> &middot; {row.get('why', '')}"
            + (f" &middot; margin {float(row['margin']):.2f}" if "margin" in row and row["margin"] == row["margin"]
               else "") + "</p>"
            f"<p><code>{Path(row['source']).name}</code><br>model: <b>{row.get('predicted', row.get('pred'))}</b>"
            f"{truth}</p>"
            f"<table>{bars}</table>"
        )

    def _ipython_display_(self) -> None:  # pragma: no cover - needs IPython
        show(self.widget)


def _class_buttons(panel: ReviewPanel, w: Any) -> list[Any]:
    """One class per image: a button per class files the image under it."""
    for c in panel.classes:
        b = w.Button(description=c, button_style="success", tooltip=f"file this image under {c}")
        b.on_click(panel._make_handler(c))
        panel.class_buttons.append(b)
    return [w.HTML("<b>True class:</b>&nbsp;"), *panel.class_buttons]


def _label_boxes(panel: ReviewPanel, w: Any) -> list[Any]:
    """Several labels per image: a tick box per label (ticked as the model decided) and a button that files the
    image under the ticked set (``acne+wrinkles``; ``none`` with none ticked)."""
    panel.label_boxes = [w.Checkbox(value=False, description=c, indent=False) for c in panel.classes]
    button = w.Button(description="file", button_style="success", tooltip="file this image under the ticked labels")
    button.on_click(lambda _b: panel.file_current(label_set_folder([x.description for x in panel.label_boxes
                                                                    if x.value], panel.classes)))
    panel.class_buttons.append(button)
    return [w.HTML("<b>True labels:</b>&nbsp;"), *panel.label_boxes, button]


#: The review controls of each task: what a reviewer says of an image. A new task is one more entry.
REVIEW_CONTROLS: dict[str, Any] = {"single": _class_buttons, "multilabel": _label_boxes}
