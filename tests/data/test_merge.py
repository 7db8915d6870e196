"""auxiliary.data.merge: feedback merged into a new training split version only; the feedback CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _hostile import HOSTILE_CLASSES, HOSTILE_REVIEWER, assert_safe_csv, fifo, no_hang
from _tiny_multilabel import LABELS as ML_LABELS
from _tiny_multilabel import multilabel_split
from PIL import Image

from auxiliary.data import feedback, merge, readers
from auxiliary.faces import cli

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
    assert cli.main(["feedback", "file", str(src), "--label", "none", "--feedback", str(fb), "--guess", "acne",
                     "--split", str(split)]) == 0
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


def _cli(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = cli.main(["feedback", *argv, "--quiet"])
    cap = capsys.readouterr()
    return code, cap.out.strip().splitlines(), cap.err.strip().splitlines()


def test_merge_copies_a_symlinked_image_and_leaves_link_and_target(split, tmp_path, capsys):
    """Issue 17 (3): a link in the feedback folder to an image elsewhere used to abort the whole merge
    (ValueError ... is not in the subpath of ...); it is merged like any other image, a copy of its
    target's bytes, and the link and its target are left as they were. A linked class folder too."""
    fb = tmp_path / "fb"
    feedback.file_image(_png(tmp_path / "new" / "a.png", 300), "acne", fb, source="a", model_guess=None, probs=None)
    target = _png(tmp_path / "elsewhere" / "photo.png", 301)
    (fb / "none").mkdir()
    (fb / "none" / "linked.png").symlink_to(target)
    _png(tmp_path / "ery_elsewhere" / "e.png", 302)
    (fb / "erythema").symlink_to(tmp_path / "ery_elsewhere", target_is_directory=True)
    outside = _tree_hashes(tmp_path / "elsewhere") | _tree_hashes(tmp_path / "ery_elsewhere")
    code, out, err = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb))
    assert code == 0 and err == [] and out[0].startswith("wrote ")
    rep = json.loads((split.parent / "toy-v2" / "merge_report.json").read_text())
    assert rep["added"] == 3 and rep["added_per_class"] == {"acne": 1, "erythema": 1, "none": 1}
    linked = next(d for d in rep["decisions"] if d["file"] == "none/linked.png")
    assert linked["status"] == "added" and linked["link"] == str(target)
    copy = split.parent / "toy-v2" / "feedback" / "none" / f"{linked['sha256'][:feedback.HASH_CHARS]}.png"
    assert copy.is_file() and not copy.is_symlink() and copy.read_bytes() == target.read_bytes()
    assert (fb / "none" / "linked.png").is_symlink() and os.readlink(fb / "none" / "linked.png") == str(target)
    assert (fb / "erythema").is_symlink()
    assert _tree_hashes(tmp_path / "elsewhere") | _tree_hashes(tmp_path / "ery_elsewhere") == outside


def test_merge_names_the_files_in_sub_folders_it_skips(split, tmp_path, capsys):
    """Issue 17 (7): files deeper than feedback/<class>/ used to be ignored without a word; they are
    skipped with a reason in the merge report and named in one printed line."""
    fb = tmp_path / "fb"
    feedback.file_image(_png(tmp_path / "new" / "a.png", 310), "acne", fb, source="a", model_guess=None, probs=None)
    _png(fb / "acne" / "old" / "deep.png", 311)
    _png(fb / "none" / "2023" / "jan" / "deeper.png", 312)
    code, out, err = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb))
    assert code == 0 and err == [] and len(out) == 2
    assert out[1].startswith("skipped 2 entries") and "acne/old/deep.png" in out[1] and "none/2023/jan/deeper.png" in out[1]
    rep = json.loads((split.parent / "toy-v2" / "merge_report.json").read_text())
    assert rep["added"] == 1 and rep["skipped"] == 2 and rep["skipped_reasons"] == {"in a sub-folder": 2}
    skipped = {d["file"]: d["reason"] for d in rep["decisions"] if d["status"] == "skipped"}
    assert set(skipped) == {"acne/old/deep.png", "none/2023/jan/deeper.png"}
    assert all(r.startswith("in a sub-folder") for r in skipped.values())
    # nothing to add: still said
    code, out, _ = _cli(capsys, "merge", "--split", str(split.parent / "toy-v2"), "--feedback", str(fb))
    assert code == 0 and out[0].startswith("nothing to add") and out[1].startswith("skipped 2 entries")


def test_merge_again_without_the_earlier_out_makes_no_duplicate(split, tmp_path, capsys):
    """Issue 17 (7): run again without the earlier --out, the same merge used to be written again as
    toy-v2; the earlier version is found (by the merge's inputs) and returned. Other labels are another merge."""
    fb = tmp_path / "fb"
    src = _png(tmp_path / "new" / "a.png", 320)
    feedback.file_image(src, "acne", fb, source="a", model_guess=None, probs=None)
    mine = split.parent / "toy-reviewed"
    code, out, _ = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb), "--out", str(mine))
    assert code == 0 and out[0].startswith(f"wrote {mine.resolve()}")
    before = _tree_hashes(split.parent)
    code, out, err = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb))
    assert code == 0 and err == [] and len(out) == 1
    assert out[0].startswith(f"already merged as {mine.resolve()}") and "nothing written" in out[0]
    assert sorted(p.name for p in split.parent.iterdir()) == ["toy", "toy-reviewed"]
    assert _tree_hashes(split.parent) == before
    # the reviewer changes their mind: the same bytes under another label is a new merge
    feedback.file_image(src, "erythema", fb, source="a", model_guess=None, probs=None)
    rep = merge.merge_feedback(split, fb, progress=False)
    assert not rep["reused"] and Path(rep["out_dir"]).name == "toy-v2" and rep["added_per_class"]["erythema"] == 1


def test_merge_into_an_existing_out_is_said_or_refused(split, tmp_path, capsys):
    """Issue 17 (7): an existing --out used to be ignored ("already merged as <another folder>"). Holding
    this merge: said in one line; holding anything else: one-line error, exit 2, unless --overwrite,
    which replaces only an earlier merge."""
    fb = tmp_path / "fb"
    feedback.file_image(_png(tmp_path / "new" / "a.png", 330), "acne", fb, source="a", model_guess=None, probs=None)
    code, out, _ = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb))
    v2 = (split.parent / "toy-v2").resolve()
    assert code == 0 and out[0].startswith(f"wrote {v2}")
    # --out holding the user's own files: refused, untouched, even with --overwrite
    mine = tmp_path / "my photos"
    _png(mine / "holiday.png", 331)
    before = _tree_hashes(mine)
    for extra in ([], ["--overwrite"]):
        code, out, err = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb), "--out", str(mine), *extra)
        assert code == 2 and out == [] and len(err) == 1 and err[0].startswith("error: --out") and str(mine) in err[0]
        assert "Traceback" not in err[0]
    assert _tree_hashes(mine) == before
    # --out holding this same merge: said, nothing written
    before = _tree_hashes(v2)
    code, out, err = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb), "--out", str(v2))
    assert code == 0 and err == [] and out[0].startswith(f"already merged as {v2}")
    assert _tree_hashes(v2) == before
    # --out holding another merge: refused without --overwrite, replaced with it
    feedback.file_image(_png(tmp_path / "new" / "b.png", 332), "none", fb, source="b", model_guess=None, probs=None)
    code, out, err = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb), "--out", str(v2))
    assert code == 2 and len(err) == 1 and "already exists and is not empty" in err[0] and "--overwrite" in err[0]
    assert _tree_hashes(v2) == before
    code, out, err = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb), "--out", str(v2), "--overwrite")
    assert code == 0 and err == [] and out[0].startswith(f"replaced {v2}")
    assert json.loads((v2 / "merge_report.json").read_text())["added"] == 2
    assert sorted(p.name for p in split.parent.iterdir()) == ["toy", "toy-v2"]
    # --out inside the split or the feedback folder: refused
    for inside in (split / "merged", fb / "merged"):
        code, _, err = _cli(capsys, "merge", "--split", str(split), "--feedback", str(fb), "--out", str(inside))
        assert code == 2 and len(err) == 1 and err[0].startswith("error: --out") and not inside.exists()


def test_multilabel_feedback_is_merged_with_its_label_columns(tmp_path):
    split = multilabel_split(tmp_path / "ml")
    before, _ = readers.load_split(split)
    fb = tmp_path / "feedback"
    a = feedback.file_image(_png(tmp_path / "a.png", 101), "acne+wrinkles", fb, source="a", model_guess="none",
                            probs=None, classes=ML_LABELS)
    b = feedback.file_image(_png(tmp_path / "b.png", 102), "none", fb, source="b", model_guess="acne", probs=None,
                            classes=ML_LABELS)
    (fb / "wrinkles+acne").mkdir()
    _png(fb / "wrinkles+acne" / "c.png", 103)  # out of order: not a label set of this split
    with pytest.raises(feedback.FeedbackError):
        feedback.file_image(tmp_path / "a.png", "acne+moles", fb, source="a", model_guess=None, probs=None,
                            classes=ML_LABELS)
    rep = merge.merge_feedback(split, fb, progress=False)
    assert rep["added"] == 2 and rep["dropped"] == 1
    assert list(rep["dropped_reasons"]) == ["unknown label set 'wrinkles+acne'"]
    assert rep["added_per_class"] == {"acne": 1, "erythema": 0, "wrinkles": 1}
    assert rep["val_test_unchanged"]
    after, labels = readers.load_split(rep["out_dir"])
    assert labels == ML_LABELS and len(after["train"]) == len(before["train"]) + 2
    new = after["train"].iloc[-2:].set_index("label")
    assert new.loc["acne|wrinkles", ML_LABELS].tolist() == [1, 0, 1]
    assert new.loc["none", ML_LABELS].tolist() == [0, 0, 0]
    assert a.parent.name == "acne+wrinkles" and b.parent.name == "none"


def test_merge_keeps_hostile_names_as_text_and_skips_a_fifo(tmp_path):
    """Issue 28: classes named like formulas (``=1+1``...), a reviewer ``=HYPERLINK(...)``: every list of the merged
    version has no cell a spreadsheet runs, and reads back as it was (once: a list carried over is not quoted
    twice); a FIFO in the feedback folder is skipped, named and counted, never opened."""
    classes = sorted(c for c in HOSTILE_CLASSES if not c.startswith("-"))  # a leading dash is no feedback folder
    d = tmp_path / "splits" / "toy"
    d.mkdir(parents=True)
    for name, n in (("train", 3), ("val", 3), ("test", 3)):
        rows = [{"path": _png(tmp_path / "dataset" / f"{name}_{i}.png", 50 + 10 * len(name) + i), "label": classes[i],
                 "group": f"{name}{i}", "is_augmented": False} for i in range(n)]
        readers.write_table(pd.DataFrame(rows), d / f"{name}.csv")
    (d / "classes.json").write_text(json.dumps({"classes": classes}))
    fb = tmp_path / "fb"
    for i, label in enumerate(classes):
        feedback.file_image(_png(tmp_path / "new" / f"{i}.png", 900 + i), label, fb, source=f"={i}", model_guess=None,
                            probs=None, reviewer=HOSTILE_REVIEWER)
    fifo(fb / classes[0] / "pipe.png")
    out = tmp_path / "elsewhere" / "deeper" / "merged"  # another depth: val/test rewritten, not copied
    with no_hang():
        rep = merge.merge_feedback(d, fb, out, progress=False)
    assert rep["added"] == 3 and rep["skipped"] == 1 and rep["skipped_reasons"] == {"a FIFO, not a regular file": 1}
    for name in ("train.csv", "val.csv", "test.csv"):
        assert_safe_csv(out / name)
    new, names = readers.load_split(out)
    old, _ = readers.load_split(d)
    assert names == classes
    for s in ("val", "test"):
        assert list(new[s]["label"]) == list(old[s]["label"]) == classes
    added = new["train"][new["train"]["origin"] == "feedback"]
    assert sorted(added["label"]) == classes and set(added["reviewer"]) == {HOSTILE_REVIEWER}
    assert list(new["train"]["label"][:3]) == classes  # the carried-over rows, quoted once
