"""Which photos a reviewer should label first, so that k corrections teach the model the most (active learning).

A sort leaves every photo with calibrated probabilities; :func:`select_for_review` picks ``k`` of them by

* ``uncertainty``: the ``k`` the model is least sure of (its task's :meth:`~auxiliary.tasks.task.Task.uncertainty`:
  one minus the gap between the two top classes, or the smallest distance to a label's threshold);
* ``diversity``: k-center greedy (Sener and Savarese 2018, "Active Learning for Convolutional Neural Networks: A
  Core-Set Approach") on the model's own embeddings: each pick is the photo farthest from every photo picked so
  far, so that k labels cover the photos instead of k near-copies of one hard case;
* ``uncertainty+diversity`` (the default): k-center greedy among the ``pool_factor * k`` most uncertain photos;
* ``random``: the baseline every strategy is measured against.

:func:`model_embeddings` gives the embeddings: the pooled features in front of the classifier head of the sorting
model itself (timm's ``forward_head(pre_logits=True)``), L2-normalised. Written by hand because k-center greedy is a
few lines of NumPy and the libraries that have it (modAL, baal) bring their own training loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.progress import progress_bar
from auxiliary.inference.predictor import Predictor
from auxiliary.models.preprocess import batched, preprocess

#: ``strategy`` of :func:`select_for_review`.
STRATEGIES: tuple[str, ...] = ("uncertainty+diversity", "uncertainty", "diversity", "random")
#: ``uncertainty+diversity`` spreads its k picks over this many times k of the most uncertain photos.
POOL_FACTOR = 3


class ActiveLearningError(AuxiliaryError):
    """A review selection that cannot be made (unknown strategy, no embeddings for diversity)."""


@torch.no_grad()
def model_embeddings(predictor: Predictor, paths: Sequence[str | Path], batch_size: int = 32,
                     progress: bool = True) -> np.ndarray:
    """(N, D) L2-normalised features of the sorting model's own body for each image (an unreadable one: a NaN row)."""
    if predictor.backend != "torch":
        raise ActiveLearningError("embeddings need the PyTorch backend (--backend torch)")
    model = predictor.model.eval()
    dev = next(model.parameters()).device
    rows: list[np.ndarray | None] = []
    bar = progress_bar(total=len(paths), desc="embed", unit="img", disable=not progress)
    for chunk in batched(list(paths), batch_size):
        arrays, where = [], []
        for i, p in enumerate(chunk):
            try:
                arrays.append(preprocess(read_image(p), predictor.preprocessing))
                where.append(i)
            except ImageReadError:
                continue
        out: list[np.ndarray | None] = [None] * len(chunk)
        if arrays:
            x = torch.from_numpy(np.stack(arrays)).to(dev)
            feats = model.forward_head(model.forward_features(x), pre_logits=True).float().cpu().numpy()
            for i, f in zip(where, feats):
                out[i] = f
        rows += out
        bar.update(len(chunk))
    bar.close()
    dim = next((r.shape[0] for r in rows if r is not None), 1)
    emb = np.stack([r if r is not None else np.full(dim, np.nan) for r in rows]) if rows else np.zeros((0, dim))
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.where(norm > 0, norm, 1.0)


def k_center_greedy(embeddings: np.ndarray, k: int, candidates: np.ndarray | None = None,
                    start: int | None = None) -> list[int]:
    """k row indices of ``embeddings`` (among ``candidates``), each the farthest (Euclidean) from those picked
    before; the first is ``start``, else the candidate nearest the candidates' mean (a typical photo)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    cand = np.arange(len(emb)) if candidates is None else np.asarray(candidates, dtype=int)
    cand = cand[np.isfinite(emb[cand]).all(axis=1)] if len(cand) else cand
    if not len(cand) or k <= 0:
        return []
    pts = emb[cand]
    first = int(np.argmin(((pts - pts.mean(axis=0)) ** 2).sum(axis=1))) if start is None else \
        int(np.flatnonzero(cand == start)[0])
    picked = [first]
    dist = ((pts - pts[first]) ** 2).sum(axis=1)
    while len(picked) < min(k, len(cand)):
        nxt = int(np.argmax(dist))
        if dist[nxt] <= 0 and len(picked) < len(cand):  # duplicates left: any unpicked one
            nxt = int(np.setdiff1d(np.arange(len(cand)), picked)[0])
        picked.append(nxt)
        dist = np.minimum(dist, ((pts - pts[nxt]) ** 2).sum(axis=1))
    return [int(cand[i]) for i in picked]


def select_for_review(uncertainty: np.ndarray, k: int, strategy: str = STRATEGIES[0],
                      embeddings: np.ndarray | None = None, seed: int = 0, pool_factor: int = POOL_FACTOR) -> list[int]:
    """The ``k`` row positions a reviewer should label first (see the module docstring); rows whose uncertainty is
    NaN (unreadable photos) are never picked."""
    if strategy not in STRATEGIES:
        raise ActiveLearningError(f"unknown review strategy {strategy!r} (choose from: {', '.join(STRATEGIES)})")
    u = np.asarray(uncertainty, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(u))
    k = int(min(max(k, 0), len(ok)))
    if k == 0:
        return []
    if strategy == "random":
        return sorted(np.random.default_rng(seed).choice(ok, size=k, replace=False).tolist())
    by_doubt = ok[np.argsort(-u[ok], kind="stable")]
    if strategy == "uncertainty":
        return [int(i) for i in by_doubt[:k]]
    if embeddings is None:
        raise ActiveLearningError(f"strategy {strategy} needs the model's embeddings of the photos")
    if strategy == "diversity":
        return k_center_greedy(embeddings, k, ok)
    pool = by_doubt[: max(k, pool_factor * k)]
    return k_center_greedy(embeddings, k, pool, start=int(pool[0]))
