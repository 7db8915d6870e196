"""notebooks/01_synthesis.ipynb runs on the smoke profile and records what notebook 02 and the README rely on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auxiliary import tone

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
