"""benchmarks/bench_multilabel.py in smoke form: simulate, split, train and evaluate a multi-label model, print the figures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_multilabel.py"
LABELS = ["acne", "erythema", "hyperpigmentation", "wrinkles"]


def test_bench_multilabel_smoke_prints_per_label_figures_and_the_gap(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out), "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "macro AUROC" in proc.stdout and "fairness gap" in proc.stdout
    rec = json.loads((out / "bench_multilabel.json").read_text())
    assert rec["smoke"] and rec["n"] == 36
    assert [r["label"] for r in rec["per_label"]] == LABELS
    auroc = rec["summary"]["macro_auroc"]
    assert math.isnan(auroc) or 0.0 <= auroc <= 1.0  # a tiny test split may lack positives of a label
    assert {r["label"] for r in rec["gap"]} == {*LABELS, "macro"}
    # a second run reuses every finished step
    again = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out), "--threads", "1"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("reusing") == 4
