"""auxiliary.faces.webapp: launching on localhost without share or analytics, the serve command, its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _tiny_runs import tiny_checkpoint
from PIL import Image

from auxiliary.base.config import Config, SortConfig
from auxiliary.faces import cli, webapp
from auxiliary.faces.cli import serve as serve_cli
from auxiliary.steps import serve as serve_step

CLASSES = ["acne", "erythema", "none"]


METRICS = {"val_balanced_acc": 0.812, "val_ece": 0.041, "epochs": 3}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("webapp_ckpt") / "best.pt", img_size=64, temperature=1.5,
                           metrics=METRICS)[0]


def test_launch_binds_localhost_without_share_or_analytics(ckpt, tmp_path):
    import httpx

    port = webapp.free_port()
    demo = webapp.launch(ckpt, inline=False, block=False, port=port, examples=False, quiet=True, feedback_dir=tmp_path / "fb")
    try:
        assert demo.server_name == "127.0.0.1" and demo.server_port == port
        assert demo.share is False and demo.share_url is None and demo.analytics_enabled is False
        page = httpx.get(f"http://127.0.0.1:{port}/config", timeout=10, trust_env=False)
        assert page.status_code == 200
        text = page.text
        assert "not a diagnosis" in text and "val_balanced_acc" in text and "fonts.googleapis" not in text
    finally:
        demo.close(verbose=False)


def test_cli_missing_checkpoint_is_one_line(tmp_path, capsys):
    code = cli.main(["serve", "--ckpt", str(tmp_path / "nope.pt"), "--no-examples"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: checkpoint not found") and "nope.pt" in err[0]


@pytest.mark.slow
def test_serve_command_starts_on_localhost_and_stops_cleanly(ckpt, tmp_path):
    """`python -m auxiliary serve` answers on 127.0.0.1 and a SIGTERM stops it like Ctrl+C (exit 0)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    port = webapp.free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(tmp_path))
    env.pop("GRADIO_TEMP_DIR", None)  # set in this process by an in-process launch
    cmd = [sys.executable, "-m", "auxiliary", "serve", "--ckpt", str(ckpt), "--port", str(port), "--no-examples",
           "--feedback-dir", str(tmp_path / "fb")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not answer within 90 s"
            time.sleep(0.3)
        upload_dirs = list(tmp_path.glob("auxiliary-webapp-uploads-*"))
        assert len(upload_dirs) == 1  # uploads go to a private folder...
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}" in out and "webapp: stopped" in out and "Traceback" not in out
    assert not upload_dirs[0].exists()  # ...removed at exit


def _fn(demo, name: str):
    return next(f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == name)


def test_forged_feedback_label_is_answered_in_the_page(ckpt, tmp_path, capfd):
    """Issue 17 (7): a feedback label outside the classes (a forged request) used to make Gradio's
    dropdown raise (a server-side traceback); the handler answers it in the page and files nothing."""
    import asyncio

    from gradio.state_holder import SessionState

    from auxiliary.inference.predictor import Predictor

    fb = tmp_path / "fb"
    demo = webapp.build_app(Predictor.from_checkpoint(ckpt), feedback_dir=fb, heatmap=False)
    fn = _fn(demo, "on_feedback")
    session = SessionState(demo)
    state_block = next(b for b in fn.inputs if type(b).__name__ == "State")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"never read: the label is refused first")
    session[state_block._id] = {"path": str(photo), "name": "photo.png", "top": "acne", "probs": {"acne": 0.9}}
    for bad in ("rosacea", "../../etc", ["acne"], 7, {"x": 1}):
        res = asyncio.run(demo.process_api(block_fn=fn, inputs=[bad, None], state=session))
        assert "Choose one of: acne, erythema, none." in res["data"][0]
    assert not fb.exists()
    assert "Traceback" not in capfd.readouterr().err


def test_forged_feedback_request_leaves_no_traceback_in_the_server_log(ckpt, tmp_path, capfd):
    """The same forged label sent over HTTP to a running demo, as a crafted request would: the page
    gets a message, the server log no traceback."""
    import httpx

    port = webapp.free_port()
    demo = webapp.launch(ckpt, inline=False, block=False, port=port, examples=False, quiet=True, feedback_dir=tmp_path / "fb")
    try:
        fn_index = next(i for i, f in demo.fns.items() if getattr(f.fn, "__name__", "") == "on_feedback")
        api = f"http://127.0.0.1:{port}/gradio_api"
        with httpx.Client(trust_env=False, timeout=30) as client:
            joined = client.post(f"{api}/queue/join", json={"data": ["rosacea", None], "fn_index": fn_index,
                                                            "session_hash": "forged", "event_data": None, "trigger_id": None})
            assert joined.status_code == 200
            done = None
            with client.stream("GET", f"{api}/queue/data", params={"session_hash": "forged"}) as events:
                for line in events.iter_lines():
                    if line.startswith("data:") and '"process_completed"' in line:
                        done = json.loads(line[5:])
                        break
    finally:
        demo.close(verbose=False)
    assert done is not None and done["success"], done
    assert "aux-note" in done["output"]["data"][0]
    assert "Traceback" not in capfd.readouterr().err
    assert not (tmp_path / "fb").exists()


def test_an_upload_over_the_limit_is_never_stored_and_the_uploads_go_with_the_demo(ckpt, tmp_path):
    """Issue 28 (3): Gradio refuses an upload over the demo's size limit while it arrives (HTTP 413), so it is
    never stored; what it does store lies in the demo's own folder, which ``demo.close()`` removes."""
    import httpx

    port = webapp.free_port()
    demo = webapp.launch(ckpt, inline=False, block=False, port=port, examples=False, quiet=True,
                         feedback_dir=tmp_path / "fb", max_bytes=4000)
    uploads = demo.upload_folder
    try:
        assert uploads.is_dir() and uploads.name.startswith("auxiliary-webapp-uploads-")
        api = f"http://127.0.0.1:{port}/gradio_api/upload"
        with httpx.Client(trust_env=False, timeout=30) as client:
            big = client.post(api, files={"files": ("big.png", b"\x89PNG" + b"x" * 6000)})
            assert big.status_code == 413, big.text
            assert not [p for p in uploads.rglob("*") if p.is_file()]  # refused before it was stored
            small = client.post(api, files={"files": ("small.png", b"\x89PNG" + b"x" * 1000)})
            assert small.status_code == 200, small.text
        stored = [Path(p) for p in small.json()]
        assert len(stored) == 1 and stored[0].is_file() and stored[0].is_relative_to(uploads)
    finally:
        demo.close(verbose=False)
    assert not uploads.exists()


def test_images_are_filed_into_the_given_folder_or_the_runs_feedback_folder(tmp_path, monkeypatch):
    """Issue 28 (3): the demo files into ``feedback_dir=`` / ``--feedback-dir`` when given (the latter even with the
    default's value), else into ``sort.feedback_dir`` when it was set, else into ``feedback/`` beside the checkpoint:
    never into the ``data/feedback`` of the project the package happens to be imported from."""
    run_ckpt = tiny_checkpoint(tmp_path / "runs" / "mine" / "best.pt", img_size=32)[0]
    served = serve_step.serve(Config(), run_ckpt, examples=False)
    assert served.feedback_dir == run_ckpt.parent / "feedback"
    assert serve_step.serve(Config(), run_ckpt, feedback_dir=tmp_path / "given", examples=False).feedback_dir \
        == tmp_path / "given"
    cfg = Config(sort=SortConfig(feedback_dir=str(tmp_path / "configured")))
    assert serve_step.serve(cfg, run_ckpt, examples=False).feedback_dir == tmp_path / "configured"

    # the page files there: a photo analysed, then "File image for review" with the model's first class
    demo = webapp.build_app(served.predictor, feedback_dir=served.feedback_dir, heatmap=False)
    try:
        photo = tmp_path / "photo.png"
        Image.fromarray(np.full((40, 40, 3), 180, np.uint8)).save(photo)
        state = _fn(demo, "on_file").fn(str(photo))[-1]
        note = _fn(demo, "on_feedback").fn(CLASSES[0], state)
    finally:
        demo.close(verbose=False)
    assert "Filed as" in note, note
    assert [p.parent.name for p in (run_ckpt.parent / "feedback").rglob("*.png")] == [CLASSES[0]]

    # the command line passes --feedback-dir as typed, even when it is the default's value
    seen = {}
    monkeypatch.setattr(serve_cli, "launch", lambda ckpt, **kw: seen.update(kw) or _Closed())
    monkeypatch.chdir(tmp_path)
    assert cli.main(["serve", "--ckpt", str(run_ckpt), "--no-examples", "--feedback-dir", "data/feedback"]) == 0
    assert seen["feedback_dir"] == "data/feedback"
    assert cli.main(["serve", "--ckpt", str(run_ckpt), "--no-examples"]) == 0
    assert seen["feedback_dir"] is None  # the step then chooses the run's feedback/


class _Closed:
    def close(self, verbose: bool = True) -> None:
        pass
