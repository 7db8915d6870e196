"""Notebook 03's results explorer: the winner's evaluation at every operating point, per tone group, with a metric,
a group and an operating point to pick (:func:`results_explorer`).

An evaluation (:func:`auxiliary.steps.evaluate.evaluate`'s result) reports its numbers at one operating point and
names others beside it: one class per image, the arg-max, the high-recall threshold on P(positive classes) and,
when validation data was given, the threshold fitted there (one for every group, and one per group); several labels
per image, 0.5 per label, the thresholds fitted on validation (global and per tone group) and the per-label
thresholds reaching ``target_recall``. :func:`operating_point_table` measures each of them in each group once (a
tidy table), so that picking a metric, a group or an operating point only slices it. What an operating point is for
each task, and which metrics a decision changes, is :data:`EXPLORER_TASKS` (by task name): the explorer itself never
asks which task it shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from auxiliary.evaluation.arrays import finite_rows, group_order, group_values
from auxiliary.evaluation.comparison_table import ok_rows
from auxiliary.evaluation.metrics import multilabel_summary, summary_metrics
from auxiliary.evaluation.operating_point import confusion_rates, positive_score, recall_threshold
from auxiliary.evaluation.thresholds import GLOBAL, apply_group_thresholds
from auxiliary.viz.widgets import Panel, figure_png, html_table, ipywidgets

#: The row of every group together.
ALL_GROUPS = "all"


class OperatingPoint(NamedTuple):
    """One way of turning probabilities into decisions: its ``name``, a ``note`` saying how (the thresholds), and the
    ``decision`` of every row of the evaluation (a class index, or 0/1 per label)."""

    name: str
    note: str
    decision: np.ndarray


class ExplorerTask(NamedTuple):
    """What the explorer needs of a task: the ``metrics`` a decision changes (the first shown first), the two of
    them that place an operating point on the precision-recall curve (``pr_point``: recall, precision), the
    operating ``points`` of an evaluation, how a decision is measured on some rows (``measure``), the
    ``screening`` view the curve is drawn from (truths and scores, (n, k) each, and its title) and the columns of
    the selection table that hold a metric (``selection``)."""

    metrics: tuple[str, ...]
    pr_point: tuple[str, str]
    points: Callable[[Mapping[str, Any]], list[OperatingPoint]]
    measure: Callable[[Mapping[str, Any], np.ndarray, np.ndarray], dict[str, float]]
    screening: Callable[[Mapping[str, Any]], tuple[np.ndarray, np.ndarray, str]]
    selection: dict[str, str]


def report_groups(res: Mapping[str, Any]) -> np.ndarray | None:
    """The group (the fairness column's value) of every row of an evaluation; ``None`` when it has no such column."""
    col = res["info"]["fairness_col"]
    pred = res["predictions"]
    return group_values(pred[col], len(pred)) if col in pred.columns else None


# ----------------------------------------------------------------------------- one class per image
def _positives(res: Mapping[str, Any]) -> list[int]:
    """Indices of the evaluation's positive classes (``eval.positive_classes`` that the model has)."""
    classes = [str(c) for c in res["classes"]]
    return [classes.index(str(c)) for c in res["info"]["eval"].get("positive_classes") or () if str(c) in classes]


def _flagged_decision(probs: np.ndarray, positives: list[int], flagged: np.ndarray) -> np.ndarray:
    """Class decisions of a screening threshold: the most probable positive class where the row is flagged, the most
    probable other class elsewhere (every class positive: the most probable class)."""
    others = [k for k in range(probs.shape[1]) if k not in positives]
    p = np.nan_to_num(probs, nan=-1.0)
    best_pos = np.asarray(positives)[p[:, positives].argmax(axis=1)]
    best_other = np.asarray(others)[p[:, others].argmax(axis=1)] if others else best_pos
    return np.where(flagged, best_pos, best_other)


def _class_points(res: Mapping[str, Any]) -> list[OperatingPoint]:
    probs = np.asarray(res["probs"], dtype=np.float64)
    classes = [str(c) for c in res["classes"]]
    points = [OperatingPoint("argmax", "the most probable class", np.nan_to_num(probs, nan=-1.0).argmax(axis=1))]
    pos = _positives(res)
    if not pos:
        return points
    names = "+".join(classes[k] for k in pos)
    score = np.nan_to_num(positive_score(probs, classes, [classes[k] for k in pos]), nan=-np.inf)
    hr = res.get("high_recall") or {}
    if math.isfinite(float(hr.get("threshold", math.nan))):
        points.append(OperatingPoint(
            "high recall", f"P({names}) >= {hr['threshold']:.3g}: recall >= {hr['target_recall']:g} on these images",
            _flagged_decision(probs, pos, score >= hr["threshold"])))
    fitted = res["group_thresholds"].attrs.get("thresholds") if "group_thresholds" in res else None
    if fitted:
        objective = res["group_thresholds"].attrs.get("objective", "f1")
        groups = report_groups(res)
        for name, use in (("validation threshold", False), ("per-group thresholds", True)):
            how = (f"P({names}) >= {fitted[GLOBAL]:.3g}" if not use else f"P({names}) >= its group's threshold")
            points.append(OperatingPoint(name, f"{how} (best {objective} on validation)", _flagged_decision(
                probs, pos, apply_group_thresholds(probs, groups, classes, [classes[k] for k in pos], fitted, use))))
    return points


def _class_measure(res: Mapping[str, Any], decision: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro-F1 of the class decisions (:func:`summary_metrics` of them as one-hot
    probabilities: those three read only the arg-max), and the screening rates of the positive classes."""
    y, d, n = np.asarray(res["truths"])[rows], decision[rows], len(res["classes"])
    m = summary_metrics(y, np.eye(n)[d], [str(c) for c in res["classes"]]) if len(y) else {}
    pos = _positives(res)
    r = confusion_rates(np.isin(y, pos), np.isin(d, pos)) if pos else {}
    return {"accuracy": m.get("accuracy", math.nan), "balanced_accuracy": m.get("balanced_accuracy", math.nan),
            "macro_f1": m.get("macro_f1", math.nan), "sensitivity": r.get("recall", math.nan),
            "precision": r.get("precision", math.nan), "specificity": r.get("specificity", math.nan),
            "flagged": float(np.isin(d, pos).mean()) if pos and len(d) else math.nan}


def _class_screening(res: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    pos = _positives(res)
    classes = [str(c) for c in res["classes"]]
    if not pos:
        return np.zeros((len(res["truths"]), 0)), np.zeros((len(res["truths"]), 0)), "no positive classes"
    score = positive_score(res["probs"], classes, [classes[k] for k in pos])
    names = "+".join(classes[k] for k in pos)
    return np.isin(res["truths"], pos)[:, None], score[:, None], f"{names} against the rest"


# ----------------------------------------------------------------------------- several labels per image
def _label_points(res: Mapping[str, Any]) -> list[OperatingPoint]:
    Y, P = np.asarray(res["truths"]), np.asarray(res["probs"], dtype=np.float64)
    thr, labels, p = res["thresholds"], [str(c) for c in res["classes"]], np.nan_to_num(P, nan=-1.0)
    glob = thr.for_rows(None)
    recall = float(res["info"]["eval"]["target_recall"])
    high = np.asarray([recall_threshold(Y[:, j], P[:, j], recall) for j in range(len(labels))])
    high = np.where(np.isnan(high), glob, high)
    points = [OperatingPoint("0.5 per label", "a label is present when its probability reaches 0.5",
                             (p >= 0.5).astype(int)),
              OperatingPoint("validation thresholds", f"one threshold per label ({res['threshold_source']}): "
                             + ", ".join(f"{lab} {t:.2f}" for lab, t in zip(labels, glob)), (p >= glob).astype(int))]
    groups = report_groups(res)
    if thr.by_group and groups is not None:
        points.append(OperatingPoint("per-group thresholds", "one threshold per (tone group, label), fitted on "
                                     "validation (the global one where a group was too small)",
                                     (p >= thr.for_rows(groups)).astype(int)))
    points.append(OperatingPoint("high recall", f"per label, the highest threshold reaching recall {recall:g} on these "
                                 "images: " + ", ".join(f"{lab} {t:.2f}" for lab, t in zip(labels, high)),
                                 (p >= high).astype(int)))
    return points


def _label_measure(res: Mapping[str, Any], decision: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """Macro and micro F1, micro precision and recall, subset accuracy and Hamming loss of the 0/1 decisions
    (:func:`multilabel_summary` of them as probabilities at 0.5: those read only the decisions)."""
    labels = [str(c) for c in res["classes"]]
    m = multilabel_summary(np.asarray(res["truths"])[rows], decision[rows].astype(float), labels, 0.5)
    return {k: float(m[k]) for k in ("macro_f1", "micro_f1", "micro_recall", "micro_precision", "subset_accuracy",
                                     "hamming_loss")}


def _label_screening(res: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    return np.asarray(res["truths"]), np.asarray(res["probs"], dtype=np.float64), "every (image, label) pair"


#: What an operating point is, and what it changes, for each task's evaluation (by task name). A new task is one
#: more entry.
EXPLORER_TASKS: dict[str, ExplorerTask] = {
    "single": ExplorerTask(
        ("balanced_accuracy", "accuracy", "macro_f1", "sensitivity", "precision", "specificity", "flagged"),
        ("sensitivity", "precision"), _class_points, _class_measure, _class_screening,
        {"balanced_accuracy": "val_balanced_acc", "accuracy": "val_acc", "macro_f1": "val_macro_f1"}),
    "multilabel": ExplorerTask(
        ("macro_f1", "micro_f1", "micro_recall", "micro_precision", "subset_accuracy", "hamming_loss"),
        ("micro_recall", "micro_precision"), _label_points, _label_measure, _label_screening,
        {"macro_f1": "val_macro_f1", "subset_accuracy": "val_acc"}),
}


def operating_point_table(res: Mapping[str, Any], points: Sequence[OperatingPoint] | None = None) -> pd.DataFrame:
    """Every metric of every operating point of an evaluation, in every group and all of them (``all``): index
    ``(operating_point, group)``, columns ``support``, ``small`` (fewer rows than ``eval.min_group_size``) and the
    task's metrics (:data:`EXPLORER_TASKS`). Unreadable images (NaN probabilities) are left out."""
    spec = EXPLORER_TASKS[res["task"]]
    points = list(points) if points is not None else spec.points(res)
    readable = finite_rows(res["probs"])
    groups = report_groups(res)
    names = [ALL_GROUPS] + (group_order(groups[readable]) if groups is not None else [])
    small = int(res["info"]["eval"]["min_group_size"])
    rows = []
    for point in points:
        for g in names:
            mask = readable & (groups == g if g != ALL_GROUPS else True)
            rows.append({"operating_point": point.name, "group": g, "support": int(mask.sum()),
                         "small": bool(g != ALL_GROUPS and mask.sum() < small),
                         **spec.measure(res, point.decision, mask)})
    return pd.DataFrame(rows).set_index(["operating_point", "group"])[["support", "small", *spec.metrics]]


class ResultsExplorer(Panel):
    """Notebook 03's results explorer over the selection table and the winner's evaluation (:func:`results_explorer`):
    ``metric``, ``group`` and ``point`` (the operating point) pick what the table and the plot show; :meth:`select`
    changes them (what the dropdowns call). ``table`` holds every number (:func:`operating_point_table`)."""

    def __init__(self, selection: pd.DataFrame | None, report: Mapping[str, Any], interactive: bool | None = None):
        super().__init__(interactive)
        self.selection, self.report = selection, report
        self.spec = EXPLORER_TASKS[report["task"]]
        self.points = self.spec.points(report)
        self.table = operating_point_table(report, self.points)
        self.groups = list(dict.fromkeys(self.table.index.get_level_values("group")))
        self.metric, self.group, self.point = self.spec.metrics[0], ALL_GROUPS, self.points[0].name
        self.controls: dict[str, Any] = {}
        self._syncing = False
        if self.mode == "live":
            self._build()

    # ------------------------------------------------------------------ state
    def select(self, metric: str | None = None, group: str | None = None, point: str | None = None) -> None:
        """Show ``metric`` in ``group`` at operating point ``point`` (``None``: unchanged); the widget follows."""
        for name, value, options in (("metric", metric, self.spec.metrics), ("group", group, self.groups),
                                     ("point", point, [p.name for p in self.points])):
            if value is not None:
                if value not in options:
                    raise ValueError(f"unknown {name} {value!r} (choose from: {', '.join(options)})")
                setattr(self, name, value)
        self._syncing = True  # the dropdowns follow without calling back
        try:
            for name, dd in self.controls.items():
                if dd.value != getattr(self, name):
                    dd.value = getattr(self, name)
        finally:
            self._syncing = False
        self.refresh()

    def _changed(self, name: str, change: Mapping[str, Any]) -> None:
        if not self._syncing:
            self.select(**{name: change["new"]})

    def view(self) -> pd.DataFrame:
        """The groups x metrics table at the chosen operating point."""
        return self.table.xs(self.point, level="operating_point")

    def candidates(self) -> pd.DataFrame | None:
        """The selection table's candidates ranked by the chosen metric (when ``select`` measures it): they were
        measured on validation at their own default operating point, over every group."""
        col = self.spec.selection.get(self.metric)
        if self.selection is None or col not in self.selection.columns:
            return None
        ok = self.selection[ok_rows(self.selection)]
        winner = self.selection.attrs.get("winner")
        ranked = ok[["model", col]].sort_values(col, ascending=False)
        return ranked.set_index(ranked["model"].map(lambda m: f"{m} *" if m == winner else m))[[col]]

    # ------------------------------------------------------------------ what is shown
    def note(self) -> str:
        point = next(p for p in self.points if p.name == self.point)
        return f"<b>{self.point}</b>: {point.note}"

    def tables(self) -> list[str]:
        out = [html_table(self.view(), row=self.group, column=self.metric,
                          caption=f"{self.report['info']['model']} on {self.report['info']['fairness_col']} groups; "
                                  + self.note())]
        ranked = self.candidates()
        if ranked is not None:
            out.append(html_table(ranked, column=ranked.columns[0],
                                  caption="candidates on validation (their default operating point, every group; "
                                          "* winner)"))
        return out

    def draw(self) -> Figure:
        fig = Figure(figsize=(13, 4.2))
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        self._draw_groups(left)
        self._draw_curve(right)
        fig.tight_layout()
        return fig

    def _draw_groups(self, ax: Any) -> None:
        """The metric per group, one bar per operating point (the chosen one solid, the others pale)."""
        wide = self.table[self.metric].unstack("operating_point").reindex(
            index=self.groups, columns=[p.name for p in self.points])
        small = self.table.xs(self.point, level="operating_point")["small"].reindex(self.groups)
        x, width = np.arange(len(self.groups)), 0.8 / max(1, wide.shape[1])
        for k, name in enumerate(wide.columns):
            chosen = name == self.point
            ax.bar(x + (k - (wide.shape[1] - 1) / 2) * width, wide[name].to_numpy(dtype=float), width, label=name,
                   alpha=1.0 if chosen else 0.35, edgecolor="black" if chosen else "none")
        ax.set_xticks(x, [f"{g} (small)" if small[g] else g for g in self.groups])
        for tick, g in zip(ax.get_xticklabels(), self.groups):
            tick.set_fontweight("bold" if g == self.group else "normal")
        finite = wide.to_numpy(dtype=float)[np.isfinite(wide.to_numpy(dtype=float))]
        if finite.size and finite.min() >= 0 and finite.max() <= 1:
            ax.set_ylim(0, 1.05)
        ax.set_ylabel(self.metric)
        ax.set_title(f"{self.metric} per {self.report['info']['fairness_col']} (solid: {self.point})", fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    def _draw_curve(self, ax: Any) -> None:
        """The precision-recall curve of the task's screening view in the chosen group, every operating point on it
        (the chosen one a star)."""
        truth, score, title = self.spec.screening(self.report)
        mask = finite_rows(self.report["probs"])
        if self.group != ALL_GROUPS:
            mask &= report_groups(self.report) == self.group
        y, s = truth[mask].ravel().astype(bool), score[mask].ravel()
        if y.any() and (~y).any():
            precision, recall, _ = precision_recall_curve(y, s)
            ax.step(recall, precision, where="post", color="grey", lw=1)
        r_col, p_col = self.spec.pr_point
        for p in self.points:
            r, pr = self.table.loc[(p.name, self.group), [r_col, p_col]]
            chosen = p.name == self.point
            ax.scatter([r], [pr], s=160 if chosen else 40, marker="*" if chosen else "o", zorder=3, label=p.name)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel(r_col)
        ax.set_ylabel(p_col)
        ax.set_title(f"precision-recall: {title} ({self.group})", fontsize=10)
        ax.legend(fontsize=7, loc="lower left")

    # ------------------------------------------------------------------ the widget
    def _build(self) -> None:
        w = ipywidgets()
        options = {"metric": list(self.spec.metrics), "group": self.groups, "point": [p.name for p in self.points]}
        descriptions = {"metric": "metric", "group": self.report["info"]["fairness_col"][:12], "point": "operating pt"}
        for name, opts in options.items():
            dd = w.Dropdown(options=opts, value=getattr(self, name), description=descriptions[name])
            dd.observe(lambda change, name=name: self._changed(name, change), names="value")
            self.controls[name] = dd
        self.status = w.HTML()
        self.html = w.HTML()
        self.image = w.Image(format="png")
        self.widget = w.VBox([w.HBox(list(self.controls.values())), self.status, self.image, self.html])
        self.refresh()

    def refresh(self) -> None:
        """Redraw the widget's plot and tables (nothing in static mode: the figure is drawn when shown)."""
        if self.widget is None:
            return
        value = self.table.loc[(self.point, self.group), self.metric]
        self.status.value = f"{self.metric} in {self.group} at {self.note()}: <b>{value:.3f}</b>"
        self.image.value = figure_png(self.draw())
        self.html.value = "<br>".join(self.tables())


def results_explorer(selection: pd.DataFrame | None, report: Mapping[str, Any],
                     interactive: bool | None = None) -> ResultsExplorer:
    """Notebook 03's results explorer: pick a metric, a tone group and an operating point of the winner's
    evaluation (``report``: :func:`auxiliary.steps.evaluate.evaluate`'s result, either task) and the table (groups x
    metrics, the candidates of ``selection`` ranked by the metric) and the plot (the metric per group at every
    operating point; the precision-recall curve with the operating points on it) follow. Display it (the last
    expression of a cell): dropdowns where a person can use them, a static figure of the default view elsewhere
    (papermill; ``interactive`` forces either)."""
    return ResultsExplorer(selection, report, interactive)
