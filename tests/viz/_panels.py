"""What the notebook panels of 03 and 05 are built on, made by the real steps on tiny data (imported by tests, not
collected): a selection table and the winner's evaluation (notebook 03), a comparison (notebook 05), for one class
per image and for several labels per image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from _multilabel_checkpoint import LABELS, multilabel_checkpoint
from _tiny_runs import make_run, make_split

from auxiliary.base import config_overrides, images
from auxiliary.data.labels import joined_labels
from auxiliary.steps.compare import compare
from auxiliary.steps.evaluate import evaluate

#: Thresholds a multi-label run records: global and per tone group.
THRESHOLDS = {"global": {lab: 0.3 for lab in LABELS}, "per_group": {"dark": {lab: 0.4 for lab in LABELS}}}
TONES = ["light", "intermediate", "dark"]


def selection_table(models: list[str], winner: str) -> pd.DataFrame:
    """A selection table as ``select`` returns it (two candidates, the winner in ``attrs``)."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"model": models, **{c: rng.random(len(models)) for c in (
        "val_balanced_acc", "val_macro_auroc", "val_ece", "val_macro_f1", "val_acc")}, "error": ""})
    table.attrs.update(winner=winner, metric="val_balanced_acc")
    return table


def single_runs(root: Path) -> tuple[Path, list[Path]]:
    """A single-label split (acne, erythema, none over three tone groups) and two untrained runs on it."""
    split = make_split(root, n_per_class=6)
    a = make_run(root / "runs" / "A", "resnet18", seed=0, img_size=32, val_csv=split / "val.csv")
    b = make_run(root / "runs" / "B", "resnet18", seed=1, img_size=32, temperature=0.8)
    return split, [a, b]


def multilabel_runs(root: Path, n: int = 18) -> tuple[Path, list[Path]]:
    """A multi-label split (every list the same 18 noise images; four labels, three tone groups) and two runs whose
    logits rank the labels well (A) or noisily (B)."""
    rng = np.random.default_rng(0)
    split = root / "split"
    split.mkdir(parents=True, exist_ok=True)
    Y = (rng.random((n, len(LABELS))) < 0.45).astype(int)
    Y[0], Y[1] = 1, 0  # every label has positives and negatives
    imgs = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(n)]
    rows = []
    for i, img in enumerate(imgs):
        path = root / "images" / f"face_{i:02d}.png"
        images.write_png(path, img)
        rows.append({"path": str(path), "group": f"subject{i}", "tone_group": TONES[i % 3],
                     **{lab: int(Y[i, j]) for j, lab in enumerate(LABELS)}})
    table = pd.DataFrame(rows)
    table.insert(1, "label", joined_labels(Y, LABELS))
    for name in ("train", "val", "test"):
        table.to_csv(split / f"{name}.csv", index=False)
    (split / "classes.json").write_text(json.dumps({"classes": LABELS, "task": "multilabel"}))
    good = np.where(Y == 1, 1.0, -1.0) + rng.normal(0, 0.8, Y.shape)
    noisy = good + rng.normal(0, 2.0, Y.shape)
    a = multilabel_checkpoint(root / "runs" / "A" / "best.pt", imgs, good, thresholds=THRESHOLDS)
    b = multilabel_checkpoint(root / "runs" / "B" / "best.pt", imgs, noisy)
    for run in (a, b):
        (run.parent / "summary.json").write_text('{"model": "resnet18", "task": "multilabel"}')
    return split, [a, b]


def config(**over):
    base = {"min_group_size": 3, "tta": False, "n_bootstrap": 5, "speed_repeats": 1}
    return config_overrides.resolve("smoke", overrides={**base, **over})


def winner_report(root: Path, split: Path, ckpt: Path) -> dict:
    """The winner's evaluation as notebook 03 makes it: on the validation list, calibration refitted there."""
    return evaluate(config(), ckpt, split / "val.csv", root / "evaluation", val=split / "val.csv", overwrite=True,
                    progress=False)


def comparison(root: Path, split: Path, ckpts: list[Path]):
    """The comparison of notebook 05 (no ONNX export, no speed: what the browser shows needs neither)."""
    return compare(config(), [c.parent for c in ckpts], split / "test.csv", root / "comparison", export_onnx=False,
                   measure_speed=False, galleries=False, progress=False, overwrite=True)
