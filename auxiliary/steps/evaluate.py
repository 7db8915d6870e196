"""Evaluate a checkpoint on a split list: ``python -m auxiliary evaluate --ckpt runs/NAME/best.pt --data test.csv --out DIR``.

``--data`` is a split list (``test.csv``) or any dataset :func:`auxiliary.data.readers.read_dataset`
reads (class folders, a CSV list, HAM10000...). ``--label-map`` renames the dataset's labels to the model's classes, which is
how a model trained only on the synthetic default is checked on real photos whose folders are
named otherwise::

    python -m auxiliary evaluate --ckpt runs/resnet18-demo/best.pt --data ~/photos         --label-map rosacea=erythema,clear=none --out runs/real_check

A **multi-label** checkpoint (``task: multilabel``: one sigmoid per label) is evaluated by
:mod:`auxiliary.steps.evaluate_multilabel`: ``--data`` is then a CSV list with one 0/1 column per
label (a multi-label split's ``test.csv``), ``--label-map`` renames its label columns, ``--val``
refits the per-label temperatures and the per-label and per (tone group, label) thresholds, and
its files are described there (per_label.csv, group_label_metrics.csv, fairness_gap.csv,
thresholds.json, Grad-CAM per label...).

Without known skin tones (real photos), fairness uses the tone group *estimated* from the pixels
(``tone_group_est``), and the summary says so.

Predictions go through :class:`auxiliary.inference.predictor.Predictor` (the one preprocessing
path; PyTorch or ONNX Runtime via :func:`auxiliary.inference.backends.load_predictor`). With
``--val val.csv`` the temperature is fitted on the validation list and applied to the data
(otherwise the checkpoint's own temperature is used), and per-group decision thresholds are
chosen on validation and evaluated on the data beside the single global threshold. The numbers
come from :func:`auxiliary.evaluation.report.evaluate_predictions`, the figures from
:mod:`auxiliary.viz.plots_evaluation`.

Written to ``--out``::

    summary.json            every number below plus settings, notes and skipped sections
    metrics.csv             summary metrics, calibrated and uncalibrated (and with TTA if asked)
    per_class.csv           precision, recall, f1, support, auroc, average_precision per class
    confusion.csv           rows true, columns predicted
    reliability.csv         confidence bins (count, confidence, accuracy, gap)
    predictions.csv         path, label, <fairness col>, prob_<class>..., pred
    high_recall.json        threshold / precision / specificity at the target recall, CIs, note
    group_metrics.csv       per group of the fairness column (support, flagged_small, metrics)
    group_metrics_long.csv  per group and class (tidy)
    gaps.csv                max, min, gap, ratio, worst group per metric
    group_thresholds.csv    per-group vs global threshold (needs --val)
    dropped.csv             every image left out (kind, path, detail): unreadable, unlabelled, duplicate...
    reliability.png, confusion.png, pr_curves.png, group_metrics.png
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from auxiliary.base.config import EvalConfig
from auxiliary.base.files import check_output_dir, jsonable, write_json_atomic
from auxiliary.data.balance import tone_column
from auxiliary.data.formats import csv_header
from auxiliary.data.readers import read_dataset, read_table
from auxiliary.data.report import DatasetError
from auxiliary.evaluation.arrays import labels_to_index
from auxiliary.evaluation.calibration import apply_temperature, fit_temperature_probs
from auxiliary.evaluation.metrics import summary_metrics
from auxiliary.evaluation.report import EvaluationError, evaluate_predictions
from auxiliary.inference.backends import load_predictor
from auxiliary.inference.predictor import Predictor
from auxiliary.steps.evaluate_multilabel import evaluate_multilabel_checkpoint
from auxiliary.viz.plots_evaluation import (
    plot_confusion,
    plot_group_metrics,
    plot_pr_curves,
    plot_reliability,
)

OUTPUT_FILES = ("summary.json", "metrics.csv", "per_class.csv", "confusion.csv", "reliability.csv", "predictions.csv")


# ----------------------------------------------------------------------------- checkpoint + files
def label_names(table: pd.DataFrame, classes: list[str], where: str) -> np.ndarray:
    labels = table["label"].astype(str)
    unknown = sorted(set(labels) - set(classes) - {""})
    if unknown:
        raise EvaluationError(
            f"{where}: labels {', '.join(unknown[:5])} are not classes of the model {classes} "
            f"(evaluate on the classes it was trained for, or rename labels, e.g. --label-map {unknown[0]}={classes[-1]})"
        )
    return labels_to_index(list(labels), classes, unknown="minus_one")


def parse_label_map(text: str | dict[str, str] | None) -> dict[str, str]:
    """``"rosacea=erythema,clear=none"`` (or a dict) -> ``{"rosacea": "erythema", "clear": "none"}``."""
    if not text:
        return {}
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = []
        for part in str(text).split(","):
            if not part.strip():
                continue
            if part.count("=") != 1:
                raise EvaluationError(f"label map entry {part.strip()!r} is not OLD=NEW (e.g. rosacea=erythema,clear=none)")
            old, new = (v.strip() for v in part.split("="))
            items.append((old, new))
    out: dict[str, str] = {}
    for old, new in items:
        old, new = str(old).strip(), str(new).strip()
        if not old or not new:
            raise EvaluationError(f"label map entry {old!r}={new!r} has an empty side")
        if old in out and out[old] != new:
            raise EvaluationError(f"label map gives {old!r} twice ({out[old]!r} and {new!r})")
        out[old] = new
    return out


def _is_split_list(path: Path) -> bool:
    """A CSV whose header has ``path`` and ``label`` (a split list or a CSV list: read as is)."""
    if not (path.is_file() and path.suffix.lower() == ".csv"):
        return False
    header = csv_header(path)
    return "path" in header and "label" in header


def load_eval_table(
    source: str | Path, label_map: str | dict[str, str] | None = None, progress: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """The sample table to evaluate on, with labels renamed by ``label_map``; and notes.

    A split list is read as is; anything else goes through :func:`auxiliary.data.readers.read_dataset`
    (unreadable images are dropped and counted in the notes; every one of them is listed in
    ``table.attrs["dropped"]``: kind, path, detail). Never modifies the source.
    """
    src = Path(source).expanduser()
    notes: list[str] = []
    dropped = pd.DataFrame(columns=["kind", "path", "detail"])
    if _is_split_list(src):
        table = read_table(src)
    else:
        try:
            table, report = read_dataset(src, progress=progress)
        except DatasetError as exc:
            raise EvaluationError(str(exc)) from None
        notes.append(f"read {src} as format {report.format}: {report.summary()}")
        dropped = report.to_frame()[["kind", "path", "detail"]]
    mapping = parse_label_map(label_map)
    if mapping:
        missing = sorted(set(mapping) - set(table["label"].astype(str)))
        if missing:
            notes.append(f"label map: {', '.join(missing)} not found in {src}")
        table = table.copy()
        table["label"] = table["label"].astype(str).replace(mapping)
        notes.append("labels renamed: " + ", ".join(f"{k} -> {v}" for k, v in mapping.items()))
    table.attrs["dropped"] = dropped
    return table, notes


def _predict_raw(pred: Any, table: pd.DataFrame, batch_size: int, tta: bool, progress: bool) -> tuple[np.ndarray, dict]:
    """Uncalibrated probabilities (temperature 1) and unreadable images."""
    saved = pred.temperature
    pred.temperature = 1.0
    try:
        return pred.predict_paths(list(table["path"]), batch_size=batch_size, tta=tta, progress=progress)
    finally:
        pred.temperature = saved


def evaluate_checkpoint(
    ckpt: str | Path,
    data_csv: str | Path,
    out_dir: str | Path,
    eval_cfg: EvalConfig | None = None,
    *,
    val_csv: str | Path | None = None,
    backend: str = "torch",
    batch_size: int = 32,
    overwrite: bool = False,
    progress: bool = True,
    label_map: str | dict[str, str] | None = None,
) -> dict[str, Any]:
    """Predict ``data_csv`` with ``ckpt``, compute everything, write it to ``out_dir``; returns the results dict.

    ``data_csv``: a split list or any dataset :func:`auxiliary.data.readers.read_dataset` reads;
    ``label_map`` renames its labels (and the validation list's) to the model's classes.
    """
    ec = eval_cfg or EvalConfig()
    out = check_output_dir(out_dir, inputs=(data_csv, ckpt, val_csv))  # never among the user's photos
    if int(batch_size) < 1:
        raise EvaluationError(f"--batch-size must be at least 1, got {batch_size}")
    if (out / "summary.json").exists() and not overwrite:
        raise EvaluationError(f"{out} already holds an evaluation (summary.json); pass --overwrite or choose another --out")
    pred = load_predictor(ckpt, backend=backend, device=ec.device)
    if pred.multilabel:
        return evaluate_multilabel_checkpoint(pred, ckpt, data_csv, out, ec, val_csv=val_csv, batch_size=batch_size,
                                              progress=progress, label_map=parse_label_map(label_map))
    classes = list(pred.classes)
    table, read_notes = load_eval_table(data_csv, label_map, progress=progress)
    if len(table) == 0:
        raise EvaluationError(f"{data_csv} lists no samples")
    y = label_names(table, classes, str(data_csv))
    raw, errors = _predict_raw(pred, table, batch_size, False, progress)
    val = yv = raw_val = None
    if val_csv is not None:
        val, _ = load_eval_table(val_csv, label_map, progress=progress)
        yv = label_names(val, classes, str(val_csv))
        raw_val, _ = _predict_raw(pred, val, batch_size, False, progress)
    if raw_val is not None and np.isfinite(raw_val).all(axis=1).any():
        temperature = fit_temperature_probs(yv, raw_val)
        t_source = f"fitted on {val_csv}"
    else:
        temperature = float(pred.temperature)
        t_source = "stored in the checkpoint"
    probs = apply_temperature(raw, temperature, from_probs=True)
    probs_val = apply_temperature(raw_val, temperature, from_probs=True) if raw_val is not None else None
    col = ec.fairness_col
    if col == "tone_group" and col in table.columns and tone_column(table) == "tone_group_est":
        col = "tone_group_est"  # real photos: no known tone, the pixel estimate stands in (and is named so)
        read_notes.append("no known skin tones: fairness by tone_group_est, an ESTIMATE from the pixels (ITA)")
    groups = table[col] if col in table.columns else None
    groups_val = val[col] if (val is not None and col in val.columns) else None
    res = evaluate_predictions(y, probs, classes, ec, groups=groups, y_val=yv, probs_val=probs_val, groups_val=groups_val)
    res["notes"] = read_notes + res["notes"]
    if groups is None:
        res["notes"].append(f"fairness skipped: {data_csv} has no column {col!r} (set fairness_col)")
    dropped = pd.concat([table.attrs.get("dropped", pd.DataFrame()), pd.DataFrame(
        [{"kind": "unreadable", "path": table["path"].iloc[i], "detail": why} for i, why in errors.items()],
        columns=["kind", "path", "detail"])], ignore_index=True)
    res["dropped"] = dropped
    if errors:
        res["notes"].append(f"{len(errors)} unreadable images left out, e.g. {next(iter(errors.values()))}")
    if len(dropped):
        res["notes"].append(f"{len(dropped)} images left out in all: every one is listed in dropped.csv")
    metric_rows = [{"variant": "calibrated", **res["summary"]},
                   {"variant": "uncalibrated", **summary_metrics(y, raw, classes, n_bins=ec.ece_bins)}]
    if ec.tta:
        raw_tta, _ = _predict_raw(pred, table, batch_size, True, progress)
        metric_rows.append({"variant": "calibrated+tta", **summary_metrics(
            y, apply_temperature(raw_tta, temperature, from_probs=True), classes, n_bins=ec.ece_bins)})
    res["metrics"] = pd.DataFrame(metric_rows).set_index("variant")
    res["temperature"] = temperature
    res["temperature_source"] = t_source
    pred_df = pd.DataFrame({"path": table["path"].astype(str), "label": table["label"].astype(str)})
    if groups is not None:
        pred_df[col] = table[col].astype(str)
    for j, c in enumerate(classes):
        pred_df[f"prob_{c}"] = probs[:, j]
    pred_df["pred"] = [classes[i] if np.isfinite(r).all() else "" for i, r in zip(probs.argmax(axis=1), probs)]
    res["predictions"] = pred_df
    info = {
        "checkpoint": str(ckpt), "model": pred.name, "data": str(data_csv), "val": str(val_csv) if val_csv else None,
        "backend": pred.backend, "device": str(pred.device), "classes": classes, "n": int(len(table)), "n_unreadable": len(errors),
        "fairness_col": col, "label_map": parse_label_map(label_map) or None, "eval": asdict(ec),
    }
    res["info"] = info
    write_results(res, out, classes)
    return res


def write_results(res: dict[str, Any], out_dir: str | Path, classes: list[str]) -> Path:
    """Save an :func:`evaluate_checkpoint` result as JSON/CSV/PNG in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("metrics", "per_class", "confusion", "reliability", "group_metrics", "gaps", "group_thresholds"):
        if name in res:
            res[name].to_csv(out / f"{name}.csv")
    for name in ("group_metrics_long", "predictions", "dropped"):
        if name in res:
            res[name].to_csv(out / f"{name}.csv", index=False)
    if "high_recall" in res:
        (out / "high_recall.json").write_text(json.dumps(jsonable(res["high_recall"]), indent=2), encoding="utf-8")
    pdf = res.get("predictions")
    if pdf is not None:
        y = labels_to_index(list(pdf["label"]), classes, unknown="minus_one")
        probs = pdf[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)
        for fname, fig in (
            ("reliability.png", plot_reliability(y, probs)),
            ("confusion.png", plot_confusion(y, probs, classes)),
            ("pr_curves.png", plot_pr_curves(y, probs, classes)),
        ):
            fig.savefig(out / fname, dpi=120, bbox_inches="tight")
            plt.close(fig)
    if "group_metrics" in res:
        fig = plot_group_metrics(res["group_metrics"])
        fig.savefig(out / "group_metrics.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
    summary = {
        **res.get("info", {}),
        "temperature": res.get("temperature"),
        "temperature_source": res.get("temperature_source"),
        "metrics": res["metrics"].to_dict(orient="index") if "metrics" in res else res["summary"],
        "per_class": res["per_class"].to_dict(orient="index"),
        "high_recall": res.get("high_recall"),
        "gaps": res["gaps"].to_dict(orient="index") if "gaps" in res else None,
        "group_thresholds": res["group_thresholds"].to_dict(orient="index") if "group_thresholds" in res else None,
        "thresholds": dict(res["group_thresholds"].attrs.get("thresholds", {})) if "group_thresholds" in res else None,
        "notes": res.get("notes", []),
    }
    write_json_atomic(out / "summary.json", summary)
    return out


# ----------------------------------------------------------------------------- CLI


# ----------------------------------------------------------------------------- notebook helper
def predict_csv(
    ckpt: str | Path, csv_path: str | Path, *, temperature: float | None = None, batch_size: int = 32,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str], pd.DataFrame]:
    """``(y, probs, classes, table)`` of a split list predicted by ``ckpt``; ``temperature=None`` uses
    the checkpoint's (calibrated), ``1.0`` gives the raw model."""
    pred = Predictor.from_checkpoint(ckpt)
    if temperature is not None:
        pred.temperature = float(temperature)
    table = read_table(csv_path)
    y = label_names(table, list(pred.classes), str(csv_path))
    probs, _ = pred.predict_paths(list(table["path"]), batch_size=batch_size, progress=progress)
    return y, probs, list(pred.classes), table
