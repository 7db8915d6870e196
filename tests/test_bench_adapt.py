"""benchmarks/bench_adapt.py in smoke form: synthetic-only, the three adaptations, k corrections by uncertainty+
diversity and at random, real-only on the same k labels: every row printed and recorded, the pool's labels read only
for the photos the reviewer labels."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from _photos import face_photo

from auxiliary.base.images import write_png

pytestmark = [pytest.mark.slow]
BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
TONES = [(235, 200, 180), (200, 150, 120), (150, 100, 70), (95, 62, 45)]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_adapt", BENCH / "bench_adapt.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def folders(tmp_path):
    inp = tmp_path / "clean"
    inp.mkdir()
    for i, tone in enumerate(TONES):
        write_png(inp / f"face{i}.png", face_photo(skin_rgb=tone, bg=(60 + 30 * i, 90, 160))[0])
    real = tmp_path / "real"
    for label in ("clear", "rosacea", "acne_closeup"):
        (real / label).mkdir(parents=True)
        for i in range(8):
            write_png(real / label / f"{label}{i}.png",
                      face_photo(h=120, w=110, skin_rgb=TONES[i % 4], bg=(40, 40 + 20 * i, 90))[0])
    return inp, real


def test_smoke_run_prints_every_row_and_the_curve(folders, tmp_path, capsys):
    inp, real = folders
    out = tmp_path / "bench"
    assert load_bench().main(["--real", str(real), "--input", str(inp), "--out", str(out), "--smoke", "--k", "3,6",
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
