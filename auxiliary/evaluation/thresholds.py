"""Decision thresholds chosen on validation, globally and per group: what turns probabilities into decisions.

A threshold fitted on the whole validation split suits the groups the model does well on; the others (often the
darkest tone group) may need their own, so every threshold here comes globally and per group, a group too small
to fit its own keeping the global one (listed as a fallback, never silently).

One class per image, a binary decision on P(positive classes) (malignant = mel+bcc+akiec, acne...):

* :func:`fit_group_thresholds` - ``{GLOBAL: t, group: t_group}`` maximising F1 (or the highest threshold
  reaching a target recall) on validation; :func:`apply_group_thresholds` decides with them;
  :func:`evaluate_group_thresholds` measures them on test beside the single global threshold
  (:func:`group_threshold_report`: both steps).

Several labels per image, one threshold per label:

* :func:`fit_thresholds` - per label, the validation threshold maximising F1 (:func:`best_f1_threshold`);
* :func:`fit_label_group_thresholds` - the same per (group, label); a group smaller than ``min_group_size``, or
  with fewer than ``min_positives`` positives of a label, keeps the label's global threshold (``fallback``).
  A :class:`LabelThresholds` gives the (n, L) thresholds of any rows (:meth:`LabelThresholds.for_rows`) and
  :func:`decisions` the 0/1 decisions;
* :func:`thresholds_to_dict` / :func:`thresholds_from_dict` - the dict a multi-label run records (``best.pt``'s
  ``thresholds`` and ``thresholds.json``: ``global``, ``per_group``, ``fallback``), read back by every step that
  uses a multi-label checkpoint; :func:`choose_thresholds` - the thresholds an evaluation uses (fitted on
  validation, else the checkpoint's, else 0.5).

Groups are any column (``tone_group``, ``tone_group_est``, ``sex``...); empty values are ``unknown``. The gap the
per-group thresholds close between two tone groups is :func:`auxiliary.evaluation.fairness.fairness_gap`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.config import EvalConfig
from auxiliary.evaluation.arrays import (
    MetricsInputError,
    class_indices,
    finite_rows,
    group_order,
    group_values,
    grouped_arrays,
    prepared,
    threshold_matrix,
)
from auxiliary.evaluation.operating_point import confusion_rates, positive_score, recall_threshold

#: Key of the threshold used for every sample in the single-threshold baseline, and as the
#: fallback for groups too small (or without positives) to get their own.
GLOBAL = "__global__"

#: Row label of the whole test set in :func:`evaluate_group_thresholds`.
ALL = "all groups"

#: The threshold of a label when neither validation data nor a checkpoint gives one.
DEFAULT_LABEL_THRESHOLD: float = 0.5


def best_f1_threshold(y_bin: Any, score: Any) -> float:
    """Threshold t maximising F1 of ``score >= t`` (the lowest such t on ties; NaN without positives)."""
    yb = np.asarray(y_bin, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    if not yb.any():
        return math.nan
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], yb[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(~y_sorted)
    # cut only where the next score differs (all tied scores are flagged together)
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    f1 = 2 * tp / (tp + fp + yb.sum())
    f1 = np.where(last_of_tie, f1, -1.0)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)[-1]
    return float(s_sorted[best])


# ----------------------------------------------------------------------------- one class per image
class GroupThresholds(dict):
    """``{GLOBAL: t, group: t_group}``; ``.fallback`` names the groups given the global threshold."""

    def __init__(self, *args: Any, fallback: Sequence[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fallback = set(fallback)


def _threshold(y_bin: np.ndarray, score: np.ndarray, objective: str, target_recall: float) -> float:
    if objective == "f1":
        return best_f1_threshold(y_bin, score)
    return recall_threshold(y_bin, score, target_recall)


def _positive_rows(y_true: Any, probs: Any, groups: Any, classes: Sequence[str],
                   positive_classes: Sequence[str] | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(is positive, P(positive classes), group)`` of the usable rows (:func:`grouped_arrays`)."""
    y, p, g = grouped_arrays(y_true, probs, groups, len(classes))
    pos_idx = class_indices(classes, positive_classes)
    return np.isin(y, pos_idx), p[:, pos_idx].sum(axis=1), g


def fit_group_thresholds(y_true_val: Any, probs_val: Any, groups_val: Any, classes: Sequence[str],
                         positive_classes: Sequence[str] | str, objective: str = "f1",
                         target_recall: float | None = None, min_group_size: int = 20) -> GroupThresholds:
    """Thresholds on P(positive classes) chosen on validation: ``{GLOBAL: t, group: t_group, ...}``.

    ``objective="f1"`` maximises each group's F1; ``objective="recall"`` takes the highest
    threshold whose recall reaches ``target_recall`` (default 0.999). A group smaller than
    ``min_group_size`` or without positives gets the global threshold (see
    :func:`evaluate_group_thresholds`, which flags it).
    """
    if objective not in ("f1", "recall"):
        raise MetricsInputError(f"objective must be 'f1' or 'recall', got {objective!r}")
    target = 0.999 if target_recall is None else float(target_recall)
    if objective == "recall" and not 0 < target <= 1:
        raise MetricsInputError(f"target_recall must be in (0, 1], got {target}")
    y_bin, score, g = _positive_rows(y_true_val, probs_val, groups_val, classes, positive_classes)
    t_global = _threshold(y_bin, score, objective, target)
    if math.isnan(t_global):
        raise MetricsInputError(f"no validation samples of {positive_classes}: cannot choose a threshold")
    out = GroupThresholds({GLOBAL: t_global})
    for name in group_order(g):
        m = g == name
        t = _threshold(y_bin[m], score[m], objective, target) if m.sum() >= min_group_size else math.nan
        if math.isnan(t):
            out.fallback.add(name)
        out[name] = t_global if math.isnan(t) else t
    return out


def apply_group_thresholds(
    probs: Any,
    groups: Any,
    classes: Sequence[str],
    positive_classes: Sequence[str] | str,
    thresholds: dict[str, float],
    use_groups: bool = True,
) -> np.ndarray:
    """Boolean "positive" decision per sample: P(positive classes) >= its group's threshold
    (the global one for groups not in ``thresholds``, or for every sample when ``use_groups=False``)."""
    p = np.asarray(probs, dtype=np.float64)
    g = group_values(groups, len(p))
    score = positive_score(p, classes, positive_classes)
    t_global = thresholds[GLOBAL]
    thr = np.array([thresholds.get(x, t_global) if use_groups else t_global for x in g], dtype=np.float64)
    return np.nan_to_num(score, nan=-np.inf) >= thr


def evaluate_group_thresholds(
    y_true: Any,
    probs: Any,
    groups: Any,
    classes: Sequence[str],
    positive_classes: Sequence[str] | str,
    thresholds: dict[str, float],
    min_group_size: int = 20,
) -> pd.DataFrame:
    """Per group (and ``all groups``): precision/recall/F1 with the single global threshold beside
    the same with per-group thresholds; ``fallback`` marks groups that use the global threshold."""
    y_bin, score, g = _positive_rows(y_true, probs, groups, classes, positive_classes)
    t_global = thresholds[GLOBAL]
    flag_global = score >= t_global
    flag_group = score >= np.array([thresholds.get(x, t_global) for x in g], dtype=np.float64)
    rows = []
    for name in [*group_order(g), ALL]:
        m = np.ones(len(g), dtype=bool) if name == ALL else g == name
        r_g = confusion_rates(y_bin[m], flag_global[m])
        r_p = confusion_rates(y_bin[m], flag_group[m])
        rows.append(
            {
                "group": name,
                "support": int(m.sum()),
                "n_positives": int(y_bin[m].sum()),
                "flagged_small": bool(m.sum() < min_group_size) if name != ALL else False,
                "fallback": bool(name != ALL and (name not in thresholds or name in getattr(thresholds, "fallback", ()))),
                "threshold_global": t_global,
                "threshold_group": thresholds.get(name, t_global) if name != ALL else math.nan,
                "precision_global": r_g["precision"],
                "recall_global": r_g["recall"],
                "f1_global": r_g["f1"],
                "precision_group": r_p["precision"],
                "recall_group": r_p["recall"],
                "f1_group": r_p["f1"],
                "f1_change": r_p["f1"] - r_g["f1"],
            }
        )
    return pd.DataFrame(rows).set_index("group")


def group_threshold_report(y_val: Any, probs_val: Any, groups_val: Any, y_test: Any, probs_test: Any, groups_test: Any,
                           classes: Sequence[str], positive_classes: Sequence[str] | str, objective: str = "f1",
                           target_recall: float | None = None, min_group_size: int = 20) -> pd.DataFrame:
    """Fit thresholds on validation (:func:`fit_group_thresholds`) and evaluate them on test."""
    thr = fit_group_thresholds(
        y_val, probs_val, groups_val, classes, positive_classes, objective=objective, target_recall=target_recall,
        min_group_size=min_group_size,
    )
    table = evaluate_group_thresholds(y_test, probs_test, groups_test, classes, positive_classes, thr, min_group_size)
    table.attrs["thresholds"] = thr
    table.attrs["objective"] = objective
    return table


# ----------------------------------------------------------------------------- several labels per image
@dataclass
class LabelThresholds:
    """Global per-label thresholds and per (group, label) ones; ``fallback``: group -> labels using the global one."""

    labels: list[str]
    global_thresholds: dict[str, float]
    by_group: dict[str, dict[str, float]] = field(default_factory=dict)
    fallback: dict[str, list[str]] = field(default_factory=dict)

    def for_rows(self, groups: Any | None = None, use_groups: bool = True) -> np.ndarray:
        """(n, L) thresholds of rows in ``groups`` (global ones for unseen groups, or everywhere
        when ``use_groups=False``); ``groups=None`` gives the (L,) global thresholds."""
        glob = np.asarray([self.global_thresholds[lab] for lab in self.labels], dtype=np.float64)
        if groups is None:
            return glob
        g = group_values(groups, len(groups))
        rows = {name: np.asarray([t[lab] for lab in self.labels]) for name, t in self.by_group.items()}
        if not use_groups:
            return np.tile(glob, (len(g), 1))
        return np.stack([rows.get(x, glob) for x in g]) if len(g) else np.zeros((0, len(self.labels)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (read back with :meth:`from_dict`)."""
        return {"labels": list(self.labels), "global": dict(self.global_thresholds),
                "by_group": {k: dict(v) for k, v in self.by_group.items()},
                "fallback": {k: list(v) for k, v in self.fallback.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelThresholds:
        return cls(list(d["labels"]), {k: float(v) for k, v in d["global"].items()},
                   {g: {k: float(v) for k, v in t.items()} for g, t in d.get("by_group", {}).items()},
                   {g: list(v) for g, v in d.get("fallback", {}).items()})


def decisions(P: Any, thresholds: Any = 0.5, labels: Sequence[str] | None = None) -> np.ndarray:
    """Boolean (n, L): ``P >= threshold`` per label (NaN probabilities are never positive)."""
    p = np.asarray(P, dtype=np.float64)
    names = list(labels) if labels is not None else [str(j) for j in range(p.shape[1])]
    return np.nan_to_num(p, nan=-np.inf) >= threshold_matrix(thresholds, names, len(p))


def thresholds_to_dict(thresholds: LabelThresholds) -> dict[str, Any]:
    """The thresholds as a run records them (``best.pt``'s ``thresholds``, ``thresholds.json``):
    ``{"global": {label: t}, "per_group": {group: {label: t}}, "fallback": {group: [labels]}}``."""
    return {"global": {str(k): float(v) for k, v in thresholds.global_thresholds.items()},
            "per_group": {str(g): {str(k): float(v) for k, v in t.items()} for g, t in thresholds.by_group.items()},
            "fallback": {str(g): [str(x) for x in v] for g, v in thresholds.fallback.items()}}


def thresholds_from_dict(d: dict[str, Any], labels: Sequence[str] | None = None) -> LabelThresholds:
    """A :class:`LabelThresholds` from :func:`thresholds_to_dict`'s dict (also :meth:`LabelThresholds.to_dict`'s).

    ``labels`` (default: the dict's ``labels``, else the keys of ``global`` in their order) must all have a
    global threshold; a group lacking a label takes the global one."""
    try:
        glob = {str(k): float(v) for k, v in d["global"].items()}
    except (KeyError, TypeError, AttributeError, ValueError):
        raise MetricsInputError("recorded thresholds need a 'global' mapping of label -> threshold") from None
    names = [str(x) for x in (labels if labels is not None else d.get("labels") or list(glob))]
    missing = [lab for lab in names if lab not in glob]
    if missing:
        raise MetricsInputError(f"recorded thresholds have no global threshold for {missing}")
    groups = d.get("per_group", d.get("by_group")) or {}
    by_group = {str(g): {lab: float(t.get(lab, glob[lab])) for lab in names} for g, t in groups.items()}
    fallback = {str(g): [str(x) for x in v] for g, v in (d.get("fallback") or {}).items()}
    return LabelThresholds(names, {lab: glob[lab] for lab in names}, by_group, fallback)


def fit_thresholds(Y: Any, P: Any, labels: Sequence[str], default: float = 0.5) -> dict[str, float]:
    """Per label, the validation threshold maximising F1 of ``P >= t`` (``default`` without positives)."""
    y, p, _ = prepared(Y, P, labels, 0.5)
    out = {}
    for j, name in enumerate(labels):
        t = best_f1_threshold(y[:, j], p[:, j]) if len(y) else math.nan
        out[str(name)] = float(default) if math.isnan(t) else t
    return out


def fit_label_group_thresholds(Y: Any, P: Any, groups: Any, labels: Sequence[str], min_group_size: int = 20,
                               min_positives: int = 5, default: float = 0.5) -> LabelThresholds:
    """Global per-label thresholds and per (group, label) ones fitted on validation (see the module docstring).

    ``min_positives``: a threshold resting on one or two positives is noise, so fewer positives
    of a label in a group keep the global threshold for it.
    """
    y, p, _ = prepared(Y, P, labels, 0.5)
    g = group_values(groups, len(np.asarray(P)))[finite_rows(P)]
    names = [str(x) for x in labels]
    out = LabelThresholds(names, fit_thresholds(y, p, names, default))
    for grp in group_order(g):
        m = g == grp
        own: dict[str, float] = {}
        fell: list[str] = []
        for j, name in enumerate(names):
            t = math.nan
            if m.sum() >= min_group_size and y[m, j].sum() >= max(1, min_positives):
                t = best_f1_threshold(y[m, j], p[m, j])
            if math.isnan(t):
                fell.append(name)
            own[name] = out.global_thresholds[name] if math.isnan(t) else t
        out.by_group[grp] = own
        if fell:
            out.fallback[grp] = fell
    return out


def choose_thresholds(
    labels: Sequence[str],
    eval_cfg: EvalConfig | None = None,
    *,
    thresholds: LabelThresholds | None = None,
    Y_val: Any = None,
    P_val: Any = None,
    groups_val: Any = None,
) -> tuple[LabelThresholds, str]:
    """``(thresholds, where they come from)``: fitted on validation when given (per (group, label) too
    with ``groups_val``), else ``thresholds``, else 0.5 per label."""
    ec = eval_cfg or EvalConfig()
    names = [str(x) for x in labels]
    if Y_val is not None and P_val is not None:
        if groups_val is not None:
            thr = fit_label_group_thresholds(Y_val, P_val, groups_val, names, min_group_size=ec.min_group_size)
            return thr, "fitted on validation (per label, and per group and label)"
        return LabelThresholds(names, fit_thresholds(Y_val, P_val, names)), "fitted on validation (per label)"
    if thresholds is not None:
        missing = [lab for lab in names if lab not in thresholds.global_thresholds]
        if missing:
            raise MetricsInputError(f"no threshold for labels {missing}")
        return thresholds, "given"
    return LabelThresholds(names, {lab: DEFAULT_LABEL_THRESHOLD for lab in names}), \
        f"default {DEFAULT_LABEL_THRESHOLD:g} per label"
