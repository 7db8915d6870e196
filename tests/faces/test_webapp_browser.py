"""auxiliary.faces.webapp end to end: the web demo on a free localhost port, driven by a real headless Chromium.

Uses Debian's chromium (``apt-get install chromium``) through Playwright's Python package; no
browser is downloaded. Every request that leaves 127.0.0.1 is blocked and recorded, so the test
also proves the page works offline. Artefacts: screenshots under the test's tmp dir
(and ``docs/images/webapp.png`` for the README when ``AUXILIARY_UPDATE_SCREENSHOT=1``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from auxiliary.base import config_overrides
from auxiliary.base.config import SynthConfig
from auxiliary.base.images import write_png
from auxiliary.faces import webapp
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.steps import serve as demo_mod
from auxiliary.synth import dataset
from auxiliary.tasks.task import LOW_CONFIDENCE_TITLE

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
README_SHOT = ROOT / "docs" / "images" / "webapp.png"
CLASSES = ["acne", "erythema", "none"]
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} not found (apt-get install chromium)"),
]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _synthetic_upload(path: Path) -> Path:
    """One synthetic acne image from the simulator (a numpy stand-in if synth is unavailable)."""

    try:

        out = path.parent / "synth_upload"
        dataset.generate_dataset(SynthConfig(n_per_class=1, size=128, seed=5), out, progress=False)
        shutil.copyfile(sorted((out / "acne").glob("*.png"))[0], path)
        return path
    except ImportError:
        rng = np.random.default_rng(0)
        img = (np.array([205, 150, 125]) + rng.normal(0, 10, (128, 128, 3))).clip(0, 255).astype(np.uint8)
        return write_png(path, img)


@pytest.fixture
def server(tmp_path):
    """The demo served from a thread of this process on a free port (the same call as
    ``python -m auxiliary serve``, whose start and stop are tested in test_webapp.py); always closed."""

    ckpt = tmp_path / "best.pt"
    # A high temperature makes the calibrated probabilities near uniform: low confidence for sure.
    checkpoints.save_checkpoint(
        ckpt, models.create_model("resnet18", 3), model_name="resnet18", classes=CLASSES, img_size=64,
        metrics={"val_balanced_acc": 0.812, "val_ece": 0.041}, temperature=50.0,
    )
    port = _free_port()
    fb = tmp_path / "feedback"
    cfg = config_overrides.resolve("smoke", None, {"feedback_dir": str(fb)})
    demo = webapp.launch(ckpt, cfg=cfg, inline=False, block=False, port=port, quiet=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert httpx.get(url, timeout=10, trust_env=False).status_code == 200
        yield {"url": url, "feedback": fb}
    finally:
        demo.close(verbose=False)
        with pytest.raises(httpx.HTTPError):
            httpx.get(url, timeout=2, trust_env=False)


def test_upload_corrupt_file_and_feedback_in_a_real_browser(server, tmp_path, capfd):
    sync_api = pytest.importorskip("playwright.sync_api")

    t0 = time.monotonic()
    good = _synthetic_upload(tmp_path / "synthetic_acne.png")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x13\x37" * 400)
    external: list[str] = []
    base = server["url"].rstrip("/")

    def route(r):
        u = r.request.url
        if u.startswith(base) or u.startswith(("data:", "blob:")):
            return r.continue_()
        external.append(u)
        return r.abort()

    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "chrome-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROME_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            ctx.set_default_timeout(WAIT_MS)
            ctx.route("**/*", route)
            page = ctx.new_page()
            page.goto(server["url"], wait_until="domcontentloaded")

            # The page: disclaimer, model name and its validation metrics, an upload prompt.
            page.get_by_text("not a diagnosis").first.wait_for()
            card = page.locator("#aux-model-card").inner_text()
            assert "resnet18" in card and "val_balanced_acc" in card and "0.812" in card and "60%" in card
            assert "Upload a photo" in page.locator("#aux-status").inner_text()

            # A synthetic image: probabilities, low-confidence banner, heat map (or why not).
            page.locator("#aux-upload input[type=file]").set_input_files(str(good))
            page.locator("#aux-status [data-kind=low]").wait_for()
            status = page.locator("#aux-status").inner_text()
            assert LOW_CONFIDENCE_TITLE in status and "60%" in status
            probs = page.locator("#aux-probs").inner_text()
            assert all(c in probs for c in CLASSES) and "33%" in probs
            explain_ok, _ = demo_mod.explain_status()
            if explain_ok:
                page.locator("#aux-heatmap img").wait_for()
                assert "Grad-CAM" in page.locator("#aux-heatmap-note").inner_text()
            else:
                assert "Heat map unavailable" in page.locator("#aux-heatmap-note").inner_text()
            page.locator("#aux-photo img").wait_for()
            page.screenshot(path=str(tmp_path / "webapp_result.png"), full_page=True)
            if os.environ.get("AUXILIARY_UPDATE_SCREENSHOT") == "1":  # refresh the README's picture on demand
                README_SHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmp_path / "webapp_result.png", README_SHOT)

            # File it for review with another label.
            page.locator("#aux-fb-label input").click()
            page.get_by_role("option", name="erythema").click()
            page.locator("#aux-fb-button").click()
            page.locator("#aux-fb-status").get_by_text("Filed as “erythema”").wait_for()
            filed = list((server["feedback"] / "erythema").glob("*.png"))
            assert len(filed) == 1 and filed[0].read_bytes() == good.read_bytes()
            prov = (server["feedback"] / "provenance.csv").read_text()
            assert "web upload: synthetic_acne.png" in prov and ",web," in prov

            # A corrupt file: a readable message in the page, previous results cleared.
            page.locator("#aux-upload button[aria-label=Clear]").click()
            page.locator("#aux-status [data-kind=info]").wait_for()
            page.locator("#aux-upload input[type=file]").set_input_files(str(corrupt))
            page.locator("#aux-status [data-kind=error]").wait_for()
            status = page.locator("#aux-status").inner_text()
            assert "Could not read this file" in status and "corrupt.jpg" in status
            assert any(w in status for w in ("truncated", "corrupt"))
            assert "Traceback" not in page.content()
            assert "33%" not in page.locator("#aux-probs").inner_text()
            assert page.locator("#aux-fb-button").is_disabled()
            page.screenshot(path=str(tmp_path / "webapp_corrupt.png"), full_page=True)

            # A bundled synthetic example works as an upload does.
            examples = page.locator("#aux-examples")
            if examples.count():
                page.locator("#aux-upload button[aria-label=Clear]").click()
                page.locator("#aux-status [data-kind=info]").wait_for()
                examples.get_by_text("synthetic none").click()
                page.locator("#aux-status [data-kind=low]").wait_for()
                assert "33%" in page.locator("#aux-probs").inner_text()
        finally:
            ctx.close()

    assert external == [], f"the page tried to reach the internet: {external[:5]}"
    assert (tmp_path / "webapp_result.png").stat().st_size > 10_000
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, out + err
    print(f"browser test body took {time.monotonic() - t0:.1f} s")
