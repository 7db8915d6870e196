"""auxiliary.inference.embeddings: offline ImageNet features, the same for a path and its pixels."""

from __future__ import annotations

import numpy as np

from auxiliary.base.images import write_png
from auxiliary.inference import embeddings


def test_features_of_paths_and_arrays_agree(tmp_path):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (40, 50, 3), dtype=np.uint8) for _ in range(3)]
    paths = []
    for i, im in enumerate(imgs):
        write_png(tmp_path / f"{i}.png", im)
        paths.append(tmp_path / f"{i}.png")
    model = embeddings.embedding_model()
    a = embeddings.embed_images(paths, model=model, img_size=64, batch_size=2)
    b = embeddings.embed_images(imgs, model=model, img_size=64)
    assert a.shape == (3, model.num_features) and np.allclose(a, b, atol=1e-5)
    assert np.linalg.norm(a[0] - a[1]) > 1e-3  # different images, different features
    assert embeddings.embed_images([], model=model).shape == (0, model.num_features)
