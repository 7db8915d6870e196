"""auxiliary.viz.panels_training: notebook 04's training monitor on tiny runs. Live, the run trains in a thread, the
plots follow the epochs and the stop button ends it cleanly after the current epoch; static, it trains in the
foreground and shows one figure; a reused run shows its recorded curves."""

from __future__ import annotations

import json
import time

import matplotlib
import pandas as pd
import pytest
import torch
from _tiny_training import CLASSES, loaders, make_cfg

from auxiliary.training import loop
from auxiliary.viz.panels_training import TrainingMonitor

matplotlib.use("Agg")


def _train(monitor, out, **cfg):
    tr, va = loaders()
    monitor.start(loop.fit_loaders, make_cfg(**cfg), CLASSES, tr, va, out, test_loader=va, progress=False,
                  callbacks=[monitor])


def test_live_monitor_trains_in_the_background_and_its_button_stops_the_run(tmp_path):
    monitor = TrainingMonitor(interactive=True, title="tiny")
    first = monitor.image.value
    _train(monitor, tmp_path / "run", max_epochs=12)
    assert monitor.running  # start() returned while the run trains: the kernel stays free for a click
    deadline = time.monotonic() + 120
    while not monitor.history and time.monotonic() < deadline:
        time.sleep(0.02)
    assert monitor.history, "no epoch reached the monitor"
    monitor.button.click()  # what the front end does with a click
    assert monitor.stop_requested and monitor.button.disabled
    summary = monitor.result(timeout=120)
    out = tmp_path / "run"
    assert summary["stopped_by_user"] and summary["finished"] and not summary["stopped_early"]
    assert summary["epochs_run"] == len(monitor.history) < 12  # ended after the epoch the click came in
    assert monitor.stopped_at == summary["epochs_run"] and "stopped by you" in monitor.status.value
    assert json.loads((out / "summary.json").read_text())["stopped_by_user"] is True
    assert summary["test_balanced_acc"] is not None  # the test split was measured as for any finished run
    for f in ("best.pt", "last.pt", "val_predictions.csv", "test_predictions.csv"):
        assert (out / f).is_file(), f
    assert torch.load(out / "last.pt", weights_only=True)["finished"]
    assert len(pd.read_csv(out / "logs" / "metrics.csv")) == summary["epochs_run"]
    # the plots followed the epochs: the panel shows the curves, not the empty first view
    assert monitor.image.value[:8] == b"\x89PNG\r\n\x1a\n" and monitor.image.value != first
    assert monitor.monitor == "val_balanced_acc" and monitor.max_epochs == 12


def test_an_error_in_the_background_is_raised_by_result(tmp_path):
    monitor = TrainingMonitor(interactive=True)

    def broken():
        raise ValueError("no data")

    monitor.start(broken)
    with pytest.raises(ValueError, match="no data"):
        monitor.result(timeout=30)
    assert "failed" in monitor.status.value


def test_static_monitor_trains_in_the_foreground_and_shows_a_figure(tmp_path):
    monitor = TrainingMonitor(interactive=False)
    assert monitor.mode == "static" and monitor.widget is None
    _train(monitor, tmp_path / "run", max_epochs=2)
    assert not monitor.running and len(monitor.history) == 2  # done before start() returned
    summary = monitor.result()
    assert summary["epochs_run"] == 2 and summary["stopped_by_user"] is False
    assert monitor.shown == "static"
    fig = monitor.draw()
    assert [ax.get_title() for ax in fig.axes] == ["loss", "val_balanced_acc", "learning rate"]
    assert all(len(ax.lines[0].get_xdata()) == 2 for ax in fig.axes)

    # a reused run (what steps.ensure_run returns without training): its recorded curves
    reused = TrainingMonitor(interactive=False)
    reused.start(lambda: tmp_path / "run")
    assert reused.result() == tmp_path / "run"
    assert len(reused.history) == 2 and reused.monitor == "val_balanced_acc" and reused.max_epochs == 2
    assert reused.shown == "static"


def test_result_before_start_says_what_to_do():
    with pytest.raises(RuntimeError, match="monitor.start"):
        TrainingMonitor(interactive=False).result()
