"""ipywidgets panels for notebooks: the synthesis preview, the dataset browser and the review panel of notebook 06.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.tone import TONE_GROUPS
from auxiliary.data.balance import tone_column
from auxiliary.data.feedback import file_image
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
    """ipywidgets review panel: the image, its probabilities, one button per class (files the image
    under that class with :func:`auxiliary.data.feedback.file_image`), skip and back. Construction needs no front end
    (works under papermill); ``panel.widget`` is the widget to display."""

    def __init__(self, queue: pd.DataFrame, classes: Sequence[str], feedback_dir: str | Path, *,
                 reviewer: str = "reviewer", thumb: int = 224, show_truth: bool = False):
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
        self.class_buttons = []
        for c in self.classes:
            b = w.Button(description=c, button_style="success", tooltip=f"file this image under {c}")
            b.on_click(self._make_handler(c))
            self.class_buttons.append(b)
        self.skip_button = w.Button(description="skip", tooltip="next image without filing")
        self.skip_button.on_click(lambda _b: self.go(self.pos + 1))
        self.back_button = w.Button(description="back", tooltip="previous image")
        self.back_button.on_click(lambda _b: self.go(self.pos - 1))
        self.widget = w.VBox([
            w.HBox([self.image, self.info]),
            w.HBox([w.HTML("<b>True class:</b>&nbsp;"), *self.class_buttons, self.skip_button, self.back_button]),
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
                          model_guess=row.get("predicted"), probs=probs, reviewer=self.reviewer)
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
        self.image.value = _thumbnail_png(row.get("image", row["source"]), self.thumb)
        bars = "".join(
            f"<tr><td>{c}</td><td><div style='background:#4c72b0;height:10px;width:{max(1, int(150 * float(row[f'prob_{c}'])))}px'>"
            f"</div></td><td>{float(row[f'prob_{c}']):.2f}</td></tr>"
            for c in self.classes if f"prob_{c}" in row
        )
        truth = f"<br>known label: <b>{row['label']}</b>" if self.show_truth and row.get("label") else ""
        self.info.value = (
            f"<p><b>{self.pos + 1} / {n}</b> &middot; {row.get('why', '')} &middot; margin {float(row['margin']):.2f}</p>"
            f"<p><code>{Path(row['source']).name}</code><br>model: <b>{row['predicted']}</b>{truth}</p>"
            f"<table>{bars}</table>"
        )

    def _ipython_display_(self) -> None:  # pragma: no cover - needs IPython
        ipywidgets().widgets.interaction.display(self.widget)
