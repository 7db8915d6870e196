"""Several labels per image: one sigmoid per label, per-label temperatures, per-label (and per tone group) thresholds.

A multi-label run (split ``classes.json`` task ``multilabel``, or ``train.task``) trains one sigmoid per label
(``classes`` are the labels) with ``bce``, ``asymmetric`` or ``focal_bce`` (:mod:`auxiliary.tasks.losses`) and a
per-label ``pos_weight``. Its run folder holds, besides what every run holds (:mod:`auxiliary.training.runs`):

* ``best.pt`` with ``task: "multilabel"``, ``temperatures`` (one per label, fitted on the validation logits by
  :func:`auxiliary.evaluation.calibration.fit_label_temperatures`; ``temperature`` stays 1.0) and
  ``thresholds`` = :func:`auxiliary.evaluation.thresholds.thresholds_to_dict` of the per-label and
  per (tone group, label) thresholds fitted on the calibrated validation probabilities
  (:func:`~auxiliary.evaluation.thresholds.fit_label_group_thresholds`, groups = ``tone_group``);
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
from auxiliary.base.errors import AuxiliaryError, SortError
from auxiliary.data.balance import expected_shares, label_sample_weights
from auxiliary.data.labels import NO_LABEL, SEP, label_matrix
from auxiliary.evaluation.calibration import fit_label_temperatures, label_calibration, sigmoid
from auxiliary.evaluation.comparison_table import multilabel_metric_rows, multilabel_wide
from auxiliary.evaluation.metrics import multilabel_summary
from auxiliary.evaluation.report import label_columns, label_report, label_summary
from auxiliary.evaluation.thresholds import (
    LabelThresholds,
    decisions,
    fit_label_group_thresholds,
    thresholds_from_dict,
    thresholds_to_dict,
)
from auxiliary.tasks.losses import MULTILABEL_LOSSES, build_criterion, pos_weights
from auxiliary.tasks.placement import (
    LOW_CONFIDENCE,
    LabelSort,
    band_width,
    csv_number,
    label_margins,
    uncertain,
)
from auxiliary.tasks.review import label_review_filing, label_review_queue, label_sort_quality
from auxiliary.tasks.task import LOW_CONFIDENCE_TITLE, NO_CONDITION, Task

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
    data_phrase: ClassVar[str] = "the data is multi-label (one sigmoid per label)"
    losses: ClassVar[tuple[str, ...]] = MULTILABEL_LOSSES
    mix_losses: ClassVar[tuple[str, ...]] = ("bce",)
    mix_label_rows: ClassVar[bool] = True
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

    def _mixing(self, tcfg: TrainConfig, criterion: nn.Module) -> tuple[float, nn.Module]:
        """0/1 label rows are mixed as they are (no smoothing); binary cross entropy reads the mixed values."""
        return 0.0, criterion

    def targets(self, table: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        return label_matrix(table, classes).astype(np.float32)

    def sample_weights(self, table: pd.DataFrame, classes: Sequence[str], balance: str) -> np.ndarray | None:
        """Per-row weights of the balanced sampler under ``balance`` (``None``: plain shuffling)."""
        return label_sample_weights(table, classes, balance)

    def target_tensor(self, labels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(labels, dtype=np.float32))

    def correct(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The share of right (image, label) decisions at probability 0.5, summed over the batch's images."""
        return ((logits > 0) == (target > 0.5)).float().mean(1).sum()

    def pass_metrics(self, labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
        """macro_auroc, micro_auroc, macro_ap, macro_f1, micro_f1 (at probability 0.5), hamming_loss and
        subset_accuracy of (N, L) ``logits`` (sigmoid first) against 0/1 ``labels``
        (:func:`auxiliary.evaluation.metrics.multilabel_summary`), plus ``acc`` = 1 - hamming_loss."""
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

    def sort_quality(self, predictions: pd.DataFrame, truth: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
        """Per label precision, recall and F1 of the sorted and of all readable images, exact matches, and the wrong
        images the low-confidence folder caught (:func:`auxiliary.tasks.review.label_sort_quality`)."""
        return label_sort_quality(predictions, truth, classes)

    def review_queue(self, predictions: pd.DataFrame, truth: pd.DataFrame | None, classes: Sequence[str], *,
                     order: str = "margin", include_mistakes: bool = True) -> pd.DataFrame:
        """Every ``low_confidence`` image and, with ``truth``, the sorted images with a wrong label, smallest margin
        to a threshold first (:func:`auxiliary.tasks.review.label_review_queue`)."""
        return label_review_queue(predictions, truth, classes, order=order, include_mistakes=include_mistakes)

    def review_filing(self, row: Mapping[str, Any], classes: Sequence[str]) -> tuple[str, str, dict[str, float]] | None:
        """The true label set's folder (``acne+wrinkles``, ``none``), the model's, the per-label probabilities."""
        return label_review_filing(row, classes)

    def uncertainty(self, probs: np.ndarray, calibration: Mapping[str, Any], classes: Sequence[str]) -> np.ndarray:
        """One minus the smallest distance of a label to its threshold (as a share of the way to 0 or 1)."""
        p = np.asarray(probs, dtype=np.float64)
        t = self.threshold_rows(calibration, classes, len(p))
        m = np.where(np.isnan(p), np.inf, label_margins(p, t)).min(axis=1) if p.size else np.zeros(len(p))
        return np.where(np.isfinite(m), 1.0 - m, np.nan)

    def test_line(self, summary: Mapping[str, Any]) -> str:
        if summary.get("test_macro_auroc") is None:
            return ""
        return (f"; test macro AUROC {summary['test_macro_auroc']:.3f}, macro F1 {summary['test_macro_f1']:.3f} "
                "(at the validation thresholds)")

    def run_files(self, calibration: Mapping[str, Any], classes: Sequence[str]) -> dict[str, Any]:
        """``thresholds.json``: the checkpoint's thresholds, its labels and temperatures."""
        return {"thresholds.json": {**dict(calibration.get("thresholds") or {}), "labels": list(classes),
                                    "temperatures": list(calibration.get("temperatures", []))}}


    # ------------------------------------------------------------------ inference: ONNX, sorting, the web demo
    sort_folders: ClassVar[tuple[str, ...]] = (NO_LABEL, LOW_CONFIDENCE)
    one_class_per_image: ClassVar[bool] = False
    probability_view: ClassVar[str] = "label_bars"

    def onnx_metadata(self, calibration: Mapping[str, Any], classes: Sequence[str]) -> dict[str, Any]:
        """``task``, ``temperatures`` (one per label, 1 where none is recorded), ``thresholds`` and ``output``."""
        temps = calibration.get("temperatures")
        return {"task": self.name,
                "temperatures": [float(t) for t in temps] if temps is not None else [1.0] * len(classes),
                "thresholds": dict(calibration.get("thresholds") or {}),
                "output": f"logits: float32 (N, {len(classes)}), one logit per label; probabilities = "
                          "sigmoid(logits[:, j] / temperatures[j]); label j is present when its probability reaches "
                          "thresholds['global'][label] (0.5 where none is recorded)"}

    def outputs_line(self, meta: Mapping[str, Any]) -> str:
        return (f"multi-label: labels {meta.get('classes')}; img_size {meta.get('img_size')}; per-label temperatures "
                f"{meta.get('temperatures')}; probabilities are per-label sigmoids (parity checked on them)")

    def sort_rule(self, calibration: Mapping[str, Any], classes: Sequence[str], conf: float, *,
                  coverage: float | None = None, tone_thresholds: bool = False) -> LabelSort:
        """Each image into every label folder it is positive for, ``none/`` without any, ``low_confidence/``
        instead when a label lies in the ``conf`` band around its threshold (see :class:`LabelSort`)."""
        if coverage is not None:
            raise SortError("conformal sets (--coverage / sort.coverage) are for single-label models; a multi-label "
                            "model sorts by its per-label thresholds and --conf")
        rule = LabelSort([str(c) for c in classes], float(conf), None, bool(tone_thresholds), calibration=calibration,
                         task=self)
        rule.check_folders("label", self.sort_folders)
        self.thresholds(calibration, classes)  # a malformed thresholds entry is one line now, not mid-run
        return rule

    def sort_columns(self, classes: Sequence[str]) -> list[str]:
        return ["source", "destination", "decision", "folder", "predicted", *[f"prob_{c}" for c in classes],
                *[f"pred_{c}" for c in classes], *[f"threshold_{c}" for c in classes], "margin", "uncertain",
                "tone_group_est", "duplicate_of", "reason", "model", "rule", "sha256"]

    def sort_row(self, rec: Mapping[str, Any], n_classes: int) -> list[Any]:
        return [rec["source"], rec["destination"], rec["decision"], rec["folder"], rec["predicted"],
                *[csv_number(v) for v in rec["probs"]], *(rec.get("pred") or [""] * n_classes),
                *[csv_number(v) for v in rec.get("thresholds") or [None] * n_classes], csv_number(rec["margin"]),
                "|".join(rec.get("uncertain") or []), rec.get("tone_group_est", ""), rec["duplicate_of"],
                rec["reason"], rec["model"], rec["rule"], rec["sha256"]]

    def analysis(self, probs: Mapping[str, float], calibration: Mapping[str, Any], classes: Sequence[str],
                 conf: float) -> dict[str, Any]:
        """Per label (in label order): ``probs``, ``thresholds`` (the global ones: an upload has no known tone),
        ``present`` (0/1), ``positives``, ``uncertain`` (in the sorting rule's ``conf`` band), ``margin``; ``top``
        is the most probable label (the Grad-CAM target); low confidence when any label is uncertain."""
        labels = [str(c) for c in classes]
        p = np.asarray([float(probs[c]) for c in labels])
        t = self.threshold_rows(calibration, labels, 1)[0]
        present = self.decide(p, calibration, labels)
        unsure = uncertain(p, t, conf)
        positives = [c for c, y in zip(labels, present) if y]
        doubtful = [c for c, u in zip(labels, unsure) if u]
        top = labels[int(np.argmax(p))]
        found = ", ".join(f"{c} ({probs[c]:.0%})" for c in positives)
        if doubtful:
            detail = (f"{', '.join(doubtful)} {'is' if len(doubtful) == 1 else 'are'} too close to the threshold to "
                      f"call (within {band_width(conf):.0%} of the way to 0 or 1): a person should look at this image."
                      + (f" Above threshold: {found}." if positives else ""))
            banner = ("low", f"⚠ {LOW_CONFIDENCE_TITLE}", detail)
        elif positives:
            detail = f"Present: {found}; every other label is below its threshold."
            banner = ("ok", "Found: " + ", ".join(positives), detail)
        else:
            detail = "Every label is below its threshold."
            banner = ("ok", NO_CONDITION, detail)
        return {
            "task": self.name, "probs": {c: float(v) for c, v in zip(labels, p)},
            "thresholds": {c: float(v) for c, v in zip(labels, t)}, "present": {c: int(y) for c, y in zip(labels, present)},
            "positives": positives, "uncertain": doubtful, "low_confidence": bool(doubtful),
            "margin": float(np.min(label_margins(p, t))), "top": top, "top_prob": float(probs[top]), "detail": detail,
            "message": f"{banner[1].removeprefix('⚠ ')}. {detail}", "banner": banner,
        }

    def card_lines(self, calibration: Mapping[str, Any], conf: float) -> list[str]:
        """Labels, temperatures, thresholds and the review rule (filing corrections is for single-label models)."""
        labels = [str(c) for c in calibration["classes"]]
        t = self.threshold_rows(calibration, labels, 1)[0]
        temps = calibration.get("temperatures") or [1.0] * len(labels)
        per = ", ".join(f"{c} {v:.2f}" for c, v in zip(labels, t))
        return [
            f"**Model:** `{calibration['model_name']}` · multi-label: {', '.join(labels)} · input "
            f"{calibration['img_size']} px · calibration temperatures {', '.join(f'{float(v):.2f}' for v in temps)}",
            "",
            f"**Thresholds** (per label, fitted on validation): {per}. A label is present at or above its threshold.",
            "",
            f"**Review:** an image is flagged when a label's probability lies within {band_width(conf):.0%} of the way "
            f"from its threshold to 0 or 1 (conf {conf:.0%}). Filing corrections is for single-label models only.",
            "",
        ]

    # ------------------------------------------------------------------ evaluation: evaluate, compare, select
    comparison_metrics: ClassVar[tuple[str, ...]] = (
        "macro_auroc", "macro_average_precision", "macro_f1", "micro_f1", "subset_accuracy", "hamming_loss",
        "macro_ece",
    )

    def truths(self, table: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
        missing = [str(c) for c in classes if c not in table.columns]
        if missing:
            raise AuxiliaryError(f"the data has no 0/1 column for the labels {', '.join(missing)} of this multi-label "
                                 "model (use a multi-label list such as a multi-label split's test.csv)")
        return label_matrix(table, list(classes))

    def prediction_arrays(self, predictions: pd.DataFrame, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        probs = predictions[[f"prob_{c}" for c in classes]].apply(pd.to_numeric, errors="coerce")
        return predictions[list(classes)].to_numpy(dtype=np.int64), probs.to_numpy(dtype=np.float64)

    def refit(self, logits: np.ndarray, truths: np.ndarray) -> dict[str, Any]:
        """``temperatures``: one per label, each of minimum validation binary NLL (the thresholds are fitted by
        :meth:`evaluate` on the probabilities at these temperatures)."""
        return {"temperatures": [float(t) for t in fit_label_temperatures(logits, truths)]}

    def evaluate(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str], eval_cfg: Any, *,
                 calibration: Mapping[str, Any], groups: Any = None, val: tuple[Any, Any, Any] | None = None,
                 val_name: str | None = None, uncalibrated: np.ndarray | None = None,
                 tta: np.ndarray | None = None) -> dict[str, Any]:
        """:func:`auxiliary.evaluation.report.label_report`: at the checkpoint's thresholds, or per label and per
        (group, label) thresholds fitted on ``val``; variants ``global_thresholds``, ``group_thresholds``,
        ``global_thresholds+tta``; per-label calibration before and after the temperatures; the fairness gap."""
        names = [str(c) for c in classes]
        return label_report(truths, probs, names, eval_cfg,
                            thresholds=self.thresholds(calibration, names) if calibration.get("thresholds") else None,
                            temperatures=calibration.get("temperatures") or [1.0] * len(names), groups=groups,
                            val=val, val_name=val_name, uncalibrated=uncalibrated, tta=tta)

    def evaluation_summary(self, report: Mapping[str, Any]) -> dict[str, Any]:
        return {"task": self.name, **label_summary(dict(report))}

    def prediction_columns(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                           report: Mapping[str, Any]) -> pd.DataFrame:
        """The 0/1 truth, ``prob_`` and ``pred_`` (at the report's global thresholds) of each label, and ``pred``."""
        t = report["thresholds"].for_rows(None)
        flags = decisions(probs, t, list(classes))
        return label_columns(truths, probs, list(classes), t, self.prediction_names(flags, classes) if len(flags) else [])

    def gradcam_rows(self, truths: np.ndarray, readable: np.ndarray, n: int) -> list[int] | None:
        """Up to ``n`` readable rows with a true label: first one per label (so each label is shown where it can be),
        then any."""
        Y = np.asarray(truths)
        chosen: list[int] = []
        for j in range(Y.shape[1]):
            cand = [int(i) for i in np.flatnonzero((Y[:, j] == 1) & readable) if int(i) not in chosen]
            if cand and len(chosen) < n:
                chosen.append(cand[0])
        rest = [int(i) for i in np.flatnonzero(Y.any(axis=1) & readable) if int(i) not in chosen]
        return chosen + rest[: max(0, n - len(chosen))]

    def comparison_rows(self, model: str, split: str, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                        calibration: Mapping[str, Any], groups: Sequence[Any] | None, fairness_col: str,
                        eval_cfg: Any) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """:func:`auxiliary.evaluation.comparison_table.multilabel_metric_rows` at the checkpoint's thresholds and
        temperatures (a ``label`` level)."""
        names = [str(c) for c in classes]
        return multilabel_metric_rows(model, split, truths, probs, names, self.thresholds(calibration, names), groups,
                                      fairness_col, eval_cfg,
                                      temperatures=calibration.get("temperatures") or [1.0] * len(names))

    def comparison_predictions(self, table: pd.DataFrame, truths: np.ndarray, probs: np.ndarray,
                               classes: Sequence[str], calibration: Mapping[str, Any],
                               fairness_col: str) -> pd.DataFrame:
        """path, label, the group column, then :meth:`prediction_columns` at the checkpoint's thresholds."""
        names = [str(c) for c in classes]
        base = table[[c for c in ("path", "label", fairness_col) if c in table.columns]].astype(str).reset_index(drop=True)
        cols = self.prediction_columns(truths, probs, names, {"thresholds": self.thresholds(calibration, names)})
        return pd.concat([base, cols], axis=1)

    def comparison_wide(self, table: pd.DataFrame, group: str = "all", label: str | None = None) -> pd.DataFrame:
        """Of one ``label`` (a label, ``macro``, ``micro``, ``all``), or the headline
        (:func:`auxiliary.evaluation.comparison_table.multilabel_wide`)."""
        return multilabel_wide(table, group, label)

    def selection_columns(self, truths: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                          calibration: Mapping[str, Any], n_bins: int) -> dict[str, Any]:
        """``val_macro_auroc`` (mean per-label AUROC), ``val_macro_f1`` (at the run's validation thresholds),
        ``val_acc`` (subset accuracy: every label right), ``val_ece`` (mean per-label ECE), ``val_log_loss`` (mean
        binary cross entropy); ``val_balanced_acc`` has no multi-label meaning and stays NaN."""
        names = [str(c) for c in classes]
        Y, P = np.asarray(truths), np.asarray(probs, dtype=np.float64)
        s = multilabel_summary(Y, P, names, self.thresholds(calibration, names).for_rows(None))
        p = np.clip(P, 1e-7, 1 - 1e-7)
        bce = float(np.mean(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)))) if len(Y) else math.nan
        ece = float(label_calibration(Y, P, names, n_bins=n_bins).loc["macro", "ece"]) if len(Y) else math.nan
        return {"val_balanced_acc": math.nan, "val_macro_auroc": s["macro_auroc"], "val_ece": ece,
                "val_macro_f1": s["macro_f1"], "val_acc": s["subset_accuracy"], "val_log_loss": bce, "n_val": int(len(Y))}

    def split_metrics(self, table: pd.DataFrame, probs: np.ndarray, classes: Sequence[str],
                      calibration: Mapping[str, Any]) -> dict[str, float]:
        """:func:`auxiliary.evaluation.metrics.multilabel_summary` at the checkpoint's thresholds: macro and micro
        AUROC, F1, subset accuracy, Hamming loss."""
        names = [str(c) for c in classes]
        return multilabel_summary(self.truths(table, names), np.asarray(probs, dtype=np.float64), names,
                                  self.thresholds(calibration, names).for_rows(None))

def label_pos_weight(table: pd.DataFrame, labels: Sequence[str], balance: str) -> torch.Tensor:
    """Per-label ``pos_weight`` (negatives / positives) of the label shares the training batches see: those of
    ``table`` with ``data.balance none`` (:func:`~auxiliary.tasks.losses.pos_weights`), those the balanced
    sampler draws otherwise (so that sampling and weighting do not correct the same imbalance twice)."""
    weights = label_sample_weights(table, labels, balance)
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
