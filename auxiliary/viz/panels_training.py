"""Notebook 04's training monitor: loss, the watched metric and the learning rate drawn epoch by epoch while a run
trains, with a button that stops it cleanly (:class:`TrainingMonitor`).

It is a Fabric callback: :func:`auxiliary.training.loop.fit` calls its ``on_epoch_end`` on rank 0 after each epoch's
row is logged, and after that epoch ends the run, as if it were the last, when ``stop_requested`` is set (``best.pt``
kept, ``last.pt`` marked finished, the test metrics, ``summary.json`` with ``stopped_by_user: true``).

A cell that trains keeps the kernel busy, and a busy kernel handles no click until the cell ends. So where the panel
is live, :meth:`TrainingMonitor.start` runs the training in a background thread and returns at once: the kernel stays
free for the stop button while the plots follow the epochs, and :meth:`TrainingMonitor.result` (in the next cell)
waits for the run. Under papermill, or without ipywidgets, the training runs in the foreground and ``result`` shows
one static figure of the curves at the end. A run that was reused instead of trained (``steps.ensure_run``) shows
the curves of its ``logs/metrics.csv``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from auxiliary.base.files import read_csv
from auxiliary.viz.widgets import Panel, figure_png, ipywidgets, show

#: The metric drawn beside the loss when the run watches a loss (or has not said what it watches).
DEFAULT_METRIC = "val_balanced_acc"


class TrainingMonitor(Panel):
    """Live curves of a training run and a stop button (module docstring).

    Pass it among the run's callbacks (``steps.ensure_run(cfg, callbacks=[monitor])``, or
    :func:`auxiliary.training.loop.fit`'s ``callbacks``) and start the run through it::

        monitor = viz.TrainingMonitor()
        monitor.start(steps.ensure_run, cfg, callbacks=[monitor])
        # next cell
        run_dir = monitor.result()

    ``history`` holds the epochs' rows as they come; ``stop_requested`` is what the loop reads (the button sets it,
    as does :meth:`stop`)."""

    def __init__(self, interactive: bool | None = None, title: str = "training"):
        super().__init__(interactive)
        self.title = title
        self.history: list[dict[str, Any]] = []
        self.max_epochs: int | None = None
        self.monitor: str | None = None
        self.stop_requested = False
        self.stopped_at: int | None = None
        self._thread: threading.Thread | None = None
        self._outcome: dict[str, Any] = {}
        if self.mode == "live":
            w = ipywidgets()
            self.status = w.HTML(value=f"<b>{title}</b>: waiting for the first epoch")
            self.image = w.Image(format="png")
            self.button = w.Button(description="stop after this epoch", button_style="warning", icon="stop",
                                   tooltip="end the run after the current epoch: best.pt, the test metrics and "
                                           "summary.json are written as if it were the last")
            self.button.on_click(lambda _b: self.stop())
            self.widget = w.VBox([w.HBox([self.button, self.status]), self.image])

    # ------------------------------------------------------------------ Fabric hooks
    def on_epoch_end(self, row: Mapping[str, Any], history: Sequence[Mapping[str, Any]] = (),
                     max_epochs: int | None = None, monitor: str | None = None) -> None:
        """Called by the loop on rank 0 after each epoch: keep the row, redraw the live panel."""
        self.history = [dict(r) for r in history] if history else [*self.history, dict(row)]
        self.max_epochs = max_epochs if max_epochs is not None else self.max_epochs
        self.monitor = monitor or self.monitor
        if self.stop_requested and self.stopped_at is None:
            self.stopped_at = int(row["epoch"])
        self.refresh()

    def on_run_end(self, run_dir: Path, **_: Any) -> None:
        """Called by the loop on rank 0 when the run has finished (its summary follows)."""
        if self.stop_requested and self.stopped_at is None and self.history:
            self.stopped_at = int(self.history[-1]["epoch"])
        self._say(f"finished in {run_dir}" + (f" (stopped by you after epoch {self.stopped_at})"
                                               if self.stopped_at is not None else ""))
        if self.mode == "live":
            self.button.disabled = True

    # ------------------------------------------------------------------ running a training through the monitor
    def start(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` (a training: ``steps.ensure_run``, ``training.fit``...). Live: show the panel
        and run it in a background thread, returning at once (:meth:`result` waits for it). Static: run it here, in
        the foreground; an error is raised as it happens."""
        if self.running:
            raise RuntimeError("this monitor is already running a training: wait with monitor.result()")
        self.history, self.stop_requested, self.stopped_at, self._outcome = [], False, None, {}
        if self.mode != "live":
            self._outcome["value"] = fn(*args, **kwargs)
            return
        self.button.disabled, self.button.description = False, "stop after this epoch"
        show(self.widget)
        self.shown = "live"

        def work() -> None:
            try:
                self._outcome["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # handed to result(), which raises it in the notebook's thread
                self._outcome["error"] = exc
                self._say(f"failed: {type(exc).__name__}: {exc}")
            finally:
                self.button.disabled = True

        self._thread = threading.Thread(target=work, name="training-monitor", daemon=True)
        self._thread.start()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the training :meth:`start` began and return what it returned (its error is raised here). A run
        folder whose epochs the monitor did not see (a reused run) has its ``logs/metrics.csv`` read and drawn.
        Static: shows the figure of the curves. Interrupting the wait stops the waiting, not the training: the
        button stops that."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the training is still running after {timeout} s")
        if "error" in self._outcome:
            raise self._outcome["error"]
        if "value" not in self._outcome:
            raise RuntimeError("nothing to wait for: start a training with monitor.start(fn, ...) first")
        value = self._outcome["value"]
        if not self.history:
            self.load(value)
        if self.mode == "live":
            self.refresh()
        else:
            self.static()
        return value

    @property
    def running(self) -> bool:
        """Whether a training :meth:`start` began in the background is still running."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Ask the run to end after the current epoch (what the button does)."""
        self.stop_requested = True
        if self.mode == "live":
            self.button.disabled = True
            self.button.description = "stopping after this epoch"
        self._say("stopping after this epoch: best.pt is kept, the test metrics and summary.json are written")

    def load(self, run: Any) -> None:
        """Take the curves of a finished run folder (``logs/metrics.csv``, its ``summary.json``'s monitor), when
        ``run`` is one; anything else is left alone."""
        try:
            metrics = Path(run) / "logs" / "metrics.csv"
        except TypeError:
            return
        if metrics.is_file():
            self.history = read_csv(metrics).to_dict(orient="records")
            summary = Path(run) / "summary.json"
            info = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}
            self.monitor = info.get("monitor") or self.monitor
            self.max_epochs = int(info.get("max_epochs") or len(self.history))

    # ------------------------------------------------------------------ drawing
    def metric_name(self) -> str:
        """What the middle plot shows: the watched metric, or the balanced accuracy when the run watches a loss."""
        name = self.monitor or DEFAULT_METRIC
        return DEFAULT_METRIC if name.endswith("loss") and any(DEFAULT_METRIC in r for r in self.history) else name

    def draw(self) -> Figure:
        fig = Figure(figsize=(13, 3.4))
        axes = fig.subplots(1, 3)
        frame = pd.DataFrame(self.history)
        metric = self.metric_name()
        for ax, cols, title in ((axes[0], ["train_loss", "val_loss"], "loss"),
                                (axes[1], [metric], metric),
                                (axes[2], ["lr"], "learning rate")):
            for col in [c for c in cols if c in frame]:
                ax.plot(frame["epoch"], pd.to_numeric(frame[col], errors="coerce"), marker="o", label=col)
            if "phase" in frame and 0 < (frame["phase"] == "head").sum() < len(frame):
                ax.axvline((frame["phase"] == "head").sum() + 0.5, color="grey", ls="--", lw=1)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlim(0.5, max(self.max_epochs or 1, len(frame)) + 0.5)
            ax.set_xlabel("epoch")
            ax.set_title(title, fontsize=10)
            if ax.lines:
                ax.legend(fontsize=7)
            else:
                ax.text(0.5, 0.5, "no epoch yet", ha="center", va="center", transform=ax.transAxes)
        if metric in frame and self.monitor == metric:
            values = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
            if np.isfinite(values).any():
                best = int(np.nanargmax(values) if not metric.endswith("loss") else np.nanargmin(values))
                axes[1].scatter([frame["epoch"].iloc[best]], [values[best]], s=140, marker="*", color="gold",
                                edgecolor="black", zorder=3)
        fig.suptitle(self.headline(), fontsize=10)
        fig.tight_layout()
        return fig

    def headline(self) -> str:
        """``title: epoch 3/10, val_balanced_acc 0.812`` (and how it ended)."""
        if not self.history:
            return f"{self.title}: no epoch yet"
        last = self.history[-1]
        metric = self.metric_name()
        value = last.get(metric)
        text = f"{self.title}: epoch {last['epoch']}/{self.max_epochs or '?'}"
        if isinstance(value, (int, float)) and np.isfinite(value):
            text += f", {metric} {float(value):.3f}"
        if self.stopped_at is not None:
            text += f" (stopped by you after epoch {self.stopped_at})"
        return text

    def refresh(self) -> None:
        """Redraw the live panel (nothing in static mode)."""
        if self.widget is None:
            return
        self.image.value = figure_png(self.draw())
        self.status.value = self.headline()

    def _say(self, text: str) -> None:
        if self.widget is not None:
            self.status.value = f"{self.headline()}: {text}"
