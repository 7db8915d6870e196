"""The reports of a sort: predictions.csv and rejected.csv streamed from the journal, and the accounting summary that checks every input is accounted for.

``predictions.csv`` has one row per input. Single-label: ``predicted``, ``prob_<class>``, ``top_prob``,
``margin``, ``prediction_set`` and the ``threshold``. Multi-label (``task="multilabel"``,
:mod:`auxiliary.inference.multilabel_sort`): ``predicted`` (the positive labels, ``|``-joined, or ``none``),
``prob_<label>``, ``pred_<label>`` (0/1), ``threshold_<label>`` (the threshold used for that row),
``margin``, ``uncertain`` (the labels too close to their threshold) and ``tone_group_est``; ``destination``
and ``folder`` list every label folder the image was copied into. ``counts`` in the summary count files
per folder (a two-label image counts in both) and ``decisions`` count inputs (sorted, low_confidence,
rejected), so ``sum(decisions) == n_inputs`` for either task.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.files import atomic_write
from auxiliary.evaluation.conformal import Conformal
from auxiliary.inference.journal import SortJournal, record_destinations, record_folders

#: the folder of images whose top probability is under the threshold
LOW_CONFIDENCE = "low_confidence"


#: the folder of a multi-label sort's images that are positive for no label
NO_LABEL = "none"


@dataclass
class SortResult:
    """What :func:`sort_folder` did; ``summary`` is also written to ``OUT/sort_report.json``."""

    out_dir: Path
    summary: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def predictions(self) -> pd.DataFrame:
        return read_sort_predictions(self.out_dir)

    @property
    def rejected(self) -> pd.DataFrame:
        return pd.read_csv(self.out_dir / "rejected.csv", keep_default_na=False)

    def __repr__(self) -> str:  # pragma: no cover - display only
        s = self.summary
        return f"SortResult({self.out_dir}, inputs={s.get('n_inputs')}, counts={s.get('counts')})"


def read_sort_predictions(out_dir: str | Path) -> pd.DataFrame:
    """``OUT/predictions.csv`` with ``destination`` kept relative to OUT and empty strings kept."""
    df = pd.read_csv(Path(out_dir) / "predictions.csv", keep_default_na=False, na_values={"top_prob": [""]})
    for c in df.columns:
        if c.startswith(("prob_", "threshold_")) or c in ("top_prob", "margin"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        elif c.startswith("pred_"):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df


def _num(v: Any) -> str:
    return "" if (v is None or (isinstance(v, float) and math.isnan(v))) else f"{v:.6f}"


def _columns(classes: list[str], multilabel: bool) -> list[str]:
    if multilabel:
        return ["source", "destination", "decision", "folder", "predicted", *[f"prob_{c}" for c in classes],
                *[f"pred_{c}" for c in classes], *[f"threshold_{c}" for c in classes], "margin", "uncertain",
                "tone_group_est", "duplicate_of", "reason", "model", "rule", "sha256"]
    return ["source", "destination", "decision", "folder", "predicted", *[f"prob_{c}" for c in classes], "top_prob",
            "margin", "prediction_set", "duplicate_of", "reason", "model", "threshold", "rule", "sha256"]


def _row(rec: dict[str, Any], n: int, multilabel: bool) -> list[Any]:
    head = [rec["source"], rec["destination"], rec["decision"], rec["folder"], rec["predicted"],
            *[_num(v) for v in rec["probs"]]]
    tail = [rec["duplicate_of"], rec["reason"], rec["model"]]
    if multilabel:
        pred = rec.get("pred") or [""] * n
        thr = rec.get("thresholds") or [None] * n
        return [*head, *pred, *[_num(v) for v in thr], _num(rec["margin"]), "|".join(rec.get("uncertain") or []),
                rec.get("tone_group_est", ""), *tail, rec["rule"], rec["sha256"]]
    return [*head, _num(rec["top_prob"]), _num(rec["margin"]), "|".join(rec["prediction_set"]), *tail,
            "" if rec["threshold"] is None else rec["threshold"], rec["rule"], rec["sha256"]]


def write_sort_reports(out: Path, journal: SortJournal, classes: list[str], folders: dict[str, str],
                   run_keys: set[str], model_id: str, rule: str, threshold: float | None,
                   conformal: Conformal | None, task: str = "single") -> dict[str, Any]:
    """predictions.csv / rejected.csv from the journal (streamed) and the accounting summary."""
    multilabel = task == "multilabel"
    cols = _columns(classes, multilabel)
    places = [*folders.values(), *([NO_LABEL] if multilabel else []), LOW_CONFIDENCE]
    counts: dict[str, int] = dict.fromkeys(places, 0) | {"rejected": 0}
    decided: dict[str, int] = {"sorted": 0, LOW_CONFIDENCE: 0, "rejected": 0}
    referenced: set[str] = set()
    n_rows = n_dup = 0
    missing_dest = 0
    with atomic_write(out / "predictions.csv") as pred_tmp, atomic_write(out / "rejected.csv") as rej_tmp, \
            open(pred_tmp, "w", newline="", encoding="utf-8") as fp, open(rej_tmp, "w", newline="", encoding="utf-8") as fr:
        wp, wr = csv.writer(fp), csv.writer(fr)
        wp.writerow(cols)
        wr.writerow(["source", "reason", "sha256"])
        for rec in journal.records():
            n_rows += 1
            wp.writerow(_row(rec, len(classes), multilabel))
            decided[rec["decision"]] = decided.get(rec["decision"], 0) + 1
            if rec["decision"] == "rejected":
                counts["rejected"] += 1
                wr.writerow([rec["source"], rec["reason"], rec["sha256"]])
            else:
                for folder in record_folders(rec):
                    counts[folder] = counts.get(folder, 0) + 1
                dests = record_destinations(rec)
                referenced.update(dests)
                n_dup += int(bool(rec["duplicate_of"]))
                missing_dest += sum(int(not (out / d).is_file()) for d in dests) + int(not dests)
    files: dict[str, int] = {}
    unaccounted: list[str] = []
    for folder in places:
        d = out / folder
        names = [p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")] if d.is_dir() else []
        files[folder] = len(names)
        unaccounted += [p.relative_to(out).as_posix() for p in names if p.relative_to(out).as_posix() not in referenced]
    n_now_done = sum(1 for k in run_keys if k in journal.done)
    accounted = n_now_done == len(run_keys) and missing_dest == 0 and not unaccounted
    summary: dict[str, Any] = {
        "out_dir": str(out), "model": model_id, "rule": rule, "threshold": threshold, "classes": classes,
        "n_inputs": len(run_keys), "n_rows": n_rows, "counts": counts, "decisions": decided, "files": files,
        "rejected": counts["rejected"], "duplicates": n_dup, "unaccounted_files": unaccounted[:20],
        "accounted_for_all": bool(accounted), "task": task,
    }
    if conformal is not None:
        summary["conformal"] = conformal.to_dict()
    return summary
