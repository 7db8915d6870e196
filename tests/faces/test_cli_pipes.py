"""``python -m auxiliary STEP ... | head -1``: a reader that goes away ends the output quietly, not the work.

Issue 28 (4): the command runs in a subprocess with its standard output connected to a pipe that this test closes,
after reading the first line (what ``head -1`` does: ``sort``) or before reading anything (a reader that died:
``evaluate``). The second is the stricter case: every write fails, the first ``print`` included, whereas after
``head -1`` the step's last lines may still fit in the pipe before it closes (each print is its own write here,
``PYTHONUNBUFFERED``). Either way the step finishes its work (every output complete), exits 0, and stderr holds no
traceback and no "Exception ignored" of the interpreter's last flush. One case per step: each costs a fresh
interpreter importing torch (about 20 s on 2 shared cores), and the closed pipe is handled once, in ``cli.main``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny_runs import make_run, make_split
from PIL import Image

pytestmark = pytest.mark.slow

#: What a step's stderr must not show after its reader went away.
NOISE = ("Traceback", "BrokenPipeError", "Exception ignored", "Broken pipe")


def run_into_closed_pipe(argv: list[str], cwd: Path, read_first_line: bool) -> tuple[int, bytes, str]:
    """``(exit code, the line read, stderr)`` of ``python -m auxiliary ARGV`` whose stdout pipe is closed after its
    first line (``read_first_line``) or at once."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", AUXILIARY_PROGRESS="lines")
    err_file = cwd / "stderr.txt"
    with open(err_file, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "auxiliary", *argv], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        try:
            line = proc.stdout.readline() if read_first_line else b""
            proc.stdout.close()
            code = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    return code, line, err_file.read_text(errors="replace")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> tuple[Path, Path, Path]:
    """``(checkpoint, split folder, folder of photos to sort)``."""
    root = tmp_path_factory.mktemp("pipes")
    split = make_split(root, n_per_class=3, size=32)
    ckpt = make_run(root / "run", model_name="test_convnext", img_size=32)
    inbox = root / "inbox"
    inbox.mkdir()
    for i in range(7):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(inbox / f"{i}.png")
    (inbox / "broken.jpg").write_text("not an image")
    return ckpt, split, inbox


def test_sort_piped_into_head_finishes_and_exits_0(work, tmp_path):
    ckpt, _, inbox = work
    out = tmp_path / "sorted"
    code, line, err = run_into_closed_pipe(["sort", "--ckpt", str(ckpt), "--input", str(inbox), "--out", str(out),
                                            "--backend", "torch", "--device", "cpu", "--quiet"], tmp_path, True)
    assert code == 0, err
    assert not any(n in err for n in NOISE), err
    assert line.startswith(b"sorted 8 inputs")
    report = json.loads((out / "sort_report.json").read_text())
    assert report["accounted_for_all"] and report["n_inputs"] == 8
    sources = set(pd.read_csv(out / "predictions.csv", keep_default_na=False)["source"])
    assert sources == {str(p) for p in inbox.iterdir()}  # predictions.csv covers every input


def test_evaluate_into_a_pipe_already_closed_finishes_and_exits_0(work, tmp_path):
    ckpt, split, _ = work
    out = tmp_path / "evaluated"
    code, line, err = run_into_closed_pipe(["evaluate", "--ckpt", str(ckpt), "--data", str(split / "test.csv"),
                                            "--out", str(out), "--quiet", "--n-bootstrap", "5"], tmp_path, False)
    assert code == 0, err
    assert not any(n in err for n in NOISE), err
    assert line == b""
    assert json.loads((out / "summary.json").read_text())["n"] == 9
    assert len(pd.read_csv(out / "predictions.csv")) == 9
    assert {"metrics.csv", "per_class.csv", "confusion.csv", "reliability.png"} <= {p.name for p in out.iterdir()}
