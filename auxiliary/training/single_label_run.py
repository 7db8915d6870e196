"""What a single-label run adds to the loop of :mod:`auxiliary.training.loop`: its epoch row (the columns of
:data:`auxiliary.training.runs.METRIC_COLUMNS`), its console line and its test metrics; the multi-label
counterpart is :mod:`auxiliary.training.multilabel_run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auxiliary.evaluation.calibration import softmax
from auxiliary.evaluation.metrics import summary_metrics
from auxiliary.files import write_csv_atomic
from auxiliary.training.runs import predictions_frame


def epoch_row(epoch: int, phase: str, tr: dict[str, Any], va: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One row of a single-label run's ``logs/metrics.csv`` (:data:`auxiliary.training.runs.METRIC_COLUMNS`)."""
    return {
        "epoch": epoch,
        "phase": phase,
        "lr": tr["lr"],
        "train_loss": tr["loss"],
        "val_loss": va["loss"],
        "train_acc": tr["acc"],
        "val_acc": va["acc"],
        "val_balanced_acc": va["balanced_acc"],
        "val_macro_f1": va["macro_f1"],
        "seconds": seconds,
        "images_per_second": tr["images_per_second"],
    }


def epoch_line(row: dict[str, Any], max_epochs: int, improved: bool) -> str:
    """The console line of one epoch of a single-label run."""
    return (f"epoch {row['epoch']}/{max_epochs} [{row['phase']}] train loss {row['train_loss']:.3f} "
            f"acc {row['train_acc']:.3f} | val loss {row['val_loss']:.3f} bal.acc {row['val_balanced_acc']:.3f} "
            f"F1 {row['val_macro_f1']:.3f} | {row['seconds']:.1f} s, {row['images_per_second']:.0f} img/s"
            + ("  *best*" if improved else ""))


def test_results(te: dict[str, Any], info: dict[str, Any], classes: list[str], test_table: Any, out: Path,
                 write: bool) -> dict[str, Any]:
    """Test metrics (acc, balanced_acc, macro_f1, macro_auroc of the calibrated probabilities, images) of a test
    pass of the best model (``info``: its checkpoint's); writes ``test_predictions.csv`` when ``write`` (rank 0)."""
    probs = softmax(te["logits"], float(info.get("temperature", 1.0)))
    test = {k: te[k] for k in ("acc", "balanced_acc", "macro_f1")}
    test["macro_auroc"] = summary_metrics(te["labels"], probs, classes)["macro_auroc"]
    test["images"] = int(te["images"])
    if write:
        write_csv_atomic(out / "test_predictions.csv",
                         predictions_frame(probs, te["labels"], te["index"], classes, test_table))
    return test


def predictions_macro_auroc(pred: Any, classes: Sequence[str]) -> float:
    """Macro AUROC of a single-label predictions frame (NaN when there is none)."""
    if pred is None or not len(pred):
        return float("nan")
    lab = pred["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    return summary_metrics(lab, pred[[f"prob_{c}" for c in classes]].to_numpy(), list(classes))["macro_auroc"]
