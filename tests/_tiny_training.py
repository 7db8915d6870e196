"""Tiny in-memory data, configs and runs for the training tests (imported by tests, not collected)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from auxiliary.base import config_overrides
from auxiliary.training import loop
from auxiliary.viz.plots_training import RunFigures

CLASSES = ["acne", "erythema", "none"]


class Toy(Dataset):
    """Three linearly separable classes (one bright colour channel each) with a random flip."""

    def __init__(self, n: int, size: int = 32, seed: int = 0, augment: bool = False, noise: float = 0.6):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.arange(n) % 3
        self.x = torch.randn(n, 3, size, size, generator=g) * noise
        for c in range(3):
            self.x[self.y == c, c] += 1.0
        self.augment = augment

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        x = self.x[i]
        if self.augment and torch.rand(()) < 0.5:  # global torch RNG: reseeded per epoch by the loop
            x = x.flip(-1)
        return x, int(self.y[i]), {"index": i}


def loaders(n_train: int = 48, n_val: int = 24, batch: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    tr = DataLoader(Toy(n_train, augment=True), batch_size=batch, shuffle=True, generator=g, drop_last=True)
    va = DataLoader(Toy(n_val, seed=1), batch_size=batch)
    return tr, va


def make_cfg(**over):
    base = {
        "model": "test_resnet",
        "img_size": 32,
        "batch": 8,
        "max_epochs": 3,
        "freeze_epochs": 1,
        "lr_head": 3e-3,
        "lr_ft": 3e-3,
        "warmup_epochs": 0.5,
        "patience": 0,
        "threads": 1,
    }
    base.update(over)
    return config_overrides.resolve("smoke", overrides=base)


def run(tmp_path, name, cfg=None, **kw):
    tr, va = loaders()
    kw.setdefault("callbacks", [RunFigures()])  # the figures the steps layer asks for
    return loop.fit_loaders(cfg or make_cfg(), CLASSES, tr, va, tmp_path / name, progress=False, **kw)
