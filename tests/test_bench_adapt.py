"""benchmarks/bench_adapt.py in smoke form: synthetic-only, the three adaptations, k corrections by uncertainty+
diversity and at random, real-only on the same k labels: every row printed and recorded, the pool's labels read only
for the photos the reviewer labels."""

from __future__ import annotations

import json

import pytest
from _benchmarks import load_benchmark
from _photos import clean_and_real_folders

pytestmark = [pytest.mark.slow]




@pytest.fixture
def folders(tmp_path):
    return clean_and_real_folders(tmp_path, 8, h=120, w=110)


def test_smoke_run_prints_every_row_and_the_curve(folders, tmp_path, capsys):
    inp, real = folders
    out = tmp_path / "bench"
    assert load_benchmark("bench_adapt").main(["--real", str(real), "--input", str(inp), "--out", str(out), "--smoke", "--k", "3,6",
                              "--threads", "1", "--kid-per-class", "2"]) == 0
    res = json.loads((out / "results.json").read_text())
    rows = res["rows"]
    expected = {"synthetic-only", "adabn", "self", "adabn+self", "k=3 uncertainty+diversity", "k=3 random",
                "k=6 uncertainty+diversity", "k=6 random"}
    assert expected <= set(rows)
    assert {"k=3 real-only", "k=6 real-only"} <= set(rows) | set(res["skipped"])  # run, or said why not
    assert res["pool"] == 12 and res["test"] == 12
    assert {r["class"] for r in res["kid"]} == {"acne", "erythema", "none", "all"}
    for s in rows.values():
        assert 0.0 <= s["balanced_accuracy"] <= 1.0 and s["n"] == 12
    for k in (3, 6):  # the reviewer labelled exactly k pool photos, and they were merged into the training list
        merged = (out / f"k{k}_uncertainty_diversity" / "split" / "train.csv").read_text()
        assert merged.count("feedback") >= k
    assert (out / "adapt_curve.png").stat().st_size > 1000
    text = capsys.readouterr().out
    assert "k=6 uncertainty+diversity" in text and "adabn+self" in text and "k=6 real-only" in text
    assert sorted(p.name for p in inp.iterdir()) == [f"face{i}.png" for i in range(4)]  # inputs untouched
