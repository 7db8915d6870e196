"""Tiny multi-label data for the training tests (imported by tests, not collected): in-memory loaders and a split folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from auxiliary.base.tone import TONE_GROUPS
from auxiliary.data.readers import read_dataset
from auxiliary.data.splits import make_splits

LABELS = ["acne", "erythema", "wrinkles"]


class ToyMultilabel(Dataset):
    """Each of three labels present with probability 0.4, raising one colour channel (separable per label)."""

    def __init__(self, n: int, size: int = 32, seed: int = 0, augment: bool = False, noise: float = 0.6):
        g = torch.Generator().manual_seed(seed)
        self.y = (torch.rand(n, 3, generator=g) < 0.4).float()
        self.x = torch.randn(n, 3, size, size, generator=g) * noise + self.y[:, :, None, None] * 1.2
        self.augment = augment

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        x = self.x[i]
        if self.augment and torch.rand(()) < 0.5:  # global torch RNG: reseeded per epoch by the loop
            x = x.flip(-1)
        return x, self.y[i], {"index": i}


def loaders(n_train: int = 64, n_val: int = 32, batch: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    tr = DataLoader(ToyMultilabel(n_train, augment=True), batch_size=batch, shuffle=True, generator=g, drop_last=True)
    va = DataLoader(ToyMultilabel(n_val, seed=1), batch_size=batch)
    return tr, va


def multilabel_folder(root: Path, n: int = 60, seed: int = 0, size: int = 32) -> Path:
    """``root/list.csv`` (path, labels, group, tone_group) over PNGs whose colour channels show the labels."""
    rng = np.random.default_rng(seed)
    lines = ["path,labels,group,tone_group"]
    for i in range(n):
        y = rng.random(3) < 0.4
        base = np.full((size, size, 3), 90.0) + y[None, None, :] * 110
        img = np.clip(base + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
        rel = f"images/img_{i:03d}.png"
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / rel)
        names = "|".join(lab for lab, v in zip(LABELS, y) if v)
        lines.append(f"{rel},{names},subject{i // 2},{TONE_GROUPS[i % 3]}")
    (root / "list.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "list.csv"


def multilabel_split(root: Path, n: int = 60, seed: int = 0) -> Path:
    """A multi-label split folder of :func:`multilabel_folder` (val 0.25, test 0.2)."""
    table, report = read_dataset(multilabel_folder(root / "data", n, seed), classes=LABELS, progress=False)
    make_splits(table, root / "split", val=0.25, test=0.2, seed=0, labels=report.labels, progress=False)
    return root / "split"
