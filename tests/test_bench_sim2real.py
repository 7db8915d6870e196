"""benchmarks/bench_sim2real.py in smoke form: synthetic-only training scored on a tiny folder of 'real' photos."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _benchmarks import BENCHMARKS, load_benchmark
from _photos import clean_and_real_folders, face_photo

from auxiliary.base.images import write_png

SCRIPT = BENCHMARKS / "bench_sim2real.py"




@pytest.fixture
def folders(tmp_path):
    return clean_and_real_folders(tmp_path, 6)


def test_smoke_run_prints_and_records_every_figure(folders, tmp_path, capsys):
    inp, real = folders
    out = tmp_path / "bench"
    rc = load_benchmark("bench_sim2real").main(["--real", str(real), "--label-map", "clear=none,rosacea=erythema,acne_closeup=acne",
                            "--input", str(inp), "--out", str(out), "--smoke", "--real-reference",
                            "--kid-per-class", "2", "--threads", "1"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["mode"] == "photo"
    for key in ("synthetic_on_real_all", "synthetic_on_real_half", "real_on_real_half"):
        s = res[key]
        assert {"recall_acne", "recall_erythema", "recall_none", "balanced_accuracy", "macro_auroc"} <= set(s)
        assert 0.0 <= s["balanced_accuracy"] <= 1.0
    assert res["synthetic_on_real_all"]["n"] == 18 and res["synthetic_on_real_half"]["n"] == 9
    assert {r["class"] for r in res["kid"]} == {"acne", "erythema", "none", "all"}
    text = capsys.readouterr().out
    assert "synthetic-trained, all real" in text and "real-trained, held-out half" in text and "KID" in text
    assert sorted(p.name for p in inp.iterdir()) == [f"face{i}.png" for i in range(4)]  # inputs untouched


def test_refuses_a_photo_that_is_input_and_real(folders, tmp_path):
    inp, real = folders
    write_png(real / "clear" / "dup.png", face_photo()[0])
    (inp / "dup.png").symlink_to(real / "clear" / "dup.png")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--real", str(real), "--input", str(inp),
                           "--out", str(tmp_path / "o"), "--smoke"], capture_output=True, text=True)
    assert proc.returncode == 2 and "both simulator input and real test data" in proc.stderr
    assert "Traceback" not in proc.stderr
