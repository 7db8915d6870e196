"""auxiliary.data.merge: feedback merged into a new training split version only; the feedback CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from auxiliary import cli
from auxiliary.data import feedback, merge, readers

CLASSES = ["acne", "erythema", "none"]


def _png(path: Path, seed: int, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def split(tmp_path) -> Path:
    """A split folder per the contract: CSVs with paths relative to their folder, images elsewhere."""
    images = tmp_path / "dataset"
    d = tmp_path / "splits" / "toy"
    d.mkdir(parents=True)
    seed = 0
    for name, n in (("train", 6), ("val", 3), ("test", 3)):
        rows = []
        for i in range(n):
            lab = CLASSES[i % 3]
            p = _png(images / lab / f"{name}_{i}.png", seed)
            seed += 1
            rows.append({"path": p, "label": lab, "group": f"g{seed}", "tone_group": "light", "ita": 45.0,
                         "is_augmented": False})
        readers.write_table(pd.DataFrame(rows), d / f"{name}.csv")
    (d / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    (d / "split_report.json").write_text(json.dumps({"note": "toy"}))
    return d


def test_merge_adds_to_train_only_drops_duplicates_and_keeps_old_version(split, tmp_path):
    fb = tmp_path / "fb"
    tables, _ = readers.load_split(split)
    new1 = _png(tmp_path / "new" / "n1.png", 101)
    new2 = _png(tmp_path / "new" / "n2.png", 102)
    feedback.file_image(new1, "acne", fb, source=str(new1), model_guess="none", probs=None)
    feedback.file_image(new2, "none", fb, source=str(new2), model_guess="acne", probs=None)
    feedback.file_image(tables["val"]["path"][0], "acne", fb, source="val image", model_guess="x", probs=None)
    feedback.file_image(tables["test"]["path"][1], "erythema", fb, source="test image", model_guess="x", probs=None)
    feedback.file_image(tables["train"]["path"][2], "none", fb, source="train image", model_guess="x", probs=None)
    _png(fb / "melanoma" / "m.png", 103)  # a class the split does not have
    (fb / "acne" / "broken.png").write_bytes(b"\x89PNG broken")
    # the same bytes filed by hand under two labels: a conflict, dropped
    (fb / "acne" / "c1.png").write_bytes(_png(tmp_path / "c.png", 104).read_bytes())
    (fb / "none" / "c2.png").write_bytes((tmp_path / "c.png").read_bytes())
    old = _tree_hashes(split)
    dataset_before = _tree_hashes(tmp_path / "dataset")

    rep = merge.merge_feedback(split, fb, progress=False)
    out = Path(rep["out_dir"])
    assert out == (split.parent / "toy-v2").resolve() and rep["version"] == "toy-v2"
    assert _tree_hashes(split) == old and _tree_hashes(tmp_path / "dataset") == dataset_before
    assert rep["added"] == 2 and rep["added_per_class"] == {"acne": 1, "erythema": 0, "none": 1}
    reasons = {d["file"]: d["reason"] for d in rep["decisions"] if d["status"] == "dropped"}
    assert sum("already in val" in r for r in reasons.values()) == 1
    assert sum("already in test" in r for r in reasons.values()) == 1
    assert sum("already in train" in r for r in reasons.values()) == 1
    assert any("unknown class" in r for r in reasons.values()) and any("unreadable" in r for r in reasons.values())
    assert sum("conflicting" in r for r in reasons.values()) == 2
    new_tables, classes = readers.load_split(out)
    assert classes == CLASSES and rep["val_test_unchanged"]
    for s in ("val", "test"):
        assert (out / f"{s}.csv").read_bytes() == (split / f"{s}.csv").read_bytes()
        pd.testing.assert_frame_equal(new_tables[s], tables[s])
    train = new_tables["train"]
    assert len(train) == len(tables["train"]) + 2
    assert list(train["path"][:6]) == list(tables["train"]["path"])
    fb_rows = train[train["origin"] == "feedback"]
    assert all(Path(p).is_relative_to(out) and Path(p).is_file() for p in fb_rows["path"])
    assert set(fb_rows["sha256"]) == {hashlib.sha256(p.read_bytes()).hexdigest() for p in (new1, new2)}
    assert set(fb_rows["feedback_source"]) == {str(new1), str(new2)}
    # every image hash appears in one split only
    hashes = {s: {hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in t["path"]} for s, t in new_tables.items()}
    assert not (hashes["train"] & hashes["val"]) and not (hashes["train"] & hashes["test"])
    assert json.loads((out / "merge_report.json").read_text())["added"] == 2

    # the same merge again: the existing version is returned, no v3
    rep2 = merge.merge_feedback(split, fb, progress=False)
    assert rep2["reused"] and rep2["out_dir"] == rep["out_dir"]
    assert sorted(p.name for p in split.parent.iterdir()) == ["toy", "toy-v2"]
    # merging into v2: everything is already there, nothing written
    rep3 = merge.merge_feedback(out, fb, progress=False)
    assert rep3["out_dir"] is None and rep3["added"] == 0
    # new feedback on top of v2 -> v3, v2 untouched
    v2 = _tree_hashes(out)
    new3 = _png(tmp_path / "new" / "n3.png", 105)
    feedback.file_image(new3, "erythema", fb, source=str(new3), model_guess="acne", probs=None)
    rep4 = merge.merge_feedback(out, fb, progress=False)
    assert Path(rep4["out_dir"]).name == "toy-v3" and rep4["added"] == 1 and _tree_hashes(out) == v2
    with pytest.raises(feedback.FeedbackError, match="not empty"):
        merge.merge_feedback(split, fb, split.parent / "toy-v3", progress=False)


def test_merge_cli_and_file_cli(split, tmp_path, capsys):
    src = _png(tmp_path / "x.png", 200)
    fb = tmp_path / "fb"
    assert cli.main(["feedback", "file", str(src), "--label", "none", "--feedback", str(fb), "--guess", "acne"]) == 0
    out = tmp_path / "elsewhere" / "merged"
    assert cli.main(["feedback", "merge", "--split", str(split), "--feedback", str(fb), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "+1 training images" in text
    new_tables, _ = readers.load_split(out)
    old_tables, _ = readers.load_split(split)
    for s in ("val", "test"):  # another depth: paths rewritten, the same images
        assert list(new_tables[s]["path"]) == list(old_tables[s]["path"])
    assert cli.main(["feedback", "merge", "--split", str(tmp_path / "nosplit"), "--feedback", str(fb)]) == 2
    assert "not a split folder" in capsys.readouterr().err
