"""Runs ``python -m auxiliary VERB ...`` once per command line, all in this one interpreter (imported by
``tests/test_cli_foreign_dir.py``, which starts it in a subprocess; not collected).

One interpreter for every verb keeps the test within about a minute: each fresh interpreter would import torch
again (about 20 s on 2 shared cores). Each command still goes through the package's real entry point
(``runpy`` on ``auxiliary``, i.e. ``auxiliary/__main__.py``, with ``sys.argv`` set), so what runs is what a user
typing the command runs. ``serve`` blocks until stopped: a watcher thread sends this process SIGTERM once the
server answers on its port, which the contract says ends the step like Ctrl+C (the demo closed, its temporary
files removed).

Usage: ``python _foreign_driver.py COMMANDS.json``, a JSON list of argument lists; prints one
``RESULT {"argv": ..., "code": ..., "seconds": ...}`` line per command and the package's ``__file__`` first.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import sys
import threading
import time

import auxiliary


def stop_when_serving(port: int, timeout: float = 120.0) -> None:
    """SIGTERM to this process as soon as something listens on ``port`` (the demo is up)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def run(argv: list[str]) -> int:
    """``python -m auxiliary ARGV`` in this interpreter: its exit code."""
    if argv[0] == "serve":
        port = int(argv[argv.index("--port") + 1])
        threading.Thread(target=stop_when_serving, args=(port,), daemon=True).start()
    sys.argv = ["python -m auxiliary", *argv]
    try:
        runpy.run_module("auxiliary", run_name="__main__", alter_sys=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def main() -> None:
    print("PACKAGE", json.dumps(auxiliary.__file__), flush=True)
    with open(sys.argv[1], encoding="utf-8") as fh:
        commands = json.load(fh)
    for argv in commands:
        t0 = time.perf_counter()
        code = run(argv)
        print("RESULT", json.dumps({"argv": argv, "code": code, "seconds": round(time.perf_counter() - t0, 1)}),
              flush=True)


if __name__ == "__main__":
    main()
