"""Where a sort puts each image: the sort rule of each task, fixed once per run.

:meth:`auxiliary.tasks.task.Task.sort_rule` gives the :class:`SortRule` of a checkpoint's task; the sorter
(:mod:`auxiliary.inference.sorter`) asks it where each image of a batch goes and writes what it says.

- :class:`ClassSort` (one class per image): the top class's folder when its calibrated probability reaches
  ``conf`` (or, with ``coverage``, when the conformal prediction set holds exactly that class), else
  ``low_confidence/``.
- :class:`LabelSort` (several labels per image): every positive label's folder, ``none/`` without any, or
  ``low_confidence/`` instead when a label lies in the ``conf`` band around its threshold
  (:func:`band_width`, :func:`uncertain`, :func:`label_margins`; the web demo's review rule too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auxiliary.base.errors import SortError
from auxiliary.base.files import safe_name
from auxiliary.data.labels import NO_LABEL
from auxiliary.evaluation.prior_shift import shifted_decisions

#: The folder of a sort's images that a person should look at: the model is too unsure to file them.
LOW_CONFIDENCE = "low_confidence"


@dataclass
class SortRule:
    """Where a sort puts each image, fixed for the run (:meth:`auxiliary.tasks.task.Task.sort_rule`).

    The sorter asks it for the journal fields of a batch (:meth:`place`), what must match for a re-run or a
    shard to continue the same output (:meth:`state`), the rule in words (:meth:`describe`) and what the
    report adds (:meth:`summary`). ``conformal`` (single-label, ``coverage``): the conformal predictor the sorter
    calibrates once the rule has accepted the option. ``tone_thresholds``: whether the sorter must estimate each
    image's tone group for :meth:`place`.
    """

    classes: list[str]
    conf: float
    coverage: float | None = None
    tone_thresholds: bool = False
    conformal: Any = None

    @property
    def folders(self) -> dict[str, str]:
        """Class (or label) -> its folder name (safe on every file system)."""
        return {c: safe_name(c, default="class") for c in self.classes}

    @property
    def threshold(self) -> float | None:
        """The one probability threshold of the rule (``predictions.csv``'s ``threshold``), if it has one."""
        return None

    def describe(self) -> str:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """Entries of ``OUT/.sort/state.json`` beside the model, classes and options every sort records."""
        return {}

    def place(self, probs: np.ndarray, tone_groups: Sequence[str]) -> list[dict[str, Any]]:
        """The journal fields of each image of a batch (``probs`` (n, C); ``tone_groups``: estimated, or empty
        strings when :attr:`tone_thresholds` is off): ``decision``, ``folder`` (or ``folders``), ``predicted``,
        ``probs``, ``margin`` and the task's own."""
        raise NotImplementedError

    def rejected(self) -> dict[str, Any]:
        """The task's own journal fields of an input that could not be read."""
        return {}

    def summary(self) -> dict[str, Any]:
        """What ``sort_report.json`` adds for this rule."""
        return {}

    def check_folders(self, noun: str, extra: Sequence[str]) -> None:
        """A :class:`SortError` in one line unless every class gets its own folder, none named like ``extra``."""
        names = list(self.folders.values())
        if len(set(names)) != len(names) or set(extra) & set(names):
            beside = " and ".join(f"{f}/" for f in extra)
            raise SortError(f"{noun} names {self.classes} do not give distinct folder names beside {beside}")


def csv_number(v: Any) -> str:
    """A probability, threshold or margin as ``predictions.csv`` writes it (empty for none or NaN)."""
    return "" if (v is None or (isinstance(v, float) and math.isnan(v))) else f"{v:.6f}"


@dataclass
class ClassSort(SortRule):
    """A single-label sort: the decided class's folder when confident, else ``low_confidence/``.

    The decided class is the top class, or with the checkpoint's operating point (``shift``: one log-prior shift per
    class, :mod:`auxiliary.evaluation.prior_shift`) ``argmax(log p + shift)``; confident means its calibrated
    probability reaches ``conf`` (or the conformal set is exactly that class). ``top_prob`` is the decided class's
    probability and ``margin`` it minus the most probable other class (negative where the shift overruled the
    argmax: those images lead the review queue).
    """

    shift: np.ndarray | None = None

    @property
    def threshold(self) -> float:
        return self.conformal.threshold if self.conformal else self.conf

    def describe(self) -> str:
        c = self.conformal
        rule = f"conformal coverage {c.coverage:g} (p >= {c.threshold:.4f})" if c else f"top probability >= {self.conf:g}"
        return rule + (", classes decided at the checkpoint's operating point" if self.shift is not None else "")

    def place(self, probs: np.ndarray, tone_groups: Sequence[str]) -> list[dict[str, Any]]:
        """``predicted`` (the decided class), ``top_prob`` (its probability), ``margin`` (it minus the most probable
        other class), ``prediction_set`` (conformal)."""
        folders, out = self.folders, []
        P = np.asarray(probs, dtype=np.float64).reshape(-1, len(self.classes))
        for p, k in zip(P, shifted_decisions(P, self.shift)):
            k = int(k)
            pred = self.classes[k]
            other = float(np.delete(p, k).max()) if len(p) > 1 else 0.0
            pset = [self.classes[i] for i in np.flatnonzero(self.conformal.sets(p[None])[0])] if self.conformal else []
            confident = (len(pset) == 1 and pset[0] == pred) if self.conformal else float(p[k]) >= self.conf
            out.append({"decision": "sorted" if confident else LOW_CONFIDENCE,
                        "folder": folders[pred] if confident else LOW_CONFIDENCE, "predicted": pred,
                        "probs": [float(v) for v in p], "top_prob": float(p[k]),
                        "margin": float(p[k] - other) if len(p) > 1 else 1.0, "prediction_set": pset})
        return out

    def rejected(self) -> dict[str, Any]:
        return {"top_prob": math.nan, "prediction_set": []}

    def summary(self) -> dict[str, Any]:
        return {"conformal": self.conformal.to_dict()} if self.conformal else {}


@dataclass
class LabelSort(SortRule):
    """A multi-label sort: positive labels' folders, ``none/``, or low confidence.

    An image is **positive** for every label whose probability reaches its threshold and is copied into **each**
    of those label folders (``OUT/acne/`` and ``OUT/erythema/`` for an image with both), into ``OUT/none/`` when
    no label is positive, and into ``OUT/low_confidence/`` **instead** (not in addition) when any label's
    probability lies too close to its threshold to trust the yes/no: as for a single-label model, an image goes
    either where the model puts it or to a person, never both; its ``pred_<label>`` columns in
    ``predictions.csv`` still say what the model would have decided.

    "Too close" reuses the sort's ``conf`` (``--conf``, default 0.6): the band around a threshold ``t`` is
    ``t - m*t < p < t + m*(1 - t)`` with ``m = 2*conf - 1`` (:func:`band_width`), the same fraction ``m`` of the
    way from the threshold to 0 or to 1. At ``t = 0.5`` this is exactly the single-label rule for two classes
    (confident when ``p >= conf`` or ``p <= 1 - conf``); ``conf <= 0.5`` sends nothing to ``low_confidence/``.
    A row's ``margin`` is the smallest of those fractions over its labels (0: on a threshold; 1: at 0 or 1),
    so that the review queue's "smallest margin first" puts the least certain images first.

    Thresholds are the checkpoint's **global** per-label ones: a new image has no known skin tone. With
    ``tone_thresholds`` (``sort --tone-thresholds``) each image's tone group is **estimated** from its pixels by
    the sorter and that group's thresholds are used (the global ones when the estimate fails or the checkpoint
    has none for the group). The estimate moves with lighting and white balance, and per-group thresholds
    fitted on the true ``tone_group`` are then applied to an estimate: it is off by default and every row
    records the group it used (``tone_group_est``).
    """

    calibration: Mapping[str, Any] = field(default_factory=dict)
    #: The multi-label task whose thresholds and decisions the rule applies.
    task: Any = None

    def describe(self) -> str:
        where = "the estimated tone group's" if self.tone_thresholds else "its global"
        return (f"per label p >= {where} threshold; low confidence within {band_width(self.conf):.0%} of the way "
                f"from a threshold to 0 or 1 (conf {self.conf:g})")

    def state(self) -> dict[str, Any]:
        lt = self.task.thresholds(self.calibration, self.classes)
        return {"task": self.task.name, "thresholds": lt.global_thresholds,
                "group_thresholds": lt.by_group if self.tone_thresholds else None,
                "tone_thresholds": bool(self.tone_thresholds)}

    def place(self, probs: np.ndarray, tone_groups: Sequence[str]) -> list[dict[str, Any]]:
        """``folders`` (one per positive label, ``none`` or ``low_confidence``), ``folder`` and ``predicted``
        (``|``-joined), ``pred``, ``thresholds``, ``uncertain``, ``margin``, ``tone_group_est``."""
        task, labels = self.task, self.classes
        groups = [g or "unknown" for g in tone_groups] if self.tone_thresholds else None
        probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(labels))
        t_rows = task.threshold_rows(self.calibration, labels, len(probs), groups)
        preds = task.decide(probs, self.calibration, labels, groups)
        names, rows = self.folders, []
        for i, (p, t, pred) in enumerate(zip(probs, t_rows, preds)):
            unsure = uncertain(p, t, self.conf)
            positives = [lab for lab, y in zip(labels, pred) if y]
            if unsure.any():
                folders, decision = [LOW_CONFIDENCE], LOW_CONFIDENCE
            else:
                folders, decision = [names[lab] for lab in positives] or [NO_LABEL], "sorted"
            rows.append({
                "decision": decision, "folders": folders, "folder": "|".join(folders),
                "predicted": "|".join(positives) or NO_LABEL, "probs": [float(v) for v in p],
                "pred": [int(y) for y in pred], "thresholds": [float(v) for v in t],
                "uncertain": [lab for lab, u in zip(labels, unsure) if u],
                "margin": float(np.min(label_margins(p, t))) if len(p) else 1.0,
                "tone_group_est": groups[i] if groups else "",
            })
        return rows

    def rejected(self) -> dict[str, Any]:
        return {"folders": [], "pred": [], "thresholds": [], "uncertain": [], "tone_group_est": ""}

    def summary(self) -> dict[str, Any]:
        return {"thresholds": self.state()["thresholds"]}


def band_width(conf: float) -> float:
    """``m = 2*conf - 1`` (at least 0): how far, as a fraction of the way to 0 or 1, a probability must lie
    from its threshold to be trusted."""
    return max(0.0, 2.0 * float(conf) - 1.0)


def label_margins(p: Any, t: Any) -> np.ndarray:
    """Per label, how far ``p`` lies from its threshold ``t`` as a fraction of the way to 1 (``p >= t``)
    or to 0 (``p < t``): 0 on the threshold, 1 at 0 or 1. NaN where ``p`` is NaN."""
    p = np.asarray(p, dtype=np.float64)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), p.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(t < 1.0, (p - t) / (1.0 - t), 1.0)
        down = np.where(t > 0.0, (t - p) / t, 1.0)
    return np.clip(np.where(p >= t, up, down), 0.0, 1.0)


def uncertain(p: Any, t: Any, conf: float) -> np.ndarray:
    """Boolean per label: ``p`` inside the band ``t - m*t < p < t + m*(1 - t)`` (``m`` = :func:`band_width`)."""
    p = np.asarray(p, dtype=np.float64)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), p.shape)
    m = band_width(conf)
    return (p > t - m * t) & (p < t + m * (1.0 - t))
