"""A multi-label checkpoint whose logits on a few given images are chosen exactly (imported by tests, not collected).

The contract of a multi-label ``best.pt`` (what ``train --task multilabel`` writes): ``task: multilabel``,
``classes`` = label names, ``temperatures`` one per label, ``thresholds`` = ``{"global": {label: t},
"per_group": {tone_group: {label: t}}, "fallback": {tone_group: [labels]}}``.

An untrained resnet18 at 32 px keeps its random body; its head is solved (minimum-norm least squares on
the pooled features of the given images, preprocessed exactly as the predictor does) so that image ``k``
gets the logits ``logits[k]``: the tests decide which image is positive for which label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing, preprocess

LABELS = ["acne", "erythema", "hyperpigmentation", "wrinkles"]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def noise_image(seed: int, size: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def multilabel_checkpoint(path: Path, images: list[np.ndarray], logits: np.ndarray, *,
                          temperatures: list[float] | None = None, thresholds: dict | None = None,
                          labels: list[str] = LABELS, img_size: int = 32, seed: int = 0) -> Path:
    """``best.pt`` of a multi-label resnet18 whose (uncalibrated) logits on ``images[k]`` are ``logits[k]``."""
    torch.manual_seed(seed)
    model = models.create_model("resnet18", num_classes=len(labels), pretrained=False).eval()
    x = torch.from_numpy(np.stack([preprocess(im, Preprocessing(img_size, MEAN, STD)) for im in images]))
    with torch.no_grad():
        feats = model.forward_head(model.forward_features(x), pre_logits=True).double().numpy()
    target = np.asarray(logits, dtype=np.float64)
    w = np.linalg.pinv(feats) @ target  # (512, L): feats @ w == target
    with torch.no_grad():
        model.fc.weight.copy_(torch.from_numpy(w.T).float())
        model.fc.bias.zero_()
        got = model(x).double().numpy()
    assert np.allclose(got, target, atol=1e-3), np.abs(got - target).max()
    extra = {"task": "multilabel", "temperatures": temperatures or [1.0] * len(labels)}
    if thresholds is not None:
        extra["thresholds"] = thresholds
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoints.save_checkpoint(path, model, model_name="resnet18", classes=labels, img_size=img_size,
                                mean=MEAN, std=STD, metrics={"val_macro_f1": 0.5}, extra=extra)
    return path
