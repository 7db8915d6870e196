"""auxiliary.models.preprocess and factory.model_preprocessing: the model's own preprocessing spec (issue 29)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from auxiliary.data import augment
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing, PreprocessingError, fit_image, preprocess
from auxiliary.models.pretrained import has_offline_weights

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.skipif(not has_offline_weights("tf_efficientnet_lite0"), reason="needs the pretrained extra")
def test_a_pretrained_lite0_gets_timms_mean_std_and_bicubic_resize_on_the_whole_image():
    """timm's mean/std and interpolation; not its centre crop (crop_pct 0.875): fine-tuned on whole images here, a
    model scored 0.04 lower balanced accuracy on HAM10000 with the crop (benchmarks/bench_preprocess.py)."""
    model = models.create_model("tf_efficientnet_lite0", 3, pretrained="offline")
    spec = models.model_preprocessing(model, 224, "offline", "tf_efficientnet_lite0")
    assert spec == Preprocessing(224, (0.5,) * 3, (0.5,) * 3, resize="square", crop_pct=1.0, interpolation="bicubic")
    assert spec.scale_size == 224 and spec.source_box(300, 200) == (0.0, 0.0, 200.0, 300.0)  # every pixel kept
    assert models.model_preprocessing(model, 128, True, "tf_efficientnet_lite0").scale_size == 128


def test_a_model_from_scratch_keeps_the_square_area_resize():
    model = models.create_model("resnet18", 3, pretrained=False)
    spec = models.model_preprocessing(model, 48, "false", "resnet18")
    assert spec == Preprocessing(48, *IMAGENET) and (spec.resize, spec.crop_pct, spec.interpolation) == (
        "square", 1.0, "area")
    # "offline" for a model without offline weights is from scratch too: nothing pretrained to match
    assert models.model_preprocessing(models.create_model("resnet18", 3), 48, "offline", "resnet18").resize == "square"


def test_fine_tuning_one_of_our_checkpoints_keeps_its_preprocessing(tmp_path):
    """Feedback's retraining and adaptation's self-training start from a checkpoint of this project: the model keeps
    the preprocessing its weights were trained with (an old checkpoint's square resize), at the new img_size."""
    model = models.create_model("resnet18", 3)
    spec = Preprocessing(40, *IMAGENET, resize="shorter_side", crop_pct=0.9, interpolation="bilinear")
    new = checkpoints.save_checkpoint(tmp_path / "new.pt", model, model_name="resnet18", classes=["a", "b", "c"],
                                      img_size=40, preprocessing=spec)
    old = checkpoints.save_checkpoint(tmp_path / "old.pt", model, model_name="resnet18", classes=["a", "b", "c"],
                                      img_size=40)
    assert models.model_preprocessing(model, 48, str(new), "resnet18") == Preprocessing(
        48, *IMAGENET, resize="shorter_side", crop_pct=0.9, interpolation="bilinear")
    assert models.model_preprocessing(model, 48, str(old), "resnet18") == Preprocessing(48, *IMAGENET)
    bare = tmp_path / "bare.pt"  # plain weights: timm's data config, as for any pretrained weights
    torch.save(model.state_dict(), bare)
    assert models.model_preprocessing(model, 48, str(bare), "resnet18").interpolation == "bicubic"  # resnet18 in timm


def test_the_square_spec_is_todays_area_resize():
    spec = Preprocessing(32, *IMAGENET)
    for h, w in ((64, 80), (20, 30), (32, 32)):
        img = _image(h, w)
        ref = img if (h, w) == (32, 32) else cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA)
        assert np.array_equal(fit_image(img, spec), ref)
        x = preprocess(img, spec)
        expected = ((ref / 255.0 - np.array(IMAGENET[0])) / np.array(IMAGENET[1])).transpose(2, 0, 1)
        assert x.shape == (3, 32, 32) and x.dtype == np.float32 and np.allclose(x, expected, atol=1e-5)


def test_the_crop_spec_resizes_the_shorter_side_and_takes_the_centre():
    spec = Preprocessing(32, (0.5,) * 3, (0.5,) * 3, resize="shorter_side", crop_pct=0.8, interpolation="bicubic")
    assert spec.scale_size == 40 and spec.resized_shape(60, 90) == (40, 60)
    img = _image(60, 90)
    shrunk = cv2.resize(img, (60, 40), interpolation=cv2.INTER_AREA)  # shrinking: area, as PIL's filters average
    assert np.array_equal(fit_image(img, spec), shrunk[4:36, 14:46])
    small = _image(20, 25, seed=1)  # enlarging: the spec's interpolation
    grown = cv2.resize(small, (50, 40), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(fit_image(small, spec), grown[4:36, 9:41])
    assert preprocess(img, spec).shape == (3, 32, 32)
    x0, y0, x1, y1 = spec.source_box(60, 90)  # the crop's region in the source image's pixels
    assert (x0, y0, x1, y1) == pytest.approx((21.0, 6.0, 69.0, 54.0))
    assert Preprocessing(32, *IMAGENET).source_box(60, 90) == (0.0, 0.0, 90.0, 60.0)


def test_a_spec_round_trips_and_an_unknown_one_is_refused():
    spec = Preprocessing(224, (0.5,) * 3, (0.5,) * 3, resize="shorter_side", crop_pct=0.875, interpolation="bicubic")
    info = {"img_size": 224, "mean": [0.5] * 3, "std": [0.5] * 3, "preprocessing": spec.entry()}
    assert Preprocessing.of(info) == spec and Preprocessing(**spec.as_dict()) == spec
    assert Preprocessing.of({"img_size": 64, "mean": IMAGENET[0], "std": IMAGENET[1]}) == Preprocessing(64, *IMAGENET)
    assert "centre 224 x 224 crop" in spec.describe() and "INTER_AREA" in Preprocessing(64, *IMAGENET).describe()
    for bad in ({"resize": "fisheye"}, {"interpolation": "lanczos9"}, {"crop_pct": 0.0}, {"crop_pct": 1.5}):
        with pytest.raises(PreprocessingError):
            Preprocessing(224, *IMAGENET, **bad)


def test_colour_constancy_is_part_of_the_spec_and_of_the_checkpoint(tmp_path):
    """Issue 30: ``color_constancy`` joins the spec of a model from scratch or from other pretrained weights, is
    recorded in the checkpoint and read back; a checkpoint of this project keeps its own; a spec without it (every
    checkpoint written before) is ``none``, whose geometry names nothing (the image caches keep their keys)."""
    model = models.create_model("resnet18", 3)
    spec = models.model_preprocessing(model, 32, "false", "resnet18", "shades_of_gray")
    assert spec == Preprocessing(32, *IMAGENET, color_constancy="shades_of_gray")
    assert spec.geometry()["color_constancy"] == "shades_of_gray" and "shades-of-gray" in spec.describe()
    assert "color_constancy" not in Preprocessing(32, *IMAGENET).geometry()
    ck = checkpoints.save_checkpoint(tmp_path / "sog.pt", model, model_name="resnet18", classes=["a", "b", "c"],
                                     img_size=32, preprocessing=spec)
    assert checkpoints.Checkpoint.open(ck).preprocessing == spec
    # fine-tuning it further keeps its colour constancy, whatever the new run says
    assert models.model_preprocessing(model, 48, str(ck), "resnet18", "none").color_constancy == "shades_of_gray"
    old = {"img_size": 32, "mean": IMAGENET[0], "std": IMAGENET[1],
           "preprocessing": {"resize": "square", "crop_pct": 1.0, "interpolation": "area"}}
    assert Preprocessing.of(old).color_constancy == "none"
    img = _image(40, 40)
    assert np.array_equal(fit_image(img, spec), augment.shades_of_gray(cv2.resize(img, (32, 32),
                                                                                  interpolation=cv2.INTER_AREA)))
    with pytest.raises(PreprocessingError, match="color_constancy"):
        Preprocessing(32, *IMAGENET, color_constancy="max_rgb")
