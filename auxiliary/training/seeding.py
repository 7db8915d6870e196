"""Reproducibility: every epoch reseeds Python, NumPy, torch, the sampler and the augmentations; RNG states as tensors for resume.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


# ====================================================================================== seeding
def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    seed = int(seed) % (2**31)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + 7919 * (int(epoch) + 1)) % (2**31)


def reseed_loader(loader: Any, seed: int) -> None:
    """Reseed a DataLoader's generators, its sampler's (and the sampler a sharded sampler wraps) and its
    dataset's augmentation for one epoch."""
    seed = int(seed) % (2**31)
    loader = getattr(loader, "_dataloader", loader)  # a Fabric-wrapped loader
    objs = [loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)]
    bs = getattr(loader, "batch_sampler", None)
    objs.append(getattr(bs, "sampler", None))
    inner = getattr(getattr(loader, "sampler", None), "sampler", None)
    while inner is not None and inner not in objs:  # a sharded sampler's own (several processes)
        objs.append(inner)
        inner = getattr(inner, "sampler", None)
    for obj in objs:
        gen = getattr(obj, "generator", None)
        if isinstance(gen, torch.Generator):
            gen.manual_seed(seed)
        if obj is not None and hasattr(obj, "set_epoch") and not isinstance(obj, torch.utils.data.DataLoader):
            try:
                obj.set_epoch(seed)
            except TypeError:  # pragma: no cover - unusual signature
                pass
    ds = getattr(loader, "dataset", None)
    for holder in (ds, getattr(ds, "dataset", None)):
        if holder is None:
            continue
        for value in list(vars(holder).values()):
            if hasattr(value, "set_random_seed") and callable(value.set_random_seed):
                value.set_random_seed(seed)  # albumentations Compose
        if hasattr(holder, "set_epoch"):
            holder.set_epoch(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as tensors and literals (``weights_only``-loadable)."""
    py = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(gauss),
        "python_version": int(py[0]),
        "python_state": torch.tensor(py[1], dtype=torch.int64),
        "python_gauss": py[2] if py[2] is None else float(py[2]),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, int(state["numpy_pos"]), int(state["numpy_has_gauss"]),
                         float(state["numpy_gauss"])))
    random.setstate((int(state["python_version"]), tuple(int(v) for v in state["python_state"].tolist()),
                     state["python_gauss"]))
