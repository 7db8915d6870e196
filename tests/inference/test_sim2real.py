"""auxiliary.inference.sim2real: real photos with a label map, halves, and the figures of a model on them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auxiliary.base.images import write_png
from auxiliary.inference import sim2real


def real_folder(root, counts):
    rng = np.random.default_rng(0)
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            write_png(root / label / f"{i}.png", rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    return root


def test_read_real_maps_labels_and_drops_others(tmp_path):
    root = real_folder(tmp_path / "real", {"clear": 3, "rosacea": 2, "psoriasis": 2})
    table = sim2real.read_real(root, "clear=none,rosacea=erythema", ["acne", "erythema", "none"])
    assert sorted(table["label"]) == ["erythema"] * 2 + ["none"] * 3
    assert any("psoriasis" in n for n in table.attrs["notes"])
    assert sorted(p.name for p in (root / "clear").iterdir()) == ["0.png", "1.png", "2.png"]  # nothing moved


def test_halves_are_disjoint_and_stratified():
    table = pd.DataFrame({"path": [f"{i}.png" for i in range(21)], "label": ["a"] * 11 + ["b"] * 10})
    a, b = sim2real.halves(table, seed=3)
    assert set(a["path"]).isdisjoint(b["path"]) and len(a) + len(b) == 21
    assert a["label"].value_counts().to_dict() == {"a": 6, "b": 5}
    assert b["label"].value_counts().to_dict() == {"a": 5, "b": 5}


def test_real_scores_from_predictions():
    classes = ["acne", "erythema", "none"]
    pred = pd.DataFrame({"label": ["acne", "acne", "erythema", "none"],
                         "prob_acne": [0.8, 0.2, 0.1, 0.1], "prob_erythema": [0.1, 0.7, 0.8, 0.2],
                         "prob_none": [0.1, 0.1, 0.1, 0.7]})
    s = sim2real.real_scores(pred, classes)
    assert s["recall_acne"] == 0.5 and s["recall_erythema"] == 1.0 and s["recall_none"] == 1.0
    assert abs(s["balanced_accuracy"] - 2.5 / 3) < 1e-9 and s["n"] == 4
    assert s["confusion"]["acne"] == {"acne": 1, "erythema": 1, "none": 0}
