"""``python -m auxiliary adapt --ckpt RUN/best.pt --input PHOTOS --out RUN2``: a synthetic model adapted to the photos
it is about to sort, without a single label of theirs.

``method``:

* ``adabn``: the BatchNorm statistics re-estimated on the photos (:func:`auxiliary.training.adaptation.adapt_batchnorm`),
  nothing else changed;
* ``self`` (default): self-training: the photos the model is sure of (a confidence threshold chosen on the run's *synthetic*
  validation predictions, :func:`~auxiliary.training.adaptation.confidence_threshold`) labelled with its own answer,
  the same number per class at most (:func:`~auxiliary.training.adaptation.balanced_pseudo_labels`), added to the
  synthetic training list; fine-tuned from the checkpoint on that mix with strong augmentation
  (``data.augment: strong``), the epoch chosen on the synthetic validation list;
* ``adabn+self``: AdaBN first (the pseudo-labels come from the adapted model), self-training, then AdaBN
  again on the fine-tuned model.

Measured (``benchmarks/adapt_runs.md``, A1: a photo-mode model on 472 held-out real photos of three sources):
``self`` 0.818 balanced accuracy from 0.688; ``adabn`` 0.629 and ``adabn+self`` 0.671, lower than no adaptation. The
photos being sorted mix sources whose statistics differ (close-ups, rosacea portraits, clear portraits), so their
pooled BatchNorm statistics describe none of them; ``self`` is the default, AdaBN stays for one-source folders.

``RUN2`` is a normal run folder (``best.pt``, ``summary.json`` with an ``adaptation`` entry, ``config.yaml``,
``val_predictions.csv``...) that ``evaluate``, ``sort``, ``predict``, ``compare`` and ``serve`` read like any other.
Self-training needs one class per image (a multi-label model takes ``adabn``) and the run's ``val_predictions.csv``
and split (``summary.json``'s ``split_dir``, or ``split``). The photos are read, never changed; nothing is written
outside ``out``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.config import Config, save, to_dict
from auxiliary.base.devices import resolve_device
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import check_output_dir, read_csv, write_csv_atomic, write_json_atomic
from auxiliary.base.images import ImageReadError, is_image_name, read_image
from auxiliary.base.layout import resolve_path
from auxiliary.data.readers import load_split
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint, save_checkpoint
from auxiliary.steps.train import train_run
from auxiliary.training.adaptation import (
    PSEUDO_PRECISION,
    adapt_batchnorm,
    balanced_pseudo_labels,
    confidence_threshold,
    model_summary_line,
)
from auxiliary.training.runs import recorded_split, refuse_existing

#: ``adapt --method``.
METHODS: tuple[str, ...] = ("adabn", "self", "adabn+self")
#: What self-training changes of the run's training settings: a short fine-tuning of every layer.
SELF_TRAINING = {"freeze_epochs": 0, "patience": 0}


class AdaptStepError(AuxiliaryError):
    """``adapt`` cannot run with these inputs or settings."""


def target_photos(input_dir: str | Path) -> list[Path]:
    """The image files directly in ``input_dir`` (special files never opened), sorted; one line when there is none."""
    root = Path(input_dir).expanduser()
    if not root.is_dir():
        raise AdaptStepError(f"--input {input_dir}: not a folder of photos")
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.is_symlink() and is_image_name(p.name))
    if not files:
        raise AdaptStepError(f"--input {input_dir}: no image file in it")
    return files


def readable(paths: list[Path]) -> tuple[list[Path], list[np.ndarray]]:
    """The photos that read as images (the others are left out, as ``sort`` rejects them)."""
    ok, images = [], []
    for p in paths:
        try:
            images.append(read_image(p))
            ok.append(p)
        except ImageReadError:
            continue
    if not ok:
        raise AdaptStepError("no readable image among the photos to adapt to")
    return ok, images


def save_adapted(path: Path, model: Any, checkpoint: Checkpoint, adaptation: dict[str, Any]) -> None:
    """``model`` saved with every entry of ``checkpoint`` (classes, preprocessing, calibration, task) and an
    ``adaptation`` record."""
    info = {k: v for k, v in checkpoint.info.items() if k not in ("path", "state_dict")}
    keep = {k: info.pop(k) for k in ("model_name", "classes", "img_size", "mean", "std", "temperature", "config",
                                     "metrics")}
    info.pop("format", None)
    info.pop("versions", None)
    save_checkpoint(path, model, **{**keep, "classes": list(keep["classes"])}, extra={**info, "adaptation": adaptation})


def source_split(checkpoint: Checkpoint, split: str | Path | None) -> Path:
    """The split the checkpoint's run trained on: ``split``, else its ``summary.json``'s ``split_dir``."""
    found = recorded_split(checkpoint.path.parent, split)
    if found is None:
        raise AdaptStepError(f"self-training needs the split {checkpoint.path.parent} was trained on: none recorded "
                             "in its summary.json; pass --split DIR")
    return found


def pseudo_split(source: Path, pseudo: pd.DataFrame, out: Path) -> Path:
    """``out/split``: the source split's lists, its training list with the pseudo-labelled photos added (``group``
    ``target:<file>``, ``origin`` ``pseudo``: drawn ``data.real_weight`` times as often as a synthetic image);
    validation and test unchanged."""
    tables, _ = load_split(source)
    out.mkdir(parents=True, exist_ok=True)
    rows = pd.DataFrame({"path": pseudo["path"], "label": pseudo["label"],
                         "group": ["target:" + Path(p).name for p in pseudo["path"]], "tone_group": "unknown",
                         "origin": "pseudo", "confidence": pseudo["confidence"]})
    train = pd.concat([tables["train"], rows], ignore_index=True)
    write_csv_atomic(out / "train.csv", train)
    for name in ("val", "test"):
        write_csv_atomic(out / f"{name}.csv", tables[name])
    shutil.copyfile(source / "classes.json", out / "classes.json")
    return out


def validation_predictions(path: Path, classes: list[str]) -> pd.DataFrame:
    """The run's ``val_predictions.csv`` with its ``label`` and ``prob_<class>`` columns, or one line saying what it
    lacks (a damaged file, or one written for other classes)."""
    try:
        val = read_csv(path, keep_default_na=False, dtype={"label": str})
    except ValueError as exc:  # empty, not CSV, not UTF-8 (pandas' errors are ValueErrors)
        raise AdaptStepError(f"cannot read {path}: {str(exc).splitlines()[0][:120] if str(exc) else exc}") from None
    missing = [c for c in ("label", *(f"prob_{k}" for k in classes)) if c not in val.columns]
    if missing:
        raise AdaptStepError(f"{path} has no column {', '.join(missing[:3])}: not the validation predictions of a "
                             f"model of the classes {', '.join(classes)}")
    return val


def adapt(cfg: Config, ckpt: str | Path | Checkpoint, input_dir: str | Path, out: str | Path, *,
          method: str = "self", split: str | Path | None = None, epochs: int = 3,
          precision: float = PSEUDO_PRECISION, max_per_class: int | None = None, min_confidence: float = 0.5,
          overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """The ``adapt`` step (see the module docstring); returns the new run's summary (``run_dir`` its folder).
    ``min_confidence``: the pseudo-label threshold is never below it (a model unsure of everything labels nothing)."""
    if method not in METHODS:
        raise AdaptStepError(f"--method {method!r}: choose from {', '.join(METHODS)}")
    if not 0 < precision <= 1:
        raise AdaptStepError(f"--precision must be in (0, 1], got {precision}")
    checkpoint = Checkpoint.of(ckpt)
    if "self" in method and not checkpoint.task.one_class_per_image:
        raise AdaptStepError(f"self-training labels each photo with one class; {checkpoint.path} is a "
                             f"{checkpoint.task.title} model: use --method adabn")
    run = check_output_dir(resolve_path(out), inputs=(input_dir, checkpoint.path.parent))
    refuse_existing(run, False, overwrite)
    photos, images = readable(target_photos(input_dir))
    split_dir = source_split(checkpoint, split) if "self" in method else None
    val_pred = checkpoint.path.parent / "val_predictions.csv"
    if "self" in method and not val_pred.is_file():
        raise AdaptStepError(f"self-training chooses its threshold on the run's synthetic validation predictions: "
                             f"no {val_pred}")
    val = validation_predictions(val_pred, checkpoint.classes) if "self" in method else None  # before any work
    device = resolve_device(cfg.train.device)
    info = checkpoint.info
    model = checkpoint.model(device)
    record: dict[str, Any] = {"method": method, "source": str(checkpoint.path), "source_sha256": checkpoint.sha256,
                              "input_dir": str(Path(input_dir).resolve())}
    seen = len(images)  # the run folder is made by its first file: a refusal before it (no BatchNorm) leaves none
    if method.startswith("adabn"):
        adapt_batchnorm(model, images, checkpoint.preprocessing, total=seen, progress=progress, device=device)
    if method == "adabn":
        record.update(model_summary_line(seen, None, None))
        save_adapted(run / "best.pt", model, checkpoint, record)
        summary = {**_source_summary(checkpoint), "run_dir": str(run), "adaptation": record}
        save(cfg, run / "config.yaml")
        write_json_atomic(run / "summary.json", summary)
        return summary
    # self-training: pseudo-labels from the (adapted) model, a threshold from the synthetic validation list
    predictor = Predictor(model, info, checkpoint.task, device=str(device))
    probs = predictor.predict_arrays(images, batch_size=int(cfg.train.batch))
    classes = checkpoint.classes
    y_val = val["label"].map({c: i for i, c in enumerate(classes)}).fillna(-1).astype(int).to_numpy()
    threshold = confidence_threshold(val[[f"prob_{c}" for c in classes]].to_numpy(dtype=float), y_val, precision,
                                     floor=min_confidence)
    pseudo = balanced_pseudo_labels([str(p) for p in photos], probs, classes, threshold, max_per_class)
    if pseudo.empty:
        raise AdaptStepError(f"no photo reaches the confidence threshold {threshold:.3f} (the synthetic validation "
                             f"predictions are right {precision:.0%} of the time from there): try --method adabn")
    write_csv_atomic(run / "pseudo_labels.csv", pseudo)
    start = run / "adapted_start.pt"
    save_adapted(start, model, checkpoint, {**record, "stage": "start of self-training"})
    mixed = pseudo_split(split_dir, pseudo, run / "split")
    tcfg = replace(cfg.train, **SELF_TRAINING, pretrained=str(start), max_epochs=int(epochs),
                   model=str(info["model_name"]), img_size=int(info["img_size"]))
    train_cfg = replace(cfg, train=tcfg, data=replace(cfg.data, augment="strong"))
    summary = train_run(train_cfg, mixed, run, overwrite=True, progress=progress)
    record.update(model_summary_line(seen, threshold, pseudo), split_dir=str(split_dir), epochs=int(epochs))
    if method == "adabn+self":  # the fine-tuned model's statistics mix both domains: the target's own again
        tuned = Checkpoint.open(run / "best.pt")
        final = tuned.model(device)
        adapt_batchnorm(final, images, tuned.preprocessing, total=seen, progress=progress, device=device)
        save_adapted(run / "best.pt", final, tuned, record)
    summary = {**summary, "adaptation": record}
    write_json_atomic(run / "summary.json", summary)
    start.unlink(missing_ok=True)
    return summary


def _source_summary(checkpoint: Checkpoint) -> dict[str, Any]:
    try:
        return json.loads((checkpoint.path.parent / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"model": checkpoint.info.get("model_name"), "classes": checkpoint.classes,
                "task": checkpoint.task.name, "config": to_dict(Config())}
