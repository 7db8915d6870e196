"""The reports of a sort: predictions.csv and rejected.csv streamed from the journal, and the accounting summary that checks every input is accounted for.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.evaluation.conformal import Conformal
from auxiliary.files import atomic_write
from auxiliary.inference.journal import SortJournal

#: the folder of images whose top probability is under the threshold
LOW_CONFIDENCE = "low_confidence"


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
        if c.startswith("prob_") or c in ("top_prob", "margin"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def write_sort_reports(out: Path, journal: SortJournal, classes: list[str], folders: dict[str, str],
                   run_keys: set[str], model_id: str, rule: str, threshold: float | None,
                   conformal: Conformal | None) -> dict[str, Any]:
    """predictions.csv / rejected.csv from the journal (streamed) and the accounting summary."""
    prob_cols = [f"prob_{c}" for c in classes]
    cols = ["source", "destination", "decision", "folder", "predicted", *prob_cols, "top_prob", "margin",
            "prediction_set", "duplicate_of", "reason", "model", "threshold", "rule", "sha256"]
    counts: dict[str, int] = {folders[c]: 0 for c in classes} | {LOW_CONFIDENCE: 0, "rejected": 0}
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
            probs = rec["probs"]
            wp.writerow([rec["source"], rec["destination"], rec["decision"], rec["folder"], rec["predicted"],
                         *["" if (v is None or (isinstance(v, float) and math.isnan(v))) else f"{v:.6f}" for v in probs],
                         "" if math.isnan(rec["top_prob"]) else f"{rec['top_prob']:.6f}",
                         "" if math.isnan(rec["margin"]) else f"{rec['margin']:.6f}",
                         "|".join(rec["prediction_set"]), rec["duplicate_of"], rec["reason"], rec["model"],
                         "" if rec["threshold"] is None else rec["threshold"], rec["rule"], rec["sha256"]])
            if rec["decision"] == "rejected":
                counts["rejected"] += 1
                wr.writerow([rec["source"], rec["reason"], rec["sha256"]])
            else:
                counts[rec["folder"]] = counts.get(rec["folder"], 0) + 1
                referenced.add(rec["destination"])
                n_dup += int(bool(rec["duplicate_of"]))
                missing_dest += int(not (out / rec["destination"]).is_file())
    files: dict[str, int] = {}
    unaccounted: list[str] = []
    for folder in [*folders.values(), LOW_CONFIDENCE]:
        d = out / folder
        names = [p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")] if d.is_dir() else []
        files[folder] = len(names)
        unaccounted += [p.relative_to(out).as_posix() for p in names if p.relative_to(out).as_posix() not in referenced]
    n_now_done = sum(1 for k in run_keys if k in journal.done)
    accounted = n_now_done == len(run_keys) and missing_dest == 0 and not unaccounted
    summary: dict[str, Any] = {
        "out_dir": str(out), "model": model_id, "rule": rule, "threshold": threshold, "classes": classes,
        "n_inputs": len(run_keys), "n_rows": n_rows, "counts": counts, "files": files,
        "rejected": counts["rejected"], "duplicates": n_dup, "unaccounted_files": unaccounted[:20],
        "accounted_for_all": bool(accounted),
    }
    if conformal is not None:
        summary["conformal"] = conformal.to_dict()
    return summary
