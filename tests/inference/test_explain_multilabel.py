"""auxiliary.inference.explain.gradcam_labels: one Grad-CAM per label of a multi-label model, each of its own logit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from auxiliary.inference import explain
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing
from auxiliary.viz import plots_mosaics

ZERO, ONE = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # no normalisation: the model sees the pixels / 255


class Halves(nn.Module):
    """Label 0 = mean of relu(red - green), label 1 = mean of relu(green - red): on an image red on the left
    and green on the right, label 0's evidence is the left half and label 1's the right half."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.zero_()
            self.conv.weight[0, 0], self.conv.weight[0, 1] = 1.0, -1.0
            self.conv.weight[1, 1], self.conv.weight[1, 0] = 1.0, -1.0
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(torch.relu(self.conv(x))).flatten(1)


def _red_green(h: int = 30, w: int = 40) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2, 0] = 255
    img[:, w // 2 :, 1] = 255
    return img


def test_each_label_is_explained_where_its_evidence_is():
    model = Halves().eval()
    img = _red_green()
    cams = explain.gradcam_labels(model, img, Preprocessing(16, ZERO, ONE), 2)
    assert cams.shape == (2, 30, 40) and cams.dtype == np.float32
    assert np.isfinite(cams).all() and cams.min() >= 0.0 and cams.max() <= 1.0
    left, right = slice(0, 15), slice(25, 40)  # away from the blurred middle
    assert cams[0][:, left].mean() > 0.9 and cams[0][:, right].mean() < 0.05
    assert cams[1][:, right].mean() > 0.9 and cams[1][:, left].mean() < 0.05
    again = explain.gradcam_labels(model, img, Preprocessing(16, ZERO, ONE), [1, 0])  # indices in any order
    assert np.allclose(again, cams[::-1], atol=1e-5)
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(explain.ExplainError, match="no labels"):
        explain.gradcam_labels(model, img, Preprocessing(16, ZERO, ONE), [])


def test_a_multilabel_resnet_gives_one_map_per_label_and_a_figure():
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    model = models.create_model("resnet18", num_classes=4).eval()
    img = np.random.default_rng(0).integers(0, 256, (45, 60, 3), dtype=np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    cams = explain.gradcam_labels(model, img, Preprocessing(64, mean, std), 4)
    assert cams.shape == (4, 45, 60) and np.isfinite(cams).all() and 0 <= cams.min() <= cams.max() <= 1
    labels = ["acne", "erythema", "hyperpigmentation", "wrinkles"]
    fig = plots_mosaics.plot_gradcam_labels(model, [img, img[:30]], Preprocessing(64, mean, std), labels,
                                               probs=[[0.9, 0.1, 0.5, 0.2]] * 2, thresholds=[0.5] * 4,
                                               truths=[[1, 0, 1, 0]] * 2)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 2 * 5 and "acne\np=0.90 t=0.50 (true)" in texts and "wrinkles\np=0.20 t=0.50 (absent)" in texts
    fig2, ax = plt.subplots()
    assert plots_mosaics.plot_gradcam_labels(Halves(), [_red_green()], Preprocessing(16, ZERO, ONE), ["red", "green"],
                                             ax=ax) is fig2
    plt.close("all")
