"""Every metric of one set of predictions, as tidy objects: what an evaluation reports, for either task.

:func:`evaluate_predictions` takes one class per image: ``y`` class indices and ``probs`` (n, C) calibrated
probabilities; summary, per class, confusion, reliability, the high-recall operating point, and with groups the
metrics per group, their gaps and per-group thresholds.

:func:`evaluate_multilabel_predictions` takes several labels per image: ``Y`` (n, L) 0/1 truths and ``P`` (n, L)
calibrated per-label probabilities, and returns

* ``thresholds`` (a :class:`~auxiliary.evaluation.thresholds.LabelThresholds`) and ``threshold_source``: fitted on
  validation when ``Y_val`` / ``P_val`` are given (per label, and per (group, label) with ``groups_val``), else
  the ones passed in (a checkpoint's), else 0.5 per label (:func:`~auxiliary.evaluation.thresholds.choose_thresholds`);
* ``summary`` (:func:`~auxiliary.evaluation.metrics.multilabel_summary` at the global per-label thresholds, plus
  ``macro_ece`` and ``macro_brier``) and ``metrics`` (one row per variant: ``global_thresholds``, and with groups
  ``group_thresholds``, each row's group's thresholds);
* ``per_label`` (:func:`~auxiliary.evaluation.metrics.per_label_metrics` with ``ece`` and ``brier``);
* ``calibration`` (:func:`~auxiliary.evaluation.calibration.label_calibration`, with the ``*_uncalibrated``
  columns when the probabilities before the temperatures are given);
* with ``groups``: ``group_label_metrics`` (tidy (thresholds, group, label) rows, ``thresholds`` ``global`` or
  ``per_group``) and ``fairness_gap`` (:func:`~auxiliary.evaluation.fairness.fairness_gap`, darkest vs
  intermediate tone group, before (global thresholds) and after (per-group thresholds)).

Both return ``notes``: what was skipped and why. Precision "at high recall" is taken at ``eval_cfg.target_recall``.

What an evaluation of a checkpoint (``python -m auxiliary evaluate``) reports, its ``summary.json`` fields and its
prediction columns, come from the checkpoint's task; either report has ``temperature`` (what the probabilities were
calibrated with: one number, or label -> temperature) and ``ece`` (``calibrated`` and ``uncalibrated``: the top-label
ECE, or the mean per-label ECE) (:meth:`auxiliary.tasks.task.Task.evaluate`), which calls
:func:`class_report` / :func:`class_summary` / :func:`class_columns` for one class per image and
:func:`label_report` / :func:`label_summary` / :func:`label_columns` for several labels per image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.config import EvalConfig
from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation.arrays import MetricsInputError, group_values
from auxiliary.evaluation.calibration import label_calibration, reliability_table
from auxiliary.evaluation.fairness import (
    DARKEST,
    MEDIUM,
    fairness_gap,
    gaps,
    group_metrics,
    group_metrics_long,
    per_group_label_metrics,
)
from auxiliary.evaluation.metrics import (
    confusion,
    multilabel_summary,
    per_class_metrics,
    per_label_metrics,
    summary_metrics,
)
from auxiliary.evaluation.operating_point import high_recall_operating_point
from auxiliary.evaluation.prior_shift import operating_point_report, shift_vector, shifted_decisions
from auxiliary.evaluation.thresholds import (
    DEFAULT_LABEL_THRESHOLD,
    LabelThresholds,
    choose_thresholds,
    decisions,
    group_threshold_report,
    thresholds_to_dict,
)


class EvaluationError(AuxiliaryError):
    """Evaluation cannot run (missing files, labels the model does not know...)."""


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
    out["summary"] = summary_metrics(y, probs, classes, n_bins=ec.ece_bins)
    out["per_class"] = per_class_metrics(y, probs, classes)
    out["confusion"] = confusion(y, probs, classes)
    out["reliability"] = reliability_table(y, probs, n_bins=ec.ece_bins)
    positives = [c for c in ec.positive_classes if c in classes]
    if ec.positive_classes and len(positives) == len(ec.positive_classes):
        out["high_recall"] = high_recall_operating_point(
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
        out["group_metrics"] = group_metrics(y, probs, classes, groups, ec.min_group_size, n_bins=ec.ece_bins)
        out["group_metrics_long"] = group_metrics_long(y, probs, classes, groups, ec.min_group_size)
        out["gaps"] = gaps(out["group_metrics"])
        small = out["group_metrics"].index[out["group_metrics"]["flagged_small"]].tolist()
        if small:
            out["notes"].append(
                f"groups with fewer than {ec.min_group_size} samples are flagged and left out of the gaps: {', '.join(small)}"
            )
        if probs_val is not None and groups_val is not None and positives:
            try:
                out["group_thresholds"] = group_threshold_report(
                    y_val, probs_val, groups_val, y, probs, groups, classes, positives, objective=ec.threshold_objective,
                    target_recall=ec.target_recall, min_group_size=ec.min_group_size,
                )
            except MetricsInputError as exc:
                out["notes"].append(f"per-group thresholds skipped: {exc}")
    return out


def calibration_table(Y: Any, P: Any, labels: Sequence[str], n_bins: int, P_uncalibrated: Any = None) -> pd.DataFrame:
    """Per label (and ``macro``): ECE, Brier, mean probability, prevalence; with ``P_uncalibrated`` also
    ``ece_uncalibrated``, ``brier_uncalibrated`` and ``mean_probability_uncalibrated``."""
    cal = label_calibration(Y, P, labels, n_bins)
    if P_uncalibrated is not None:
        raw = label_calibration(Y, P_uncalibrated, labels, n_bins)
        for col in ("ece", "brier", "mean_probability"):
            cal[f"{col}_uncalibrated"] = raw[col]
    return cal


def group_label_table(Y: Any, P: Any, groups: np.ndarray, labels: Sequence[str], thr: LabelThresholds,
                      min_group_size: int, target_recall: float) -> pd.DataFrame:
    """Tidy per (group, label) metrics with the global thresholds and with the per-group ones (column ``thresholds``)."""
    parts = []
    for kind, use in (("global", False), ("per_group", True)):
        long = per_group_label_metrics(Y, P, groups, labels, thr.for_rows(groups, use_groups=use),
                                       min_group_size=min_group_size, target_recall=target_recall)
        long.insert(0, "thresholds", kind)
        parts.append(long)
    return pd.concat(parts, ignore_index=True)


def evaluate_multilabel_predictions(Y: Any, P: Any, labels: Sequence[str], eval_cfg: EvalConfig | None = None, *,
                                    groups: Any = None, thresholds: LabelThresholds | None = None, Y_val: Any = None,
                                    P_val: Any = None, groups_val: Any = None, P_uncalibrated: Any = None,
                                    group_a: str = DARKEST, group_b: str = MEDIUM) -> dict[str, Any]:
    """All metrics of (already calibrated) multi-label probabilities (keys in the module docstring)."""
    ec = eval_cfg or EvalConfig()
    names = [str(x) for x in labels]
    P = np.asarray(P, dtype=np.float64)
    out: dict[str, Any] = {"notes": []}
    thr, source = choose_thresholds(names, ec, thresholds=thresholds, Y_val=Y_val, P_val=P_val, groups_val=groups_val)
    out["thresholds"], out["threshold_source"] = thr, source
    if source.startswith("default"):
        out["notes"].append(f"no thresholds given or fitted: {DEFAULT_LABEL_THRESHOLD:g} for every label "
                            "(pass validation data to fit them)")
    glob = thr.for_rows(None)
    cal = calibration_table(Y, P, names, ec.ece_bins, P_uncalibrated)
    per = per_label_metrics(Y, P, names, glob, ec.target_recall)
    per["ece"] = cal.loc[names, "ece"].to_numpy()
    per["brier"] = cal.loc[names, "brier"].to_numpy()
    summary = {**multilabel_summary(Y, P, names, glob, ec.target_recall),
               "macro_ece": float(cal.loc["macro", "ece"]), "macro_brier": float(cal.loc["macro", "brier"])}
    out.update(summary=summary, per_label=per, calibration=cal)
    rows = [{"variant": "global_thresholds", **summary}]
    if groups is not None:
        g = group_values(groups, len(P))
        rows.append({"variant": "group_thresholds", **multilabel_summary(Y, P, names, thr.for_rows(g), ec.target_recall),
                     "macro_ece": summary["macro_ece"], "macro_brier": summary["macro_brier"]})
        long = group_label_table(Y, P, g, names, thr, ec.min_group_size, ec.target_recall)
        out["group_label_metrics"] = long
        small = sorted(set(long.loc[long["flagged_small"], "group"]))
        if small:
            out["notes"].append(f"groups with fewer than {ec.min_group_size} samples are flagged small: "
                                f"{', '.join(small)}")
        if thr.fallback:
            out["notes"].append("per-group thresholds fall back to the global one for: " + "; ".join(
                f"{grp}: {', '.join(labs)}" for grp, labs in thr.fallback.items()))
        try:
            out["fairness_gap"] = fairness_gap(Y, P, g, names, thr, group_a=group_a, group_b=group_b)
        except MetricsInputError as exc:
            out["notes"].append(f"fairness gap ({group_a} vs {group_b}) skipped: {exc}")
    out["metrics"] = pd.DataFrame(rows).set_index("variant")
    return out


# ----------------------------------------------------------------------------- an evaluation of each task
def _frame_dict(report: dict[str, Any], key: str) -> Any:
    return report[key].to_dict(orient="index") if key in report else None


def class_report(y: Any, probs: Any, classes: list[str], eval_cfg: EvalConfig, *, temperature: float,
                 groups: Any = None, val: tuple[Any, Any, Any] | None = None, uncalibrated: Any = None,
                 tta: Any = None, operating_point: dict[str, Any] | None = None) -> dict[str, Any]:
    """An evaluation of one class per image (``evaluate`` on a single-label checkpoint): :func:`evaluate_predictions`
    (per-group thresholds fitted on ``val`` = (y, probabilities, groups) of a validation list) with ``metrics`` =
    one row per variant (``calibrated``, ``uncalibrated``, ``calibrated+tta``), the ``temperature`` used and the
    JSON ``files`` beside the tables (``high_recall.json``; ``operating_point.json``: the decisions at the
    checkpoint's stored operating point, :func:`auxiliary.evaluation.prior_shift.operating_point_report`)."""
    y_val, probs_val, groups_val = val if val is not None else (None, None, None)
    res = evaluate_predictions(y, probs, classes, eval_cfg, groups=groups, y_val=y_val, probs_val=probs_val,
                               groups_val=groups_val)
    variants = {"calibrated": res["summary"], "uncalibrated": uncalibrated, "calibrated+tta": tta}
    res["metrics"] = pd.DataFrame([{"variant": name, **(p if isinstance(p, dict) else summary_metrics(
        y, p, classes, n_bins=eval_cfg.ece_bins))} for name, p in variants.items() if p is not None]).set_index("variant")
    res["temperature"] = float(temperature)
    res["ece"] = {"calibrated": res["summary"]["ece"],
                  "uncalibrated": float(res["metrics"].loc["uncalibrated", "ece"]) if uncalibrated is not None
                  else math.nan}
    res["files"] = {"high_recall.json": res["high_recall"]} if "high_recall" in res else {}
    if operating_point and operating_point.get("shift"):  # on the flip views' probabilities when they were asked for
        res["operating_point"] = {**operating_point_report(y, tta if tta is not None else probs, classes,
                                                           operating_point),
                                  "variant": "calibrated+tta" if tta is not None else "calibrated"}
        res["files"]["operating_point.json"] = res["operating_point"]
    return res


def class_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` records of a :func:`class_report`."""
    return {
        "temperature": report["temperature"],
        "temperature_source": report.get("temperature_source"),
        "metrics": report["metrics"].to_dict(orient="index"),
        "per_class": report["per_class"].to_dict(orient="index"),
        "high_recall": report.get("high_recall"),
        "operating_point": report.get("operating_point"),
        "gaps": _frame_dict(report, "gaps"),
        "group_thresholds": _frame_dict(report, "group_thresholds"),
        "thresholds": dict(report["group_thresholds"].attrs.get("thresholds", {})) if "group_thresholds" in report
        else None,
    }


def class_columns(probs: Any, classes: Sequence[str], operating_point: dict[str, Any] | None = None) -> pd.DataFrame:
    """``prob_<class>...`` and ``pred`` (the top class, or the class decided at ``operating_point``; empty for an
    unreadable image's NaN row)."""
    p = np.asarray(probs, dtype=np.float64)
    df = pd.DataFrame({f"prob_{c}": p[:, j] for j, c in enumerate(classes)}, index=range(len(p)))
    dec = shifted_decisions(np.nan_to_num(p, nan=0.0), shift_vector(operating_point, classes)) if len(p) else []
    df["pred"] = [str(classes[i]) if np.isfinite(r).all() else "" for i, r in zip(dec, p)]
    return df


def label_report(Y: Any, P: Any, labels: Sequence[str], eval_cfg: EvalConfig, *, thresholds: LabelThresholds | None,
                 temperatures: Sequence[float], groups: Any = None, val: tuple[Any, Any, Any] | None = None,
                 val_name: str | None = None, uncalibrated: Any = None, tta: Any = None) -> dict[str, Any]:
    """An evaluation of several labels per image (``evaluate`` on a multi-label checkpoint):
    :func:`evaluate_multilabel_predictions` at the checkpoint's ``thresholds``, or at thresholds fitted on ``val`` =
    (Y, P, groups) of a validation list called ``val_name``; with the ``temperatures`` used (label -> T), the
    ``global_thresholds+tta`` row and the JSON ``files`` beside the tables (``thresholds.json``)."""
    Y_val, P_val, groups_val = val if val is not None else (None, None, None)
    res = evaluate_multilabel_predictions(Y, P, labels, eval_cfg, groups=groups, thresholds=thresholds, Y_val=Y_val,
                                          P_val=P_val, groups_val=groups_val, P_uncalibrated=uncalibrated)
    if res["threshold_source"] == "given":
        res["threshold_source"] = "stored in the checkpoint"
    elif res["threshold_source"].startswith("fitted"):
        res["threshold_source"] += f": {val_name}"
    if tta is not None:
        again = evaluate_multilabel_predictions(Y, tta, labels, eval_cfg, thresholds=res["thresholds"])
        res["metrics"].loc["global_thresholds+tta"] = pd.Series(again["summary"])
    res["temperatures"] = dict(zip([str(x) for x in labels], map(float, temperatures)))
    res["temperature"] = res["temperatures"]
    cal = res["calibration"]
    res["ece"] = {"calibrated": float(cal.loc["macro", "ece"]),
                  "uncalibrated": float(cal.loc["macro", "ece_uncalibrated"]) if "ece_uncalibrated" in cal else math.nan}
    res["target_recall"] = float(eval_cfg.target_recall)
    res["files"] = {"thresholds.json": {**thresholds_to_dict(res["thresholds"]), "source": res["threshold_source"]}}
    return res


def label_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` records of a :func:`label_report`."""
    return {
        "labels": list(report["temperatures"]),
        "target_recall": report["target_recall"],
        "temperature": "one per label",
        "temperatures": report["temperatures"],
        "temperature_source": report.get("temperature_source"),
        "threshold_source": report["threshold_source"],
        "thresholds": report["files"]["thresholds.json"],
        "metrics": report["metrics"].to_dict(orient="index"),
        "per_label": report["per_label"].to_dict(orient="index"),
        "calibration": report["calibration"].to_dict(orient="index"),
        "fairness_gap": _frame_dict(report, "fairness_gap"),
    }


def label_columns(Y: Any, P: Any, labels: Sequence[str], thresholds: Any, names: Sequence[str]) -> pd.DataFrame:
    """``<label>...`` (0/1 truths), ``prob_<label>...``, ``pred_<label>...`` (0/1 at ``thresholds``, empty for an
    unreadable image) and ``pred`` (``names``: the predicted labels as text; empty for an unreadable image)."""
    y, p = np.asarray(Y), np.asarray(P, dtype=np.float64)
    readable = np.isfinite(p).all(axis=1) if p.size else np.ones(len(p), dtype=bool)
    flags = decisions(p, thresholds, labels).astype(np.int64)
    df = pd.DataFrame(index=range(len(p)))
    for j, lab in enumerate(labels):
        df[lab] = y[:, j]
    for j, lab in enumerate(labels):
        df[f"prob_{lab}"] = p[:, j]
    for j, lab in enumerate(labels):
        df[f"pred_{lab}"] = pd.Series(flags[:, j], dtype="Int64").mask(~readable)
    df["pred"] = [name if ok else "" for name, ok in zip(names, readable)]
    return df
