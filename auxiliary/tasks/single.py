"""One class per image: a softmax over the classes, calibrated by one temperature, decided by its argmax.

Losses: ``ce`` (label smoothing), ``weighted_ce`` and ``focal`` (class weights n / (k n_c)),
``logit_adjusted`` (the class prior the training batches see under ``data.balance``); see
:mod:`auxiliary.tasks.losses`. A checkpoint records ``temperature`` (fitted on the validation logits by
:func:`auxiliary.evaluation.calibration.fit_temperature`). Predictions tables:
``path, label, tone_group, prob_<class>..., pred``.
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
from auxiliary.data.balance import class_weights, sampled_class_prior
from auxiliary.data.balance import sample_weights as row_weights
from auxiliary.data.report import DatasetError
from auxiliary.evaluation.calibration import fit_temperature, softmax
from auxiliary.evaluation.metrics import summary_metrics
from auxiliary.tasks.losses import LOSSES, build_criterion
from auxiliary.tasks.task import Task

#: Test metrics of a single-label run (``summary.json``'s ``test``).
TEST_KEYS: tuple[str, ...] = ("acc", "balanced_acc", "macro_f1", "macro_auroc")


class SingleLabel(Task):
    """One class per image (softmax)."""

    name: ClassVar[str] = "single"
    title: ClassVar[str] = "single-label"
    losses: ClassVar[tuple[str, ...]] = LOSSES
    monitors: ClassVar[tuple[str, ...]] = ("val_balanced_acc", "val_macro_f1", "val_acc", "val_loss", "train_loss",
                                           "train_acc")
    metric_columns: ClassVar[tuple[str, ...]] = (
        "epoch", "phase", "lr", "train_loss", "val_loss", "train_acc", "val_acc", "val_balanced_acc",
        "val_macro_f1", "seconds", "images_per_second",
    )
    key_metrics: ClassVar[tuple[str, ...]] = ("balanced_accuracy", "macro_f1", "macro_auroc", "ece")
    selection_metric: ClassVar[str] = "val_balanced_acc"

    # ------------------------------------------------------------------ training
    def criterion(self, tcfg: TrainConfig, table: pd.DataFrame | None, classes: Sequence[str],
                  balance: str) -> nn.Module:
        loss = self.loss_name(tcfg)
        weights = class_weights(table, classes) if table is not None and loss in ("weighted_ce", "focal") else None
        prior = (sampled_class_prior(table, classes, balance)
                 if table is not None and loss == "logit_adjusted" else None)
        return build_criterion(replace(tcfg, loss=loss), weights, prior)

    def targets(self, table: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        lookup = {c: i for i, c in enumerate(classes)}
        labels = table["label"].astype(str).tolist()
        unknown = sorted({lab for lab in labels if lab not in lookup})
        if unknown:
            raise DatasetError(f"labels {unknown[:5]} are not in the class list {list(classes)}")
        return np.asarray([lookup[lab] for lab in labels], dtype=np.int64)

    def sample_weights(self, table: pd.DataFrame, classes: Sequence[str], balance: str) -> np.ndarray | None:
        """Per-row weights of the balanced sampler under ``balance`` (``None``: plain shuffling)."""
        weights = row_weights(table, balance)  # validates the mode
        return None if str(balance).strip().lower() == "none" else weights

    def target_tensor(self, labels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (logits.argmax(1) == target).sum().float()

    def pass_metrics(self, labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
        """acc, balanced_acc, macro_f1 and macro_auroc of the softmax of ``logits`` (the names of ``metrics.csv``)."""
        k = logits.shape[1] if np.ndim(logits) == 2 else 0
        return probability_metrics(labels, softmax(logits) if len(labels) else logits, k)

    def epoch_row(self, epoch: int, phase: str, tr: Mapping[str, Any], va: Mapping[str, Any],
                  seconds: float) -> dict[str, Any]:
        return {
            "epoch": epoch, "phase": phase, "lr": tr["lr"], "train_loss": tr["loss"], "val_loss": va["loss"],
            "train_acc": tr["acc"], "val_acc": va["acc"], "val_balanced_acc": va["balanced_acc"],
            "val_macro_f1": va["macro_f1"], "seconds": seconds, "images_per_second": tr["images_per_second"],
        }

    def epoch_line(self, row: Mapping[str, Any], max_epochs: int, improved: bool) -> str:
        return (f"epoch {row['epoch']}/{max_epochs} [{row['phase']}] train loss {row['train_loss']:.3f} "
                f"acc {row['train_acc']:.3f} | val loss {row['val_loss']:.3f} bal.acc {row['val_balanced_acc']:.3f} "
                f"F1 {row['val_macro_f1']:.3f} | {row['seconds']:.1f} s, {row['images_per_second']:.0f} img/s"
                + ("  *best*" if improved else ""))

    # ------------------------------------------------------------------ calibration and decisions
    def calibrate(self, logits: np.ndarray, labels: np.ndarray, classes: Sequence[str], groups: np.ndarray,
                  min_group_size: int) -> dict[str, Any]:
        return {"temperature": float(fit_temperature(logits, labels))}

    def probabilities(self, logits: np.ndarray, calibration: Mapping[str, Any]) -> np.ndarray:
        return softmax(logits, float(calibration.get("temperature", 1.0)))

    def decide(self, probs: np.ndarray, calibration: Mapping[str, Any], classes: Sequence[str],
               groups: Sequence[str] | None = None) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        return p.argmax(axis=-1) if p.size else np.zeros(p.shape[:-1], dtype=int)

    def prediction_names(self, decisions: np.ndarray, classes: Sequence[str]) -> list[str]:
        return [str(classes[int(i)]) for i in np.asarray(decisions).reshape(-1)]

    # ------------------------------------------------------------------ run outputs
    def predictions_frame(self, probs: np.ndarray, labels: np.ndarray, index: np.ndarray,
                          classes: Sequence[str], calibration: Mapping[str, Any],
                          table: pd.DataFrame | None = None) -> pd.DataFrame:
        """``path, label, tone_group, prob_<class>..., pred`` rows in table order (when a table is given)."""
        order = np.argsort(index, kind="stable")
        idx, p, y = index[order], probs[order], np.asarray(labels)[order]
        df = pd.DataFrame({"index": idx})
        if table is not None and len(table):
            t = table.reset_index(drop=True).iloc[idx]
            df["path"] = t["path"].astype(str).to_numpy()
            df["label"] = t["label"].astype(str).to_numpy()
            df["tone_group"] = t["tone_group"].astype(str).to_numpy() if "tone_group" in t else "unknown"
        else:
            df["path"] = ""
            df["label"] = [classes[i] for i in y]
            df["tone_group"] = "unknown"
        for j, c in enumerate(classes):
            df[f"prob_{c}"] = p[:, j]
        df["pred"] = self.prediction_names(self.decide(p, calibration, classes), classes) if len(p) else []
        return df.drop(columns=["index"])

    def test_metrics(self, labels: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                     calibration: Mapping[str, Any]) -> dict[str, float]:
        m = probability_metrics(labels, probs, len(classes))
        return {k: m[k] for k in TEST_KEYS}

    def predictions_auroc(self, pred: pd.DataFrame | None, classes: Sequence[str]) -> float:
        if pred is None or not len(pred):
            return float("nan")
        lab = pred["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
        return summary_metrics(lab, pred[[f"prob_{c}" for c in classes]].to_numpy(), list(classes))["macro_auroc"]

    def summary_fields(self, history: Sequence[Mapping[str, Any]], best_epoch: int,
                       test: Mapping[str, Any] | None, calibration: Mapping[str, Any]) -> dict[str, Any]:
        """Nothing beyond what every run records (its best validation and test accuracy, F1 and AUROC)."""
        return {}


def probability_metrics(labels: np.ndarray, probs: np.ndarray, n_classes: int) -> dict[str, float]:
    """acc, balanced_acc, macro_f1 and macro_auroc of class probabilities, computed by
    :func:`auxiliary.evaluation.metrics.summary_metrics` (the names of a run's ``metrics.csv``)."""
    if len(labels) == 0:
        return {"acc": math.nan, "balanced_acc": math.nan, "macro_f1": math.nan, "macro_auroc": math.nan}
    m = summary_metrics(labels, probs, [str(k) for k in range(n_classes)])
    return {"acc": m["accuracy"], "balanced_acc": m["balanced_accuracy"], "macro_f1": m["macro_f1"],
            "macro_auroc": m["macro_auroc"]}
