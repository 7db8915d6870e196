"""``python -m auxiliary evaluate --ckpt runs/NAME/best.pt --data test.csv --out DIR``: a checkpoint on a split or dataset.

:func:`evaluate` is the one step the command line (and notebook 03, for its winner) calls. It opens the checkpoint
once (:class:`~auxiliary.models.checkpoint.Checkpoint`) and evaluates it with whatever task the checkpoint has:
what differs between one class per image and several labels per image is asked of the checkpoint's
:class:`~auxiliary.tasks.task.Task` (how the data is read, what ``--val`` refits, the metrics, the prediction
columns, the figures), never tested here.

``--data`` is what the task reads (:mod:`auxiliary.inference.labelled`), a split folder standing for its
``test.csv`` (and given as ``--val``, for its ``val.csv``) as in ``compare``: for a single-label model a split list
(``test.csv``) or any dataset :func:`auxiliary.data.readers.read_dataset` reads (class folders, a CSV list,
HAM10000...), ``--label-map`` renaming its labels to the model's classes, which is how a model trained only on the
synthetic default is checked on real photos whose folders are named otherwise::

    python -m auxiliary evaluate --ckpt runs/resnet18-demo/best.pt --data ~/photos \
        --label-map rosacea=erythema,clear=none --out runs/real_check

and for a multi-label model (``task: multilabel``: one sigmoid per label) a CSV list with one 0/1 column per label
(a multi-label split's ``test.csv``), ``--label-map`` renaming its label columns.

Every image is read once and its raw logits kept (with ``cfg.eval.tta`` those of its flip views too,
:func:`auxiliary.inference.measurements.view_logits`, on PyTorch or ONNX Runtime): probabilities are the task's of
the checkpoint's calibration (one temperature, or one per label), or of one refitted on ``--val``
(:meth:`~auxiliary.tasks.task.Task.refit`), where decision thresholds are fitted too (per tone group on
P(positive classes) beside the single global one; per label and per (tone group, label)). Without known skin tones
(real photos), fairness uses the tone group *estimated* from the pixels (``tone_group_est``), and the notes say so.

Written to ``--out``: every table of the task's report as ``<name>.csv`` (through
:func:`auxiliary.base.files.write_csv_atomic`: a class named ``=1+1`` shows as text in a spreadsheet), its JSON files, its figures
(:data:`auxiliary.viz.plots_evaluation.EVALUATION_FIGURES`), ``predictions.csv`` (path, label, the fairness column,
then the task's columns), ``dropped.csv`` (every image left out: kind, path, detail) and ``summary.json`` (the
settings, every number, the notes). One class per image::

    metrics.csv             summary metrics, calibrated and uncalibrated (and with TTA if asked)
    per_class.csv           precision, recall, f1, support, auroc, average_precision per class
    confusion.csv           rows true, columns predicted
    reliability.csv         confidence bins (count, confidence, accuracy, gap)
    high_recall.json        threshold / precision / specificity at the target recall, CIs, note
    operating_point.json    with a stored operating point (``operating-point``): precision and recall per class,
                            balanced accuracy of the decisions it makes (``predictions.csv``'s ``pred`` too)
    group_metrics.csv       per group of the fairness column (support, flagged_small, metrics)
    group_metrics_long.csv  per group and class (tidy)
    gaps.csv                max, min, gap, ratio, worst group per metric
    group_thresholds.csv    per-group vs global threshold (needs --val)
    reliability.png, confusion.png, pr_curves.png, group_metrics.png

Several labels per image::

    metrics.csv               macro/micro AUROC, AP, F1, subset accuracy, Hamming loss, ECE per variant
                              (global_thresholds, group_thresholds, +tta)
    per_label.csv             support, prevalence, auroc, average_precision, threshold, precision, recall,
                              f1, precision_at_recall (at target_recall), ece, brier
    calibration.csv           per label and macro: ece, brier, mean probability, prevalence, and uncalibrated
    group_label_metrics.csv   per (thresholds global|per_group, group, label)
    fairness_gap.csv          F1 darkest minus intermediate per label and macro, before/after
    thresholds.json           the thresholds used: global, per_group, fallback, source
    roc_curves.png, pr_curves.png, reliability.png, group_label_f1.png, fairness_gap.png, gradcam_labels.png

:func:`run_report` gives the same report of a finished run's own ``val_predictions.csv`` / ``test_predictions.csv``
(notebook 04), at the run's calibration.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from auxiliary.base.config import Config
from auxiliary.base.devices import resolve_device
from auxiliary.base.files import check_output_dir, read_csv, write_csv_atomic, write_json_atomic
from auxiliary.base.layout import resolve_path
from auxiliary.data.balance import tone_column
from auxiliary.data.formats import special_kind, special_reason
from auxiliary.evaluation.arrays import finite_rows
from auxiliary.evaluation.report import EvaluationError
from auxiliary.inference.backends import load_predictor
from auxiliary.inference.labelled import is_split_folder, parse_label_map, read_labelled, split_list
from auxiliary.inference.measurements import view_logits, view_probabilities
from auxiliary.models.checkpoint import Checkpoint, procedural_notice
from auxiliary.models.pretrained import check_file
from auxiliary.training.records import record_step
from auxiliary.training.runs import training_source
from auxiliary.viz.plots_evaluation import evaluation_figures


def _fairness_column(col: str, table: pd.DataFrame, notes: list[str]) -> str:
    """The group column fairness is measured by: ``col``, or the pixel estimate of the tone where the table's tone
    is only that (real photos), said in the notes."""
    if col == "tone_group" and col in table.columns and tone_column(table) == "tone_group_est":
        notes.append("no known skin tones: fairness by tone_group_est, an ESTIMATE from the pixels (ITA)")
        return "tone_group_est"
    return col


def _check_inputs(ckpt: Checkpoint | str | Path, data: str | Path, val: str | Path | None, out: str | Path,
                  batch_size: int, overwrite: bool) -> tuple[Checkpoint | Path, Path, Path | None, Path]:
    """Paths resolved and checked before anything is read: one line for a missing file, a FIFO, socket or device
    (never opened), an output folder among the inputs, a bad batch size, an earlier evaluation without
    ``overwrite``."""
    ckpt = ckpt if isinstance(ckpt, Checkpoint) else Path(resolve_path(ckpt))
    data, val = Path(resolve_path(data)), Path(resolve_path(val)) if val else None
    if not isinstance(ckpt, Checkpoint):
        check_file(ckpt, "checkpoint", EvaluationError)
    for p in [data] + ([val] if val else []):
        if not p.exists():
            raise EvaluationError(f"data not found: {p}")
        if special_kind(p):
            raise EvaluationError(f"data {p} is {special_reason(special_kind(p))}: pass a split list, a split "
                                  "folder or a dataset folder")
    path = ckpt.path if isinstance(ckpt, Checkpoint) else ckpt
    dest = check_output_dir(out, inputs=(data, path, val))  # never among the user's photos
    if int(batch_size) < 1:
        raise EvaluationError(f"--batch-size must be at least 1, got {batch_size}")
    if (dest / "summary.json").exists() and not overwrite:
        raise EvaluationError(f"{dest} already holds an evaluation (summary.json); pass --overwrite or choose another --out")
    # a split folder stands for its test list (and, as --val, its validation list), as compare reads it
    data = split_list(data, "test")[0] if is_split_folder(data) else data
    val = split_list(val, "val")[0] if val is not None and is_split_folder(val) else val
    return ckpt, data, val, dest


def evaluate(cfg: Config, ckpt: Checkpoint | str | Path, data: str | Path, out: str | Path, *,
             val: str | Path | None = None, backend: str = "torch", batch_size: int = 32, overwrite: bool = False,
             progress: bool = True, label_map: str | dict[str, str] | None = None) -> dict[str, Any]:
    """The ``evaluate`` step: predict ``data`` with ``ckpt`` (a checkpoint file, or one already opened), compute
    everything its task reports (with ``cfg.eval``; calibration and thresholds refitted on ``val`` when given),
    write it to ``out`` (module docstring) and record the step for the trackers. Returns the report: the task's
    tables and ``summary``, ``metrics``, ``notes``, plus ``predictions``, ``dropped``, ``info`` (the settings),
    ``task`` (its name), ``classes``, ``truths``, ``probs``, ``probs_uncalibrated`` and ``preprocess`` (the
    checkpoint's preprocessing spec, :meth:`~auxiliary.models.preprocess.Preprocessing.as_dict`: what Grad-CAM
    needs)."""
    ec = cfg.eval
    ckpt, data, val, dest = _check_inputs(ckpt, data, val, out, batch_size, overwrite)
    checkpoint = Checkpoint.of(ckpt)
    task, classes, mapping = checkpoint.task, list(checkpoint.classes), parse_label_map(label_map)
    table, truths, notes = read_labelled(task, data, classes, mapping, progress)
    if len(table) and not any(os.path.isfile(p) for p in table["path"]):  # before any work (an ONNX export)
        raise EvaluationError(f"none of the {len(table)} images of {data} exists (e.g. {table['path'].iloc[0]}); a "
                              "list's relative paths are read from its own folder")
    notice = procedural_notice(checkpoint)
    if notice and training_source(table) != "procedural":  # used on images that are not procedural skin
        print(notice, file=sys.stderr)
    pred = load_predictor(checkpoint, backend=backend, device=ec.device)
    views, errors = view_logits(pred, table["path"].tolist(), batch_size, ec.tta, progress)
    if len(table) and len(errors) == len(table):  # metrics of no image: refused, nothing written
        i, why = next(iter(errors.items()))
        raise EvaluationError(f"none of the {len(table)} images of {data} could be read (e.g. {table['path'].iloc[i]}: "
                              f"{why}); a list's relative paths are read from its own folder")
    calibration, val_part, val_name = dict(pred.info), None, None
    col = _fairness_column(ec.fairness_col, table, notes)
    groups = table[col] if col in table.columns else None
    if groups is None:
        notes.append(f"fairness skipped: {data} has no column {col!r} (set fairness_col)")
    if val is not None:
        vtable, vtruths, _ = read_labelled(task, val, classes, mapping, progress)
        vlogits = view_logits(pred, vtable["path"].tolist(), batch_size, False, progress)[0][0]
        if finite_rows(vlogits).any():
            calibration.update(task.refit(vlogits, vtruths))
            vgroups = vtable[col] if col in vtable.columns else None
            val_part, val_name = (vtruths, task.probabilities(vlogits, calibration), vgroups), str(val)
            if vgroups is None:
                notes.append(f"per-group thresholds not fitted: {val} has no column {col!r}")
        else:
            notes.append(f"no readable image in {val}: calibration and thresholds from the checkpoint")
    probs, uncalibrated = task.probabilities(views[0], calibration), task.probabilities(views[0], {})
    res = task.evaluate(truths, probs, classes, ec, calibration=calibration, groups=groups, val=val_part,
                        val_name=val_name, uncalibrated=uncalibrated,
                        tta=view_probabilities(task, views, calibration) if ec.tta else None)
    res["notes"] = notes + res["notes"]
    res["temperature_source"] = f"fitted on {val_name}" if val_name else "stored in the checkpoint"
    dropped = pd.concat([table.attrs.get("dropped", pd.DataFrame(columns=["kind", "path", "detail"])), pd.DataFrame(
        [{"kind": "unreadable", "path": table["path"].iloc[i], "detail": why} for i, why in errors.items()],
        columns=["kind", "path", "detail"])], ignore_index=True)
    if errors:
        res["notes"].append(f"{len(errors)} unreadable images left out, e.g. {next(iter(errors.values()))}")
    if len(dropped):
        res["notes"].append(f"{len(dropped)} images left out in all: every one is listed in dropped.csv")
    base = pd.DataFrame({"path": table["path"].astype(str).to_numpy(), "label": table["label"].astype(str).to_numpy()})
    if groups is not None:
        base[col] = table[col].astype(str).to_numpy()
    rows = task.gradcam_rows(truths, finite_rows(probs), min(ec.gallery_size, 4))
    if rows is not None:
        res["gradcam_rows"] = rows
    res.update(
        dropped=dropped, task=task.name, classes=classes, truths=truths, probs=probs, probs_uncalibrated=uncalibrated,
        preprocess=pred.preprocessing.as_dict(),
        predictions=pd.concat([base, task.prediction_columns(truths, probs, classes, res)], axis=1),
        info={"checkpoint": str(checkpoint.path), "model": pred.name, "data": str(data),
              "val": str(val) if val else None, "backend": pred.backend, "device": str(pred.device),
              "classes": classes, "n": int(len(table)), "n_unreadable": len(errors), "fairness_col": col,
              "label_map": mapping or None, "eval": asdict(ec)},
    )
    model = (pred.model if pred.backend == "torch" else checkpoint.model(resolve_device(ec.device))) \
        if rows else None
    write_results(res, dest, task.evaluation_summary(res), model)
    record_step(cfg, "evaluate", dest, metrics=res["summary"], tags={"model_arch": pred.name,
                                                                     "checkpoint": str(checkpoint.path)},
                split_dir=data if data.is_dir() else data.parent)
    return res


def write_results(res: dict[str, Any], out_dir: str | Path, summary: dict[str, Any], model: Any = None) -> Path:
    """Save an evaluation: every table of ``res`` as ``<name>.csv`` (its index written where it is named), its JSON
    ``files``, its figures (``<name>.png``) and ``summary.json`` (the settings, ``summary`` and the notes)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in res.items():
        if isinstance(frame, pd.DataFrame):
            write_csv_atomic(out / f"{name}.csv", frame, index=frame.index.name is not None)
    for name, payload in res.get("files", {}).items():
        write_json_atomic(out / name, payload)
    for stem, fig in evaluation_figures(res, model).items():
        fig.savefig(out / f"{stem}.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
    write_json_atomic(out / "summary.json", {**res["info"], **summary, "notes": res["notes"]})
    return out


def run_report(run_dir: str | Path, cfg: Config, split: str = "val") -> dict[str, Any]:
    """Every figure of a finished run's ``<split>_predictions.csv`` (notebook 04), as its checkpoint's task
    evaluates it (:meth:`~auxiliary.tasks.task.Task.evaluate`) at the run's own calibration, per
    ``cfg.eval.fairness_col`` group when the table has it; plus ``truths``, ``probs``, ``classes``, ``table``,
    ``task`` and ``fairness_col`` (None without groups)."""
    run = Path(run_dir)
    f = run / f"{split}_predictions.csv"
    if not f.is_file():
        raise EvaluationError(f"{run} has no {split} predictions ({f.name} missing)")
    checkpoint = Checkpoint.open(run / "best.pt")
    task, classes = checkpoint.task, checkpoint.classes
    table = read_csv(f, keep_default_na=False, dtype={"label": str, "path": str, "pred": str, "tone_group": str})
    truths, probs = task.prediction_arrays(table, classes)
    col = cfg.eval.fairness_col
    groups = table[col] if col in table.columns else None
    report = task.evaluate(truths, probs, classes, cfg.eval, calibration=checkpoint.info, groups=groups)
    return {**report, "truths": truths, "probs": np.asarray(probs), "classes": classes, "table": table,
            "task": task.name, "fairness_col": col if groups is not None else None}
