"""auxiliary.inference.explain: Grad-CAM, a map of the input's size for each architecture family, overlays, grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from auxiliary.inference import explain
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing
from auxiliary.viz import plots_mosaics

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)




def _image(h: int = 45, w: int = 70, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), (190, 150, 130), np.float32) + rng.normal(0, 10, (h, w, 3))
    img[5:20, 40:60] = (150, 40, 40)  # a dark red "lesion" away from the centre
    return np.clip(img, 0, 255).astype(np.uint8)


def _positive_head(model: nn.Module, cls: int = 0) -> None:
    """Class ``cls`` scores the sum of the pooled features, so its Grad-CAM cannot be empty."""
    head = model.get_classifier()
    with torch.no_grad():
        head.weight.zero_()
        head.weight[cls] = 1.0
        head.bias.zero_()


@pytest.mark.parametrize(
    "name, family, layer, nonzero",
    [
        ("resnet18", "resnet", "layer4.1", True),
        ("efficientnet_b0", "efficientnet", "bn2", True),
        ("convnext_atto", "convnext", "stages.3", False),
    ],
)
def test_gradcam_map_has_the_input_size(name, family, layer, nonzero):
    torch.manual_seed(0)
    model = models.create_model(name, num_classes=3)
    _positive_head(model)
    for p in model.parameters():  # a frozen backbone (as in phase one of training) must still work
        p.requires_grad_(False)
    layers, _reshape, fam = explain.target_layers(model, 64)
    assert fam == family and dict(model.named_modules())[layer] is layers[0]
    img = _image()
    cam = explain.gradcam(model, img, Preprocessing(64, MEAN, STD), target_class=0)
    assert cam.shape == img.shape[:2] and cam.dtype == np.float32
    assert cam.min() >= 0.0 and cam.max() <= 1.0
    if nonzero:
        assert cam.max() > 0.5 and cam.std() > 0.01  # normalised map with structure, not a constant
    over = explain.gradcam_overlay(model, img, Preprocessing(64, MEAN, STD), alpha=0.4)
    assert over.shape == img.shape and over.dtype == np.uint8
    assert not np.array_equal(over, img)
    assert np.array_equal(explain.overlay(img, cam, alpha=0.0), img)
    assert all(p.grad is None for p in model.parameters())


def test_vit_tokens_are_reshaped_and_generic_fallback():
    torch.manual_seed(0)
    vit = models.create_model("vit_tiny_patch16_224", 3, img_size=32, patch_size=8, depth=2)
    layers, reshape, fam = explain.target_layers(vit, 32)
    assert fam == "vit" and reshape is not None
    assert reshape(torch.zeros(2, 1 + 16, 192)).shape == (2, 192, 4, 4)
    cam = explain.gradcam(vit, _image(30, 50), Preprocessing(32, MEAN, STD))
    assert cam.shape == (30, 50)

    tiny = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
        nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2),
    )
    layers, reshape, fam = explain.target_layers(tiny, 32)
    assert fam == "generic" and layers[0] is tiny[4] and reshape is None  # last norm layer with a spatial output
    cams = explain.gradcam_batch(tiny, [_image(20, 30), _image(40, 25, seed=1)], Preprocessing(32, MEAN, STD), [0, 1])
    assert [c.shape for c in cams] == [(20, 30), (40, 25)]


def test_grid_and_errors():
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    model = models.create_model("resnet18", 3)
    imgs = [_image(seed=i) for i in range(3)]
    fig = plots_mosaics.plot_gradcam_grid(model, imgs, Preprocessing(48, MEAN, STD), titles=["a", "b", "c"], n_cols=2)
    assert fig.axes and fig.axes[0].images[0].get_array().shape[0] > 100
    fig2, ax = plt.subplots()
    assert plots_mosaics.plot_gradcam_grid(model, imgs[:1], Preprocessing(48, MEAN, STD), ax=ax) is fig2
    plt.close("all")
    with pytest.raises(explain.ExplainError, match="expected an RGB image"):
        explain.gradcam(model, np.zeros((4, 4, 2), np.uint8), Preprocessing(48, MEAN, STD))
    assert "layer4" in explain.describe_target(model)


def test_a_cropping_models_map_covers_what_it_saw():
    """Issue 29: with the model's centre crop, Grad-CAM still gives a map of the input image's size (the web demo's
    and predict's overlays keep their shape), placed over the region the crop showed and zero where the model saw
    nothing."""
    torch.manual_seed(0)
    model = models.create_model("resnet18", num_classes=3)
    _positive_head(model)
    img = _image(45, 70)
    spec = Preprocessing(64, MEAN, STD, resize="shorter_side", crop_pct=0.8, interpolation="bicubic")
    cam = explain.gradcam(model, img, spec, target_class=0)
    assert cam.shape == img.shape[:2] and cam.dtype == np.float32 and 0.0 <= cam.min() <= cam.max() <= 1.0
    x0, y0, x1, y1 = (int(round(v)) for v in spec.source_box(45, 70))
    assert (x0, x1) == (17, 53) and 0 < y0 < y1 < 45
    outside = np.ones(cam.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert (cam[outside] == 0).all() and cam[y0:y1, x0:x1].max() > 0.5
    over = explain.gradcam_overlay(model, img, spec)
    assert over.shape == img.shape and over.dtype == np.uint8
