"""What a multi-label run adds to the loop of :mod:`auxiliary.training.loop`: its epoch row, the ``pos_weight`` of its
loss, ``best.pt`` with per-label temperatures and thresholds, its predictions and its test metrics.

A multi-label run (split ``classes.json`` task ``multilabel``, or ``train.task``) trains one sigmoid per label
(``classes`` are the labels) with a loss of :mod:`auxiliary.training.multilabel_losses`. Its run folder holds, besides
what every run holds (:mod:`auxiliary.training.runs`):

* ``best.pt`` with ``task: "multilabel"``, ``temperatures`` (one per label, fitted on the validation logits by
  :func:`auxiliary.evaluation.multilabel_calibration.fit_label_temperatures`; ``temperature`` stays 1.0) and
  ``thresholds`` = :func:`auxiliary.evaluation.multilabel_thresholds.thresholds_to_dict` of the per-label and
  per (tone group, label) thresholds fitted on the calibrated validation probabilities
  (:func:`~auxiliary.evaluation.multilabel_thresholds.fit_label_group_thresholds`, groups = ``tone_group``);
* ``thresholds.json``: the same dict plus ``labels`` and ``temperatures``;
* ``val_predictions.csv`` / ``test_predictions.csv``: ``path, label, tone_group``, the 0/1 truth of each label,
  ``prob_<label>`` (calibrated), ``pred_<label>`` (0/1 at the global thresholds) and ``pred`` (the predicted labels
  joined by ``|``, ``none`` without any);
* ``logs/metrics.csv`` with :data:`MULTILABEL_METRIC_COLUMNS` (macro F1, Hamming loss and subset accuracy at 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from auxiliary.config import Config, TrainConfig, to_dict
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
from auxiliary.files import write_csv_atomic, write_json_atomic
from auxiliary.training.checkpoints import save_checkpoint
from auxiliary.training.multilabel_losses import pos_weights

#: ``logs/metrics.csv`` of a multi-label run.
MULTILABEL_METRIC_COLUMNS: tuple[str, ...] = (
    "epoch", "phase", "lr", "train_loss", "val_loss", "train_acc", "val_macro_auroc", "val_micro_auroc",
    "val_macro_f1", "val_hamming_loss", "val_subset_accuracy", "seconds", "images_per_second",
)
#: Test metrics of a multi-label run (``summary.json``'s ``test`` and ``test_<key>``), at the global thresholds.
TEST_KEYS: tuple[str, ...] = ("macro_auroc", "micro_auroc", "macro_ap", "macro_f1", "micro_f1", "subset_accuracy",
                              "hamming_loss")


# ====================================================================================== before training
def multilabel_pos_weight(table: pd.DataFrame, labels: Sequence[str], balance: str) -> torch.Tensor:
    """Per-label ``pos_weight`` (negatives / positives) of the label shares the training batches see: those of
    ``table`` with ``data.balance none`` (:func:`~auxiliary.training.multilabel_losses.pos_weights`), those
    the balanced sampler draws otherwise (so that sampling and weighting do not correct the same imbalance twice)."""
    weights = multilabel_sample_weights(table, labels, balance)
    if weights is None:
        return pos_weights(label_matrix(table, labels))
    p = expected_shares(table, labels, weights)[list(map(str, labels))].to_numpy(dtype=np.float64)
    w = np.where((p > 0) & (p < 1), (1 - p) / np.clip(p, 1e-12, None), 1.0)
    return torch.tensor(w, dtype=torch.float32)


# ====================================================================================== each epoch
def multilabel_epoch_row(epoch: int, phase: str, tr: dict[str, Any], va: dict[str, Any],
                         seconds: float) -> dict[str, Any]:
    """One row of ``logs/metrics.csv`` (:data:`MULTILABEL_METRIC_COLUMNS`)."""
    row: dict[str, Any] = {"epoch": epoch, "phase": phase, "lr": tr["lr"], "train_loss": tr["loss"],
                           "val_loss": va["loss"], "train_acc": tr["acc"]}
    for k in ("macro_auroc", "micro_auroc", "macro_f1", "hamming_loss", "subset_accuracy"):
        row[f"val_{k}"] = va[k]
    row.update(seconds=seconds, images_per_second=tr["images_per_second"])
    return row


def multilabel_epoch_line(row: dict[str, Any], max_epochs: int, improved: bool) -> str:
    """The console line of one epoch."""
    return (f"epoch {row['epoch']}/{max_epochs} [{row['phase']}] train loss {row['train_loss']:.3f} "
            f"acc {row['train_acc']:.3f} | val loss {row['val_loss']:.3f} macro AUROC {row['val_macro_auroc']:.3f} "
            f"F1 {row['val_macro_f1']:.3f} | {row['seconds']:.1f} s, {row['images_per_second']:.0f} img/s"
            + ("  *best*" if improved else ""))


# ====================================================================================== predictions
def _rows_of(table: Any, index: np.ndarray) -> pd.DataFrame | None:
    if table is None or not len(table):
        return None
    return table.reset_index(drop=True).iloc[index]


def multilabel_predictions_frame(probs: np.ndarray, Y: np.ndarray, index: np.ndarray, labels: Sequence[str],
                                 thresholds: dict[str, float], table: Any = None) -> pd.DataFrame:
    """``path, label, tone_group, <label>..., prob_<label>..., pred_<label>..., pred`` in table order."""
    names = [str(x) for x in labels]
    order = np.argsort(index, kind="stable")
    idx, p, y = index[order], probs[order], np.asarray(Y)[order]
    t = _rows_of(table, idx)
    joined = [SEP.join(n for n, v in zip(names, row) if v) or NO_LABEL for row in y]
    df = pd.DataFrame({
        "path": t["path"].astype(str).to_numpy() if t is not None else "",
        "label": t["label"].astype(str).to_numpy() if t is not None else joined,
        "tone_group": (t["tone_group"].astype(str).to_numpy() if t is not None and "tone_group" in t else "unknown"),
    }, index=range(len(idx)))
    for j, n in enumerate(names):
        df[n] = y[:, j].astype(int)
    for j, n in enumerate(names):
        df[f"prob_{n}"] = p[:, j]
    flags = decisions(p, thresholds, names) if len(p) else np.zeros((0, len(names)), dtype=bool)
    for j, n in enumerate(names):
        df[f"pred_{n}"] = flags[:, j].astype(int)
    df["pred"] = [SEP.join(n for n, v in zip(names, row) if v) or NO_LABEL for row in flags]
    return df


def _groups(table: Any, index: np.ndarray) -> np.ndarray:
    t = _rows_of(table, index)
    if t is None or "tone_group" not in t:
        return np.full(len(index), "unknown", dtype=object)
    return t["tone_group"].astype(str).to_numpy(dtype=object)


# ====================================================================================== best.pt
def save_multilabel_best(path: Path, out: Path, model: nn.Module, tcfg: TrainConfig, cfg: Config,
                         classes: list[str], mean: Sequence[float], std: Sequence[float], va: dict[str, Any],
                         row: dict[str, Any], val_table: Any) -> None:
    """``best.pt`` (task, temperatures, thresholds), ``thresholds.json`` and ``val_predictions.csv`` of the best epoch."""
    Y, logits = np.asarray(va["labels"]), np.asarray(va["logits"])
    temperatures = fit_label_temperatures(logits, Y)
    probs = sigmoid(logits, temperatures)
    th = fit_label_group_thresholds(Y, probs, _groups(val_table, va["index"]), classes,
                                    min_group_size=cfg.eval.min_group_size)
    recorded = thresholds_to_dict(th)
    metrics = {k: v for k, v in row.items() if k != "phase"}
    save_checkpoint(
        path, model, model_name=tcfg.model, classes=classes, img_size=tcfg.img_size, mean=tuple(mean),
        std=tuple(std), config=to_dict(cfg), metrics=metrics, temperature=1.0,
        extra={"kind": "best", "epoch": int(row["epoch"]), "task": "multilabel",
               "temperatures": [float(t) for t in temperatures], "thresholds": recorded},
    )
    write_json_atomic(out / "thresholds.json", {**recorded, "labels": list(classes),
                                                "temperatures": [float(t) for t in temperatures]})
    write_csv_atomic(out / "val_predictions.csv",
                     multilabel_predictions_frame(probs, Y, va["index"], classes, recorded["global"], val_table))


def recorded_thresholds(info: dict[str, Any], classes: Sequence[str]) -> LabelThresholds:
    """The thresholds a multi-label checkpoint records (``info`` of :func:`~auxiliary.training.checkpoints.load_checkpoint`)."""
    return thresholds_from_dict(info["thresholds"], classes)


# ====================================================================================== after training
def multilabel_test_results(te: dict[str, Any], info: dict[str, Any], classes: list[str], test_table: Any,
                            out: Path, write: bool) -> dict[str, Any]:
    """Test metrics (:data:`TEST_KEYS`, calibrated probabilities, global thresholds) of a test pass of the
    best model; writes ``test_predictions.csv`` when ``write`` (rank 0)."""
    probs = sigmoid(te["logits"], info.get("temperatures"))
    glob = recorded_thresholds(info, classes).global_thresholds
    m = multilabel_summary(te["labels"], probs, classes, glob)
    test: dict[str, Any] = {k: float(m[k]) for k in TEST_KEYS}
    test["images"] = int(te["images"])
    if write:
        write_csv_atomic(out / "test_predictions.csv",
                         multilabel_predictions_frame(probs, te["labels"], te["index"], classes, glob, test_table))
    return test


def multilabel_macro_auroc(pred: Any, classes: Sequence[str]) -> float:
    """Macro AUROC of a multi-label predictions frame (NaN when there is none)."""
    if pred is None or not len(pred):
        return float("nan")
    Y = pred[list(classes)].to_numpy(dtype=int)
    P = pred[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    return float(multilabel_summary(Y, P, list(classes))["macro_auroc"])


def multilabel_summary_fields(history: list[dict[str, Any]], best_epoch: int, test: dict[str, Any] | None,
                              info: dict[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` adds for a multi-label run: task, labels, temperatures, best validation and test metrics."""
    best = next((r for r in history if int(r["epoch"]) == best_epoch), {})
    out: dict[str, Any] = {"task": "multilabel", "labels": list(info.get("classes", [])),
                           "temperatures": list(info.get("temperatures", [])),
                           "thresholds": info.get("thresholds")}
    for k in ("macro_auroc", "micro_auroc", "macro_f1", "hamming_loss", "subset_accuracy"):
        out[f"best_val_{k}"] = best.get(f"val_{k}")
    for k in TEST_KEYS:
        out[f"test_{k}"] = test[k] if test else None
    return out
