"""The reports of a sort: predictions.csv and rejected.csv streamed from the journal, and the accounting summary that checks every input is accounted for.

``predictions.csv`` has one row per input, in the columns of the sort's task
(:meth:`~auxiliary.tasks.task.Task.sort_columns`). Single-label: ``predicted``, ``prob_<class>``, ``top_prob``,
``margin``, ``prediction_set`` and the ``threshold``. Multi-label
(:class:`~auxiliary.tasks.placement.LabelSort`): ``predicted`` (the positive labels, ``|``-joined, or ``none``),
``prob_<label>``, ``pred_<label>`` (0/1), ``threshold_<label>`` (the threshold used for that row),
``margin``, ``uncertain`` (the labels too close to their threshold) and ``tone_group_est``; ``destination``
and ``folder`` list every label folder the image was copied into. ``counts`` in the summary count files
per folder (a two-label image counts in both) and ``decisions`` count inputs (sorted, low_confidence,
rejected), so ``sum(decisions) == n_inputs`` for either task.

Both files are streamed row by row through :func:`auxiliary.base.files.neutralise` (header included), since a
reviewer opens them in a spreadsheet and a class, folder or file name such as ``=1+1`` would run there; the
readers here (:func:`read_sort_predictions`, :attr:`SortResult.rejected`) give back the names as they were.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.files import CSV_LINE_END, atomic_write, neutralise, read_csv
from auxiliary.inference.journal import SortJournal, record_destinations, record_folders
from auxiliary.tasks.placement import LOW_CONFIDENCE
from auxiliary.tasks.task import Task


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
        return read_csv(self.out_dir / "rejected.csv", keep_default_na=False)

    def __repr__(self) -> str:  # pragma: no cover - display only
        s = self.summary
        return f"SortResult({self.out_dir}, inputs={s.get('n_inputs')}, counts={s.get('counts')})"


def read_sort_predictions(out_dir: str | Path) -> pd.DataFrame:
    """``OUT/predictions.csv`` with ``destination`` kept relative to OUT, empty strings kept and names as they were
    before :func:`safe_row` kept a spreadsheet from running them."""
    df = read_csv(Path(out_dir) / "predictions.csv", keep_default_na=False, na_values={"top_prob": [""]})
    for c in df.columns:
        if c.startswith(("prob_", "threshold_")) or c in ("top_prob", "margin"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        elif c.startswith("pred_"):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df


def _number(cell: Any) -> bool:
    """A cell that reads as a number (``-0.25``: a negative margin is a value, not a formula)."""
    try:
        float(cell)
    except (TypeError, ValueError):
        return False
    return True


def safe_row(row: list[Any]) -> list[Any]:
    r"""A row of predictions.csv / rejected.csv with every text cell a spreadsheet would run as a formula
    :func:`~auxiliary.base.files.neutralise`\ d; numbers (``csv_number``'s text) are left as they are."""
    return [c if _number(c) else neutralise(c) for c in row]


def write_sort_reports(out: Path, journal: SortJournal, classes: list[str], folders: dict[str, str],
                       run_keys: set[str], model_id: str, rule: str, threshold: float | None,
                       task: Task) -> dict[str, Any]:
    """predictions.csv / rejected.csv from the journal (streamed), in the columns of ``task``, and the
    accounting summary (the folders counted: one per class and the task's :attr:`~Task.sort_folders`)."""
    cols = task.sort_columns(classes)
    places = [*folders.values(), *task.sort_folders]
    counts: dict[str, int] = dict.fromkeys(places, 0) | {"rejected": 0}
    decided: dict[str, int] = {"sorted": 0, LOW_CONFIDENCE: 0, "rejected": 0}
    referenced: set[str] = set()
    n_rows = n_dup = 0
    missing_dest = 0
    with atomic_write(out / "predictions.csv") as pred_tmp, atomic_write(out / "rejected.csv") as rej_tmp, \
            open(pred_tmp, "w", newline="", encoding="utf-8") as fp, open(rej_tmp, "w", newline="", encoding="utf-8") as fr:
        wp, wr = csv.writer(fp, lineterminator=CSV_LINE_END), csv.writer(fr, lineterminator=CSV_LINE_END)
        wp.writerow(safe_row(cols))
        wr.writerow(safe_row(["source", "reason", "sha256"]))
        for rec in journal.records():
            n_rows += 1
            wp.writerow(safe_row(task.sort_row(rec, len(classes))))
            decided[rec["decision"]] = decided.get(rec["decision"], 0) + 1
            if rec["decision"] == "rejected":
                counts["rejected"] += 1
                wr.writerow(safe_row([rec["source"], rec["reason"], rec["sha256"]]))
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
        "accounted_for_all": bool(accounted), "task": task.name,
    }
    return summary
