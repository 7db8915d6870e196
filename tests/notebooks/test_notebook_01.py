"""notebooks/01_synthesis.ipynb runs on the smoke profile and records what notebook 02 and the README rely on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auxiliary.base import tone

pytestmark = pytest.mark.notebooks


def test_notebook_01_smoke(series):
    res = series.run("01_synthesis")
    n = res["config"]["synth"]["n_per_class"]
    assert res["per_class"] == {"acne": n, "erythema": n, "none": n}
    assert res["n_images"] == 3 * n
    assert set(res["tone_groups"]) == set(tone.TONE_GROUPS)
    assert max(res["tone_groups"].values()) - min(res["tone_groups"].values()) <= 3
    assert res["ita_in_group_fraction"] == 1.0
    assert res["strength_mean"]["none"] == 0.0 and 0 < res["strength_mean"]["acne"] < 1
    names = {Path(f).name for f in res["figures"]}
    assert {"01_montage.png", "01_same_lesions_six_tones.png", "01_tone_distribution.png"} <= names
    assert all(Path(f).is_file() and Path(f).stat().st_size > 10_000 for f in res["figures"])
    out = Path(res["out_dir"])
    meta = pd.read_csv(out / "metadata.csv")
    assert len(meta) == res["n_images"] and all((out / p).is_file() for p in meta["path"])


def test_notebook_01_beside_real_photos(tmp_path, monkeypatch):
    """With REAL set, notebook 01 shows synthetic and real images side by side and records the KID per class."""
    import json

    from _photos import face_photo

    from auxiliary.base.images import write_png
    from auxiliary.faces import runner

    real = tmp_path / "real"
    for label, tone_rgb in [("clear", (220, 180, 160)), ("rosacea", (200, 140, 130)), ("acne", (150, 100, 70))]:
        (real / label).mkdir(parents=True)
        for i in range(3):
            write_png(real / label / f"{i}.png", face_photo(skin_rgb=tone_rgb, bg=(40 * i, 90, 160))[0])
    before = sorted(str(p) for p in real.rglob("*"))
    out = tmp_path / "out"
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(out))
    runner.run_notebook(Path(__file__).parents[2] / "notebooks" / "01_synthesis.ipynb", profile="smoke",
                        parameters={"REAL": str(real)}, out_dir=out / "runs" / "notebooks", cell_timeout=600)
    res = json.loads((out / "runs" / "01_synthesis" / "results.json").read_text())
    assert set(res["kid"]) == {"acne", "erythema", "none", "all"}
    assert any(Path(f).name == "01_real_vs_synthetic.png" for f in res["figures"])
    assert sorted(str(p) for p in real.rglob("*")) == before  # the real photos are only read


def test_notebook_01_multilabel(ml_series):
    """TASK multilabel: one image per face, one 0/1 column per condition, summaries per condition."""
    res = ml_series.run("01_synthesis")
    labels = ["acne", "erythema", "hyperpigmentation", "wrinkles"]
    assert res["task"] == "multilabel" and res["n_images"] == 36
    assert set(res["per_class"]) == set(labels)
    out = Path(res["out_dir"])
    meta = pd.read_csv(out / "metadata.csv")
    assert len(meta) == 36 and all((out / p).is_file() for p in meta["path"])
    assert {lab: int(meta[lab].sum()) for lab in labels} == res["per_class"]
    assert sum(res["conditions_per_face"].values()) == 36
    names = {Path(f).name for f in res["figures"]}
    assert {"01_conditions_montage.png", "01_samples.png", "01_strength.png"} <= names
