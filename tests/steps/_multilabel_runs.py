"""A tiny multi-label split folder and multi-label runs whose logits on its images are chosen exactly (imported by tests, not collected).

The split follows the contract of ``split`` on a multi-label dataset: ``classes.json`` =
``{"classes": LABELS, "task": "multilabel"}``; ``test.csv`` / ``val.csv`` with path, label (joined,
``none``), group, tone_group and one 0/1 column per label. The run's ``best.pt`` follows the contract of
``train`` on it: ``task: multilabel``, ``temperatures`` one per label, ``thresholds`` = ``{"global",
"per_group", "fallback"}``. Its resnet18 (32 px) keeps a random body; the head is solved (least squares
on the pooled features of the split's images) so that each image gets the logits the test asks for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from auxiliary.base import images
from auxiliary.data.labels import joined_labels
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing, preprocess

LABELS = ["acne", "erythema", "hyperpigmentation", "wrinkles"]
TONES = ["intermediate", "dark", "light"]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMG_SIZE = 32


def truth_matrix(n: int = 18, seed: int = 0) -> np.ndarray:
    """(n, L) 0/1 truths: every label has positives and negatives in every tone group."""
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, len(LABELS))) < 0.45).astype(np.int64)
    for j in range(len(LABELS)):  # at least one positive and one negative of each label per tone group
        for t in range(len(TONES)):
            rows = np.arange(t, n, len(TONES))
            Y[rows[j % len(rows)], j] = 1
            Y[rows[(j + 1) % len(rows)], j] = 0
    return Y


def make_multilabel_split(root: Path, n: int = 18, size: int = 36, seed: int = 0) -> Path:
    """``root/split`` with test.csv = val.csv = train.csv (relative paths) over ``n`` noise images."""
    rng = np.random.default_rng(seed)
    split = root / "split"
    split.mkdir(parents=True, exist_ok=True)
    Y = truth_matrix(n, seed)
    rows = []
    for i in range(n):
        path = root / "images" / f"face_{i:02d}.png"
        images.write_png(path, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        rows.append({"path": os.path.relpath(path, split), "group": f"subject{i}", "tone_group": TONES[i % len(TONES)],
                     **{lab: int(Y[i, j]) for j, lab in enumerate(LABELS)}})
    table = pd.DataFrame(rows)
    table.insert(1, "label", joined_labels(Y, LABELS))
    for name in ("train", "val", "test"):
        table.to_csv(split / f"{name}.csv", index=False)
    (split / "classes.json").write_text(json.dumps({"classes": LABELS, "task": "multilabel"}))
    return split


def split_arrays(split: Path, name: str = "test") -> tuple[list[np.ndarray], np.ndarray, pd.DataFrame]:
    """(images, Y, table) of one list of the split."""
    table = pd.read_csv(split / f"{name}.csv")
    imgs = [images.read_image(split / p) for p in table["path"]]
    return imgs, table[LABELS].to_numpy(), table


def make_multilabel_run(run_dir: Path, split: Path, logits: np.ndarray, *, temperatures: list[float] | None = None,
                        thresholds: dict | None = None, seed: int = 0) -> Path:
    """``run_dir/best.pt``: a multi-label resnet18 whose raw logits on the split's test images are ``logits``."""
    imgs, _, _ = split_arrays(split)
    torch.manual_seed(seed)
    model = models.create_model("resnet18", num_classes=len(LABELS), pretrained=False).eval()
    x = torch.from_numpy(np.stack([preprocess(im, Preprocessing(IMG_SIZE, MEAN, STD)) for im in imgs]))
    with torch.no_grad():
        feats = model.forward_head(model.forward_features(x), pre_logits=True).double().numpy()
        w = np.linalg.pinv(feats) @ np.asarray(logits, dtype=np.float64)
        model.fc.weight.copy_(torch.from_numpy(w.T).float())
        model.fc.bias.zero_()
        got = model(x).double().numpy()
    assert np.allclose(got, logits, atol=1e-2), np.abs(got - logits).max()
    extra: dict = {"task": "multilabel", "temperatures": temperatures or [1.0] * len(LABELS)}
    if thresholds is not None:
        extra["thresholds"] = thresholds
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoints.save_checkpoint(run_dir / "best.pt", model, model_name="resnet18", classes=LABELS, img_size=IMG_SIZE,
                                mean=MEAN, std=STD, metrics={"val_macro_f1": 0.5}, extra=extra)
    (run_dir / "summary.json").write_text(json.dumps({"model": "resnet18", "task": "multilabel"}))
    return run_dir / "best.pt"


def shifted_logits(Y: np.ndarray, pos: float = 0.3, neg: float = 0.1) -> np.ndarray:
    """Logits whose sigmoid is ``pos`` on positives and ``neg`` on negatives: every label is ranked
    perfectly, yet nothing reaches 0.5 (the default threshold misses everything)."""
    lo, hi = np.log(neg / (1 - neg)), np.log(pos / (1 - pos))
    return np.where(Y == 1, hi, lo).astype(np.float64)
