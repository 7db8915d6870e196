"""The web demo for a multi-label checkpoint: per-label bars with thresholds, present labels highlighted,
"No condition found", the low-confidence banner, the model card, filing off; the single-label page unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from auxiliary.base.images import write_png
from auxiliary.faces import webapp
from auxiliary.inference.predictor import Predictor
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.steps import serve as demo

LABELS = ["acne", "erythema", "hyperpigmentation", "wrinkles"]
TEMPERATURES = [1.0, 2.0, 1.0, 1.0]
LOGITS = [2.0, -4.0, 0.1, -3.0]  # the same for every image: the head's weights are zero
PROBS = [1 / (1 + math.exp(-z / t)) for z, t in zip(LOGITS, TEMPERATURES)]  # 0.881, 0.119, 0.525, 0.047
THRESHOLDS = {"global": {"acne": 0.42, "erythema": 0.3, "hyperpigmentation": 0.5, "wrinkles": 0.5},
              "per_group": {}, "fallback": {}}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = models.create_model("resnet18", num_classes=len(LABELS), pretrained=False)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor(LOGITS))
    path = tmp_path_factory.mktemp("ml_webapp") / "best.pt"
    checkpoints.save_checkpoint(path, model, model_name="resnet18", classes=LABELS, img_size=32,
                                metrics={"val_macro_f1": 0.61},
                                extra={"task": "multilabel", "temperatures": TEMPERATURES, "thresholds": THRESHOLDS})
    return path


@pytest.fixture(scope="module")
def pred(ckpt):
    return Predictor.from_checkpoint(ckpt, device="cpu")


def with_thresholds(pred, glob):
    return Predictor(pred.model, {**pred.info, "thresholds": {"global": glob}}, pred.task)


def photo(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (48, 56, 3), dtype=np.uint8)
    return write_png(tmp_path / "face.png", rgb)


def test_analyse_gives_per_label_probabilities_thresholds_and_low_confidence(pred, tmp_path):
    res = demo.analyse(pred, photo(tmp_path), conf=0.6, heatmap=False)
    assert res["ok"] and res["task"] == "multilabel"
    assert list(res["probs"]) == LABELS and list(res["probs"].values()) == pytest.approx(PROBS, abs=1e-5)
    assert res["thresholds"] == THRESHOLDS["global"]
    assert res["present"] == {"acne": 1, "erythema": 0, "hyperpigmentation": 1, "wrinkles": 0}
    assert res["positives"] == ["acne", "hyperpigmentation"]
    # hyperpigmentation 0.525 sits within the band around 0.5 (0.4 .. 0.6 at conf 0.6): for a person to review
    assert res["uncertain"] == ["hyperpigmentation"] and res["low_confidence"] is True
    assert res["top"] == "acne" and res["top_prob"] == pytest.approx(PROBS[0], abs=1e-5)
    assert "hyperpigmentation is too close to the threshold" in res["message"]
    banner = webapp.status_html(res)
    assert 'data-kind="low"' in banner and "Low confidence" in banner
    bars = webapp.label_bars_html(res)
    assert bars.count('class="aux-label ') == 4 and bars.count('data-present="1"') == 2
    assert "threshold 0.42" in bars and "threshold 0.30" in bars and "unsure" in bars
    assert "No condition found" not in bars
    # conf 0.5: no band, the two labels are simply present
    sure = demo.analyse(pred, photo(tmp_path), conf=0.5, heatmap=False)
    assert not sure["low_confidence"] and sure["message"].startswith("Found: acne, hyperpigmentation.")
    assert "Found: acne, hyperpigmentation" in webapp.status_html(sure) and 'data-kind="ok"' in webapp.status_html(sure)


def test_no_condition_when_every_label_is_below_its_threshold(pred, tmp_path):
    clear = with_thresholds(pred, {"acne": 0.95, "erythema": 0.9, "hyperpigmentation": 0.9, "wrinkles": 0.9})
    res = demo.analyse(clear, photo(tmp_path), conf=0.5, heatmap=False)  # conf 0.5: no review band
    assert res["positives"] == [] and not res["low_confidence"] and res["message"].startswith("No condition found.")
    assert "No condition found" in webapp.status_html(res)
    bars = webapp.label_bars_html(res)
    assert 'data-present="1"' not in bars and "No condition found" in bars and "threshold 0.95" in bars
    # no thresholds recorded: 0.5 for every label
    bare = with_thresholds(pred, {})
    assert demo.analyse(bare, photo(tmp_path), conf=0.5, heatmap=False)["thresholds"] == dict.fromkeys(LABELS, 0.5)


def test_the_page_shows_bars_for_a_multilabel_model_and_files_nothing(pred, tmp_path):
    app = webapp.build_app(pred, conf=0.6, feedback_dir=None, heatmap=False)
    on_file = next(f for f in app.fns.values() if getattr(f.fn, "__name__", "") == "on_file")
    assert type(on_file.outputs[1]).__name__ == "HTML"  # bars, not the single-label gr.Label
    out = on_file.fn(str(photo(tmp_path)))
    assert "Low confidence" in out[0] and "threshold 0.42" in out[1] and 'data-present="1"' in out[1]
    assert out[-1]["top"] == "acne"
    assert on_file.fn(None)[1] is None  # no upload: nothing shown
    on_feedback = next(f for f in app.fns.values() if getattr(f.fn, "__name__", "") == "on_feedback")
    assert "switched off" in on_feedback.fn("acne", out[-1])
    card = demo.model_card(pred, 0.6)
    assert "multi-label" in card and "acne 0.42" in card and "2.00" in card and "val_macro_f1" in card


def test_grad_cam_targets_the_most_probable_label(pred, tmp_path):
    ok, why = demo.explain_status()
    if not ok:
        pytest.skip(why)
    res = demo.analyse(pred, photo(tmp_path), conf=0.6, heatmap=True)
    assert "acne" in res["heatmap_note"]
    assert res["overlay"] is None or res["overlay"].ndim == 3


def test_launch_turns_filing_off_for_a_multilabel_model(ckpt, tmp_path):
    import httpx

    port = webapp.free_port()
    app = webapp.launch(ckpt, inline=False, block=False, port=port, examples=False, quiet=True,
                        feedback_dir=tmp_path / "fb")
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/config", timeout=10, trust_env=False).text
        assert "multi-label" in text and "(switched off)" in text and "not a diagnosis" in text
    finally:
        app.close(verbose=False)
    assert not (tmp_path / "fb").exists()
