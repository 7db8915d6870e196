"""auxiliary.steps.serve: the step opens the checkpoint once; analyse() on files, bytes and arrays, low confidence,
bad uploads, model card, feedback, examples."""

from __future__ import annotations

import numpy as np
import pytest
from _tiny_runs import tiny_checkpoint
from PIL import Image

from auxiliary.base.config import Config, SynthConfig
from auxiliary.base.images import read_image, write_png
from auxiliary.data import feedback
from auxiliary.faces import webapp
from auxiliary.inference.predictor import Predictor
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models.preprocess import Preprocessing
from auxiliary.steps import serve as demo_mod
from auxiliary.tasks.task import LOW_CONFIDENCE_TITLE

CLASSES = ["acne", "erythema", "none"]


METRICS = {"val_balanced_acc": 0.812, "val_ece": 0.041, "epochs": 3}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("webapp_ckpt") / "best.pt", img_size=64, temperature=1.5,
                           metrics=METRICS)[0]


@pytest.fixture(scope="module")
def predictor(ckpt):
    return Predictor.from_checkpoint(ckpt)


def skin_image(h=90, w=110, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array([200, 150, 125], dtype=np.float32)
    img = base + rng.normal(0, 12, (h, w, 3))
    yy, xx = np.mgrid[:h, :w]
    for _ in range(5):
        cy, cx = rng.integers(10, h - 10), rng.integers(10, w - 10)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 25] = (190, 70, 70)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_analyse_gives_calibrated_probabilities_and_heat_map(predictor, tmp_path):
    rgb = skin_image()
    path = write_png(tmp_path / "skin.png", rgb)
    res = demo_mod.analyse(predictor, path, conf=0.0)
    assert res["ok"] and res["error"] is None
    assert list(res["probs"]) == sorted(res["probs"], key=res["probs"].get, reverse=True)
    assert set(res["probs"]) == set(CLASSES)
    assert sum(res["probs"].values()) == pytest.approx(1.0, abs=1e-5)
    expected = predictor.predict_image(rgb)  # the same numbers as the shared prediction path
    assert res["probs"] == pytest.approx(expected, abs=1e-6)
    assert res["top"] == max(expected, key=expected.get)
    assert res["top_prob"] == pytest.approx(max(expected.values()))
    assert res["low_confidence"] is False and res["notes"] == []
    np.testing.assert_array_equal(res["image"], rgb)
    ok, why = demo_mod.explain_status()
    if ok:
        ov = res["overlay"]
        assert ov is not None and ov.dtype == np.uint8 and ov.shape == rgb.shape
        assert not np.array_equal(ov, rgb)  # a heat map was blended in
        assert res["top"] in res["heatmap_note"]
    else:
        assert res["overlay"] is None and "unavailable" in res["heatmap_note"], why


def test_low_confidence_below_threshold(predictor):
    rgb = skin_image(seed=1)
    res = demo_mod.analyse(predictor, rgb, conf=1.0, heatmap=False)  # a softmax top is always < 1
    assert res["ok"] and res["low_confidence"] is True
    assert res["message"].startswith(LOW_CONFIDENCE_TITLE)
    assert "100%" in res["message"]
    html_text = webapp.status_html(res)
    assert LOW_CONFIDENCE_TITLE in html_text and 'data-kind="low"' in html_text
    # exactly at the threshold is confident enough
    at = demo_mod.analyse(predictor, rgb, conf=res["top_prob"], heatmap=False)
    assert at["low_confidence"] is False and 'data-kind="ok"' in webapp.status_html(at)
    assert res["overlay"] is None


def test_no_heat_map_without_explain_module(predictor, monkeypatch):
    monkeypatch.setattr(demo_mod, "explain_status", lambda: (False, "the Grad-CAM package is not installed (test)"))
    res = demo_mod.analyse(predictor, skin_image(), conf=0.5)
    assert res["ok"] and res["overlay"] is None
    assert res["heatmap_note"].startswith("Heat map unavailable: the Grad-CAM package")


def _truncated_png(path):
    write_png(path, skin_image())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "make, kwargs, reason",
    [
        (lambda p: p.write_text("hello, not an image"), {}, "not an image"),
        (lambda p: p.write_bytes(b""), {}, "empty file"),
        (_truncated_png, {}, "truncated"),
        (lambda p: write_png(p, skin_image()), {"max_bytes": 100}, "file too big"),
        (lambda p: write_png(p, skin_image(200, 300)), {"max_pixels": 10_000}, "too large"),
        (lambda p: write_png(p, np.full((8, 40, 3), 180, np.uint8)), {}, "too small"),
    ],
    ids=["text", "empty", "truncated", "bytes-limit", "pixel-limit", "tiny"],
)
def test_bad_uploads_give_a_readable_message(predictor, tmp_path, make, kwargs, reason):
    p = tmp_path / "upload.png"
    make(p)
    res = demo_mod.analyse(predictor, p, conf=0.6, **kwargs)
    assert res["ok"] is False and res["probs"] == {} and res["overlay"] is None
    assert reason in res["error"]
    assert res["message"].startswith("Could not use this file (upload.png):") and reason in res["message"]
    assert "Traceback" not in res["message"]
    assert 'data-kind="error"' in webapp.status_html(res)


def test_other_modes_are_converted_with_a_note(predictor, tmp_path):
    rgb = skin_image()
    gray = tmp_path / "gray.png"
    Image.fromarray(rgb[..., 0]).save(gray)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])).save(rgba)
    deep = tmp_path / "deep.png"
    Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(deep)
    for path, word in [(gray, "grayscale"), (rgba, "transparency"), (deep, "grayscale")]:
        res = demo_mod.analyse(predictor, path, conf=0.6, heatmap=False)
        assert res["ok"], res["message"]
        assert res["image"].shape == (*rgb.shape[:2], 3) and res["image"].dtype == np.uint8
        assert any(word in n for n in res["notes"]), (path.name, res["notes"])
        assert word in webapp.status_html(res)


def test_bytes_and_arrays_are_accepted(predictor, tmp_path):
    rgb = skin_image()
    png = write_png(tmp_path / "a.png", rgb).read_bytes()
    by_bytes = demo_mod.analyse(predictor, png, conf=0.6, heatmap=False)
    by_array = demo_mod.analyse(predictor, rgb, conf=0.6, heatmap=False)
    assert by_bytes["probs"] == pytest.approx(by_array["probs"])
    bad = demo_mod.analyse(predictor, np.zeros((20, 20, 2), np.uint8), conf=0.6)
    assert not bad["ok"] and "unsupported array shape" in bad["error"]
    none = demo_mod.analyse(predictor, None, conf=0.6)
    assert not none["ok"] and "Upload a photo" in none["message"]


def test_page_text_escapes_file_names_and_shows_the_model(predictor, tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("no")
    res = demo_mod.analyse(predictor, p, conf=0.6, name="<script>alert(1)</script>.png")
    page = webapp.status_html(res)
    assert "<script>" not in page and "&lt;script&gt;" in page
    card = demo_mod.model_card(predictor, 0.6)
    assert "resnet18" in card and "val_balanced_acc" in card and "0.812" in card and "| epochs | 3 |" in card
    assert "60%" in card
    assert "not a diagnosis" in demo_mod.DISCLAIMER


def test_file_feedback_records_provenance(predictor, tmp_path):

    src = write_png(tmp_path / "in" / "photo.png", skin_image())
    before = src.read_bytes()
    res = demo_mod.analyse(predictor, src, conf=0.6, heatmap=False)
    fb = tmp_path / "feedback"
    dest = demo_mod.file_feedback(src, "erythema", fb, source="web upload: photo.png", model_guess=res["top"], probs=res["probs"])
    assert dest.is_file() and dest.parent == fb / "erythema" and dest.read_bytes() == before
    assert src.read_bytes() == before  # the upload is copied, never moved
    prov = feedback.read_provenance(fb)
    row = prov.iloc[-1]
    assert (row["label"], row["reviewer"], row["model_guess"]) == ("erythema", "web", res["top"])
    assert row["source"] == "web upload: photo.png"


def test_examples_one_per_class(tmp_path):

    ex = demo_mod.make_examples(SynthConfig(size=64), tmp_path / "ex", classes=CLASSES)
    assert [p.name for p in ex] == [f"example_{c}.png" for c in CLASSES]
    assert all(read_image(p).shape == (64, 64, 3) for p in ex)


def test_file_feedback_refuses_a_label_the_model_does_not_have(predictor, tmp_path):
    """Issue 17 (7): a label that is not one of the model's classes (a forged web request) is refused
    with a message naming the classes; nothing is written, the upload is untouched."""
    src = write_png(tmp_path / "in" / "photo.png", skin_image())
    before = src.read_bytes()
    fb = tmp_path / "feedback"
    for bad in ("rosacea", "../escape", ["acne"], 3):
        with pytest.raises(feedback.FeedbackError, match="acne, erythema, none"):
            demo_mod.file_feedback(src, bad, fb, source="web upload: photo.png", model_guess="acne", probs=None,
                                   classes=predictor.classes)
    assert not fb.exists() and src.read_bytes() == before
    dest = demo_mod.file_feedback(src, "none", fb, source="web upload: photo.png", model_guess="acne", probs=None,
                                  classes=predictor.classes)
    assert dest.parent == fb / "none"


def test_the_step_opens_the_checkpoint_once_and_files_by_class(ckpt, tmp_path, monkeypatch):
    """``serve`` reads the checkpoint file once, checks the review threshold, and files feedback only for a task
    that describes an image by one class; a missing checkpoint or a threshold out of range is one line."""
    opened = []
    real = checkpoints.Checkpoint.open
    monkeypatch.setattr(checkpoints.Checkpoint, "open", classmethod(lambda cls, p: opened.append(p) or real(p)))
    served = demo_mod.serve(Config(), ckpt, conf=0.7, feedback_dir=tmp_path / "fb", examples=False)
    assert len(opened) == 1 and served.conf == 0.7 and served.examples == []
    assert served.feedback_dir == tmp_path / "fb" and served.predictor.classes == CLASSES
    assert served.predictor.info["path"] == str(ckpt)
    with pytest.raises(demo_mod.DemoError, match="between 0 and 1"):
        demo_mod.serve(Config(), ckpt, conf=1.5, examples=False)
    with pytest.raises(demo_mod.DemoError, match="checkpoint not found"):
        demo_mod.serve(Config(), tmp_path / "missing.pt", examples=False)


def test_a_cropping_models_page_keeps_the_photos_shape(tmp_path):
    """Issue 29: a checkpoint whose preprocessing crops the centre: the page's probabilities are the predictor's (the
    one path) and the heat map is still the uploaded photo's size."""
    spec = Preprocessing(64, (0.5,) * 3, (0.5,) * 3, resize="shorter_side", crop_pct=0.875, interpolation="bicubic")
    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "best.pt", img_size=64, preprocessing=spec)[0])
    assert pred.preprocessing == spec
    rgb = skin_image()
    res = demo_mod.analyse(pred, write_png(tmp_path / "skin.png", rgb), conf=0.0)
    assert res["ok"] and res["probs"] == pytest.approx(pred.predict_image(rgb), abs=1e-6)
    if demo_mod.explain_status()[0]:
        assert res["overlay"].shape == rgb.shape and res["overlay"].dtype == np.uint8
