"""Multi-label thresholds and fairness: per-label thresholds, per (tone group, label) thresholds, the gap between two groups.

* :func:`fit_thresholds` - per label, the threshold on validation that maximises F1
  (:func:`auxiliary.evaluation.fairness.best_f1_threshold`; ``default`` for a label without positives).
* :func:`fit_label_group_thresholds` - the same per (group, label); a group smaller than
  ``min_group_size``, or with fewer than ``min_positives`` positives of a label, keeps the
  label's global threshold for that label (listed in ``fallback``). A :class:`LabelThresholds`
  gives the (n, L) thresholds of any rows (:meth:`LabelThresholds.for_rows`).
* :func:`per_group_label_metrics` - tidy (group, label) table of support, AUROC, AP, F1...
* :func:`thresholds_to_dict` / :func:`thresholds_from_dict` - the dict a multi-label run records
  (``best.pt``'s ``thresholds`` and ``thresholds.json``: ``global``, ``per_group``, ``fallback``), read
  back by every step that uses a multi-label checkpoint.
* :func:`fairness_gap` - per label and macro: F1 of ``group_a`` minus F1 of ``group_b``
  (default darkest vs intermediate tone group), with the global thresholds and with the per-group ones.

The gap is signed (negative when ``group_a`` does worse); compare its absolute value with a
target such as 0.15. Groups are any column (``tone_group``, ``tone_group_est``, ``sex``...);
empty values are ``unknown``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.tone import TONE_GROUPS
from auxiliary.evaluation.arrays import MetricsInputError
from auxiliary.evaluation.fairness import best_f1_threshold, group_order
from auxiliary.evaluation.multilabel import per_label_metrics, prepared

#: Default groups of :func:`fairness_gap`: the darkest tone group and a medium one.
DARKEST: str = TONE_GROUPS[-1]
MEDIUM: str = "intermediate"


def group_values(groups: Any, n: int) -> np.ndarray:
    """Group of each row as text; empty or missing values become ``unknown``."""
    g = pd.Series(list(groups), dtype="object")
    if len(g) != n:
        raise MetricsInputError(f"{len(g)} group values but {n} samples")
    return g.map(lambda v: "unknown" if v is None or str(v).strip() in ("", "nan", "None", "<NA>")
                 else str(v)).to_numpy(dtype=object)


def _finite_rows(P: Any) -> np.ndarray:
    return np.all(np.isfinite(np.asarray(P, dtype=np.float64)), axis=1)


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


# ----------------------------------------------------------------------------- fitting
def fit_thresholds(Y: Any, P: Any, labels: Sequence[str], default: float = 0.5) -> dict[str, float]:
    """Per label, the validation threshold maximising F1 of ``P >= t`` (``default`` without positives)."""
    y, p, _ = prepared(Y, P, labels, 0.5)
    out = {}
    for j, name in enumerate(labels):
        t = best_f1_threshold(y[:, j], p[:, j]) if len(y) else math.nan
        out[str(name)] = float(default) if math.isnan(t) else t
    return out


def fit_label_group_thresholds(
    Y: Any,
    P: Any,
    groups: Any,
    labels: Sequence[str],
    min_group_size: int = 20,
    min_positives: int = 5,
    default: float = 0.5,
) -> LabelThresholds:
    """Global per-label thresholds and per (group, label) ones fitted on validation (see the module docstring).

    ``min_positives``: a threshold resting on one or two positives is noise, so fewer positives
    of a label in a group keep the global threshold for it.
    """
    y, p, _ = prepared(Y, P, labels, 0.5)
    g = group_values(groups, len(np.asarray(P)))[_finite_rows(P)]
    names = [str(x) for x in labels]
    glob = fit_thresholds(y, p, names, default)
    out = LabelThresholds(names, glob)
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
            own[name] = glob[name] if math.isnan(t) else t
        out.by_group[grp] = own
        if fell:
            out.fallback[grp] = fell
    return out


def _row_thresholds(thresholds: Any, groups: np.ndarray, use_groups: bool = True) -> Any:
    if isinstance(thresholds, LabelThresholds):
        return thresholds.for_rows(groups, use_groups=use_groups)
    return thresholds


# ----------------------------------------------------------------------------- per group
def per_group_label_metrics(
    Y: Any,
    P: Any,
    groups: Any,
    labels: Sequence[str],
    thresholds: Any = 0.5,
    min_group_size: int = 20,
    target_recall: float = 0.9,
) -> pd.DataFrame:
    """Tidy table, one row per (group, label): group, label, support (rows of the group),
    n_positives, flagged_small, auroc, average_precision, threshold, precision, recall, f1,
    precision_at_recall. ``thresholds``: a :class:`LabelThresholds` (per-group ones) or
    anything :func:`auxiliary.evaluation.multilabel.per_label_metrics` takes."""
    g_all = group_values(groups, len(np.asarray(P)))
    t_all = _row_thresholds(thresholds, g_all)
    y, p, t = prepared(Y, P, labels, t_all)
    g = g_all[_finite_rows(P)]
    parts = []
    for grp in group_order(g):
        m = g == grp
        per = per_label_metrics(y[m], p[m], labels, t[m], target_recall).reset_index()
        per = per.rename(columns={"support": "n_positives"})
        per.insert(0, "group", grp)
        per.insert(2, "support", int(m.sum()))
        per.insert(4, "flagged_small", bool(m.sum() < min_group_size))
        parts.append(per.drop(columns=["prevalence"]))
    cols = ["group", "label", "support", "n_positives", "flagged_small", "auroc", "average_precision",
            "threshold", "precision", "recall", "f1", "precision_at_recall"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def fairness_gap(
    Y: Any,
    P: Any,
    groups: Any,
    labels: Sequence[str],
    thresholds: LabelThresholds,
    group_a: str = DARKEST,
    group_b: str = MEDIUM,
) -> pd.DataFrame:
    """Per label (and ``macro``, the mean over labels where both F1 are defined): F1 of ``group_a``
    and ``group_b`` and the gap F1(a) - F1(b), with the global thresholds (``*_global``) and the
    per-group ones (``*_group``); n_positives_a / n_positives_b say what each F1 rests on."""
    g_all = group_values(groups, len(np.asarray(P)))
    for name in (group_a, group_b):
        if name not in set(g_all):
            raise MetricsInputError(f"group {name!r} has no sample (groups: {', '.join(group_order(g_all))})")
    tables = {}
    for kind, use in (("global", False), ("group", True)):
        long = per_group_label_metrics(Y, P, g_all, labels, thresholds.for_rows(g_all, use_groups=use))
        tables[kind] = long.set_index(["group", "label"])
    names = [str(x) for x in labels]
    out = pd.DataFrame(index=pd.Index(names, name="label"))
    pos = tables["global"]["n_positives"]
    out["n_positives_a"] = [int(pos.get((group_a, lab), 0)) for lab in names]
    out["n_positives_b"] = [int(pos.get((group_b, lab), 0)) for lab in names]
    for kind, tab in tables.items():
        f1 = tab["f1"]
        out[f"f1_a_{kind}"] = [float(f1.get((group_a, lab), math.nan)) for lab in names]
        out[f"f1_b_{kind}"] = [float(f1.get((group_b, lab), math.nan)) for lab in names]
        out[f"gap_{kind}"] = out[f"f1_a_{kind}"] - out[f"f1_b_{kind}"]
    both = out[["f1_a_global", "f1_b_global", "f1_a_group", "f1_b_group"]].notna().all(axis=1)
    macro = out.loc[both].mean(numeric_only=True)
    macro[["n_positives_a", "n_positives_b"]] = out[["n_positives_a", "n_positives_b"]].sum()
    for kind in tables:
        macro[f"gap_{kind}"] = macro[f"f1_a_{kind}"] - macro[f"f1_b_{kind}"]
    out.loc["macro"] = macro
    out[["n_positives_a", "n_positives_b"]] = out[["n_positives_a", "n_positives_b"]].astype(int)
    out.attrs.update(group_a=str(group_a), group_b=str(group_b))
    return out
