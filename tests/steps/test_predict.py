"""auxiliary.steps.predict and ``python -m auxiliary predict``: one photo's calibrated answer, Grad-CAM, --face, --json;
a folder or a bad file is one line and exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _multilabel_checkpoint import LABELS, multilabel_checkpoint, noise_image
from _photos import face_photo
from _tiny_runs import tiny_checkpoint

from auxiliary.base import config_overrides
from auxiliary.base.images import read_image, write_png
from auxiliary.faces import cli
from auxiliary.steps import predict as predict_mod
from auxiliary.synth import skinmask

CLASSES = ["acne", "erythema", "none"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("predict_ckpt") / "best.pt", img_size=32, temperature=1.5)[0]


@pytest.fixture()
def photo(tmp_path):
    rgb, _, _ = face_photo()
    return write_png(tmp_path / "in" / "portrait.png", rgb)


def cfg(**over):
    return config_overrides.resolve("smoke", None, over)


def test_one_photo_gets_calibrated_probabilities_and_the_sort_thresholds_verdict(ckpt, photo):
    [res] = predict_mod.predict(cfg(**{"sort.conf": 0.99}), [photo], ckpt)
    assert list(res["probs"]) and set(res["probs"]) == set(CLASSES)
    assert sum(res["probs"].values()) == pytest.approx(1.0)
    assert res["top"] == max(res["probs"], key=res["probs"].get)
    assert res["low_confidence"] is True  # an untrained 3-class model is never 99 % sure
    [sure] = predict_mod.predict(cfg(**{"sort.conf": 0.0}), [photo], ckpt)
    assert sure["low_confidence"] is False and sure["probs"] == pytest.approx(res["probs"])
    assert "face" not in res and "gradcam" not in res


def test_face_crops_to_the_largest_detected_face_and_says_when_there_is_none(ckpt, photo, monkeypatch):
    rgb = read_image(photo)
    monkeypatch.setattr(predict_mod, "detect_faces", lambda im: [(10, 20, 50, 60), (60, 40, 120, 150)])
    crop, box = predict_mod.face_crop(rgb)
    assert box == (60, 40, 120, 150)
    assert crop.shape[:2] == (min(rgb.shape[0], 40 + 150 + 22) - (40 - 22), min(rgb.shape[1], 60 + 120 + 18) - 42)
    [res] = predict_mod.predict(cfg(), [photo], ckpt, face=True)
    assert res["face"] == [60, 40, 120, 150]
    monkeypatch.setattr(predict_mod, "detect_faces", lambda im: [])
    [res] = predict_mod.predict(cfg(), [photo], ckpt, face=True)
    assert res["face"] is None and set(res["probs"]) == set(CLASSES)
    assert predict_mod.detect_faces is not skinmask.detect_faces  # the real detector is the simulator's


def test_gradcam_writes_one_overlay_per_image_and_never_over_an_earlier_one(ckpt, photo, tmp_path):
    out = tmp_path / "cams"
    first = predict_mod.predict(cfg(), [photo, photo], ckpt, gradcam=out)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["portrait-gradcam-2.png", "portrait-gradcam.png"]
    assert [r["gradcam"] for r in first] == [str(out / "portrait-gradcam.png"), str(out / "portrait-gradcam-2.png")]
    assert read_image(out / "portrait-gradcam.png").ndim == 3 and "Grad-CAM" in first[0]["gradcam_note"]


def test_a_multilabel_checkpoint_answers_per_label(tmp_path):
    images = [noise_image(s) for s in range(6)]
    logits = np.array([[3, -3, -3, -3], [-3, 3, -3, 3], [-3, -3, 3, -3], [3, 3, -3, -3], [-3, -3, -3, -3],
                       [0.05, -3, -3, -3]], dtype=float)
    ck = multilabel_checkpoint(tmp_path / "ml" / "best.pt", images, logits)
    paths = [write_png(tmp_path / f"im{k}.png", im) for k, im in enumerate(images)]
    res = predict_mod.predict(cfg(), paths[:2] + paths[5:], ck)
    assert set(res[0]["probs"]) == set(LABELS)
    assert res[0]["positives"] == ["acne"] and res[1]["positives"] == ["erythema", "wrinkles"]
    assert res[2]["low_confidence"] is True and res[2]["uncertain"] == ["acne"]  # 0.51 against a 0.5 threshold


def test_the_command_prints_each_image_or_json(ckpt, photo, capsys):
    assert cli.main(["predict", str(photo), "--ckpt", str(ckpt), "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{photo}: ") and "acne" in out
    assert cli.main(["predict", str(photo), str(photo), "--ckpt", str(ckpt), "--json", "--conf", "0.2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and rows[0]["image"] == str(photo) and rows[0]["low_confidence"] is False


@pytest.mark.parametrize("what", ["folder", "not an image", "missing"])
def test_a_folder_or_a_bad_file_is_one_line_and_exit_code_2(ckpt, photo, tmp_path, capsys, what):
    bad = {"folder": photo.parent, "not an image": tmp_path / "notes.jpg", "missing": tmp_path / "gone.png"}[what]
    if what == "not an image":
        bad.write_text("not an image")
    cams = tmp_path / "cams"
    assert cli.main(["predict", str(photo), str(bad), "--ckpt", str(ckpt), "--gradcam", str(cams)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and str(bad) in err
    assert ("python -m auxiliary sort" in err) == (what == "folder")
    assert not cams.exists()  # nothing written: every input is read before the first output


def test_a_model_trained_on_procedural_skin_only_gets_one_notice_line_never_a_refusal(photo, tmp_path, capsys):
    ck = tiny_checkpoint(tmp_path / "procedural" / "best.pt", extra={"trained_on": "procedural"})[0]
    assert cli.main(["predict", str(photo), "--ckpt", str(ck)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note:") and "procedural synthetic skin only" in err[0]
    plain = tiny_checkpoint(tmp_path / "photo" / "best.pt", extra={"trained_on": "synthetic"})[0]
    assert cli.main(["predict", str(photo), "--ckpt", str(plain)]) == 0
    assert capsys.readouterr().err == ""


def test_training_records_what_it_was_trained_on():
    import pandas as pd

    from auxiliary.training.runs import training_source

    assert training_source(pd.DataFrame({"group": ["procedural-00001", "procedural-00002"]})) == "procedural"
    assert training_source(pd.DataFrame({"group": ["procedural-00001", "photo:face1.png"]})) == "synthetic"
    assert training_source(pd.DataFrame({"group": ["photo:face1.png", "feedback:ab12"]})) == "mixed"
    assert training_source(pd.DataFrame({"label": ["a"]})) is None and training_source(None) is None
