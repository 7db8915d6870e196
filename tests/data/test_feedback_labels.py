"""Multi-label corrections: label-set folders (data.feedback_labels), filing and merging them (data.merge)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _tiny_multilabel import LABELS, multilabel_split
from PIL import Image

from auxiliary.data.feedback import FeedbackError, file_image
from auxiliary.data.feedback_labels import label_set_columns, label_set_folder, parse_label_folder
from auxiliary.data.merge import merge_feedback
from auxiliary.data.readers import load_split


def test_label_set_folder_round_trip():
    assert label_set_folder(["wrinkles", "acne"], LABELS) == "acne+wrinkles"
    assert label_set_folder([], LABELS) == "none"
    assert parse_label_folder("acne+wrinkles", LABELS) == ["acne", "wrinkles"]
    assert parse_label_folder("none", LABELS) == []
    for bad in ("wrinkles+acne", "acne+acne", "acne+moles", ""):
        assert parse_label_folder(bad, LABELS) is None, bad
    assert label_set_columns("erythema", LABELS) == {"label": "erythema", "acne": 0, "erythema": 1, "wrinkles": 0}
    with pytest.raises(ValueError):
        label_set_folder(["moles"], LABELS)


def _png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


def test_multilabel_feedback_is_merged_with_its_label_columns(tmp_path):
    split = multilabel_split(tmp_path / "ml")
    before, _ = load_split(split)
    fb = tmp_path / "feedback"
    a = file_image(_png(tmp_path / "a.png", 1), "acne+wrinkles", fb, source="a", model_guess="none", probs=None,
                   classes=LABELS)
    b = file_image(_png(tmp_path / "b.png", 2), "none", fb, source="b", model_guess="acne", probs=None, classes=LABELS)
    (fb / "wrinkles+acne").mkdir()
    _png(fb / "wrinkles+acne" / "c.png", 3)  # out of order: not a label set of this split
    with pytest.raises(FeedbackError):
        file_image(tmp_path / "a.png", "acne+moles", fb, source="a", model_guess=None, probs=None, classes=LABELS)
    rep = merge_feedback(split, fb, progress=False)
    assert rep["added"] == 2 and rep["dropped"] == 1
    assert list(rep["dropped_reasons"]) == ["unknown label set 'wrinkles+acne'"]
    assert rep["added_per_class"] == {"acne": 1, "erythema": 0, "wrinkles": 1}
    assert rep["val_test_unchanged"]
    after, labels = load_split(rep["out_dir"])
    assert labels == LABELS and len(after["train"]) == len(before["train"]) + 2
    new = after["train"].iloc[-2:].set_index("label")
    assert new.loc["acne|wrinkles", LABELS].tolist() == [1, 0, 1]
    assert new.loc["none", LABELS].tolist() == [0, 0, 0]
    assert a.parent.name == "acne+wrinkles" and b.parent.name == "none"
