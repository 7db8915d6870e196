"""Several labels per image: one sigmoid per label, per-label temperatures, per-label (and per tone group) thresholds.

A multi-label run (split ``classes.json`` task ``multilabel``, or ``train.task``) trains one sigmoid per label
(``classes`` are the labels) with ``bce``, ``asymmetric`` or ``focal_bce`` (:mod:`auxiliary.tasks.losses`) and a
per-label ``pos_weight``. Its run folder holds, besides what every run holds (:mod:`auxiliary.training.runs`):

* ``best.pt`` with ``task: "multilabel"``, ``temperatures`` (one per label, fitted on the validation logits by
  :func:`auxiliary.evaluation.multilabel_calibration.fit_label_temperatures`; ``temperature`` stays 1.0) and
  ``thresholds`` = :func:`auxiliary.evaluation.multilabel_thresholds.thresholds_to_dict` of the per-label and
  per (tone group, label) thresholds fitted on the calibrated validation probabilities
  (:func:`~auxiliary.evaluation.multilabel_thresholds.fit_label_group_thresholds`, groups = ``tone_group``);
* ``thresholds.json``: the same dict plus ``labels`` and ``temperatures``;
* ``val_predictions.csv`` / ``test_predictions.csv``: ``path, label, tone_group``, the 0/1 truth of each label,
  ``prob_<label>`` (calibrated), ``pred_<label>`` (0/1 at the global thresholds) and ``pred`` (the predicted labels
  joined by ``|``, ``none`` without any);
* ``logs/metrics.csv`` with :attr:`MultiLabel.metric_columns` (macro F1, Hamming loss and subset accuracy at 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from auxiliary.base.config import TrainConfig
from auxiliary.base.errors import AuxiliaryError
from auxiliary.data.multilabel import NO_LABEL, SEP, label_matrix
from auxiliary.data.multilabel_splits import expected_shares, multilabel_sample_weights
from auxiliary.evaluation.multilabel import decisions, multilabel_summary
from auxiliary.evaluation.multilabel_calibration import fit_label_temperatures, sigmoid
from auxiliary.evaluation.multilabel_thresholds import (
    LabelThresholds,
    fit_label_group_thresholds,
    thresholds_from_dict,
    thresholds_to_dict,
)
from auxiliary.tasks.losses import MULTILABEL_LOSSES, build_criterion, pos_weights
from auxiliary.tasks.task import Task

#: Test metrics of a multi-label run (``summary.json``'s ``test`` and ``test_<key>``), at the global thresholds.
TEST_KEYS: tuple[str, ...] = ("macro_auroc", "micro_auroc", "macro_ap", "macro_f1", "micro_f1", "subset_accuracy",
                              "hamming_loss")
#: Metrics of an evaluation pass (sigmoid at 0.5), the ``val_`` columns of ``logs/metrics.csv``.
PASS_KEYS: tuple[str, ...] = ("macro_auroc", "micro_auroc", "macro_f1", "hamming_loss", "subset_accuracy")
#: A label's threshold when the checkpoint records none.
DEFAULT_THRESHOLD = 0.5


class MultiLabel(Task):
    """Several labels per image (one sigmoid per label)."""

    name: ClassVar[str] = "multilabel"
    title: ClassVar[str] = "multi-label"
    losses: ClassVar[tuple[str, ...]] = MULTILABEL_LOSSES
    monitors: ClassVar[tuple[str, ...]] = ("val_macro_auroc", "val_micro_auroc", "val_macro_f1", "val_hamming_loss",
                                           "val_subset_accuracy", "val_loss", "train_loss", "train_acc")
    metric_columns: ClassVar[tuple[str, ...]] = (
        "epoch", "phase", "lr", "train_loss", "val_loss", "train_acc", "val_macro_auroc", "val_micro_auroc",
        "val_macro_f1", "val_hamming_loss", "val_subset_accuracy", "seconds", "images_per_second",
    )
    key_metrics: ClassVar[tuple[str, ...]] = ("macro_auroc", "macro_f1", "micro_f1", "subset_accuracy")
    selection_metric: ClassVar[str] = "val_macro_auroc"

    # ------------------------------------------------------------------ training
    def criterion(self, tcfg: TrainConfig, table: pd.DataFrame | None, classes: Sequence[str],
                  balance: str) -> nn.Module:
        pos_weight = label_pos_weight(table, classes, balance) if table is not None else None
        return build_criterion(replace(tcfg, loss=self.loss_name(tcfg)), pos_weight=pos_weight)

    def targets(self, table: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        return label_matrix(table, classes).astype(np.float32)

    def sample_weights(self, table: pd.DataFrame, classes: Sequence[str], balance: str) -> np.ndarray | None:
        """Per-row weights of the balanced sampler under ``balance`` (``None``: plain shuffling)."""
        return multilabel_sample_weights(table, classes, balance)

    def target_tensor(self, labels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(labels, dtype=np.float32))

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The share of right (image, label) decisions at probability 0.5, summed over the batch's images."""
        return ((logits > 0) == (target > 0.5)).float().mean(1).sum()

    def pass_metrics(self, labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
        """macro_auroc, micro_auroc, macro_ap, macro_f1, micro_f1 (at probability 0.5), hamming_loss and
        subset_accuracy of (N, L) ``logits`` (sigmoid first) against 0/1 ``labels``
        (:func:`auxiliary.evaluation.multilabel.multilabel_summary`), plus ``acc`` = 1 - hamming_loss."""
        names = [str(k) for k in range(logits.shape[1] if np.ndim(logits) == 2 else 0)]
        m = multilabel_summary(labels, sigmoid(logits), names) if len(labels) and names else {}
        out = {k: float(m.get(k, math.nan)) for k in TEST_KEYS}
        out["acc"] = 1.0 - out["hamming_loss"]
        return out

    def epoch_row(self, epoch: int, phase: str, tr: Mapping[str, Any], va: Mapping[str, Any],
                  seconds: float) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": epoch, "phase": phase, "lr": tr["lr"], "train_loss": tr["loss"],
                               "val_loss": va["loss"], "train_acc": tr["acc"]}
        row.update({f"val_{k}": va[k] for k in PASS_KEYS})
        row.update(seconds=seconds, images_per_second=tr["images_per_second"])
        return row

    def epoch_line(self, row: Mapping[str, Any], max_epochs: int, improved: bool) -> str:
        return (f"epoch {row['epoch']}/{max_epochs} [{row['phase']}] train loss {row['train_loss']:.3f} "
                f"acc {row['train_acc']:.3f} | val loss {row['val_loss']:.3f} macro AUROC {row['val_macro_auroc']:.3f} "
                f"F1 {row['val_macro_f1']:.3f} | {row['seconds']:.1f} s, {row['images_per_second']:.0f} img/s"
                + ("  *best*" if improved else ""))

    # ------------------------------------------------------------------ calibration and decisions
    def calibrate(self, logits: np.ndarray, labels: np.ndarray, classes: Sequence[str], groups: np.ndarray,
                  min_group_size: int) -> dict[str, Any]:
        """Per-label temperatures, then per-label and per (tone group, label) thresholds on the calibrated
        validation probabilities (``temperature`` stays 1.0)."""
        Y, z = np.asarray(labels), np.asarray(logits)
        temperatures = [float(t) for t in fit_label_temperatures(z, Y)]
        th = fit_label_group_thresholds(Y, sigmoid(z, temperatures), groups, list(classes),
                                        min_group_size=min_group_size)
        return {"temperature": 1.0, "temperatures": temperatures, "thresholds": thresholds_to_dict(th)}

    def probabilities(self, logits: np.ndarray, calibration: Mapping[str, Any]) -> np.ndarray:
        return sigmoid(logits, calibration.get("temperatures"))

    def thresholds(self, calibration: Mapping[str, Any], classes: Sequence[str]) -> LabelThresholds:
        """A checkpoint's ``thresholds`` (``global``, ``per_group``, ``fallback``) as a :class:`LabelThresholds`,
        after checking it: every threshold a number in [0, 1], no label the model lacks; a label without a
        global threshold gets 0.5, one without a group's gets the global one."""
        d = calibration.get("thresholds") or {}
        names = [str(c) for c in classes]
        glob_in = d.get("global") or {}
        groups_in = d.get("per_group") or {}
        unknown = sorted(({str(k) for k in glob_in} | {str(k) for t in groups_in.values() for k in t}) - set(names))
        if unknown:
            raise AuxiliaryError(f"the checkpoint's thresholds name labels it does not have: {', '.join(unknown)} "
                                 f"(labels: {', '.join(names)})")
        glob = {c: _threshold(glob_in[c], f"of {c}") if c in glob_in else DEFAULT_THRESHOLD for c in names}
        by_group = {str(g): {c: _threshold(v, f"of {c} in {g}") for c, v in t.items()} for g, t in groups_in.items()}
        return thresholds_from_dict({"global": glob, "per_group": by_group, "fallback": d.get("fallback") or {}}, names)

    def threshold_rows(self, calibration: Mapping[str, Any], classes: Sequence[str], n: int,
                       groups: Sequence[str] | None = None) -> np.ndarray:
        """(n, L) thresholds: the global ones, or with ``groups`` (one per row) each row's tone group's
        (the global ones for a group the checkpoint has none for, e.g. ``unknown``)."""
        lt = self.thresholds(calibration, classes)
        if groups is None:
            return np.tile(lt.for_rows(None), (int(n), 1))
        if len(groups) != int(n):
            raise AuxiliaryError(f"{len(groups)} tone groups for {n} rows")
        return lt.for_rows(list(groups), use_groups=True).reshape(int(n), len(classes))

    def decide(self, probs: np.ndarray, calibration: Mapping[str, Any], classes: Sequence[str],
               groups: Sequence[str] | None = None) -> np.ndarray:
        """0/1 per label: ``probability >= threshold`` (NaN is never positive); same shape back, int."""
        p = np.asarray(probs, dtype=np.float64)
        rows = np.atleast_2d(p)
        if rows.shape[-1] != len(classes):
            raise AuxiliaryError(f"{rows.shape[-1]} probabilities per row for {len(classes)} labels")
        t = self.threshold_rows(calibration, classes, len(rows), groups)
        out = (np.nan_to_num(rows, nan=-1.0) >= t).astype(int)
        return out.reshape(p.shape)

    def prediction_names(self, decisions: np.ndarray, classes: Sequence[str]) -> list[str]:
        """The positive labels of each row joined by ``|`` (``none`` without any)."""
        return [SEP.join(str(c) for c, v in zip(classes, row) if v) or NO_LABEL for row in np.atleast_2d(decisions)]

    # ------------------------------------------------------------------ run outputs
    def predictions_frame(self, probs: np.ndarray, labels: np.ndarray, index: np.ndarray,
                          classes: Sequence[str], calibration: Mapping[str, Any],
                          table: pd.DataFrame | None = None) -> pd.DataFrame:
        """``path, label, tone_group, <label>..., prob_<label>..., pred_<label>..., pred`` in table order, decided
        at the global thresholds."""
        names = [str(x) for x in classes]
        order = np.argsort(index, kind="stable")
        idx, p, y = index[order], probs[order], np.asarray(labels)[order]
        t = table.reset_index(drop=True).iloc[idx] if table is not None and len(table) else None
        df = pd.DataFrame({
            "path": t["path"].astype(str).to_numpy() if t is not None else "",
            "label": t["label"].astype(str).to_numpy() if t is not None else self.prediction_names(y, names),
            "tone_group": (t["tone_group"].astype(str).to_numpy() if t is not None and "tone_group" in t
                           else "unknown"),
        }, index=range(len(idx)))
        for j, n in enumerate(names):
            df[n] = y[:, j].astype(int)
        for j, n in enumerate(names):
            df[f"prob_{n}"] = p[:, j]
        glob = (calibration.get("thresholds") or {}).get("global", DEFAULT_THRESHOLD)
        flags = decisions(p, glob, names) if len(p) else np.zeros((0, len(names)), dtype=bool)
        for j, n in enumerate(names):
            df[f"pred_{n}"] = flags[:, j].astype(int)
        df["pred"] = self.prediction_names(flags, names) if len(p) else []
        return df

    def test_metrics(self, labels: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                     calibration: Mapping[str, Any]) -> dict[str, float]:
        glob = self.thresholds(calibration, classes).global_thresholds
        m = multilabel_summary(labels, probs, list(classes), glob)
        return {k: float(m[k]) for k in TEST_KEYS}

    def predictions_auroc(self, pred: pd.DataFrame | None, classes: Sequence[str]) -> float:
        if pred is None or not len(pred):
            return float("nan")
        Y = pred[list(classes)].to_numpy(dtype=int)
        P = pred[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
        return float(multilabel_summary(Y, P, list(classes))["macro_auroc"])

    def summary_fields(self, history: Sequence[Mapping[str, Any]], best_epoch: int,
                       test: Mapping[str, Any] | None, calibration: Mapping[str, Any]) -> dict[str, Any]:
        best = next((r for r in history if int(r["epoch"]) == best_epoch), {})
        out: dict[str, Any] = {"labels": list(calibration.get("classes", [])),
                               "temperatures": list(calibration.get("temperatures", [])),
                               "thresholds": calibration.get("thresholds")}
        out.update({f"best_val_{k}": best.get(f"val_{k}") for k in PASS_KEYS})
        out.update({f"test_{k}": (test or {}).get(k) for k in TEST_KEYS})
        return out

    def run_files(self, calibration: Mapping[str, Any], classes: Sequence[str]) -> dict[str, Any]:
        """``thresholds.json``: the checkpoint's thresholds, its labels and temperatures."""
        return {"thresholds.json": {**dict(calibration.get("thresholds") or {}), "labels": list(classes),
                                    "temperatures": list(calibration.get("temperatures", []))}}


def label_pos_weight(table: pd.DataFrame, labels: Sequence[str], balance: str) -> torch.Tensor:
    """Per-label ``pos_weight`` (negatives / positives) of the label shares the training batches see: those of
    ``table`` with ``data.balance none`` (:func:`~auxiliary.tasks.losses.pos_weights`), those the balanced
    sampler draws otherwise (so that sampling and weighting do not correct the same imbalance twice)."""
    weights = multilabel_sample_weights(table, labels, balance)
    if weights is None:
        return pos_weights(label_matrix(table, labels))
    p = expected_shares(table, labels, weights)[list(map(str, labels))].to_numpy(dtype=np.float64)
    w = np.where((p > 0) & (p < 1), (1 - p) / np.clip(p, 1e-12, None), 1.0)
    return torch.tensor(w, dtype=torch.float32)


def _threshold(value: Any, where: str) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = math.nan
    if not 0.0 <= t <= 1.0:
        raise AuxiliaryError(f"the checkpoint's threshold {where} is {value!r}, not a number between 0 and 1")
    return t
