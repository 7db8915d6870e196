"""auxiliary.inference.active: which photos to label first (uncertainty, k-center diversity, both, random)."""

from __future__ import annotations

import numpy as np
import pytest
from _tiny_runs import tiny_checkpoint

from auxiliary.base.images import write_png
from auxiliary.inference import active
from auxiliary.inference.predictor import Predictor


def clusters(n_per: int = 10, seed: int = 0) -> np.ndarray:
    """Three tight clusters of points on a circle."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1, 0], [-0.5, 0.87], [-0.5, -0.87]])
    return np.concatenate([c + rng.normal(0, 0.01, (n_per, 2)) for c in centres])


def test_k_center_greedy_covers_every_cluster_before_repeating_one():
    emb = clusters()
    picked = active.k_center_greedy(emb, 3)
    assert sorted(i // 10 for i in picked) == [0, 1, 2]
    assert len(set(active.k_center_greedy(emb, 30))) == 30  # every row once, duplicates or not
    assert active.k_center_greedy(emb, 0) == [] and active.k_center_greedy(emb[:0], 3) == []


def test_uncertainty_picks_the_least_sure_and_diversity_spreads_them():
    emb = clusters()
    u = np.zeros(30)
    u[:10] = np.linspace(0.9, 0.99, 10)  # cluster 0 is the most uncertain...
    u[10:13] = 0.8  # ...then a few of cluster 1
    u[29] = np.nan  # an unreadable photo
    assert set(active.select_for_review(u, 3, "uncertainty")) <= set(range(10))
    mixed = active.select_for_review(u, 3, "uncertainty+diversity", emb, pool_factor=5)
    assert {i // 10 for i in mixed} == {0, 1} and mixed[0] == 9  # the most uncertain first, then spread
    assert 29 not in active.select_for_review(u, 29, "random", seed=1)
    assert active.select_for_review(u, 3, "random", seed=1) == active.select_for_review(u, 3, "random", seed=1)
    with pytest.raises(active.ActiveLearningError, match="embeddings"):
        active.select_for_review(u, 3, "diversity")
    with pytest.raises(active.ActiveLearningError, match="unknown review strategy"):
        active.select_for_review(u, 3, "entropy-ish")


def test_model_embeddings_are_the_sorting_models_own_normalised_features(tmp_path):
    ck, _ = tiny_checkpoint(tmp_path / "best.pt")
    pred = Predictor.from_checkpoint(ck, device="cpu")
    rng = np.random.default_rng(0)
    paths = [write_png(tmp_path / f"{i}.png", rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)) for i in range(3)]
    (tmp_path / "bad.png").write_text("not an image")
    emb = active.model_embeddings(pred, [*paths, tmp_path / "bad.png"], progress=False)
    assert emb.shape == (4, pred.model.num_features)
    assert np.allclose(np.linalg.norm(emb[:3], axis=1), 1.0) and np.isnan(emb[3]).all()
