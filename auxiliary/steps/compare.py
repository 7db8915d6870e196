"""Notebook 05 and ``python -m auxiliary compare``: trained models evaluated side by side into one tidy table.

``python -m auxiliary compare --runs runs/A runs/B ... --data SPLIT.csv --out DIR`` also saves the
error galleries; those figures and the Grad-CAM grids are :mod:`auxiliary.viz.plots_comparison`,
and the rows are built by :func:`auxiliary.evaluation.comparison_table.metric_rows`. It writes under
``DIR`` and, for the ONNX rows, each run's export beside its checkpoint (``runs/A/best.onnx``, reused
while it matches the checkpoint) or under ``--onnx-dir``, never to a file shared by runs.

The comparison is ONE long pandas DataFrame with a four-level MultiIndex and a ``value``
column::

    model            split  group                   metric             value
    resnet18 (04)    test   all                     balanced_accuracy  0.93
    resnet18 (04)    test   class:acne              recall             0.97
    resnet18 (04)    test   tone_group:dark         macro_f1           0.88
    resnet18 (04)    test   gap:tone_group          balanced_accuracy  0.06
    resnet18 (04)    test   all                     onnx_ms_per_image_b1  1.9

* ``group="all"``: :func:`auxiliary.evaluation.metrics.summary_metrics` (accuracy, balanced_accuracy,
  macro_f1, macro_auroc, ece, log_loss), ``n_images``, ``n_unreadable``, ``temperature``, the
  model size (``parameters``, ``checkpoint_mb``, ``onnx_mb``; MB = 10^6 bytes) and speed
  (``torch_ms_per_image_b1``, ``torch_images_per_s_b32``, ``onnx_ms_per_image_b1``,
  ``onnx_images_per_s_b32``: median of ``cfg.eval.speed_repeats`` timed repeats after a
  warm-up, same thread count for both backends; on the device of ``cfg.eval.device``, which
  :attr:`Comparison.runs` records per model as ``torch_device`` and ``onnx_device``).
* ``group="class:<name>"``: :func:`auxiliary.evaluation.metrics.per_class_metrics` (precision, recall,
  f1, support, auroc, average_precision).
* ``group="<fairness_col>:<g>"`` (``tone_group:dark``...): :func:`auxiliary.evaluation.fairness.group_metrics`
  (support, flagged_small as 0/1, accuracy, balanced_accuracy, macro_f1, macro_auroc, ece, log_loss).
* ``group="gap:<fairness_col>"``, ``"ratio:..."``, ``"min:..."``, ``"max:..."``:
  :func:`auxiliary.evaluation.fairness.gaps` across the groups that are not flagged as too small
  (the worst group of each metric is in :attr:`Comparison.worst_groups`).

Multi-label runs (checkpoint task ``multilabel``) give a five-level table with a ``label`` level
(a label, ``macro``, ``micro`` or ``all``), described in :mod:`auxiliary.steps.comparison_multilabel`.

With ``cfg.eval.tta`` each model also appears as ``"<model>+tta"`` (flip test-time augmentation:
all metrics and size rows; no speed rows, TTA costs four forward passes). Slice it with
``table.xs("all", level="group")``, ``table.loc[pd.IndexSlice[:, :, "all", "balanced_accuracy"], :]``,
``table["value"].unstack("metric")`` or ``table.groupby(level="model")``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.config_overrides import apply_overrides
from auxiliary.base.devices import device_label
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import label_slug, sha256_file
from auxiliary.base.layout import run_dir, runs_dir
from auxiliary.data.readers import read_table
from auxiliary.evaluation.arrays import labels_to_index
from auxiliary.evaluation.comparison_table import (
    LEVELS,
    MULTILABEL_LEVELS,
    CompareError,
    metric_row,
    metric_rows,
    to_frame,
)
from auxiliary.inference.measurements import predict_plain_and_tta, prediction_table, size_rows, speed_rows
from auxiliary.inference.predictor import Predictor
from auxiliary.models import export
from auxiliary.models.onnx_model import default_onnx_path, onnx_session, session_device
from auxiliary.steps import comparison_multilabel as ml
from auxiliary.steps.comparison_result import Comparison
from auxiliary.steps.select import latest_runs, selected_model
from auxiliary.steps.train import ensure_run
from auxiliary.training.runs import run_name, same_settings


def _ckpt_of(run: str | Path) -> Path:
    p = Path(run)
    ckpt = p if p.is_file() else p / "best.pt"
    if not ckpt.is_file():
        raise CompareError(f"no checkpoint in {p} (expected {ckpt}); train it first or pass a runs/NAME folder")
    return ckpt


def run_labels(runs: Sequence[str | Path]) -> dict[str, Path]:
    """Label each run folder by its name (by its parent/name when two share a name)."""
    ckpts = [_ckpt_of(r) for r in runs]
    names = [c.parent.name for c in ckpts]
    out: dict[str, Path] = {}
    for ckpt, name in zip(ckpts, names):
        label = name if names.count(name) == 1 else f"{ckpt.parent.parent.name}/{name}"
        out[label] = ckpt.parent
    return out


def find_runs(cfg: Any, train_missing: bool = True, progress: bool = True) -> dict[str, Path]:
    """The models of notebooks 03 and 04 for ``cfg.profile``: label -> run folder.

    Notebook 03's runs are those of its latest recorded selection (:func:`auxiliary.steps.select.latest_runs`, under
    ``runs/select-<profile>/``, labelled ``"<model> (03)"``);
    notebook 04's run is :func:`auxiliary.steps.train.ensure_run` for the selected model
    (``"<model> (04)"``): reused only when its recorded settings match ``cfg``, else trained here
    (or, with ``train_missing=False``, left out with a message).
    """
    runs: dict[str, Path] = {}
    # Only the runs of the latest recorded selection: runs/select-<profile>/ may also hold runs
    # made with earlier settings.
    for name, run in sorted(latest_runs(cfg).items()):
        runs[f"{name} (03)"] = run
    model = selected_model(cfg)
    cfg04 = apply_overrides(cfg, {"train.model": model}) if model != cfg.train.model else cfg
    run04 = run_dir(cfg04, run_name(cfg04))
    if train_missing:
        run04 = ensure_run(cfg04, progress=progress)
    if (run04 / "best.pt").is_file() and same_settings(run04, cfg04):
        runs[f"{model} (04)"] = run04
    elif (run04 / "best.pt").is_file():
        print(f"not comparing {run04}: it was trained with other settings than {cfg.profile}'s (train it with notebook 04)")
    if not runs:
        raise CompareError(f"no trained model found under {runs_dir()} for profile {cfg.profile}")
    return runs


def onnx_path_for(run: str | Path, onnx_dir: str | Path | None = None) -> Path:
    """Where a run's ONNX export goes, keyed by its checkpoint, never by the architecture's name.

    Default: beside the checkpoint (``runs/NAME/best.onnx``), the file that sorting and evaluation
    with the ONNX backend use too. With ``onnx_dir``: ``<onnx_dir>/<run>-<first 12 hex digits of the
    checkpoint's SHA-256>.onnx`` (``runs/select-demo/resnet18`` -> ``select-demo-resnet18-0123456789ab.onnx``),
    so two checkpoints never share a file.
    """
    ckpt = _ckpt_of(run)
    if onnx_dir is None:
        return default_onnx_path(ckpt)
    try:
        stem = "-".join(ckpt.parent.resolve().relative_to(runs_dir().resolve()).parts)
    except ValueError:
        stem = ckpt.parent.name
    return Path(onnx_dir) / f"{label_slug(stem)}-{sha256_file(ckpt)[:12]}.onnx"


def load_table(data: str | Path, split: str | None = None) -> tuple[pd.DataFrame, str]:
    """The sample table to evaluate on and the split's name.

    ``data``: a split CSV (``.../test.csv``), or a split folder (then ``split``, default test).
    """
    p = Path(data)
    if p.is_dir():
        name = split or "test"
        csv = p / f"{name}.csv"
        if not csv.is_file():
            raise CompareError(f"{p} has no {name}.csv (a split folder has train/val/test.csv)")
    else:
        csv = p
        name = split or p.stem
    table = read_table(csv)
    if len(table) == 0:
        raise CompareError(f"{csv} lists no images")
    return table.reset_index(drop=True), name


# ----------------------------------------------------------------------------- the comparison
def load_comparison(path: str | Path) -> pd.DataFrame:
    """Read a saved ``comparison.csv`` back into the MultiIndex DataFrame."""
    df = pd.read_csv(path, dtype={"model": str, "split": str, "group": str, "label": str, "metric": str})
    return df.set_index(list(MULTILABEL_LEVELS if "label" in df.columns else LEVELS)).sort_index()


def compare_runs(
    runs: Mapping[str, str | Path] | Sequence[str | Path],
    data: str | Path,
    cfg: Any,
    *,
    split: str | None = None,
    onnx_dir: str | Path | None = None,
    export_onnx: bool = True,
    measure_speed: bool = True,
    tta: bool | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Comparison:
    """Evaluate every run on ``data`` and build the tidy comparison table (see the module docstring).

    ``runs``: label -> run folder (or a list of run folders, labelled by name). Unless
    ``export_onnx=False``, each checkpoint's ONNX export (:func:`onnx_path_for`: beside the checkpoint,
    or under ``onnx_dir``) is reused when it matches the checkpoint
    (:func:`auxiliary.models.export.onnx_mismatch`), else exported with a parity check; a file that
    does not match is replaced beside the checkpoint, under ``onnx_dir`` only with ``overwrite``.
    ``tta`` defaults to ``cfg.eval.tta``.
    """
    labelled = dict(runs) if isinstance(runs, Mapping) else run_labels(runs)
    if not labelled:
        raise CompareError("no runs to compare")
    table, split_name = load_table(data, split)
    ev = cfg.eval
    tta = ev.tta if tta is None else bool(tta)
    fcol = ev.fairness_col
    groups = None
    if fcol in table.columns:
        groups = table[fcol].astype(object).where(table[fcol].notna(), "unknown").astype(str).tolist()
    else:
        warnings.warn(f"no column {fcol!r} in {data}: fairness rows left out", stacklevel=2)
    rows: list[dict[str, Any]] = []
    worst_parts: list[pd.DataFrame] = []
    preds: dict[str, pd.DataFrame] = {}
    infos: dict[str, dict[str, Any]] = {}
    models_cache: dict[str, Any] = {}
    tasks: dict[str, str] = {}
    for label, run in labelled.items():
        ckpt = _ckpt_of(run)
        predictor = Predictor.from_checkpoint(ckpt, device=ev.device)
        classes = predictor.classes
        tasks[label] = predictor.task
        ml.check_same_task(tasks)
        try:
            y = ml.multilabel_truth(table, classes) if predictor.multilabel else \
                labels_to_index(table["label"].astype(str).tolist(), classes)
        except AuxiliaryError as exc:
            raise CompareError(f"{label}: {exc}") from None
        onnx_path, sess = None, None
        if export_onnx:
            onnx_path = export.ensure_onnx(ckpt, onnx_path_for(ckpt, onnx_dir), info=predictor.info,
                                           replace_stale=onnx_dir is None or overwrite, device=predictor.device)
            sess = onnx_session(onnx_path, device=predictor.device)
        infos[label] = {
            "run": str(Path(run)),
            "ckpt": str(ckpt),
            "onnx": str(onnx_path) if onnx_path else None,
            "model_name": predictor.name,
            "classes": list(classes),
            "img_size": predictor.img_size,
            "mean": list(predictor.mean),
            "std": list(predictor.std),
            "temperature": predictor.temperature,
            "device": predictor.device,
            "torch_device": device_label(predictor.device),
            "onnx_device": session_device(sess) if sess is not None else None,
        }
        models_cache[label] = (predictor.model, predictor.info)
        predict = ml.multilabel_predictions if predictor.multilabel else predict_plain_and_tta
        plain, flipped = predict(predictor, list(table["path"]), tta=tta, progress=progress)
        variants = [(label, plain)] + ([(f"{label}+tta", flipped)] if tta else [])
        for name, probs in variants:
            if predictor.multilabel:
                r, worst, preds[name] = ml.multilabel_run_rows(name, split_name, y, probs, predictor, table, groups, fcol, ev)
                rows += r
            else:
                r, worst = metric_rows(name, split_name, y, probs, classes, groups, fcol, ev.min_group_size, ev.ece_bins)
                rows += r
                metric_row(rows, name, split_name, "all", "temperature", predictor.temperature)
                preds[name] = prediction_table(table, probs, classes, fcol)
            worst_parts.append(worst)
            rows += size_rows(name, split_name, predictor.model, ckpt, onnx_path)
        if measure_speed:
            rows += speed_rows(label, split_name, predictor.model, sess, predictor.img_size, ev.speed_repeats)
    worst_all = pd.concat([w for w in worst_parts if len(w)], ignore_index=True) if any(len(w) for w in worst_parts) \
        else pd.DataFrame(columns=["model", "split", "metric", "worst_group", "best_group", "excluded"])
    return Comparison(
        table=to_frame(rows), predictions=preds, runs=infos, worst_groups=worst_all, split=split_name,
        fairness_col=fcol, conf=float(cfg.sort.conf), _models=models_cache,
    )


# ----------------------------------------------------------------------------- CLI
