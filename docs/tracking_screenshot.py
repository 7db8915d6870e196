"""The README's MLflow screenshot, taken from a real store in headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright from the dev extra; nothing is downloaded, every request off 127.0.0.1 is blocked).

    python -m auxiliary select --profile smoke --set synth.n_per_class=60 --select-epochs 6 \\
        --select-models resnet18,mobilenetv3_large_100,convnext_atto --tracking tensorboard,mlflow
    python -m auxiliary train --profile smoke --set synth.n_per_class=60 --from-selection --max-epochs 8 \\
        --patience 0 --tracking tensorboard,mlflow
    python docs/tracking_screenshot.py --store runs/mlruns --out docs/images/mlflow_runs.png

It starts ``mlflow ui`` on a free local port, opens the experiment's chart view of every run (the
validation metrics), saves the page and stops the server it started.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"error: mlflow ui did not answer at {url} within {seconds:.0f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="runs/mlruns", help="the local MLflow store folder (holding mlflow.db)")
    ap.add_argument("--experiment", default="1", help="experiment id to show (1: the first one created)")
    ap.add_argument("--filter", default="val_", help="show the metric charts whose name contains this")
    ap.add_argument("--out", default="docs/images/mlflow_runs.png")
    args = ap.parse_args()
    db = Path(args.store).resolve() / "mlflow.db"
    if not db.is_file():
        raise SystemExit(f"error: --store {args.store}: no mlflow.db there; run a step with --tracking mlflow first")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{db}",
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                              "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
            page.goto(f"{base}/#/experiments/{args.experiment}/runs?workflowType=machine_learning"
                      "&compareRunsMode=CHART", wait_until="load", timeout=60_000)
            page.get_by_placeholder("Search metric charts").wait_for(timeout=60_000)
            close = page.get_by_role("button", name="Close")
            if close.count():
                close.first.click()  # the assistant side panel
            page.get_by_placeholder("Search metric charts").fill(args.filter)
            page.wait_for_timeout(4000)  # the charts draw
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
