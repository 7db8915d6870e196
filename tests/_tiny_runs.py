"""Tiny split folders and runs for the comparison / export tests (imported by tests, not collected)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from auxiliary.base import images
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models

CLASSES = ["acne", "erythema", "none"]
TONES = ["light", "brown", "dark"]
COLOURS = {"acne": (200, 60, 60), "erythema": (220, 120, 110), "none": (190, 160, 130)}


def make_split(root: Path, n_per_class: int = 6, size: int = 40, seed: int = 0, split: Path | None = None) -> Path:
    """``root/split`` (or ``split``) with train/val/test.csv (relative paths) and classes.json;
    images under ``root/images``."""
    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    split = split or root / "split"
    split.mkdir(parents=True, exist_ok=True)
    rows = []
    for cls in CLASSES:
        (img_dir / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            base = np.array(COLOURS[cls], dtype=np.float32)
            img = base + rng.normal(0, 25, size=(size, size, 3))
            y, x = rng.integers(5, size - 5, size=2)
            img[y - 4 : y + 4, x - 4 : x + 4] = (120, 20, 20) if cls == "acne" else base * 0.8
            path = img_dir / cls / f"{cls}_{i:02d}.png"
            images.write_png(path, np.clip(img, 0, 255).astype(np.uint8))
            rows.append({"path": str(path), "label": cls, "group": f"{cls}{i}", "tone_group": TONES[i % 3],
                         "ita": 10.0, "is_augmented": False})
    table = pd.DataFrame(rows)
    for name in ("train", "val", "test"):
        out = table.copy()
        out["path"] = [os.path.relpath(p, split) for p in out["path"]]
        out.to_csv(split / f"{name}.csv", index=False)
    (split / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    return split


def make_run(run_dir: Path, model_name: str = "resnet18", seed: int = 0, img_size: int = 32,
             temperature: float = 1.5, val_csv: Path | None = None) -> Path:
    """A run folder with best.pt (an untrained model) and, if given, val_predictions.csv."""
    torch.manual_seed(seed)
    model = models.create_model(model_name, num_classes=len(CLASSES))
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoints.save_checkpoint(run_dir / "best.pt", model, model_name=model_name, classes=CLASSES, img_size=img_size,
                           temperature=temperature, metrics={"val_balanced_acc": 0.5})
    if val_csv is not None:
        df = pd.read_csv(val_csv)
        df["path"] = [str((val_csv.parent / p).resolve()) for p in df["path"]]
        df.to_csv(run_dir / "val_predictions.csv", index=False)
    (run_dir / "summary.json").write_text(json.dumps({"model": model_name}))
    return run_dir / "best.pt"


def tiny_checkpoint(path: Path, img_size: int = 32, temperature: float = 2.0, **kw) -> tuple[Path, torch.nn.Module]:
    """An untrained 3-class resnet18 saved at ``path`` (seed 0): ``(path, model)``."""
    torch.manual_seed(0)
    model = models.create_model("resnet18", num_classes=len(CLASSES))
    checkpoints.save_checkpoint(path, model, model_name="resnet18", classes=CLASSES, img_size=img_size,
                                temperature=temperature, **kw)
    return path, model


def tiny_run_with_split(root: Path) -> tuple[Path, Path, Path]:
    """``(root, split, best.pt)``: a 4-per-class split and a run whose val_predictions.csv points into it."""
    split = make_split(root, n_per_class=4)
    ckpt = make_run(root / "runs" / "tiny", "resnet18", seed=0, img_size=32, temperature=1.7, val_csv=split / "val.csv")
    return root, split, ckpt


#: 6 samples, 3 classes, for the metric tests: arg-max predictions 0, 1, 1, 1, 2, 0
EXAMPLE_LABELS = np.array([0, 0, 1, 1, 2, 2])
EXAMPLE_PROBS = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1],
                          [0.1, 0.5, 0.4], [0.1, 0.2, 0.7], [0.5, 0.2, 0.3]])

