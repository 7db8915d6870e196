"""Sorting with a multi-label checkpoint: an image goes into every label folder it is positive for, ``none/`` or
``low_confidence/``; every input accounted for once; re-runs add nothing; shards merge to what one process gives."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _multilabel_checkpoint import LABELS, multilabel_checkpoint, noise_image
from _tiny_runs import tiny_checkpoint
from PIL import Image

from auxiliary.base import errors
from auxiliary.base import files as files_mod
from auxiliary.base.tone import ita_group
from auxiliary.data.probe import estimate_tone
from auxiliary.faces import cli
from auxiliary.inference import predictor, sort_merge, sort_report, sorter
from auxiliary.tasks.placement import label_margins, uncertain

SKIN = np.full((40, 40, 3), (205, 160, 135), dtype=np.uint8)  # a flat skin colour: its tone group is estimable
TONE = ita_group(estimate_tone(SKIN))
#: image name -> (image, logits); erythema has temperature 2, so its logits are twice the calibrated ones
DESIGN = {
    "both.png": (noise_image(1), [5.0, 10.0, -5.0, -5.0]),  # acne and erythema, far from their thresholds
    "nothing.png": (noise_image(2), [-5.0, -10.0, -5.0, -5.0]),  # no label: none/
    "unsure.png": (noise_image(3), [-5.0, 0.2, -5.0, -5.0]),  # erythema p = 0.525, threshold 0.5: low confidence
    "low_threshold.png": (noise_image(4), [-0.85, -10.0, -5.0, -5.0]),  # acne p = 0.30 >= its threshold 0.1
    "skin.png": (SKIN, [0.0, -10.0, -5.0, -5.0]),  # acne p = 0.5: positive globally (0.1), not for its tone (0.9)
}
THRESHOLDS = {"global": {"acne": 0.1, "erythema": 0.5, "hyperpigmentation": 0.5},  # wrinkles: none recorded -> 0.5
              "per_group": {TONE: {"acne": 0.9, "erythema": 0.5, "hyperpigmentation": 0.5, "wrinkles": 0.5}},
              "fallback": {TONE: ["wrinkles"]}}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    assert TONE != "unknown"
    images = [im for im, _ in DESIGN.values()]
    return multilabel_checkpoint(tmp_path_factory.mktemp("mlck") / "best.pt", images,
                                 np.array([lg for _, lg in DESIGN.values()]), temperatures=[1.0, 2.0, 1.0, 1.0],
                                 thresholds=THRESHOLDS)


@pytest.fixture(scope="module")
def pred(ckpt):
    return sorter.sorting_predictor(ckpt, "torch", device="cpu")


def make_inputs(root: Path, extra: int = 0) -> Path:
    """The designed images, a copy of both.png, a corrupt file, and ``extra`` noise images in a sub-folder."""
    (root / "sub").mkdir(parents=True)
    for name, (im, _) in DESIGN.items():
        Image.fromarray(im).save(root / name)
    shutil.copyfile(root / "both.png", root / "sub" / "copy_of_both.png")
    (root / "corrupt.png").write_bytes((root / "both.png").read_bytes()[:40] + b"\x00" * 30)
    for i in range(extra):
        Image.fromarray(noise_image(100 + i)).save(root / "sub" / f"extra_{i}.png")
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def out_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file() and ".sort" not in p.parts and p.parent != out)


def by_name(df: pd.DataFrame) -> dict[str, pd.Series]:
    return {Path(s).name: row for s, (_, row) in zip(df["source"], df.iterrows())}


def test_predictor_decides_with_per_label_and_per_group_thresholds(pred):
    """The predictor asks its task: per-label sigmoids at the checkpoint's temperatures, decisions at its
    global thresholds, or at each row's tone group's."""
    task, info = pred.task, pred.info
    assert task.name == "multilabel" and info["temperatures"] == [1.0, 2.0, 1.0, 1.0]
    probs = pred.predict_arrays([im for im, _ in DESIGN.values()])
    assert np.allclose(probs[0, :2], [1 / (1 + math.exp(-5))] * 2, atol=1e-4)  # erythema's logit 10 at T = 2
    np.testing.assert_array_equal(pred.decide(probs), [[1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0],
                                                       [1, 0, 0, 0]])
    lt = task.thresholds(info, LABELS)
    assert lt.global_thresholds == {"acne": 0.1, "erythema": 0.5, "hyperpigmentation": 0.5, "wrinkles": 0.5}
    # the same probabilities: acne 0.3 >= 0.1 globally, but 0.5 < 0.9 in the tone group; unknown groups use global
    groups = ["unknown", TONE, TONE, "unknown", TONE]
    np.testing.assert_array_equal(pred.decide(probs, tone_groups=groups)[:, 0], [1, 0, 0, 1, 0])
    assert pred.decide({"acne": 0.05, "erythema": 0.5, "hyperpigmentation": 0.49, "wrinkles": float("nan")}).tolist() \
        == [0, 1, 0, 0]
    assert task.threshold_rows(info, LABELS, 2, [TONE, "dark"])[:, 0].tolist() == [0.9, 0.1]
    plain = {k: v for k, v in info.items() if k not in ("temperatures", "thresholds")}
    bare = predictor.Predictor(pred.model, plain, task)  # no temperatures, no thresholds recorded: 1 and 0.5
    logits = np.array([[0.3, -1.0, 2.0, 0.0]])
    np.testing.assert_allclose(bare.probabilities(logits), 1 / (1 + np.exp(-logits)))
    assert task.thresholds(bare.info, LABELS).for_rows(None).tolist() == [0.5] * 4
    bad = predictor.Predictor(pred.model, {**plain, "thresholds": {"global": {"acne": 1.5}}}, task)
    with pytest.raises(errors.AuxiliaryError, match="threshold of acne"):
        bad.decide([0.5] * 4)


def test_the_low_confidence_band_is_the_single_label_rule_at_one_half():
    p = np.array([0.6, 0.59, 0.4, 0.41, 0.5])
    assert uncertain(p, 0.5, 0.6).tolist() == [False, True, False, True, True]
    assert not uncertain(p, 0.5, 0.5).any()  # conf 0.5: nothing is sent for review
    # a low threshold: the same fraction of the way to 0 or 1 (0.2 at conf 0.6) -> band 0.08 .. 0.28
    assert uncertain([0.079, 0.081, 0.2, 0.28], 0.1, 0.6).tolist() == [False, True, True, False]
    assert label_margins([1.0, 0.0, 0.1, 0.55], 0.1).tolist() == pytest.approx([1, 1, 0, 0.5])


def test_every_input_lands_once_in_each_folder_it_belongs_to(ckpt, pred, tmp_path):
    inp, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    before = snapshot(inp)
    res = sorter.sort_folder(ckpt, inp, out, recursive=True, batch=3, predictor=pred, progress=False)
    assert snapshot(inp) == before  # inputs never touched
    sm = res.summary
    assert sm["task"] == "multilabel" and sm["accounted_for_all"] and sm["n_inputs"] == sm["n_rows"] == 7
    assert sm["decisions"] == {"sorted": 5, "low_confidence": 1, "rejected": 1}
    assert sm["counts"] == {"acne": 4, "erythema": 2, "hyperpigmentation": 0, "wrinkles": 0, "none": 1,
                            "low_confidence": 1, "rejected": 1}
    assert sm["thresholds"]["acne"] == 0.1 and sm["threshold"] is None
    df = sort_report.read_sort_predictions(out)
    assert list(df.columns[:5]) == ["source", "destination", "decision", "folder", "predicted"]
    for c in LABELS:
        assert {f"prob_{c}", f"pred_{c}", f"threshold_{c}"} <= set(df.columns)
    assert "top_prob" not in df.columns and len(df) == df["source"].nunique() == 7
    rows = by_name(df)
    both = rows["both.png"]
    assert both["folder"] == "acne|erythema" and both["predicted"] == "acne|erythema"
    assert both["destination"] == "acne/both.png|erythema/both.png"
    assert [both[f"pred_{c}"] for c in LABELS] == [1, 1, 0, 0]
    assert both["prob_erythema"] == pytest.approx(1 / (1 + math.exp(-5)), abs=1e-4)
    copy = rows["copy_of_both.png"]  # same bytes: pointed at the copies already there, not copied again
    assert copy["destination"] == copy["duplicate_of"] == "acne/both.png|erythema/both.png"
    assert rows["nothing.png"]["destination"] == "none/nothing.png" and rows["nothing.png"]["predicted"] == "none"
    unsure = rows["unsure.png"]  # erythema 0.525 within the band around 0.5: for a person, not in erythema/
    assert unsure["destination"] == "low_confidence/unsure.png" and unsure["decision"] == "low_confidence"
    assert unsure["uncertain"] == "erythema" and unsure["pred_erythema"] == 1 and unsure["margin"] < 0.2
    low = rows["low_threshold.png"]
    assert low["destination"] == "acne/low_threshold.png" and low["threshold_acne"] == 0.1 and low["prob_acne"] < 0.5
    assert rows["skin.png"]["destination"] == "acne/skin.png" and rows["skin.png"]["tone_group_est"] == ""
    assert rows["corrupt.png"]["decision"] == "rejected" and rows["corrupt.png"]["destination"] == ""
    assert list(res.rejected["source"]) == [str(inp / "corrupt.png")]
    assert out_files(out) == ["acne/both.png", "acne/low_threshold.png", "acne/skin.png", "erythema/both.png",
                              "low_confidence/unsure.png", "none/nothing.png"]
    for rel in out_files(out):
        assert files_mod.sha256_file(out / rel) == files_mod.sha256_file(inp / Path(rel).name)
    assert {r["threshold_wrinkles"] for r in rows.values() if r["decision"] != "rejected"} == {0.5}

    # a re-run adds nothing; a lost copy of a two-label image is put back, and only it
    again = sorter.sort_folder(ckpt, inp, out, recursive=True, batch=3, predictor=pred, progress=False)
    assert again.summary["n_processed"] == 0 and again.summary["n_already_done"] == 7 and again.summary["n_copied"] == 0
    pd.testing.assert_frame_equal(sort_report.read_sort_predictions(out), df)
    files = out_files(out)
    (out / "erythema" / "both.png").unlink()
    third = sorter.sort_folder(ckpt, inp, out, recursive=True, batch=3, predictor=pred, progress=False)
    assert third.summary["n_copied"] == 1 and third.summary["accounted_for_all"]
    assert out_files(out) == files  # put back under its own name, nothing else copied
    # the same OUT with the tone groups' thresholds, a conformal coverage: refused in one line
    with pytest.raises(errors.SortError, match="other settings"):
        sorter.sort_folder(ckpt, inp, out, recursive=True, predictor=pred, progress=False, tone_thresholds=True)
    with pytest.raises(errors.SortError, match="single-label"):
        sorter.sort_folder(ckpt, inp, tmp_path / "o2", predictor=pred, progress=False, coverage=0.9)


def test_an_interrupted_multilabel_sort_completes_without_duplicates(ckpt, pred, tmp_path, monkeypatch):
    inp, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    real_copy = files_mod.atomic_copy
    calls = {"n": 0}

    def flaky_copy(src, dest):
        calls["n"] += 1
        if calls["n"] == 2:  # between the acne/ and the erythema/ copy of both.png
            raise KeyboardInterrupt
        real_copy(src, dest)

    monkeypatch.setattr(sorter, "atomic_copy", flaky_copy)
    with pytest.raises(KeyboardInterrupt):
        sorter.sort_folder(ckpt, inp, out, recursive=True, predictor=pred, progress=False)
    monkeypatch.setattr(sorter, "atomic_copy", real_copy)
    res = sorter.sort_folder(ckpt, inp, out, recursive=True, predictor=pred, progress=False)
    assert res.summary["accounted_for_all"] and res.summary["n_rows"] == 7
    assert len(out_files(out)) == 6 and res.summary["counts"]["acne"] == 4


def test_tone_thresholds_use_the_estimated_tone_group(ckpt, pred, tmp_path):
    inp, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    res = sorter.sort_folder(ckpt, inp, out, recursive=True, predictor=pred, progress=False, tone_thresholds=True)
    rows = by_name(res.predictions)
    skin = rows["skin.png"]  # acne 0.5 is under its tone group's 0.9, and far enough below it: none/
    assert skin["tone_group_est"] == TONE and skin["threshold_acne"] == 0.9 and skin["destination"] == "none/skin.png"
    assert "estimated tone group" in skin["rule"]
    state = json.loads((out / ".sort" / "state.json").read_text())
    assert state["tone_thresholds"] is True and state["group_thresholds"][TONE]["acne"] == 0.9


def test_multilabel_shards_merge_to_what_one_process_gives(ckpt, pred, tmp_path):
    src = make_inputs(tmp_path / "in", extra=8)
    one = sorter.sort_folder(ckpt, src, tmp_path / "one", recursive=True, predictor=pred, progress=False)
    for i in range(3):
        sorter.sort_folder(ckpt, src, tmp_path / "sharded", recursive=True, predictor=pred, progress=False, shard=(i, 3))
    res = sort_merge.merge_shards(src, tmp_path / "sharded", recursive=True, progress=False)
    sm = res.summary
    assert sm["accounted_for_all"] and sm["n_inputs"] == 15 and sm["task"] == "multilabel"
    assert sm["counts"] == one.summary["counts"] and sm["decisions"] == one.summary["decisions"]
    assert sm["thresholds"] == one.summary["thresholds"]

    def rows(out):
        return sort_report.read_sort_predictions(out).sort_values("source").reset_index(drop=True)

    a, b = rows(tmp_path / "one"), rows(tmp_path / "sharded")
    cols = ["source", "decision", "folder", "predicted", "sha256", *[f"pred_{c}" for c in LABELS]]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    for folder in [*LABELS, "none", "low_confidence"]:
        def content(root, folder=folder):
            return sorted(p.read_bytes() for p in (root / folder).glob("*")) if (root / folder).is_dir() else []
        assert content(tmp_path / "one") == content(tmp_path / "sharded")
    again = sort_merge.merge_shards(src, tmp_path / "sharded", recursive=True, progress=False)
    assert again.summary["n_processed"] == 0 and again.summary["accounted_for_all"]


def test_cli_sorts_a_multilabel_folder(ckpt, tmp_path, capsys):
    inp, out = make_inputs(tmp_path / "in"), tmp_path / "out"
    code = cli.main(["sort", "--ckpt", str(ckpt), "--input", str(inp), "--out", str(out), "--recursive",
                     "--backend", "torch", "--device", "cpu", "--quiet", "--tone-thresholds"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "multi-label: 5 sorted" in text and "1 low confidence" in text and "accounted for all: True" in text
    assert (out / "none" / "skin.png").is_file() and (out / "erythema" / "both.png").is_file()


def test_tone_thresholds_with_a_single_label_model_is_one_line(tmp_path):
    ck = tiny_checkpoint(tmp_path / "single.pt")[0]
    inp = make_inputs(tmp_path / "in")
    with pytest.raises(errors.SortError, match="multi-label models"):
        sorter.sort_folder(ck, inp, tmp_path / "out", backend="torch", device="cpu", progress=False, tone_thresholds=True)
    assert not (tmp_path / "out").exists()


def test_label_names_that_clash_with_the_none_folder_are_refused(pred):
    with pytest.raises(errors.SortError, match="none/"):
        pred.task.sort_rule(pred.info, ["acne", "none", "x", "y"], 0.6)
