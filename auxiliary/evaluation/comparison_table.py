"""The tables that compare models: the long (model, split, group, metric) table and the selection table's columns.

:func:`metric_rows` and :func:`to_frame` build the comparison of notebook 05 from prediction arrays
(:mod:`auxiliary.steps.compare` writes it and describes its rows); for multi-label models
:func:`multilabel_metric_rows` gives it a ``label`` level (:data:`MULTILABEL_LEVELS`: a label, ``macro``,
``micro`` or ``all``) and :func:`multilabel_wide` reads it back as model x metric. :data:`METRIC_COLUMNS`,
:func:`metric_column` and :data:`TABLE_COLUMNS` name the columns of the model-selection table of
notebook 03 (:mod:`auxiliary.steps.select`); :func:`most_confident_mistakes`,
:func:`low_confidence_rows` and :func:`sample_rows` pick the rows the galleries show from a
:func:`prediction_table`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation.fairness import gaps, group_metrics
from auxiliary.evaluation.metrics import per_class_metrics, summary_metrics
from auxiliary.evaluation.report import evaluate_multilabel_predictions
from auxiliary.evaluation.thresholds import LabelThresholds


class SelectionError(AuxiliaryError):
    """Model selection cannot run or produced nothing usable (one line)."""


#: select_metric spelling -> table column, and whether higher is better.
METRIC_COLUMNS: dict[str, tuple[str, bool]] = {
    "val_balanced_acc": ("val_balanced_acc", True),
    "val_macro_auroc": ("val_macro_auroc", True),
    "val_macro_f1": ("val_macro_f1", True),
    "val_acc": ("val_acc", True),
    "val_ece": ("val_ece", False),
    "val_log_loss": ("val_log_loss", False),
    "params": ("params", False),
    "train_seconds": ("train_seconds", False),
    "train_img_per_s": ("train_img_per_s", True),
    "infer_img_per_s": ("infer_img_per_s", True),
}


#: Other accepted spellings of the selection metric.
METRIC_ALIASES: dict[str, str] = {
    "balanced_acc": "val_balanced_acc",
    "balanced_accuracy": "val_balanced_acc",
    "val_balanced_accuracy": "val_balanced_acc",
    "macro_auroc": "val_macro_auroc",
    "auroc": "val_macro_auroc",
    "val_auroc": "val_macro_auroc",
    "macro_f1": "val_macro_f1",
    "accuracy": "val_acc",
    "acc": "val_acc",
    "val_accuracy": "val_acc",
    "ece": "val_ece",
    "log_loss": "val_log_loss",
    "val_loss": "val_log_loss",
    "parameters": "params",
    "training_time": "train_seconds",
    "images_per_second": "train_img_per_s",
}


TABLE_COLUMNS = (
    "model", "val_balanced_acc", "val_macro_auroc", "val_ece", "val_macro_f1", "val_acc", "val_log_loss",
    "params", "train_seconds", "train_img_per_s", "infer_img_per_s", "train_device", "infer_device", "epochs", "n_val",
    "reused", "run_dir", "error",
)


def metric_column(name: str) -> tuple[str, bool]:
    """``(table column, higher_is_better)`` of a selection metric name; one-line error when unknown."""
    key = str(name).strip().lower().replace("-", "_")
    key = METRIC_ALIASES.get(key, key)
    if key not in METRIC_COLUMNS:
        raise SelectionError(
            f"unknown select_metric {name!r} (choose from: {', '.join(METRIC_COLUMNS)})"
        )
    return METRIC_COLUMNS[key]


def ok_rows(table: pd.DataFrame) -> pd.Series:
    """Rows without an error (the error column may come back from CSV as all-NaN floats)."""
    if "error" not in table:
        return pd.Series(True, index=table.index)
    err = table["error"].astype(object)
    return err.isna() | (err.astype(str).str.strip() == "")


LEVELS = ("model", "split", "group", "metric")


#: The levels of a comparison of multi-label models: ``label`` is a label, ``macro``, ``micro`` or ``all``.
MULTILABEL_LEVELS = ("model", "split", "group", "label", "metric")


#: Per-label metrics of a multi-label comparison (rows ``label=<name>``; the ``macro`` rows average them).
LABEL_METRICS = ("support", "prevalence", "auroc", "average_precision", "threshold", "precision", "recall", "f1",
                 "precision_at_recall", "ece", "brier")


SIZE_METRICS = ("parameters", "checkpoint_mb", "onnx_mb")


SPEED_METRICS = ("torch_ms_per_image_b1", "torch_images_per_s_b32", "onnx_ms_per_image_b1", "onnx_images_per_s_b32")


GAP_STATS = ("gap", "ratio", "min", "max")


class CompareError(AuxiliaryError, ValueError):
    """Bad runs or data given to the comparison (missing checkpoint, labels the models do not know...)."""


# ----------------------------------------------------------------------------- rows
def metric_row(rows: list[dict[str, Any]], model: str, split: str, group: str, metric: str, value: Any,
               label: str | None = None) -> None:
    """Append one tidy row (with ``label`` for a multi-label table)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    row = {"model": model, "split": split, "group": group, "metric": metric, "value": v}
    if label is not None:
        row["label"] = str(label)
    rows.append(row)


def metric_rows(
    model: str,
    split: str,
    y: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    groups: Sequence[Any] | None,
    fairness_col: str,
    min_group_size: int,
    n_bins: int = 15,
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Tidy rows of summary, per-class, per-group and gap metrics; plus the gaps' worst groups."""
    rows: list[dict[str, Any]] = []
    keep = np.all(np.isfinite(probs), axis=1)
    metric_row(rows, model, split, "all", "n_images", int(keep.sum()))
    metric_row(rows, model, split, "all", "n_unreadable", int((~keep).sum()))
    for k, v in summary_metrics(y[keep], probs[keep], classes, n_bins=n_bins).items():
        metric_row(rows, model, split, "all", k, v)
    per = per_class_metrics(y[keep], probs[keep], classes)
    for cls, r in per.iterrows():
        for k, v in r.items():
            metric_row(rows, model, split, f"class:{cls}", str(k), v)
    worst = pd.DataFrame(columns=["model", "split", "metric", "worst_group", "best_group", "excluded"])
    if groups is not None:
        g = np.asarray(pd.Series(list(groups), dtype="object"), dtype=object)[keep]
        gm = group_metrics(y[keep], probs[keep], classes, g, min_group_size=min_group_size, n_bins=n_bins)
        for grp, r in gm.iterrows():
            for k, v in r.items():
                metric_row(rows, model, split, f"{fairness_col}:{grp}", str(k), float(v))
        gp = gaps(gm)
        for metric, r in gp.iterrows():
            for stat in GAP_STATS:
                metric_row(rows, model, split, f"{stat}:{fairness_col}", str(metric), r[stat])
        worst = pd.DataFrame(
            {
                "model": model,
                "split": split,
                "metric": gp.index.astype(str),
                "worst_group": gp["worst_group"].to_numpy(),
                "best_group": gp["best_group"].to_numpy(),
                "excluded": gp["excluded"].to_numpy(),
            }
        )
    return rows, worst


def to_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy rows -> the comparison DataFrame (MultiIndex model, split, group, metric; column value), sorted.

    When any row has a ``label`` (multi-label models) the index is :data:`MULTILABEL_LEVELS` and rows
    without one (size, speed, counts) get ``label="all"``."""
    levels = MULTILABEL_LEVELS if any("label" in r for r in rows) else LEVELS
    df = pd.DataFrame(list(rows), columns=[*levels, "value"])
    if "label" in levels:
        df["label"] = df["label"].fillna("all")
    df["value"] = df["value"].astype(float)
    return df.set_index(list(levels)).sort_index()


# ----------------------------------------------------------------------------- multi-label rows
def _label_group_table(long: pd.DataFrame, label: str | None) -> pd.DataFrame:
    """group x (auroc, average_precision, f1, f1_group_thresholds, flagged_small) of one label (None: mean over labels)."""
    cols = ["auroc", "average_precision", "f1"]
    glob = long[long["thresholds"] == "global"]
    own = long[long["thresholds"] == "per_group"]
    if label is not None:
        glob, own = glob[glob["label"] == label], own[own["label"] == label]
    df = glob.groupby("group", sort=False)[cols].mean()
    df["f1_group_thresholds"] = own.groupby("group", sort=False)["f1"].mean()
    df["flagged_small"] = glob.groupby("group", sort=False)["flagged_small"].first().astype(bool)
    df["support"] = glob.groupby("group", sort=False)["support"].first()
    return df


def multilabel_metric_rows(
    model: str,
    split: str,
    Y: np.ndarray,
    probs: np.ndarray,
    labels: Sequence[str],
    thresholds: LabelThresholds | None,
    groups: Sequence[Any] | None,
    fairness_col: str,
    eval_cfg: Any,
    temperatures: Sequence[float] | None = None,
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Tidy rows (levels :data:`MULTILABEL_LEVELS`) of a multi-label model; plus the worst group per label's F1.

    ``group="all"``: per label :data:`LABEL_METRICS` and ``temperature``; ``label="macro"`` their means
    (and ``f1_group_thresholds``, each row at its group's thresholds), ``label="micro"`` the pooled ones,
    ``label="all"`` ``n_images``, ``n_unreadable``, ``subset_accuracy``, ``hamming_loss``.
    ``group="<fairness_col>:<g>"``: per label and macro, auroc, average_precision, f1 (global thresholds),
    f1_group_thresholds, support, flagged_small. ``group="gap:<fairness_col>"`` (and ratio, min, max): the
    spread of those across groups that are not flagged small, as for single-label models.
    ``group="<a>-<b>:<fairness_col>"`` (``dark-intermediate:tone_group``): F1 of the darkest minus the
    intermediate tone group per label and macro, ``f1`` with the global thresholds, ``f1_group_thresholds``
    with the per-group ones.
    """
    rows: list[dict[str, Any]] = []
    names = [str(x) for x in labels]
    keep = np.all(np.isfinite(probs), axis=1)
    res = evaluate_multilabel_predictions(Y[keep], probs[keep], names, eval_cfg, thresholds=thresholds,
                                          groups=None if groups is None else np.asarray(list(groups), dtype=object)[keep])

    def add(group: str, label: str, metric: str, value: Any) -> None:
        metric_row(rows, model, split, group, metric, value, label=label)

    s = res["summary"]
    for k, v in (("n_images", int(keep.sum())), ("n_unreadable", int((~keep).sum())),
                 ("subset_accuracy", s["subset_accuracy"]), ("hamming_loss", s["hamming_loss"])):
        add("all", "all", k, v)
    per = res["per_label"]
    for lab in names:
        for k in LABEL_METRICS:
            add("all", lab, k, per.loc[lab, k])
    if temperatures is not None:
        for lab, t in zip(names, temperatures):
            add("all", lab, "temperature", t)
    for k in LABEL_METRICS:
        add("all", "macro", k, per[k].mean(skipna=True))
    for k, key in (("auroc", "micro_auroc"), ("average_precision", "micro_ap"), ("f1", "micro_f1"),
                   ("precision", "micro_precision"), ("recall", "micro_recall")):
        add("all", "micro", k, s[key])
    worst = pd.DataFrame(columns=["model", "split", "label", "metric", "worst_group", "best_group", "excluded"])
    if "group_label_metrics" not in res:
        return rows, worst
    metrics_g = res["metrics"]
    if "group_thresholds" in metrics_g.index:
        add("all", "macro", "f1_group_thresholds", metrics_g.loc["group_thresholds", "macro_f1"])
        add("all", "all", "subset_accuracy_group_thresholds", metrics_g.loc["group_thresholds", "subset_accuracy"])
    long = res["group_label_metrics"]
    worst_parts = []
    for lab in [*names, None]:
        tab = _label_group_table(long, lab)
        name = lab or "macro"
        for grp, r in tab.iterrows():
            for k, v in r.items():
                add(f"{fairness_col}:{grp}", name, str(k), float(v))
        gp = gaps(tab.drop(columns=["support"]))
        for metric, r in gp.iterrows():
            for stat in GAP_STATS:
                add(f"{stat}:{fairness_col}", name, str(metric), r[stat])
        worst_parts.append(pd.DataFrame({"model": model, "split": split, "label": name, "metric": gp.index.astype(str),
                                         "worst_group": gp["worst_group"].to_numpy(),
                                         "best_group": gp["best_group"].to_numpy(),
                                         "excluded": gp["excluded"].to_numpy()}))
    if "fairness_gap" in res:
        fg = res["fairness_gap"]
        pair = f"{fg.attrs['group_a']}-{fg.attrs['group_b']}:{fairness_col}"
        for lab, r in fg.iterrows():
            add(pair, str(lab), "f1", r["gap_global"])
            add(pair, str(lab), "f1_group_thresholds", r["gap_group"])
    return rows, pd.concat(worst_parts, ignore_index=True)


def class_wide(table: pd.DataFrame, group: str = "all") -> pd.DataFrame:
    """model x metric of a comparison of single-label models for one group (``all``, ``class:acne``, ``gap:...``)."""
    return table.xs(group, level="group")["value"].unstack("metric").droplevel("split")


def multilabel_wide(table: pd.DataFrame, group: str = "all", label: str | None = None) -> pd.DataFrame:
    """model x metric of a multi-label comparison for one group: of one ``label`` (a label, ``macro``,
    ``micro``, ``all``), or with ``label=None`` the headline: the ``all`` rows, then the ``macro`` and
    ``micro`` rows as ``macro_<metric>`` and ``micro_<metric>``."""
    part = table.xs(group, level="group")["value"]
    if label is not None:
        return part.xs(label, level="label").unstack("metric").droplevel("split")
    pieces = []
    for lab, prefix in (("all", ""), ("macro", "macro_"), ("micro", "micro_")):
        if lab in part.index.get_level_values("label"):
            w = part.xs(lab, level="label").unstack("metric").droplevel("split")
            pieces.append(w.add_prefix(prefix))
    return pd.concat(pieces, axis=1) if pieces else pd.DataFrame()


# ----------------------------------------------------------------------------- error analysis
def prediction_table(
    table: pd.DataFrame, probs: np.ndarray, classes: Sequence[str], fairness_col: str | None = None
) -> pd.DataFrame:
    """One row per image: path, label, group column, pred, conf (top probability), correct, prob_<class>...: the
    single-label predictions the galleries pick from."""
    out = pd.DataFrame({"path": table["path"].astype(str).to_numpy(), "label": table["label"].astype(str).to_numpy()})
    if fairness_col and fairness_col in table.columns:
        out[fairness_col] = table[fairness_col].to_numpy()
    ok = np.all(np.isfinite(probs), axis=1)
    idx = np.where(ok, np.nan_to_num(probs, nan=-1.0).argmax(axis=1), -1)
    out["pred"] = [classes[i] if i >= 0 else "" for i in idx]
    out["conf"] = np.where(ok, np.nan_to_num(probs, nan=0.0).max(axis=1), np.nan)
    out["correct"] = ok & (out["pred"] == out["label"]).to_numpy()
    for k, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, k]
    return out


def _per_class_top(df: pd.DataFrame, n: int, ascending: bool, by: str = "label") -> pd.DataFrame:
    if df.empty:
        return df
    df = df.sort_values("conf", ascending=ascending, kind="stable")
    return df.groupby(by, sort=True, group_keys=False).head(n)


def most_confident_mistakes(pred: pd.DataFrame, n: int = 8, per_class: bool = True) -> pd.DataFrame:
    """Wrong predictions with the highest confidence (``n`` per true class, or ``n`` overall)."""
    wrong = pred[(~pred["correct"]) & pred["conf"].notna()]
    if per_class:
        return _per_class_top(wrong, n, ascending=False)
    return wrong.sort_values("conf", ascending=False, kind="stable").head(n)


def low_confidence_rows(pred: pd.DataFrame, conf: float = 0.6, n: int = 8, per_class: bool = True) -> pd.DataFrame:
    """The ``low_confidence`` band: top probability below ``conf`` (the sorting threshold),
    least confident first (``n`` per true class, or ``n`` overall)."""
    band = pred[pred["conf"] < conf]
    if per_class:
        return _per_class_top(band, n, ascending=True)
    return band.sort_values("conf", ascending=True, kind="stable").head(n)


def sample_rows(pred: pd.DataFrame, n: int = 8, seed: int = 0) -> pd.DataFrame:
    """``n`` images spread over the true classes (round robin), reproducibly."""
    per = max(1, math.ceil(n / max(1, pred["label"].nunique())))
    shuffled = pred.sample(frac=1.0, random_state=seed)
    return shuffled.groupby("label", sort=True).head(per).sort_values("label", kind="stable").head(n)
