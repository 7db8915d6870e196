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
from auxiliary.base.errors import SortError
from auxiliary.data.balance import class_weights, sampled_class_prior
from auxiliary.data.balance import sample_weights as row_weights
from auxiliary.data.report import DatasetError
from auxiliary.evaluation.arrays import finite_rows, labels_to_index
from auxiliary.evaluation.calibration import fit_temperature, softmax
from auxiliary.evaluation.comparison_table import class_wide, metric_row, metric_rows, prediction_table
from auxiliary.evaluation.metrics import summary_metrics
from auxiliary.evaluation.prior_shift import shift_vector, shifted_decisions
from auxiliary.evaluation.report import class_columns, class_report, class_summary
from auxiliary.tasks.losses import LOSSES, build_criterion
from auxiliary.tasks.placement import ClassSort, csv_number
from auxiliary.tasks.review import class_review_filing, class_review_queue, class_sort_quality
from auxiliary.tasks.task import LOW_CONFIDENCE_TITLE, Task

#: Test metrics of a single-label run (``summary.json``'s ``test``).
TEST_KEYS: tuple[str, ...] = ("acc", "balanced_acc", "macro_f1", "macro_auroc")


class SingleLabel(Task):
    """One class per image (softmax)."""

    name: ClassVar[str] = "single"
    title: ClassVar[str] = "single-label"
    data_phrase: ClassVar[str] = "the data has one class per image"
    losses: ClassVar[tuple[str, ...]] = LOSSES
    mix_losses: ClassVar[tuple[str, ...]] = ("ce",)
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

    def _mixing(self, tcfg: TrainConfig, criterion: nn.Module) -> tuple[float, nn.Module]:
        """Class indices become mixed one-hot targets with the run's label smoothing; torch's cross entropy reads
        such class probabilities as they are (no second smoothing)."""
        return float(tcfg.label_smoothing), nn.CrossEntropyLoss()

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
        """The argmax, or with a stored ``operating_point`` ``argmax(log p + shift)``
        (:mod:`auxiliary.evaluation.prior_shift`)."""
        p = np.asarray(probs, dtype=np.float64)
        if not p.size:
            return np.zeros(p.shape[:-1], dtype=int)
        return shifted_decisions(p, shift_vector(calibration.get("operating_point"), classes))

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

    def sort_quality(self, predictions: pd.DataFrame, truth: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
        """Accuracy of the images sorted into class folders and of all readable images, and how many mistakes the
        low-confidence folder caught (:func:`auxiliary.tasks.review.class_sort_quality`)."""
        return class_sort_quality(predictions, truth, classes)

    def review_queue(self, predictions: pd.DataFrame, truth: pd.DataFrame | None, classes: Sequence[str], *,
                     order: str = "margin", include_mistakes: bool = True) -> pd.DataFrame:
        """Every ``low_confidence`` image and, with ``truth``, the confident mistakes, by ``margin`` or ``entropy``
        (:func:`auxiliary.tasks.review.class_review_queue`)."""
        return class_review_queue(predictions, truth, classes, order=order, include_mistakes=include_mistakes)

    def review_filing(self, row: Mapping[str, Any], classes: Sequence[str]) -> tuple[str, str, dict[str, float]] | None:
        """The true class (``label``), the model's class, its probabilities."""
        return class_review_filing(row, classes)

    def uncertainty(self, probs: np.ndarray, calibration: Mapping[str, Any], classes: Sequence[str]) -> np.ndarray:
        """One minus the gap between the two most probable classes."""
        p = np.asarray(probs, dtype=np.float64)
        top2 = -np.sort(-p, axis=1)[:, :2] if p.shape[1] > 1 else np.c_[p, np.zeros(len(p))]
        return 1.0 - (top2[:, 0] - top2[:, 1])

    def test_line(self, summary: Mapping[str, Any]) -> str:
        if summary.get("test_balanced_acc") is None:
            return ""
        return (f"; test balanced accuracy {summary['test_balanced_acc']:.3f}, macro AUROC "
                f"{summary['test_macro_auroc']:.3f}")


    # ------------------------------------------------------------------ inference: ONNX, sorting, the web demo
    probability_view: ClassVar[str] = "classes"

    def outputs_line(self, meta: Mapping[str, Any]) -> str:
        return f"classes: {meta.get('classes')}; img_size {meta.get('img_size')}; temperature {meta.get('temperature')}"

    def sort_rule(self, calibration: Mapping[str, Any], classes: Sequence[str], conf: float, *,
                  coverage: float | None = None, tone_thresholds: bool = False) -> ClassSort:
        """Each image into its top class's folder when confident (top probability >= ``conf``, or with ``coverage``
        a conformal prediction set of exactly that class), else into ``low_confidence/``."""
        if tone_thresholds:
            raise SortError("--tone-thresholds is for multi-label models; this checkpoint is single-label")
        rule = ClassSort([str(c) for c in classes], float(conf), coverage,
                         shift=shift_vector(calibration.get("operating_point"), classes))
        rule.check_folders("class", self.sort_folders)
        return rule

    def sort_columns(self, classes: Sequence[str]) -> list[str]:
        return ["source", "destination", "decision", "folder", "predicted", *[f"prob_{c}" for c in classes], "top_prob",
                "margin", "prediction_set", "duplicate_of", "reason", "model", "threshold", "rule", "sha256"]

    def sort_row(self, rec: Mapping[str, Any], n_classes: int) -> list[Any]:
        return [rec["source"], rec["destination"], rec["decision"], rec["folder"], rec["predicted"],
                *[csv_number(v) for v in rec["probs"]], csv_number(rec["top_prob"]), csv_number(rec["margin"]),
                "|".join(rec["prediction_set"]), rec["duplicate_of"], rec["reason"], rec["model"],
                "" if rec["threshold"] is None else rec["threshold"], rec["rule"], rec["sha256"]]

    def analysis(self, probs: Mapping[str, float], calibration: Mapping[str, Any], classes: Sequence[str],
                 conf: float) -> dict[str, Any]:
        """The classes most likely first; the decided class (``top``: the most likely, or the operating point's, see
        :meth:`decide`); low confidence when its probability is under ``conf``."""
        order = sorted(probs, key=probs.get, reverse=True)
        top = str(classes[int(self.decide(np.array([float(probs[str(c)]) for c in classes]), calibration, classes))])
        top_prob = float(probs[top])
        low = bool(top_prob < conf)
        word = "most likely" if top == order[0] else "decided at the checkpoint's operating point"
        if low:
            detail = (f"The {word} class “{top}” has only {top_prob:.0%} calibrated probability, below the "
                      f"review threshold of {conf:.0%}: the model is unsure, a person should look at this image.")
            message, banner = f"{LOW_CONFIDENCE_TITLE}. {detail}", ("low", f"⚠ {LOW_CONFIDENCE_TITLE}", detail)
        elif top == order[0]:
            detail = f"“{top}” with {top_prob:.0%} calibrated probability (review threshold {conf:.0%})."
            message, banner = f"Most likely {detail}", ("ok", f"Most likely: {top} ({top_prob:.0%})", detail)
        else:
            detail = (f"“{top}” with {top_prob:.0%} calibrated probability, decided at the checkpoint's operating point "
                      f"(the most probable class is “{order[0]}”; review threshold {conf:.0%}).")
            message, banner = f"Decided: {detail}", ("ok", f"Decided: {top} ({top_prob:.0%})", detail)
        return {"probs": {c: float(probs[c]) for c in order}, "top": top, "top_prob": top_prob, "low_confidence": low,
                "detail": detail, "message": message, "banner": banner}

    def card_lines(self, calibration: Mapping[str, Any], conf: float) -> list[str]:
        return [
            f"**Model:** `{calibration['model_name']}` · classes: {', '.join(map(str, calibration['classes']))} · "
            f"input {calibration['img_size']} px · calibration temperature {float(calibration.get('temperature', 1.0)):.2f}",
            "",
            f"**Review threshold:** images whose top calibrated probability is below **{conf:.0%}** are flagged for "
            "review.",
            "",
            *self._operating_point_lines(calibration),
        ]

    @staticmethod
    def _operating_point_lines(calibration: Mapping[str, Any]) -> list[str]:
        op = calibration.get("operating_point") or {}
        if not op.get("shift"):
            return []
        floors = ", ".join(f"{c} recall >= {r:g}" for c, r in op.get("min_recall", {}).items()) or "no recall floor"
        return [f"**Operating point:** classes are decided with per-class shifts fitted out of fold on the training "
                f"data ({floors}; out-of-fold balanced accuracy {float(op.get('balanced_acc', float('nan'))):.2f}), "
                "not by the plain top probability.", ""]

    # ------------------------------------------------------------------ evaluation: evaluate, compare, select
    comparison_metrics: ClassVar[tuple[str, ...]] = ("balanced_accuracy", "macro_f1", "macro_auroc", "ece")

    def truths(self, table: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        return labels_to_index(table["label"].astype(str).tolist(), classes)

    def prediction_arrays(self, predictions: pd.DataFrame, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        y = labels_to_index(predictions["label"].astype(str).tolist(), classes, unknown="minus_one")
        probs = predictions[[f"prob_{c}" for c in classes]].apply(pd.to_numeric, errors="coerce")
        return y, probs.to_numpy(dtype=np.float64)

    def refit(self, logits: np.ndarray, truths: np.ndarray) -> dict[str, Any]:
        """``temperature``: the one temperature of minimum validation NLL."""
        z, y = np.asarray(logits, dtype=np.float64), np.asarray(truths)
        ok = finite_rows(z) & (y >= 0)
        return {"temperature": fit_temperature(z[ok], y[ok])}

    def evaluate(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str], eval_cfg: Any, *,
                 calibration: Mapping[str, Any], groups: Any = None, val: tuple[Any, Any, Any] | None = None,
                 val_name: str | None = None, uncalibrated: np.ndarray | None = None,
                 tta: np.ndarray | None = None) -> dict[str, Any]:
        """:func:`auxiliary.evaluation.report.class_report`: variants ``calibrated``, ``uncalibrated``,
        ``calibrated+tta``; per-group thresholds on P(positive classes) fitted on ``val``."""
        return class_report(truths, probs, list(classes), eval_cfg, temperature=float(calibration.get("temperature", 1.0)),
                            groups=groups, val=val, uncalibrated=uncalibrated, tta=tta,
                            operating_point=calibration.get("operating_point"))

    def evaluation_summary(self, report: Mapping[str, Any]) -> dict[str, Any]:
        return class_summary(dict(report))

    def prediction_columns(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                           report: Mapping[str, Any]) -> pd.DataFrame:
        """``prob_<class>...`` and ``pred`` (the top class, or the class decided at the checkpoint's operating point)."""
        op = report.get("operating_point")
        return class_columns(probs, classes, op if op and op.get("shift") else None)

    def comparison_rows(self, model: str, split: str, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                        calibration: Mapping[str, Any], groups: Sequence[Any] | None, fairness_col: str,
                        eval_cfg: Any) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """:func:`auxiliary.evaluation.comparison_table.metric_rows` and the model's ``temperature``."""
        rows, worst = metric_rows(model, split, truths, probs, classes, groups, fairness_col, eval_cfg.min_group_size,
                                  eval_cfg.ece_bins)
        metric_row(rows, model, split, "all", "temperature", float(calibration.get("temperature", 1.0)))
        return rows, worst

    def comparison_predictions(self, table: pd.DataFrame, truths: np.ndarray, probs: np.ndarray,
                               classes: Sequence[str], calibration: Mapping[str, Any],
                               fairness_col: str) -> pd.DataFrame:
        """:func:`auxiliary.evaluation.comparison_table.prediction_table` (pred, conf, correct: what the error
        galleries rank)."""
        return prediction_table(table, probs, list(classes), fairness_col)

    def comparison_wide(self, table: pd.DataFrame, group: str = "all", label: str | None = None) -> pd.DataFrame:
        return class_wide(table, group)

    def selection_columns(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                          calibration: Mapping[str, Any], n_bins: int) -> dict[str, Any]:
        m = summary_metrics(truths, probs, list(classes), n_bins=n_bins)
        return {"val_balanced_acc": m["balanced_accuracy"], "val_macro_auroc": m["macro_auroc"], "val_ece": m["ece"],
                "val_macro_f1": m["macro_f1"], "val_acc": m["accuracy"], "val_log_loss": m["log_loss"],
                "n_val": int((np.asarray(truths) >= 0).sum())}

    def split_metrics(self, table: pd.DataFrame, probs: np.ndarray, classes: Sequence[str],
                      calibration: Mapping[str, Any]) -> dict[str, float]:
        """:func:`auxiliary.evaluation.metrics.summary_metrics` (accuracy, balanced accuracy, macro-F1, AUROC, ECE,
        log-loss); a label the model does not know counts as a mistake."""
        y = labels_to_index(table["label"].astype(str).tolist(), classes, unknown="minus_one")
        return summary_metrics(y, probs, list(classes))

def probability_metrics(labels: np.ndarray, probs: np.ndarray, n_classes: int) -> dict[str, float]:
    """acc, balanced_acc, macro_f1 and macro_auroc of class probabilities, computed by
    :func:`auxiliary.evaluation.metrics.summary_metrics` (the names of a run's ``metrics.csv``)."""
    if len(labels) == 0:
        return {"acc": math.nan, "balanced_acc": math.nan, "macro_f1": math.nan, "macro_auroc": math.nan}
    m = summary_metrics(labels, probs, [str(k) for k in range(n_classes)])
    return {"acc": m["accuracy"], "balanced_acc": m["balanced_accuracy"], "macro_f1": m["macro_f1"],
            "macro_auroc": m["macro_auroc"]}
