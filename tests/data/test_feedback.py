"""auxiliary.data.feedback: filing an image with provenance, idempotent, relabelled; bad labels refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from _hostile import HOSTILE_CLASSES, HOSTILE_REVIEWER, assert_safe_csv, fifo, no_hang
from PIL import Image

from auxiliary.base import images as images_mod
from auxiliary.data import feedback


def _png(path: Path, seed: int, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def test_file_image_copies_with_provenance_and_is_idempotent(tmp_path):
    src = _png(tmp_path / "in" / "photo one.png", 1)
    before = src.read_bytes()
    fb = tmp_path / "fb"
    dest = feedback.file_image(src, "acne", fb, source=str(src), model_guess="none",
                               probs={"acne": 0.3, "erythema": 0.2, "none": 0.5})
    sha = hashlib.sha256(before).hexdigest()
    assert dest == fb / "acne" / f"{sha[:feedback.HASH_CHARS]}.png" and dest.read_bytes() == before
    assert src.read_bytes() == before  # a copy, never a move
    again = feedback.file_image(src, "acne", fb, source=str(src), model_guess="none", probs=None)
    assert again == dest
    prov = feedback.read_provenance(fb)
    assert len(prov) == 1
    row = prov.iloc[0]
    assert row["sha256"] == sha and row["label"] == "acne" and row["model_guess"] == "none"
    assert row["source"] == str(src) and row["reviewer"] == "reviewer" and row["time"].startswith("20")
    assert json.loads(row["probs"])["none"] == 0.5
    # the reviewer changes their mind: the feedback copy moves, the history keeps both rows
    moved = feedback.file_image(src, "erythema", fb, source=str(src), model_guess="none", probs=None)
    assert moved.parent.name == "erythema" and not dest.exists()
    prov = feedback.read_provenance(fb)
    assert list(prov["action"]) == ["filed", "relabel"] and prov.iloc[1]["previous_label"] == "acne"
    # an array (e.g. a web upload) is written as PNG named by the hash of those bytes
    arr = np.random.default_rng(5).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    p1 = feedback.file_image(arr, "none", fb, source="upload.jpg", model_guess="acne", probs=None, reviewer="web")
    p2 = feedback.file_image(arr.copy(), "none", fb, source="upload.jpg", model_guess="acne", probs=None)
    assert p1 == p2 and np.array_equal(np.asarray(Image.open(p1)), arr)
    assert len(feedback.read_provenance(fb)) == 3


def test_file_image_refuses_bad_labels_and_non_images(tmp_path):
    src = _png(tmp_path / "a.png", 2)
    for bad in ("../escape", "", ".hidden", "a/b", "-x"):
        with pytest.raises(feedback.FeedbackError):
            feedback.file_image(src, bad, tmp_path / "fb", source="x", model_guess=None, probs=None)
    txt = tmp_path / "notes.jpg"
    txt.write_text("not an image")
    with pytest.raises(images_mod.ImageReadError, match="not an image"):
        feedback.file_image(txt, "acne", tmp_path / "fb", source="x", model_guess=None, probs=None)
    assert not (tmp_path / "fb").exists() or not any((tmp_path / "fb").rglob("*.jpg"))


def test_file_image_refuses_a_label_outside_the_classes(tmp_path):
    """Issue 17 (7): with the model's or split's classes, an unknown label is refused, naming them; nothing is written."""
    src = _png(tmp_path / "a.png", 3)
    fb = tmp_path / "fb"
    with pytest.raises(feedback.FeedbackError, match="'rosacea'.*acne, erythema, none"):
        feedback.file_image(src, "rosacea", fb, source="x", model_guess=None, probs=None,
                            classes=["acne", "erythema", "none"])
    assert not fb.exists()
    dest = feedback.file_image(src, "acne", fb, source="x", model_guess=None, probs=None, classes=["acne", "erythema", "none"])
    assert dest.parent == fb / "acne"


def test_feedback_listing_keeps_links_inside_and_names_what_it_leaves_out(tmp_path):
    """Issue 17 (3, 7): a link to an image elsewhere is an image of the folder; sub-folder files,
    hidden files, broken links and stray files are each listed with a reason, never dropped silently."""
    fb = tmp_path / "fb"
    _png(fb / "acne" / "a.png", 10)
    target = _png(tmp_path / "elsewhere" / "photo.png", 11)
    (fb / "none").mkdir()
    (fb / "none" / "linked.png").symlink_to(target)
    _png(fb / "acne" / "old" / "deep.png", 12)
    _png(fb / "acne" / "old" / "older" / "deeper.png", 13)
    (fb / "acne" / ".DS_Store").write_bytes(b"x")
    (fb / "acne" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    _png(fb / "stray.png", 14)
    (fb / "provenance.csv").write_text("time\n")
    images, skipped = feedback.feedback_listing(fb)
    assert list(images["file"]) == ["acne/a.png", "none/linked.png"]
    linked = images[images["name"] == "linked.png"].iloc[0]
    assert Path(linked["path"]) == fb.resolve() / "none" / "linked.png" and linked["link"] == str(target)
    reasons = {s["file"]: s["reason"] for s in skipped}
    assert set(reasons) == {"acne/old/deep.png", "acne/old/older/deeper.png", "acne/.DS_Store", "acne/gone.png", "stray.png"}
    assert reasons["acne/old/deep.png"].startswith("in a sub-folder") and reasons["acne/old/older/deeper.png"].startswith("in a sub-folder")
    assert reasons["acne/gone.png"].startswith("broken link") and reasons["acne/.DS_Store"] == "hidden"
    assert reasons["stray.png"].startswith("not in a class folder")
    assert list(feedback.feedback_images(fb)["file"]) == list(images["file"])


def test_provenance_keeps_what_a_spreadsheet_would_run_as_text(tmp_path):
    """Issue 28: a reviewer called ``=HYPERLINK(...)`` or a label ``+cmd`` is written to ``provenance.csv`` with a
    ``'`` in front (no cell a spreadsheet runs) and read back as it was filed."""
    fb = tmp_path / "fb"
    labels = [c for c in HOSTILE_CLASSES if not c.startswith("-")]  # a leading dash is no folder name: refused
    for i, label in enumerate(labels):
        feedback.file_image(_png(tmp_path / "in" / f"{i}.png", 40 + i), label, fb, source=f"-{i}.png",
                            model_guess="@guess", probs=None, reviewer=HOSTILE_REVIEWER)
    assert_safe_csv(fb / feedback.PROVENANCE)
    prov = feedback.read_provenance(fb)
    assert list(prov["label"]) == labels and set(prov["reviewer"]) == {HOSTILE_REVIEWER}
    assert list(prov["source"]) == [f"-{i}.png" for i in range(len(labels))]
    assert set(prov["model_guess"]) == {"@guess"}


def test_feedback_listing_names_a_fifo_and_never_opens_it(tmp_path):
    """Issue 28: a FIFO in a class folder, beside them, or behind a link is listed with a reason saying what it is
    (never opened: opening a FIFO blocks)."""
    fb = tmp_path / "fb"
    _png(fb / "acne" / "a.png", 20)
    fifo(fb / "acne" / "pipe.png")
    fifo(fb / "pipe")
    (fb / "none").mkdir()
    (fb / "none" / "linked.png").symlink_to(fifo(tmp_path / "elsewhere" / "pipe.png"))
    with no_hang():
        images, skipped = feedback.feedback_listing(fb)
    assert list(images["file"]) == ["acne/a.png"]
    reasons = {s["file"]: s["reason"] for s in skipped}
    assert reasons["acne/pipe.png"].startswith("a FIFO") and "never opened" in reasons["acne/pipe.png"]
    assert reasons["pipe"].startswith("a FIFO") and reasons["none/linked.png"].startswith("link to a FIFO")


def test_filing_a_fifo_is_refused_without_opening_it(tmp_path):
    """Issue 28: a FIFO given as the image to file is refused by what it is, in one line, and never opened."""
    with no_hang(), pytest.raises(feedback.FeedbackError, match="a FIFO"):
        feedback.file_image(fifo(tmp_path / "pipe.png"), "acne", tmp_path / "fb", source="x", model_guess=None,
                            probs=None)
    assert not (tmp_path / "fb").exists()
