"""Evaluate a checkpoint on a split list: ``python -m auxiliary evaluate --ckpt runs/NAME/best.pt --data test.csv --out DIR``.

``--data`` is a split list (``test.csv``) or any dataset the data step reads (class folders, a CSV
list, HAM10000...). ``--label-map`` renames the dataset's labels to the model's classes, which is
how a model trained only on the synthetic default is checked on real photos whose folders are
named otherwise::

    python -m auxiliary evaluate --ckpt runs/resnet18-demo/best.pt --data ~/photos \
        --label-map rosacea=erythema,clear=none --out runs/real_check

Without known skin tones (real photos), fairness uses the tone group *estimated* from the pixels
(``tone_group_est``), and the summary says so.

Predictions go through :class:`auxiliary.infer.Predictor` (the one preprocessing path). With
``--val val.csv`` the temperature is fitted on the validation list and applied to the data
(otherwise the checkpoint's own temperature is used), and per-group decision thresholds are
chosen on validation and evaluated on the data beside the single global threshold.

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
    reliability.png, confusion.png, pr_curves.png, group_metrics.png
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import fairness, metrics
from .config import Config, EvalConfig
from .errors import AuxiliaryError
from .results import _clean


class EvaluationError(AuxiliaryError):
    """Evaluation cannot run (missing files, labels the model does not know...)."""


OUTPUT_FILES = ("summary.json", "metrics.csv", "per_class.csv", "confusion.csv", "reliability.csv", "predictions.csv")


# ----------------------------------------------------------------------------- pure evaluation
def evaluate_predictions(
    y: Any,
    probs: Any,
    classes: list[str],
    eval_cfg: EvalConfig | None = None,
    *,
    groups: Any = None,
    y_val: Any = None,
    probs_val: Any = None,
    groups_val: Any = None,
) -> dict[str, Any]:
    """All metrics of (already calibrated) probabilities as tidy objects.

    Keys: summary (dict), per_class, confusion, reliability (DataFrames), high_recall (dict),
    and with ``groups``: group_metrics, group_metrics_long, gaps; with validation data and
    groups too: group_thresholds. ``notes`` lists sections skipped and why.
    """
    ec = eval_cfg or EvalConfig()
    if ec.threshold_objective not in ("f1", "recall"):
        raise EvaluationError(f"threshold_objective must be f1 or recall, got {ec.threshold_objective!r}")
    y = np.asarray(y)
    probs = np.asarray(probs, dtype=np.float64)
    out: dict[str, Any] = {"notes": []}
    out["summary"] = metrics.summary_metrics(y, probs, classes, n_bins=ec.ece_bins)
    out["per_class"] = metrics.per_class_metrics(y, probs, classes)
    out["confusion"] = metrics.confusion(y, probs, classes)
    out["reliability"] = metrics.reliability_table(y, probs, n_bins=ec.ece_bins)
    positives = [c for c in ec.positive_classes if c in classes]
    if ec.positive_classes and len(positives) == len(ec.positive_classes):
        out["high_recall"] = metrics.high_recall_operating_point(
            y, probs, classes, list(ec.positive_classes), target_recall=ec.target_recall,
            n_bootstrap=ec.n_bootstrap, seed=0,
        )
    else:
        out["notes"].append(
            f"high-recall operating point skipped: positive classes {list(ec.positive_classes)} are not all among "
            f"the classes {classes} (set positive_classes, e.g. --positive-classes mel,bcc,akiec)"
        )
        positives = []
    if groups is not None:
        out["group_metrics"] = fairness.group_metrics(y, probs, classes, groups, ec.min_group_size, n_bins=ec.ece_bins)
        out["group_metrics_long"] = fairness.group_metrics_long(y, probs, classes, groups, ec.min_group_size)
        out["gaps"] = fairness.gaps(out["group_metrics"])
        small = out["group_metrics"].index[out["group_metrics"]["flagged_small"]].tolist()
        if small:
            out["notes"].append(
                f"groups with fewer than {ec.min_group_size} samples are flagged and left out of the gaps: {', '.join(small)}"
            )
        if probs_val is not None and groups_val is not None and positives:
            try:
                out["group_thresholds"] = fairness.group_threshold_report(
                    y_val, probs_val, groups_val, y, probs, groups, classes, positives, objective=ec.threshold_objective,
                    target_recall=ec.target_recall, min_group_size=ec.min_group_size,
                )
            except metrics.MetricsInputError as exc:
                out["notes"].append(f"per-group thresholds skipped: {exc}")
    return out


# ----------------------------------------------------------------------------- checkpoint + files
def _labels(table: pd.DataFrame, classes: list[str], where: str) -> np.ndarray:
    labels = table["label"].astype(str)
    unknown = sorted(set(labels) - set(classes) - {""})
    if unknown:
        raise EvaluationError(
            f"{where}: labels {', '.join(unknown[:5])} are not classes of the model {classes} "
            f"(evaluate on the classes it was trained for, or rename labels, e.g. --label-map {unknown[0]}={classes[-1]})"
        )
    return metrics.labels_to_index(list(labels), classes, unknown="minus_one")


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
    from . import data

    if not (path.is_file() and path.suffix.lower() == ".csv"):
        return False
    header = data._csv_header(path)
    return "path" in header and "label" in header


def load_eval_table(
    source: str | Path, label_map: str | dict[str, str] | None = None, progress: bool = True
) -> tuple[pd.DataFrame, list[str]]:
    """The sample table to evaluate on, with labels renamed by ``label_map``; and notes.

    A split list is read as is; anything else goes through :func:`auxiliary.data.read_dataset`
    (unreadable images are dropped and counted in the notes). Never modifies the source.
    """
    from . import data

    src = Path(source).expanduser()
    notes: list[str] = []
    if _is_split_list(src):
        table = data.read_table(src)
    else:
        try:
            table, report = data.read_dataset(src, progress=progress)
        except data.DatasetError as exc:
            raise EvaluationError(str(exc)) from None
        notes.append(f"read {src} as format {report.format}: {report.summary()}")
    mapping = parse_label_map(label_map)
    if mapping:
        missing = sorted(set(mapping) - set(table["label"].astype(str)))
        if missing:
            notes.append(f"label map: {', '.join(missing)} not found in {src}")
        table = table.copy()
        table["label"] = table["label"].astype(str).replace(mapping)
        notes.append("labels renamed: " + ", ".join(f"{k} -> {v}" for k, v in mapping.items()))
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

    ``data_csv``: a split list or any dataset :func:`auxiliary.data.read_dataset` reads;
    ``label_map`` renames its labels (and the validation list's) to the model's classes.
    """
    from . import data
    from .infer import Predictor

    ec = eval_cfg or EvalConfig()
    out = Path(out_dir)
    if (out / "summary.json").exists() and not overwrite:
        raise EvaluationError(f"{out} already holds an evaluation (summary.json); pass --overwrite or choose another --out")
    pred = Predictor.from_checkpoint(ckpt, backend=backend)
    classes = list(pred.classes)
    table, read_notes = load_eval_table(data_csv, label_map, progress=progress)
    if len(table) == 0:
        raise EvaluationError(f"{data_csv} lists no samples")
    y = _labels(table, classes, str(data_csv))
    raw, errors = _predict_raw(pred, table, batch_size, False, progress)
    val = yv = raw_val = None
    if val_csv is not None:
        val, _ = load_eval_table(val_csv, label_map, progress=progress)
        yv = _labels(val, classes, str(val_csv))
        raw_val, _ = _predict_raw(pred, val, batch_size, False, progress)
    if raw_val is not None and np.isfinite(raw_val).all(axis=1).any():
        temperature = metrics.fit_temperature_probs(yv, raw_val)
        t_source = f"fitted on {val_csv}"
    else:
        temperature = float(pred.temperature)
        t_source = "stored in the checkpoint"
    probs = metrics.apply_temperature(raw, temperature, from_probs=True)
    probs_val = metrics.apply_temperature(raw_val, temperature, from_probs=True) if raw_val is not None else None
    col = ec.fairness_col
    if col == "tone_group" and col in table.columns and data.tone_column(table) == "tone_group_est":
        col = "tone_group_est"  # real photos: no known tone, the pixel estimate stands in (and is named so)
        read_notes.append("no known skin tones: fairness by tone_group_est, an ESTIMATE from the pixels (ITA)")
    groups = table[col] if col in table.columns else None
    groups_val = val[col] if (val is not None and col in val.columns) else None
    res = evaluate_predictions(y, probs, classes, ec, groups=groups, y_val=yv, probs_val=probs_val, groups_val=groups_val)
    res["notes"] = read_notes + res["notes"]
    if groups is None:
        res["notes"].append(f"fairness skipped: {data_csv} has no column {col!r} (set fairness_col)")
    if errors:
        res["notes"].append(f"{len(errors)} unreadable images left out, e.g. {next(iter(errors.values()))}")
    metric_rows = [{"variant": "calibrated", **res["summary"]},
                   {"variant": "uncalibrated", **metrics.summary_metrics(y, raw, classes, n_bins=ec.ece_bins)}]
    if ec.tta:
        raw_tta, _ = _predict_raw(pred, table, batch_size, True, progress)
        metric_rows.append({"variant": "calibrated+tta", **metrics.summary_metrics(
            y, metrics.apply_temperature(raw_tta, temperature, from_probs=True), classes, n_bins=ec.ece_bins)})
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
        "backend": pred.backend, "classes": classes, "n": int(len(table)), "n_unreadable": len(errors),
        "fairness_col": col, "label_map": parse_label_map(label_map) or None, "eval": asdict(ec),
    }
    res["info"] = info
    write_results(res, out, classes)
    return res


def write_results(res: dict[str, Any], out_dir: str | Path, classes: list[str]) -> Path:
    """Save an :func:`evaluate_checkpoint` result as JSON/CSV/PNG in ``out_dir``."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("metrics", "per_class", "confusion", "reliability", "group_metrics", "gaps", "group_thresholds"):
        if name in res:
            res[name].to_csv(out / f"{name}.csv")
    for name in ("group_metrics_long", "predictions"):
        if name in res:
            res[name].to_csv(out / f"{name}.csv", index=False)
    if "high_recall" in res:
        (out / "high_recall.json").write_text(json.dumps(_clean(res["high_recall"]), indent=2), encoding="utf-8")
    pdf = res.get("predictions")
    if pdf is not None:
        y = metrics.labels_to_index(list(pdf["label"]), classes, unknown="minus_one")
        probs = pdf[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)
        for fname, fig in (
            ("reliability.png", metrics.plot_reliability(y, probs)),
            ("confusion.png", metrics.plot_confusion(y, probs, classes)),
            ("pr_curves.png", metrics.plot_pr_curves(y, probs, classes)),
        ):
            fig.savefig(out / fname, dpi=120, bbox_inches="tight")
            plt.close(fig)
    if "group_metrics" in res:
        fig = fairness.plot_group_metrics(res["group_metrics"])
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
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(_clean(summary), indent=2), encoding="utf-8")
    tmp.replace(out / "summary.json")
    return out


# ----------------------------------------------------------------------------- CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, metavar="BEST.pt", help="checkpoint to evaluate (runs/NAME/best.pt)")
    parser.add_argument("--data", required=True, metavar="SPLIT.csv|DIR",
                        help="split list to evaluate on (e.g. test.csv), or any dataset the data step reads "
                             "(class folders, a CSV list, HAM10000)")
    parser.add_argument("--label-map", default=None, metavar="OLD=NEW,...",
                        help="rename the data's labels to the model's classes, e.g. rosacea=erythema,clear=none")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the JSON/CSV/PNG results")
    parser.add_argument("--val", default=None, metavar="VAL.csv",
                        help="validation list: fit the temperature and the per-group thresholds on it")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx", "auto"], help="inference backend")
    parser.add_argument("--batch-size", type=int, default=32, help="inference batch size")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _fmt(v: Any) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    from . import paths

    ckpt = paths.resolve_path(args.ckpt)
    data_csv = paths.resolve_path(args.data)
    val_csv = paths.resolve_path(args.val) if args.val else None
    if not Path(ckpt).is_file():
        raise EvaluationError(f"file not found: {ckpt}")
    for p in [data_csv] + ([val_csv] if val_csv else []):
        if not Path(p).exists():
            raise EvaluationError(f"data not found: {p}")
    res = evaluate_checkpoint(
        ckpt, data_csv, args.out, cfg.eval, val_csv=val_csv, backend=args.backend, batch_size=args.batch_size,
        overwrite=args.overwrite, progress=not args.quiet, label_map=args.label_map,
    )
    s = res["summary"]
    print(f"{res['info']['model']} on {data_csv} (n={res['info']['n']}, temperature {res['temperature']:.3f} "
          f"{res['temperature_source']})")
    print("  " + ", ".join(f"{k} {_fmt(v)}" for k, v in s.items()))
    hr = res.get("high_recall")
    if hr:
        print(f"  recall >= {hr['target_recall']:g} for {'+'.join(hr['positive_classes'])}: threshold "
              f"{_fmt(hr['threshold'])}, precision {_fmt(hr['precision'])} ({hr['note']})")
    if "gaps" in res:
        g = res["gaps"]
        for m in ("balanced_accuracy", "macro_auroc"):
            if m in g.index:
                print(f"  {m} gap across {cfg.eval.fairness_col}: {_fmt(g.loc[m, 'gap'])} (worst {g.loc[m, 'worst_group']})")
    for note in res["notes"]:
        print(f"  note: {note}")
    print(f"results: {Path(args.out)}")
    return 0


# ----------------------------------------------------------------------------- notebook helper
def predict_csv(
    ckpt: str | Path, csv_path: str | Path, *, temperature: float | None = None, batch_size: int = 32,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str], pd.DataFrame]:
    """``(y, probs, classes, table)`` of a split list predicted by ``ckpt``; ``temperature=None`` uses
    the checkpoint's (calibrated), ``1.0`` gives the raw model."""
    from . import data
    from .infer import Predictor

    pred = Predictor.from_checkpoint(ckpt)
    if temperature is not None:
        pred.temperature = float(temperature)
    table = data.read_table(csv_path)
    y = _labels(table, list(pred.classes), str(csv_path))
    probs, _ = pred.predict_paths(list(table["path"]), batch_size=batch_size, progress=progress)
    return y, probs, list(pred.classes), table
