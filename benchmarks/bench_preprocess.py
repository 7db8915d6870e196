"""The same checkpoint, two preprocessings: the square resize vs the one its checkpoint records (e.g. timm's crop).

    python benchmarks/bench_preprocess.py --ckpt RUN/best.pt --split SPLIT [--list test] [--tta] [--out DIR]
        [--device auto] [--batch 32] [--threads 2]

Evaluates the checkpoint's weights, untouched, on the split folder's test list (``--list``) twice, the
preprocessing overridden in memory only (:class:`auxiliary.models.preprocess.Preprocessing` in the predictor's
entries; the file is never written):

* ``square``: every image area-resized to ``img_size`` x ``img_size`` (what every model got before issue 29, and
  what a checkpoint recording no ``preprocessing`` still gets);
* ``own``: the checkpoint's own preprocessing (``preprocessing`` in the checkpoint; for an older checkpoint, what
  :func:`auxiliary.models.factory.model_preprocessing` decides from its recorded ``train.pretrained``).

Measured 2026-12-07 on a run of ``configs/ham10000_cpu.yaml`` trained and validated with timm's centre crop (for
``tf_efficientnet_lite0`` the shorter side to ``floor(img_size / 0.875)`` px, bicubic, the centre ``img_size``),
quiet CPU: square 0.713 (0.718 with ``--tta``) against the crop 0.681 (0.678) balanced accuracy; macro AUROC 0.942
(0.950) against 0.948 (0.955). Since then pretrained models take timm's mean/std and interpolation on the whole
image (``crop_pct`` 1, :func:`~auxiliary.models.factory.model_preprocessing`); such a run's ``own`` differs from
``square`` only in the interpolation of images smaller than ``img_size``.

Prints test balanced accuracy, macro AUROC and the recall of each class side by side (``--tta``: with the four flip
views too), with the checkpoint's own calibration for both (a temperature changes neither the arg-max nor the ranking,
so neither the balanced accuracy nor the AUROC); ``--out`` also writes ``DIR/results.json``. Single-label
checkpoints only (the HAM10000 measurement of issue 29).

The HAM10000 measurement (a long CPU job; the README recipe, ``configs/ham10000_cpu.yaml``: lite0 from the offline
ImageNet weights at 224 px, 7 epochs, weight EMA, flip TTA), from the checkout's root with
``../shared/data/ham10000`` present::

    python -m auxiliary train --config configs/ham10000_cpu.yaml --data ../shared/data/ham10000 --out runs/ham
    # the first line printed names the split folder: data/splits/ham10000-full-<hash> (70/15/15 by lesion, seed 0,
    # the split of benchmarks/ham10000_experiments.py)
    python benchmarks/bench_preprocess.py --ckpt runs/ham/best.pt --split data/splits/ham10000-full-<hash> \\
        --tta --threads 2 --out runs/ham/preprocess

The run trained with this version records the model's own spec, and its validation (the epoch kept, the
temperature) used it. A checkpoint of an earlier run of the same recipe (e.g. ``benchmarks/ham10000_experiments.py
--only lite0_pre_224_ema``: ``--ckpt /tmp/ham10000_experiments/runs/lite0_pre_224_ema/best.pt --split
/tmp/ham10000_experiments/split``, the same 70/15/15 split by lesion) compares the same way: its ``own`` row is derived from its config. The HAM10000 copy holds
224 x 224 images, so at 224 px ``square`` leaves them as they are and ``own`` enlarges them to 256 px (bicubic) and
keeps the centre 224 px.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from auxiliary.base.devices import resolve_device
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import write_json_atomic
from auxiliary.data.readers import load_split
from auxiliary.evaluation.metrics import per_class_metrics
from auxiliary.inference.measurements import view_logits, view_probabilities
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.models.factory import model_preprocessing
from auxiliary.models.preprocess import Preprocessing
from auxiliary.tasks.single import probability_metrics


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, help="the checkpoint (RUN/best.pt)")
    p.add_argument("--split", required=True, help="a split folder (train/val/test.csv, classes.json)")
    p.add_argument("--list", default="test", choices=("train", "val", "test"), help="which list (default test)")
    p.add_argument("--tta", action="store_true", help="also with the four flip views (test-time augmentation)")
    p.add_argument("--out", default=None, help="write OUT/results.json too")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    p.add_argument("--batch", type=int, default=32, help="images per batch (default 32)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    return p.parse_args(argv)


def own_preprocessing(ckpt: Checkpoint) -> tuple[Preprocessing, str]:
    """The checkpoint's own spec and where it comes from: recorded, or (an older checkpoint) decided from its
    recorded ``train.pretrained`` as training decides it now."""
    if isinstance(ckpt.info.get("preprocessing"), dict):
        return ckpt.preprocessing, "recorded in the checkpoint"
    train = (ckpt.info.get("config") or {}).get("train") or {}
    pretrained, name = train.get("pretrained", False), str(ckpt.info["model_name"])
    model = ckpt.model("cpu")
    try:
        spec = model_preprocessing(model, int(ckpt.info["img_size"]), pretrained, name)
        how = f"decided from its config (train.pretrained {pretrained!r})"
    except AuxiliaryError as exc:  # a weights file that is gone: the pretrained weights' timm config
        spec = model_preprocessing(model, int(ckpt.info["img_size"]), True, name)
        how = f"timm's data config (its train.pretrained {pretrained!r} cannot be read: {exc})"
    return replace(spec, mean=ckpt.preprocessing.mean, std=ckpt.preprocessing.std), how


def evaluate(ckpt: Checkpoint, model: Any, spec: Preprocessing, paths: list[str], truths: np.ndarray, *, tta: bool,
             batch: int, device: str) -> dict[str, Any]:
    """The metrics of ``model`` (the checkpoint's weights) on ``paths`` with ``spec`` in place of its preprocessing."""
    predictor = Predictor(model, {**ckpt.info, "preprocessing": spec.entry()}, ckpt.task, device=device)
    t0 = time.perf_counter()
    views, errors = view_logits(predictor, paths, batch_size=batch, tta=tta, progress=False)
    if errors:
        raise AuxiliaryError(f"{len(errors)} images unreadable, e.g. {paths[next(iter(errors))]}")
    out: dict[str, Any] = {"preprocessing": spec.as_dict(), "describe": spec.describe()}
    variants = {"plain": predictor.probabilities(views[0])}
    if tta:
        variants["tta"] = view_probabilities(ckpt.task, views, ckpt.info)
    for name, probs in variants.items():
        m = probability_metrics(truths, probs, len(ckpt.classes))
        recall = per_class_metrics(truths, probs, ckpt.classes)["recall"]
        out[name] = {"balanced_acc": m["balanced_acc"], "macro_auroc": m["macro_auroc"], "acc": m["acc"],
                     "recall": {c: float(recall[c]) for c in ckpt.classes}}
    out["seconds"] = time.perf_counter() - t0
    return out


def table(results: dict[str, Any], classes: list[str]) -> str:
    """The two preprocessings side by side, one line per metric (and per class recall)."""
    cols = [(spec, v) for spec in ("square", "own") for v in ("plain", "tta") if v in results[spec]]
    head = "| metric | " + " | ".join(f"{s}{' + TTA' if v == 'tta' else ''}" for s, v in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    rows = [("test balanced accuracy", lambda r: r["balanced_acc"]), ("test macro AUROC", lambda r: r["macro_auroc"]),
            *[(f"recall {c}", lambda r, c=c: r["recall"][c]) for c in classes]]
    for label, get in rows:
        lines.append(f"| {label} | " + " | ".join(f"{get(results[s][v]):.3f}" for s, v in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        ckpt = Checkpoint.open(args.ckpt)
        if ckpt.task.name != "single":
            raise AuxiliaryError(f"{args.ckpt} is a {ckpt.task.name} checkpoint: this benchmark compares single-label "
                                 "models (balanced accuracy, recall per class)")
        tables, _ = load_split(args.split)
        rows = tables[args.list]
        if not len(rows):
            raise AuxiliaryError(f"the {args.list} list of {args.split} is empty")
        truths = ckpt.task.truths(rows, ckpt.classes)
        device = resolve_device(args.device)
        model = ckpt.model(device)
        own, how = own_preprocessing(ckpt)
        square = Preprocessing(own.img_size, own.mean, own.std)
        paths = rows["path"].astype(str).tolist()
        results: dict[str, Any] = {"checkpoint": str(ckpt.path), "sha256": ckpt.sha256, "split": str(args.split),
                                   "list": args.list, "images": len(paths), "device": device, "own_source": how}
        for name, spec in (("square", square), ("own", own)):
            results[name] = evaluate(ckpt, model, spec, paths, truths, tta=args.tta, batch=args.batch, device=device)
    except AuxiliaryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{ckpt.path} ({ckpt.info['model_name']}, {ckpt.sha256[:12]}) on {len(paths)} images of {args.list} "
          f"({args.split}), {device}")
    print(f"square: the whole image area-resized to {square.img_size} x {square.img_size}")
    print(f"own:    {own.describe()} [{how}]")
    if own == square:
        print("note: this model's own preprocessing is the square resize (a model from scratch): both columns agree")
    print(table(results, ckpt.classes))
    if args.out:
        write_json_atomic(Path(args.out) / "results.json", results)
        print(f"wrote {Path(args.out) / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
