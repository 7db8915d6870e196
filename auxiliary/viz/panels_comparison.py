"""Notebook 05's comparison browser: selectors over the levels of a comparison's MultiIndex table (model, group,
metric, and label for multi-label models) with its table and plot, and a gallery of its image figures paged with
prev / next (:func:`comparison_browser`).

The selectors are the table's own levels, so a comparison with a ``label`` level gets a label selector without the
browser asking which task it holds; a level with one value (the split) gets none. The table shows the chosen metric
for every model across the groups of the chosen group's kind (``tone_group:...``, ``class:...``, ``gap:...``), the
plot the same as bars. The gallery pages are the figures :data:`auxiliary.viz.plots_comparison.COMPARISON_FIGURES`
draws of the errors and Grad-CAM (the best model's confident mistakes and low-confidence band, the same images under
every model; for several labels per image, one Grad-CAM per label), then those
:data:`auxiliary.viz.plots_comparison.GALLERIES` draws for each other model; each is drawn when first shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from auxiliary.evaluation.arrays import group_order
from auxiliary.viz.plots_comparison import COMPARISON_FIGURES, GALLERIES
from auxiliary.viz.widgets import Panel, figure_png, html_table, ipywidgets

#: The levels the browser does not offer: each of their values is a row of the table it shows.
SHOWN_LEVELS = ("model", "group")
#: The gallery themes of :data:`~auxiliary.viz.plots_comparison.COMPARISON_FIGURES` that show images.
IMAGE_THEMES = ("errors", "gradcam")


def group_kind(group: str) -> str:
    """``tone_group`` of ``tone_group:dark``, ``gap`` of ``gap:tone_group``; ``all`` of ``all``."""
    return str(group).split(":", 1)[0]


def default_choice(table: pd.DataFrame, headline: str) -> dict[str, str]:
    """The first view of a comparison table: the value of each level that spells the task's headline metric
    (``balanced_accuracy``; ``macro_auroc`` = label ``macro``, metric ``auroc``), else each level's first value."""
    out = {lev: str(table.index.get_level_values(lev)[0]) for lev in table.index.names}
    metrics = [str(m) for m in table.index.get_level_values("metric").unique()]
    metric = headline if headline in metrics else next(
        (m for m in metrics if headline.endswith(f"_{m}")), out["metric"])
    out["metric"] = metric
    rest = headline[: -len(metric) - 1] if headline != metric and headline.endswith(f"_{metric}") else None
    for lev in table.index.names:
        if rest is not None and rest in set(map(str, table.index.get_level_values(lev))):
            out[lev] = rest
    return out


class ComparisonBrowser(Panel):
    """Notebook 05's comparison browser (:func:`comparison_browser`). ``choice`` maps each level of the table to
    the value shown (:meth:`select` changes it: what the dropdowns call); ``page`` is the gallery page shown
    (:meth:`turn` moves it: what prev / next call)."""

    def __init__(self, cmp: Any, gallery_size: int = 8, interactive: bool | None = None):
        super().__init__(interactive)
        self.cmp, self.gallery_size = cmp, int(gallery_size)
        self.table: pd.DataFrame = cmp.table
        self.levels = [lev for lev in self.table.index.names if self.table.index.get_level_values(lev).nunique() > 1
                       or lev in SHOWN_LEVELS or lev == "metric"]
        self.choice = default_choice(self.table, cmp.task.comparison_metrics[0])
        self.choice["model"] = cmp.best_model()
        fairness = [g for g in self.options("group") if g.startswith(f"{cmp.fairness_col}:")]
        self.choice["group"] = fairness[0] if fairness else self.choice["group"]
        self.pages = self.gallery_pages()
        self.page = 0
        self._drawn: dict[int, bytes] = {}
        self.controls: dict[str, Any] = {}
        self._syncing = False
        if self.mode == "live":
            self._build()

    # ------------------------------------------------------------------ the table
    def options(self, level: str) -> list[str]:
        return [str(v) for v in self.table.index.get_level_values(level).unique()]

    def select(self, **choice: str) -> None:
        """Show the given level values (``model=...``, ``group=...``, ``metric=...``, ``label=...``); the widget
        follows."""
        for level, value in choice.items():
            if level not in self.table.index.names or str(value) not in self.options(level):
                raise ValueError(f"no {level} {value!r} in the comparison table")
            self.choice[level] = str(value)
        self._syncing = True
        try:
            for level, dd in self.controls.items():
                if dd.value != self.choice[level]:
                    dd.value = self.choice[level]
        finally:
            self._syncing = False
        self.refresh()

    def view(self) -> pd.DataFrame:
        """The chosen metric (and label, split...) as models x groups, the groups of the chosen group's kind and
        ``all`` (empty when the table has no such rows)."""
        fixed = [lev for lev in self.table.index.names if lev not in SHOWN_LEVELS]
        values = self.table["value"]
        try:
            part = values.xs(tuple(self.choice[lev] for lev in fixed), level=fixed)
        except KeyError:
            return pd.DataFrame()
        wide = part.unstack("group")
        kind = group_kind(self.choice["group"])
        cols = [g for g in wide.columns if group_kind(g) == kind]
        rank = {name: i for i, name in enumerate(group_order([g.split(":", 1)[-1] for g in cols]))}
        cols.sort(key=lambda g: rank[g.split(":", 1)[-1]])  # tone groups light to dark
        return wide[(["all"] if "all" in wide.columns and kind != "all" else []) + cols]

    def value(self) -> float:
        """The chosen cell (NaN when the table has none)."""
        view = self.view()
        try:
            return float(view.loc[self.choice["model"], self.choice["group"]])
        except KeyError:
            return float("nan")

    def describe(self) -> str:
        where = ", ".join(f"{lev} <b>{self.choice[lev]}</b>" for lev in self.levels)
        value = self.value()
        shown = f"{value:.4g}" if np.isfinite(value) else "no value (this metric is not measured there)"
        return f"{where}: {shown}"

    def tables(self) -> list[str]:
        view = self.view()
        if view.empty:
            return [f"<p>no rows for {self.describe()}</p>"]
        return [html_table(view, row=self.choice["model"], column=self.choice["group"], digits=4,
                           caption=f"{self.choice['metric']} per model and {group_kind(self.choice['group'])} group")]

    def draw(self) -> Figure:
        view = self.view()
        fig = Figure(figsize=(max(6.0, 1.1 * max(1, view.shape[1]) + 3), 3.8))
        ax = fig.subplots()
        if view.empty:
            ax.text(0.5, 0.5, "no rows for this choice", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return fig
        x, width = np.arange(view.shape[1]), 0.8 / max(1, len(view))
        for k, model in enumerate(view.index):
            chosen = model == self.choice["model"]
            ax.bar(x + (k - (len(view) - 1) / 2) * width, view.loc[model].to_numpy(dtype=float), width, label=model,
                   alpha=1.0 if chosen else 0.4, edgecolor="black" if chosen else "none")
        ax.set_xticks(x, [str(g) for g in view.columns], rotation=20, ha="right")
        for tick, g in zip(ax.get_xticklabels(), view.columns):
            tick.set_fontweight("bold" if g == self.choice["group"] else "normal")
        ax.set_ylabel(self.choice["metric"])
        label = f" ({self.choice['label']})" if "label" in self.choice and "label" in self.levels else ""
        ax.set_title(f"{self.choice['metric']}{label} per model (solid: {self.choice['model']})", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        return fig

    # ------------------------------------------------------------------ the gallery
    def gallery_pages(self) -> list[tuple[str, Callable[[], Any]]]:
        """``(title, draw)`` of every gallery page: the comparison's image figures, then each other model's
        galleries (the +tta variants share their model's images)."""
        figures = COMPARISON_FIGURES[self.cmp.task.name]
        pages: list[tuple[str, Callable[[], Any]]] = [
            (name, lambda draw=draw: draw(self.cmp, self.gallery_size))
            for name, (theme, draw) in figures.items() if theme in IMAGE_THEMES]
        best = self.cmp.best_model()
        for model in [m for m in self.cmp.models if m != best and not m.endswith("+tta")]:
            for kind, draw in GALLERIES[self.cmp.task.name].items():
                pages.append((f"{kind}: {model}", lambda draw=draw, model=model: draw(
                    self.cmp, model, self.gallery_size)))
        return pages

    def turn(self, step: int) -> None:
        """Move the gallery ``step`` pages (wrapping round) and show that page."""
        if self.pages:
            self.page = (self.page + int(step)) % len(self.pages)
        self.refresh_gallery()

    def page_png(self, page: int) -> bytes:
        """The PNG of gallery page ``page``, drawn the first time it is asked for."""
        if page not in self._drawn:
            fig = self.pages[page][1]()
            self._drawn[page] = figure_png(fig, dpi=80)
            plt.close(fig)
        return self._drawn[page]

    # ------------------------------------------------------------------ the widget
    def _build(self) -> None:
        w = ipywidgets()
        for level in self.levels:
            dd = w.Dropdown(options=self.options(level), value=self.choice[level], description=level)
            dd.observe(lambda change, level=level: self._changed(level, change), names="value")
            self.controls[level] = dd
        self.status = w.HTML()
        self.html = w.HTML()
        self.image = w.Image(format="png")
        self.prev_button = w.Button(description="prev", icon="arrow-left", tooltip="previous gallery page")
        self.next_button = w.Button(description="next", icon="arrow-right", tooltip="next gallery page")
        self.prev_button.on_click(lambda _b: self.turn(-1))
        self.next_button.on_click(lambda _b: self.turn(1))
        self.page_label = w.HTML()
        self.gallery = w.Image(format="png")
        self.widget = w.VBox([
            w.HBox(list(self.controls.values())), self.status, w.HBox([self.image, self.html]),
            w.HBox([self.prev_button, self.next_button, self.page_label]), self.gallery,
        ])
        self.refresh()
        self.refresh_gallery()

    def _changed(self, level: str, change: Any) -> None:
        if not self._syncing:
            self.select(**{level: change["new"]})

    def refresh(self) -> None:
        """Redraw the widget's table and plot (nothing in static mode)."""
        if self.widget is None:
            return
        self.status.value = self.describe()
        self.image.value = figure_png(self.draw())
        self.html.value = "".join(self.tables())

    def refresh_gallery(self) -> None:
        """Show the current gallery page in the widget (nothing in static mode)."""
        if self.widget is None:
            return
        if not self.pages:
            self.page_label.value = "no gallery for these models"
            return
        self.page_label.value = f"page {self.page + 1} / {len(self.pages)}: <b>{self.pages[self.page][0]}</b>"
        self.gallery.value = self.page_png(self.page)


def comparison_browser(cmp: Any, gallery_size: int = 8, interactive: bool | None = None) -> ComparisonBrowser:
    """Notebook 05's comparison browser over ``cmp`` (:func:`auxiliary.steps.compare.compare`'s result): a selector
    per level of its table (model, group, metric; label for multi-label models) driving a models x groups table and
    its bars, and a gallery of Grad-CAM and confident-mistake figures paged with prev / next (``gallery_size``
    images a page). Display it (the last expression of a cell): widgets where a person can use them, a static figure
    of the first view elsewhere (papermill: the gallery figures are the notebook's own; ``interactive`` forces
    either)."""
    return ComparisonBrowser(cmp, gallery_size, interactive)
