"""``sort --merge``: the finished shards of a sharded sort (:mod:`auxiliary.inference.shards`) gathered into one output.

:func:`merge_shards` checks that shards ``0`` to ``n - 1`` are all there, finished and made with the same
model and rule, then puts every shard's images into ``OUT/<class>/`` and ``OUT/low_confidence/`` (hard links
where the file system allows it: no second copy on disk; else copies), never replacing a file, with the
same rules as one process: an image whose bytes are already in the folder is not placed twice (its row says
``duplicate_of``), a name clash gets the content hash appended. The merge keeps its own journal, so an
interrupted merge is completed by running it again, and running it again adds nothing.

A multi-label sort's shards merge the same way: each image goes into every folder its shard put it in (its
label folders, ``none/`` or ``low_confidence/``), each placed with the rules above.

Accounting: ``--input`` is listed again and every input must appear in exactly one shard; an input in no
shard (added after the shards ran) or in two is reported and the merged ``sort_report.json`` says
``accounted_for_all: false`` (exit code 1 on the command line). Inputs are matched by path: a file changed
after its shard ran is not hashed again here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from auxiliary.base.errors import SortError
from auxiliary.base.files import atomic_copy, safe_name, write_text_atomic
from auxiliary.base.progress import progress_bar
from auxiliary.inference.journal import (
    JOURNAL,
    STATE,
    STATE_DIR,
    RunLock,
    SortJournal,
    journal_records,
    record_destinations,
    with_destinations,
)
from auxiliary.inference.shards import SHARDS_DIR, shard_folders
from auxiliary.inference.sort_report import SortResult, write_sort_reports
from auxiliary.inference.sorter import list_images, place_copy
from auxiliary.tasks import task_named


def link_or_copy(src: str | Path, dest: Path) -> None:
    """A hard link ``dest`` -> ``src`` (atomic, never replaces: ``FileExistsError``), else a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except FileExistsError:
        raise
    except OSError:  # another file system, or no hard links there
        atomic_copy(src, dest)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def finished_shards(out: Path) -> tuple[list[Path], dict[str, Any], dict[str, Any]]:
    """``(shard folders 0..n-1, their common state, shard 0's report)``; a :class:`SortError` in one line
    when a shard is missing or unfinished, or when the shards differ in model or rule."""
    found = shard_folders(out)
    if not found:
        raise SortError(f"nothing to merge: no shard folders under {out / SHARDS_DIR} (sort with --shard i/n first)")
    counts = sorted({n for _, n in found})
    if len(counts) > 1:
        raise SortError(f"{out / SHARDS_DIR} holds shards of different counts ({', '.join(map(str, counts))}); "
                        "keep the shards of one --shard i/n run")
    n = counts[0]
    folders, states, reports = [], [], []
    for i in range(n):
        folder = found.get((i, n))
        state = _read_json(folder / STATE_DIR / STATE) if folder else None
        report = _read_json(folder / "sort_report.json") if folder else None
        if state is None or report is None:
            raise SortError(f"shard {i}/{n} is missing or unfinished (no {out / SHARDS_DIR / f'{i}-of-{n}'}/"
                            f"sort_report.json): run the sort with --shard {i}/{n} first")
        folders.append(folder)
        states.append({k: v for k, v in state.items() if k != "shard"})
        reports.append(report)
    differ = sorted({k for s in states[1:] for k in set(s) | set(states[0]) if s.get(k) != states[0].get(k)})
    if differ:
        raise SortError(f"the shards under {out / SHARDS_DIR} were sorted with different settings "
                        f"({', '.join(differ)} differ): sort every shard with the same checkpoint and options")
    return folders, states[0], reports[0]


def merge_shards(input_dir: str | Path, out_dir: str | Path, *, recursive: bool = False,
                 progress: bool = True) -> SortResult:
    """Gather the finished shards of ``out_dir/shards/`` into ``out_dir`` (see the module docstring)."""
    t0 = time.perf_counter()
    src_root, out = Path(input_dir).expanduser(), Path(out_dir).expanduser()
    if not src_root.is_dir():
        raise SortError(f"--input {src_root} is not a folder: merging lists it again to account for every input")
    folders, state, report = finished_shards(out)
    classes = list(state["classes"])
    names = {c: safe_name(c, default="class") for c in classes}
    merged_state = {**state, "shard": f"merged from {len(folders)} shards"}
    state_dir = out / STATE_DIR
    state_dir.mkdir(exist_ok=True)
    old = _read_json(state_dir / STATE)
    if old is not None and old != merged_state:
        raise SortError(f"{out} already holds a sort made with other settings; merge into the folder the shards "
                        "were sorted for, or start again in a new --out")
    if (state_dir / STATE).exists() and old is None:
        raise SortError(f"{state_dir / STATE} is unreadable; choose a new --out")
    if old is None:
        write_text_atomic(state_dir / STATE, json.dumps(merged_state, indent=2))
    with RunLock(state_dir / "lock"):
        journal = SortJournal(state_dir / JOURNAL)
        owner: dict[str, int] = {}  # input key -> shard
        by_source: dict[str, str] = {}
        twice: list[str] = []
        placed = 0
        try:
            for i, folder in enumerate(progress_bar(folders, desc="merge shards", unit="shard", disable=not progress)):
                shard_journal = folder / STATE_DIR / JOURNAL
                for rec in journal_records(shard_journal) if shard_journal.is_file() else ():
                    key = rec["key"]
                    if key in owner and owner[key] != i:
                        twice.append(rec["source"])
                        continue
                    owner[key] = i
                    by_source[rec["source"]] = key
                    placed += _place(rec, folder, out, journal)
                journal.sync()
        finally:
            journal.close()
    listed = list_images(src_root, recursive=recursive, exclude=[out])
    run_keys = {by_source.get(os.path.abspath(p), f"{os.path.abspath(p)}|in no shard") for p in listed}
    summary = write_sort_reports(out, journal, classes, names, run_keys, state["model"], report.get("rule", ""),
                                 report.get("threshold"), task_named(state.get("task")))
    missing = [p for p in listed if os.path.abspath(p) not in by_source]
    summary.update({
        "checkpoint": report.get("checkpoint"), "input_dir": str(src_root), "shards": len(folders),
        "n_processed": placed, "n_already_done": summary["n_rows"] - placed, "not_in_any_shard": [str(p) for p in missing[:20]], "in_two_shards": twice[:20],
        "accounted_for_all": bool(summary["accounted_for_all"] and not missing and not twice),
        "timing_s": {"total": round(time.perf_counter() - t0, 4)},
    })
    for key in ("conformal", "thresholds"):
        if report.get(key):
            summary[key] = report[key]
    write_text_atomic(out / "sort_report.json", json.dumps(summary, indent=2, default=str))
    return SortResult(out_dir=out, summary=summary, timing={"total": time.perf_counter() - t0})


def _place(rec: dict[str, Any], folder: Path, out: Path, journal: SortJournal) -> int:
    """Put one shard record's image into ``out`` (when not done by an earlier merge); 1 when placed now.
    A multi-label record's image goes into each of its folders."""
    if journal.finished(rec["key"], out):
        return 0
    if rec["decision"] == "rejected":
        journal.add(rec)
        return 1
    sha = rec["sha256"]
    dests, dups = [], []
    for rel in record_destinations(rec):
        target = Path(rel).parts[0]
        dup = journal.copy_in(sha, target, out)
        if dup is not None:
            dests.append(dup)
            dups.append(dup)
            continue
        src = folder / rel
        if not src.is_file():
            raise SortError(f"{src} is listed in its shard's journal but missing: sort that shard again")
        dest, _ = place_copy(src, out / target, Path(rel).name, sha, out, copy=link_or_copy)
        dests.append(dest.relative_to(out).as_posix())
    journal.add(with_destinations(rec, dests, dups))
    return 1
