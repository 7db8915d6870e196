"""How sorting (and the web demo) decides for a multi-label model: positive labels, ``none``, or low confidence.

A multi-label checkpoint gives one calibrated probability per label and one threshold per label
(fitted on validation, :meth:`auxiliary.inference.predictor.Predictor.label_thresholds`). An image is

* **positive** for every label whose probability reaches its threshold; it is copied into **each**
  of those label folders (``OUT/acne/`` and ``OUT/erythema/`` for an image with both),
* copied into ``OUT/none/`` when no label is positive,
* copied into ``OUT/low_confidence/`` **instead** (not in addition) when any label's probability lies
  too close to its threshold to trust the yes/no: as for a single-label model, an image goes either
  where the model puts it or to a person, never both; its ``pred_<label>`` columns in ``predictions.csv``
  still say what the model would have decided.

"Too close" reuses the sort section's ``conf`` (``--conf``, default 0.6): the band around a threshold ``t``
is ``t - m*t < p < t + m*(1 - t)`` with ``m = 2*conf - 1``, i.e. the same fraction ``m`` of the way from the
threshold to 0 or to 1. At ``t = 0.5`` this is exactly the single-label rule for two classes (confident when
``p >= conf`` or ``p <= 1 - conf``); ``conf <= 0.5`` sends nothing to ``low_confidence/``. The ``margin``
of a row is the smallest of those fractions over its labels (0: a probability on its threshold; 1: at 0 or 1),
so the review queue's "smallest margin first" puts the least certain images first.

Thresholds are the checkpoint's **global** per-label ones: a new image has no known skin tone. With
``tone_thresholds=True`` (``sort --tone-thresholds``) each image's tone group is **estimated** from its
pixels (:func:`auxiliary.data.probe.estimate_tone`, the ITA estimate behind ``tone_group_est`` in the data
tables) and that group's thresholds are used (global ones when the estimate fails or the checkpoint has
none for the group). The estimate moves with lighting and white balance, and a checkpoint whose
per-group thresholds were fitted on the true ``tone_group`` is then applied to an estimate: it is off by
default and every row records the group it used (``tone_group_est``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from auxiliary.base.errors import SortError
from auxiliary.base.files import safe_name
from auxiliary.base.tone import ita_group
from auxiliary.data.probe import estimate_tone
from auxiliary.inference.sort_report import LOW_CONFIDENCE, NO_LABEL


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


def estimated_tone_group(rgb: np.ndarray) -> str:
    """The tone group estimated from an image's pixels (``unknown`` when too little skin is seen)."""
    return ita_group(estimate_tone(rgb))


@dataclass
class MultilabelRule:
    """The decision of a multi-label sort: the predictor's thresholds, ``conf`` and whether tone groups are estimated."""

    predictor: Any
    conf: float
    tone_thresholds: bool = False

    @property
    def labels(self) -> list[str]:
        return list(self.predictor.classes)

    def describe(self) -> str:
        where = "the estimated tone group's" if self.tone_thresholds else "its global"
        return (f"per label p >= {where} threshold; low confidence within {band_width(self.conf):.0%} of the way "
                f"from a threshold to 0 or 1 (conf {self.conf:g})")

    def state(self) -> dict[str, Any]:
        """What must match for a re-run (or a shard) to continue the same output."""
        lt = self.predictor.label_thresholds()
        return {"task": "multilabel", "thresholds": lt.global_thresholds,
                "group_thresholds": lt.by_group if self.tone_thresholds else None,
                "tone_thresholds": bool(self.tone_thresholds)}

    def decide_rows(self, probs: np.ndarray, tone_groups: list[str]) -> list[dict[str, Any]]:
        """The journal fields of each image of a batch (``probs`` (n, L); ``tone_groups`` the estimated groups,
        used only with ``tone_thresholds``): ``decision``, ``folders`` (one per positive label, ``none`` or
        ``low_confidence``), ``folder`` and ``predicted`` (``|``-joined), ``probs``, ``pred``, ``thresholds``,
        ``uncertain``, ``margin``, ``tone_group_est``."""
        labels = self.labels
        groups = [g or "unknown" for g in tone_groups] if self.tone_thresholds else None
        probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(labels))
        t_rows = self.predictor.threshold_rows(len(probs), groups)
        preds = self.predictor.decide(probs, groups)
        rows = []
        for i, (p, t, pred) in enumerate(zip(probs, t_rows, preds)):
            unsure = uncertain(p, t, self.conf)
            positives = [lab for lab, y in zip(labels, pred) if y]
            if unsure.any():
                folders, decision = [LOW_CONFIDENCE], LOW_CONFIDENCE
            else:
                folders, decision = [safe_name(lab, default="class") for lab in positives] or [NO_LABEL], "sorted"
            rows.append({
                "decision": decision, "folders": folders, "folder": "|".join(folders),
                "predicted": "|".join(positives) or NO_LABEL, "probs": [float(v) for v in p],
                "pred": [int(y) for y in pred], "thresholds": [float(v) for v in t],
                "uncertain": [lab for lab, u in zip(labels, unsure) if u],
                "margin": float(np.min(label_margins(p, t))) if len(p) else 1.0,
                "tone_group_est": groups[i] if groups else "",
            })
        return rows


def multilabel_rule(predictor: Any, conf: float, tone_thresholds: bool = False,
                    coverage: float | None = None) -> MultilabelRule:
    """The :class:`MultilabelRule` of ``predictor``; a :class:`SortError` in one line for what a multi-label
    sort cannot do (conformal sets; a label named like the ``none`` or ``low_confidence`` folder)."""
    if coverage is not None:
        raise SortError("conformal sets (--coverage / sort.coverage) are for single-label models; a multi-label "
                        "model sorts by its per-label thresholds and --conf")
    folders = [safe_name(c, default="class") for c in predictor.classes]
    if len(set(folders)) != len(folders) or {NO_LABEL, LOW_CONFIDENCE} & set(folders):
        raise SortError(f"label names {list(predictor.classes)} do not give distinct folder names beside "
                        f"{NO_LABEL}/ and {LOW_CONFIDENCE}/")
    predictor.label_thresholds()  # a malformed thresholds entry is one line now, not mid-run
    return MultilabelRule(predictor, float(conf), bool(tone_thresholds))

