"""``python -m auxiliary evaluate`` on a multi-label checkpoint (acne, erythema, hyperpigmentation, wrinkles on one face).

:func:`auxiliary.steps.evaluate.evaluate_checkpoint` hands a checkpoint whose task is ``multilabel``
to :func:`evaluate_multilabel_checkpoint`. ``--data`` is then a CSV list with one 0/1 column per label
of the model (a multi-label split's ``test.csv``: ``path, label, group, tone_group, ..., acne,
erythema, ...``; or a CSV with a ``labels`` column like ``acne|wrinkles``); a single-label list is
refused in one line naming the missing label columns. ``--label-map OLD=NEW`` renames the data's
label **columns** to the model's labels.

Probabilities are ``sigmoid(logit_j / T_j)`` with **one temperature per label**: the checkpoint's, or
refitted on ``--val`` (:func:`auxiliary.evaluation.multilabel_calibration.fit_label_temperatures`).
Decisions use per-label thresholds and per (tone group, label) thresholds: the checkpoint's, or
refitted on ``--val`` (:func:`auxiliary.evaluation.multilabel_report.choose_thresholds`); the numbers
come from :func:`auxiliary.evaluation.multilabel_report.evaluate_multilabel_predictions`, the
figures from :mod:`auxiliary.viz.plots_multilabel`. Fairness uses ``fairness_col`` (``tone_group``;
the pixel estimate ``tone_group_est``, named as such, when no tone is known).

Written to ``--out``::

    summary.json              settings, temperatures, thresholds, every number below, notes
    metrics.csv               macro/micro AUROC, AP, F1, subset accuracy, Hamming loss, ECE per variant
                              (global_thresholds, group_thresholds, +tta)
    per_label.csv             support, prevalence, auroc, average_precision, threshold, precision, recall,
                              f1, precision_at_recall (at target_recall), ece, brier
    calibration.csv           per label and macro: ece, brier, mean probability, prevalence, and uncalibrated
    group_label_metrics.csv   per (thresholds global|per_group, group, label)
    fairness_gap.csv          F1 darkest minus intermediate per label and macro, before/after
    thresholds.json           the thresholds used: global, per_group, fallback, source
    predictions.csv           path, label, <group col>, <label> 0/1..., prob_<label>..., pred_<label>..., pred
    dropped.csv               unreadable images
    roc_curves.png, pr_curves.png, reliability.png, group_label_f1.png, fairness_gap.png, gradcam_labels.png
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from auxiliary.base.config import EvalConfig
from auxiliary.base.devices import resolve_device
from auxiliary.base.files import write_json_atomic
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.data.balance import tone_column
from auxiliary.data.formats import csv_header
from auxiliary.data.multilabel import joined_labels, label_matrix, read_multilabel_csv
from auxiliary.data.readers import read_table
from auxiliary.data.report import DatasetError
from auxiliary.evaluation.multilabel import decisions
from auxiliary.evaluation.multilabel_calibration import fit_label_temperatures, sigmoid
from auxiliary.evaluation.multilabel_report import evaluate_multilabel_predictions
from auxiliary.evaluation.multilabel_thresholds import LabelThresholds, thresholds_to_dict
from auxiliary.evaluation.report import EvaluationError
from auxiliary.inference.explain import ExplainError
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import load_checkpoint
from auxiliary.models.preprocess import batched, preprocess
from auxiliary.viz.plots_multilabel import (
    plot_fairness_gap,
    plot_gradcam_labels,
    plot_group_label_heatmap,
    plot_label_pr_curves,
    plot_label_reliability,
    plot_label_roc_curves,
)

#: Test images (with at least one true label) shown in ``gradcam_labels.png``, at most.
GRADCAM_IMAGES = 4


# ----------------------------------------------------------------------------- inputs
def read_multilabel_list(
    source: str | Path, labels: list[str], label_map: dict[str, str] | None = None
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """``(table, Y (n, L) 0/1, notes)`` of a multi-label CSV list for the model's ``labels``; ``label_map``
    renames the data's label columns. One-line :class:`EvaluationError` when a label column is missing."""
    src = Path(source).expanduser()
    if not (src.is_file() and src.suffix.lower() == ".csv"):
        raise EvaluationError(f"{src}: a multi-label model is evaluated on a CSV list with one 0/1 column per label "
                              f"({', '.join(labels)}), e.g. a multi-label split's test.csv")
    header = csv_header(src)
    notes: list[str] = []
    try:
        if "path" in header and "label" in header:
            table = read_table(src)
        else:
            table, _ = read_multilabel_csv(src, labels if "labels" in header and not label_map else None)
    except DatasetError as exc:
        raise EvaluationError(str(exc)) from None
    if label_map:
        clash = [new for old, new in label_map.items() if old in table.columns and new in table.columns and old != new]
        if clash:
            raise EvaluationError(f"{src}: --label-map renames columns onto existing columns {', '.join(clash)}")
        absent = [old for old in label_map if old not in table.columns]
        if absent:
            notes.append(f"label map: no column {', '.join(absent)} in {src}")
        table = table.rename(columns=dict(label_map))
        notes.append("label columns renamed: " + ", ".join(f"{k} -> {v}" for k, v in label_map.items()))
    missing = [lab for lab in labels if lab not in table.columns]
    if missing:
        raise EvaluationError(
            f"{src} has no 0/1 column for the labels {', '.join(missing)} of the multi-label model (columns: "
            f"{', '.join(map(str, table.columns[:10]))}): evaluate it on a multi-label list such as a multi-label "
            "split's test.csv, or rename columns with --label-map OLD=NEW")
    if len(table) == 0:
        raise EvaluationError(f"{src} lists no samples")
    try:
        Y = label_matrix(table, labels)
    except DatasetError as exc:
        raise EvaluationError(f"{src}: {exc}") from None
    table = table.copy()
    table["label"] = joined_labels(Y, labels)
    return table, Y, notes


def predict_logits(pred: Predictor, paths: list[str], batch_size: int = 32, progress: bool = True
                   ) -> tuple[np.ndarray, dict[int, str]]:
    """Raw logits (n, L) of image files; unreadable ones get a NaN row and a reason in the dict."""
    out = np.full((len(paths), len(pred.classes)), np.nan)
    errors: dict[int, str] = {}
    bar = tqdm(total=len(paths), desc=f"predict {pred.name}", unit="img", disable=not progress)
    for chunk in batched(range(len(paths)), batch_size):
        ok, arrays = [], []
        for i in chunk:
            try:
                arrays.append(preprocess(read_image(paths[i]), pred.img_size, pred.mean, pred.std))
                ok.append(i)
            except ImageReadError as exc:
                errors[i] = exc.reason
        if arrays:
            out[ok] = pred.logits(np.stack(arrays))
        bar.update(len(chunk))
    bar.close()
    return out, errors


def thresholds_doc(thr: LabelThresholds, source: str) -> dict[str, Any]:
    """The thresholds as the checkpoint records them (``global``, ``per_group``, ``fallback``) plus their source."""
    return {**thresholds_to_dict(thr), "source": source}


def gradcam_rows(Y: np.ndarray, readable: np.ndarray, n: int = GRADCAM_IMAGES) -> list[int]:
    """Up to ``n`` readable rows with a true label: first one per label (so each label is shown where it can be), then any."""
    chosen: list[int] = []
    for j in range(Y.shape[1]):
        cand = [int(i) for i in np.flatnonzero((Y[:, j] == 1) & readable) if int(i) not in chosen]
        if cand and len(chosen) < n:
            chosen.append(cand[0])
    rest = [int(i) for i in np.flatnonzero(Y.any(axis=1) & readable) if int(i) not in chosen]
    return chosen + rest[: max(0, n - len(chosen))]


# ----------------------------------------------------------------------------- evaluation
def evaluate_multilabel_checkpoint(
    pred: Predictor,
    ckpt: str | Path,
    data_csv: str | Path,
    out_dir: str | Path,
    eval_cfg: EvalConfig | None = None,
    *,
    val_csv: str | Path | None = None,
    batch_size: int = 32,
    progress: bool = True,
    label_map: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Predict ``data_csv`` with the multi-label ``pred``, compute everything, write it to ``out_dir`` (module docstring)."""
    ec = eval_cfg or EvalConfig()
    labels = list(pred.classes)
    table, Y, notes = read_multilabel_list(data_csv, labels, label_map)
    logits, errors = predict_logits(pred, list(table["path"]), batch_size, progress)
    val = Yv = logits_val = None
    if val_csv is not None:
        val, Yv, _ = read_multilabel_list(val_csv, labels, label_map)
        logits_val, _ = predict_logits(pred, list(val["path"]), batch_size, progress)
        if not np.isfinite(logits_val).all(axis=1).any():
            notes.append(f"no readable image in {val_csv}: temperatures and thresholds from the checkpoint")
            val = Yv = logits_val = None
    if logits_val is not None:
        temps, t_source = fit_label_temperatures(logits_val, Yv), f"fitted on {val_csv}"
    elif pred.info.get("temperatures") is not None:
        temps, t_source = list(pred.temperatures or [1.0] * len(labels)), "stored in the checkpoint"
    else:
        temps, t_source = [1.0] * len(labels), "none in the checkpoint: 1 (uncalibrated)"
    P = sigmoid(logits, temps)
    col = ec.fairness_col
    if col == "tone_group" and col in table.columns and tone_column(table) == "tone_group_est":
        col = "tone_group_est"
        notes.append("no known skin tones: fairness by tone_group_est, an ESTIMATE from the pixels (ITA)")
    groups = table[col].astype(str).tolist() if col in table.columns else None
    groups_val = val[col].astype(str).tolist() if val is not None and col in val.columns else None
    if groups is None:
        notes.append(f"fairness skipped: {data_csv} has no column {col!r} (set fairness_col)")
    if val is not None and groups_val is None:
        notes.append(f"per-group thresholds not fitted: {val_csv} has no column {col!r}")
    res = evaluate_multilabel_predictions(
        Y, P, labels, ec, groups=groups, thresholds=pred.label_thresholds() if pred.thresholds else None,
        Y_val=Yv, P_val=sigmoid(logits_val, temps) if logits_val is not None else None, groups_val=groups_val,
        P_uncalibrated=sigmoid(logits))
    if res["threshold_source"] == "given":
        res["threshold_source"] = "stored in the checkpoint"
    elif res["threshold_source"].startswith("fitted"):
        res["threshold_source"] += f": {val_csv}"
    res["notes"] = notes + res["notes"]
    if ec.tta:
        saved = pred.temperatures
        pred.temperatures = list(temps)
        try:
            P_tta, _ = pred.predict_paths(list(table["path"]), batch_size=batch_size, tta=True, progress=progress)
        finally:
            pred.temperatures = saved
        tta = evaluate_multilabel_predictions(Y, P_tta, labels, ec, thresholds=res["thresholds"])
        res["metrics"].loc["global_thresholds+tta"] = pd.Series(tta["summary"])
    res["dropped"] = pd.DataFrame([{"kind": "unreadable", "path": table["path"].iloc[i], "detail": why}
                                   for i, why in errors.items()], columns=["kind", "path", "detail"])
    if errors:
        res["notes"].append(f"{len(errors)} unreadable images left out (listed in dropped.csv), "
                            f"e.g. {next(iter(errors.values()))}")
    res["temperatures"] = dict(zip(labels, map(float, temps)))
    res["temperature_source"] = t_source
    res["predictions"] = prediction_frame(table, Y, P, labels, res["thresholds"], col if groups is not None else None)
    res["info"] = {
        "checkpoint": str(ckpt), "model": pred.name, "task": "multilabel", "data": str(data_csv),
        "val": str(val_csv) if val_csv else None, "backend": pred.backend, "device": str(pred.device),
        "classes": labels, "labels": labels, "n": int(len(table)), "n_unreadable": len(errors), "fairness_col": col,
        "label_map": label_map or None, "target_recall": ec.target_recall, "eval": asdict(ec),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_gradcam(res, pred, ckpt, table, Y, P, out / "gradcam_labels.png", ec)
    write_multilabel_results(res, out)
    return res


def prediction_frame(table: pd.DataFrame, Y: np.ndarray, P: np.ndarray, labels: list[str], thr: LabelThresholds,
                     group_col: str | None) -> pd.DataFrame:
    """path, label, group column, <label> truths, prob_<label>, pred_<label> (global thresholds), pred (joined)."""
    df = pd.DataFrame({"path": table["path"].astype(str).to_numpy(), "label": table["label"].astype(str).to_numpy()})
    if group_col:
        df[group_col] = table[group_col].astype(str).to_numpy()
    readable = np.isfinite(P).all(axis=1)
    flags = decisions(P, thr.for_rows(None), labels).astype(np.int64)
    for j, lab in enumerate(labels):
        df[lab] = Y[:, j]
    for j, lab in enumerate(labels):
        df[f"prob_{lab}"] = P[:, j]
    for j, lab in enumerate(labels):
        df[f"pred_{lab}"] = pd.Series(flags[:, j], dtype="Int64").mask(~readable)
    df["pred"] = [name if ok else "" for name, ok in zip(joined_labels(flags, labels), readable)]
    return df


def save_gradcam(res: dict[str, Any], pred: Predictor, ckpt: str | Path, table: pd.DataFrame, Y: np.ndarray,
                 P: np.ndarray, path: Path, ec: EvalConfig) -> None:
    """``gradcam_labels.png``: a few test images with a true label, one Grad-CAM per label; a note when it cannot be made."""
    rows = gradcam_rows(Y, np.isfinite(P).all(axis=1), min(GRADCAM_IMAGES, ec.gallery_size))
    if not rows:
        res["notes"].append("Grad-CAM per label skipped: no readable test image has a true label")
        return
    try:
        model = pred.model if pred.backend == "torch" else load_checkpoint(ckpt, device=resolve_device(ec.device))[0]
        images = [read_image(table["path"].iloc[i]) for i in rows]
        fig = plot_gradcam_labels(model, images, pred.img_size, pred.mean, pred.std, pred.classes,
                                  probs=P[rows], thresholds=res["thresholds"].for_rows(None), truths=Y[rows],
                                  titles=[Path(table["path"].iloc[i]).name for i in rows])
    except (ExplainError, ImageReadError) as exc:
        res["notes"].append(f"Grad-CAM per label skipped: {exc}")
        return
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


# ----------------------------------------------------------------------------- files
def write_multilabel_results(res: dict[str, Any], out_dir: str | Path) -> Path:
    """Save an :func:`evaluate_multilabel_checkpoint` result as JSON/CSV/PNG in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = list(res["info"]["labels"])
    for name in ("metrics", "per_label", "calibration", "fairness_gap"):
        if name in res:
            res[name].to_csv(out / f"{name}.csv")
    for name in ("group_label_metrics", "predictions", "dropped"):
        if name in res:
            res[name].to_csv(out / f"{name}.csv", index=False)
    thr_doc = thresholds_doc(res["thresholds"], res["threshold_source"])
    write_json_atomic(out / "thresholds.json", thr_doc)
    pdf = res["predictions"]
    Y = pdf[labels].to_numpy()
    P = pdf[[f"prob_{lab}" for lab in labels]].to_numpy(dtype=np.float64)
    figures = [("roc_curves.png", plot_label_roc_curves(Y, P, labels)),
               ("pr_curves.png", plot_label_pr_curves(Y, P, labels, thresholds=res["thresholds"].for_rows(None))),
               ("reliability.png", plot_label_reliability(Y, P, labels, n_bins=min(10, res["info"]["eval"]["ece_bins"])))]
    if "group_label_metrics" in res:
        figures.append(("group_label_f1.png", plot_group_label_heatmap(res["group_label_metrics"])))
    if "fairness_gap" in res:
        figures.append(("fairness_gap.png", plot_fairness_gap(res["fairness_gap"])))
    for fname, fig in figures:
        fig.savefig(out / fname, dpi=120, bbox_inches="tight")
        plt.close(fig)
    summary = {
        **res["info"],
        "temperature": "one per label",
        "temperatures": res["temperatures"],
        "temperature_source": res["temperature_source"],
        "threshold_source": res["threshold_source"],
        "thresholds": thr_doc,
        "metrics": res["metrics"].to_dict(orient="index"),
        "per_label": res["per_label"].to_dict(orient="index"),
        "calibration": res["calibration"].to_dict(orient="index"),
        "fairness_gap": res["fairness_gap"].to_dict(orient="index") if "fairness_gap" in res else None,
        "notes": res["notes"],
    }
    write_json_atomic(out / "summary.json", summary)
    return out


# ----------------------------------------------------------------------------- console
def _fmt(v: Any) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def print_multilabel_results(res: dict[str, Any], out_dir: str | Path) -> None:
    """The compact console report: a per-label table, the macro figures, the fairness gap, the notes."""
    info, s = res["info"], res["summary"]
    print(f"{info['model']} on {info['data']} (n={info['n']}, multi-label, {len(info['labels'])} labels; "
          f"temperatures {res['temperature_source']}; thresholds {res['threshold_source']})")
    cols = {"support": "support", "auroc": "auroc", "average_precision": "ap", "threshold": "thr", "f1": "f1",
            "precision_at_recall": f"prec@r{info['target_recall']:g}", "ece": "ece"}
    per = res["per_label"][list(cols)].rename(columns=cols).rename_axis(None)
    print("  " + per.to_string(float_format=lambda v: f"{v:.3f}").replace("\n", "\n  "))
    print("  macro: " + ", ".join(f"{k.removeprefix('macro_')} {_fmt(s[k])}" for k in
                                  ("macro_auroc", "macro_ap", "macro_f1", "macro_ece")))
    print("  micro f1 {}, subset accuracy {}, hamming loss {}".format(
        _fmt(s["micro_f1"]), _fmt(s["subset_accuracy"]), _fmt(s["hamming_loss"])))
    if "group_thresholds" in res["metrics"].index:
        g = res["metrics"].loc["group_thresholds"]
        print(f"  per-group thresholds: macro f1 {_fmt(g['macro_f1'])}, subset accuracy {_fmt(g['subset_accuracy'])}")
    if "fairness_gap" in res:
        gap = res["fairness_gap"]
        a, b = gap.attrs.get("group_a"), gap.attrs.get("group_b")
        print(f"  F1 gap {a} - {b} (macro): {_fmt(gap.loc['macro', 'gap_global'])} with global thresholds, "
              f"{_fmt(gap.loc['macro', 'gap_group'])} with per-group thresholds")
    for note in res["notes"]:
        print(f"  note: {note}")
    print(f"results: {Path(out_dir)}")
