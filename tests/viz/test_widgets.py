"""auxiliary.viz.widgets: when the panels are live, the static fallback, and the three panels of notebooks 03-05 in a
real IPython kernel driven as a front end drives it (comm messages: a dropdown's new index, a button's click), the
kernel answering with the redrawn views; the training monitor's run trains in the background while the kernel
handles the stop button."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest

from auxiliary.viz import widgets

matplotlib.use("Agg")
TESTS = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- in this process
def test_live_is_false_without_a_kernel_and_follows_the_override(monkeypatch):
    monkeypatch.delenv(widgets.WIDGETS_ENV, raising=False)
    assert widgets.live() is False  # a script, a test: nobody to click
    monkeypatch.setenv(widgets.WIDGETS_ENV, "live")
    assert widgets.live() is True
    monkeypatch.setenv(widgets.WIDGETS_ENV, "static")
    assert widgets.live() is False


def test_without_ipywidgets_panels_are_static_and_forcing_them_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if the notebooks extra were not installed
    monkeypatch.setenv(widgets.WIDGETS_ENV, "live")
    assert widgets.live() is False
    assert widgets.Panel().mode == "static"
    with pytest.raises(widgets.WidgetsUnavailableError, match=r"pip install -e \.\[notebooks\]"):
        widgets.ipywidgets()


def test_html_table_shades_the_chosen_row_and_column():
    frame = pd.DataFrame({"f1": [0.5, float("nan")], "recall": [0.25, 1.0]}, index=["all", "dark"])
    html = widgets.html_table(frame, row="dark", column="f1", digits=2, caption="at 0.5")
    assert html.count("<tr>") == 3 and "<caption" in html and "0.25" in html and "1.00" in html
    cells = re.findall(r"<td style='([^']*)'>([^<]*)</td>", html)  # (style, text) row by row
    assert [text for _, text in cells] == ["0.50", "0.25", "", "1.00"]  # NaN left empty
    assert ["background" in style for style, _ in cells] == [True, False, True, True]  # f1 column, dark row
    assert ["bold" in style for style, _ in cells] == [False, False, True, False]  # where they cross


# ----------------------------------------------------------------------------- in a real kernel
class Kernel:
    """An IPython kernel and a client that plays the front end: runs cells, sends comm messages, reads iopub."""

    def __init__(self, km: Any, kc: Any):
        self.km, self.kc = km, kc
        self.seen: list[dict] = []

    def _pump(self, timeout: float) -> dict | None:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except Exception:  # queue.Empty
            return None
        self.seen.append(msg)
        return msg

    def run(self, code: str, allow_stdin: bool = True, timeout: float = 240) -> str:
        """Run a cell (``allow_stdin``: a person's front end, off as under papermill); its stdout, or its error."""
        msg_id = self.kc.execute(code, allow_stdin=allow_stdin)
        out, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._pump(1.0)
            if msg is None or msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                raise AssertionError("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
        raise TimeoutError(f"the cell did not finish in {timeout} s: {code[:80]}")

    def json(self, code: str, **kw: Any) -> Any:
        """Run a cell that prints one JSON line: the last line of its output that is JSON (a training thread running
        in the background prints lines of its own, before or after it)."""
        lines = self.run(code, **kw).strip().splitlines()
        for line in reversed(lines):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
        raise AssertionError(f"no JSON line in the cell's output: {lines[-5:]}")

    def send(self, comm_id: str, data: dict) -> None:
        """A comm message from the front end to a widget (a dropdown's new state, a button's click)."""
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

    def updated(self, comm_id: str, key: str, since: int, timeout: float = 120) -> dict:
        """Wait for the kernel to send widget ``comm_id`` a new ``key`` (after message number ``since``)."""
        deadline = time.monotonic() + timeout
        i = since
        while time.monotonic() < deadline:
            for msg in self.seen[i:]:
                i += 1
                data = msg["content"].get("data") or {}
                if (msg["msg_type"] == "comm_msg" and msg["content"].get("comm_id") == comm_id
                        and data.get("method") == "update"
                        and (key in data.get("state", {}) or [key] in data.get("buffer_paths", []))):
                    return msg
            self._pump(0.5)
        raise TimeoutError(f"widget {comm_id} got no new {key} in {timeout} s")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    from jupyter_client.manager import start_new_kernel

    out = tmp_path_factory.mktemp("kernel_outputs")
    env = {k: v for k, v in os.environ.items() if k != widgets.WIDGETS_ENV}
    env.update(AUXILIARY_OUTPUT=str(out), AUXILIARY_CACHE=str(out / "cache"), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS / "viz"), env.get("PYTHONPATH", "")]))
    km, kc = start_new_kernel(kernel_name="python3", env=env, startup_timeout=120)
    k = Kernel(km, kc)
    k.run("import json, torch\ntorch.set_num_threads(1)\nfrom pathlib import Path\n"
          "from IPython.display import display\nfrom auxiliary import viz\nfrom auxiliary.viz import widgets\n"
          f"ROOT = Path({str(out)!r})")
    yield k
    kc.stop_channels()
    km.shutdown_kernel(now=True)


@pytest.mark.slow
def test_panels_are_live_for_a_person_and_static_under_papermill(kernel):
    assert kernel.run("print(widgets.live())", allow_stdin=True).strip() == "True"
    assert kernel.run("print(widgets.live())", allow_stdin=False).strip() == "False"  # how papermill runs a cell
    assert kernel.run("p = widgets.Panel()\nprint(p.mode)", allow_stdin=False).strip() == "static"


@pytest.mark.slow
def test_the_results_explorer_follows_its_dropdowns_in_a_kernel(kernel):
    ids = kernel.json(
        "from _panels import selection_table, single_runs, winner_report\n"
        "split, (a, _) = single_runs(ROOT / 'explorer')\n"
        "ex = viz.results_explorer(selection_table(['resnet18', 'mobilenet'], 'resnet18'),"
        " winner_report(ROOT / 'explorer', split, a))\n"
        "display(ex)\n"
        "print(json.dumps({'mode': ex.mode, 'shown': ex.shown, 'point': ex.controls['point'].model_id,"
        " 'image': ex.image.model_id, 'html': ex.html.model_id, 'options': list(ex.controls['point'].options)}))"
    )
    assert ids["mode"] == "live" and ids["shown"] == "live"
    since = len(kernel.seen)
    kernel.send(ids["point"], {"method": "update", "state": {"index": 1}, "buffer_paths": []})  # a pick in the list
    kernel.updated(ids["image"], "value", since)
    kernel.updated(ids["html"], "value", since)
    assert kernel.run("print(ex.point)").strip() == ids["options"][1]


@pytest.mark.slow
def test_the_training_monitor_trains_in_the_background_and_stops_on_a_click(kernel):
    ids = kernel.json(
        "from _tiny_training import CLASSES, loaders, make_cfg\n"
        "from auxiliary.training import loop\n"
        "mon = viz.TrainingMonitor()\n"
        "tr, va = loaders()\n"
        "mon.start(loop.fit_loaders, make_cfg(max_epochs=40), CLASSES, tr, va, ROOT / 'run', progress=False,"
        " callbacks=[mon])\n"
        "print(json.dumps({'mode': mon.mode, 'button': mon.button.model_id, 'image': mon.image.model_id}))"
    )
    assert ids["mode"] == "live"
    kernel.updated(ids["image"], "value", 0)  # an epoch ended: the curves were redrawn while the kernel was idle
    state = kernel.json("print(json.dumps({'running': mon.running, 'epochs': len(mon.history)}))")
    assert state["running"] and 1 <= state["epochs"] < 40  # this cell ran while the run trained
    kernel.send(ids["button"], {"method": "custom", "content": {"event": "click"}})  # the stop button
    summary = kernel.json("s = mon.result(timeout=240)\n"
                          "print(json.dumps({k: s[k] for k in ('stopped_by_user', 'epochs_run', 'finished')}))")
    assert summary["stopped_by_user"] and summary["finished"] and summary["epochs_run"] < 40
    files = kernel.run("print(sorted(p.name for p in (ROOT / 'run').iterdir()))")
    assert "best.pt" in files and "summary.json" in files and "last.pt" in files


@pytest.mark.slow
def test_the_comparison_browser_pages_its_gallery_in_a_kernel(kernel):
    ids = kernel.json(
        "from _panels import comparison, single_runs\n"
        "split, ckpts = single_runs(ROOT / 'browser')\n"
        "b = viz.comparison_browser(comparison(ROOT / 'browser', split, ckpts), 4)\n"
        "display(b)\n"
        "print(json.dumps({'next': b.next_button.model_id, 'gallery': b.gallery.model_id, 'image': b.image.model_id,"
        " 'metric': b.controls['metric'].model_id, 'metrics': list(b.controls['metric'].options)}))"
    )
    since = len(kernel.seen)
    kernel.send(ids["next"], {"method": "custom", "content": {"event": "click"}})
    kernel.updated(ids["gallery"], "value", since)
    assert kernel.run("print(b.page)").strip() == "1"
    since = len(kernel.seen)
    kernel.send(ids["metric"], {"method": "update", "state": {"index": ids["metrics"].index("macro_f1")},
                                "buffer_paths": []})
    kernel.updated(ids["image"], "value", since)
    assert kernel.run("print(b.choice['metric'])").strip() == "macro_f1"
