"""The sorting journal and run lock: what a sort has copied, so an interrupted sort resumes and never copies twice.

One JSON record per finished input. A single-label record names its one ``destination`` (and ``folder``); a
multi-label record (:class:`~auxiliary.tasks.placement.LabelSort`) names every file it placed in ``destinations``
(an image positive for two labels is in two label folders), with ``duplicates`` (those that were already
there with the same bytes) and ``folders``; its ``destination``, ``duplicate_of`` and ``folder`` are the
``|``-joined lists, for predictions.csv. :func:`record_destinations` and :func:`record_folders` read both kinds.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auxiliary.base.errors import SortError

STATE_DIR = ".sort"


JOURNAL = "journal.jsonl"


STATE = "state.json"


def record_destinations(rec: dict[str, Any]) -> list[str]:
    """The files (relative to OUT) a journal record placed: ``destinations``, or its one ``destination``."""
    if rec.get("destinations") is not None:
        return [str(d) for d in rec["destinations"]]
    return [rec["destination"]] if rec.get("destination") else []


def record_folders(rec: dict[str, Any]) -> list[str]:
    """The folders under OUT a journal record went to (none for a rejected input)."""
    if rec.get("folders") is not None:
        return [str(f) for f in rec["folders"]]
    return [rec["folder"]] if rec.get("folder") else []


def with_destinations(rec: dict[str, Any], dests: list[str], dups: list[str]) -> dict[str, Any]:
    """``rec`` naming the files it placed (``dests``, of which ``dups`` were already there): a single-label
    record (no ``folders``) keeps one ``destination`` and ``duplicate_of``, a multi-label one gets the lists too."""
    if rec.get("folders") is None:
        return {**rec, "destination": dests[0] if dests else "", "duplicate_of": dups[0] if dups else ""}
    return {**rec, "destinations": list(dests), "duplicates": list(dups), "destination": "|".join(dests),
            "duplicate_of": "|".join(dups)}


class SortJournal:
    """Append-only record of finished inputs; the last record per key wins; torn lines are ignored."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[str, dict[str, Any]] = {}  # key -> small record (status, destinations, sha)
        self.by_sha: dict[tuple[str, str], str] = {}  # (sha, folder) -> destination (copied files only)
        if path.is_file():
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue  # a line torn by a crash
                    self._index(rec)
        torn = False
        if path.is_file() and path.stat().st_size:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
        self.fh = open(path, "a", encoding="utf-8")
        if torn:  # end a line torn by a crash so that the next record starts on its own line
            self.fh.write("\n")

    def _index(self, rec: dict[str, Any]) -> None:
        dests = record_destinations(rec)
        self.done[rec["key"]] = {"decision": rec["decision"], "destinations": dests, "sha256": rec["sha256"]}
        dups = set(rec.get("duplicates") or ([rec["duplicate_of"]] if rec.get("duplicate_of") else []))
        for dest in dests:
            if dest not in dups:
                self.by_sha.setdefault((rec["sha256"], Path(dest).parts[0]), dest)

    def finished(self, key: str, out: Path) -> bool:
        """Whether input ``key`` is done: rejected, or every file its record placed is in ``out``."""
        rec = self.done.get(key)
        if rec is None:
            return False
        return rec["decision"] == "rejected" or bool(rec["destinations"]) and all(
            (out / d).is_file() for d in rec["destinations"])

    def copy_in(self, sha: str, folder: str, out: Path) -> str | None:
        """The file of ``out/folder`` with content ``sha`` that an earlier record placed, when it is still there."""
        dest = self.by_sha.get((sha, folder))
        return dest if dest is not None and (out / dest).is_file() else None

    def add(self, rec: dict[str, Any]) -> None:
        self.fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._index(rec)

    def sync(self) -> None:
        self.fh.flush()
        with contextlib.suppress(OSError):
            os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.sync()
        self.fh.close()

    def records(self) -> Iterator[dict[str, Any]]:
        """Every key's latest record, streamed (two passes over the file, no record kept in memory)."""
        return journal_records(self.path)


def journal_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every key's latest record of the journal file ``path``, streamed; the file is only read."""
    last: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            try:
                last[json.loads(line)["key"]] = i
            except (ValueError, KeyError):
                continue
    wanted = set(last.values())
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i in wanted:
                yield json.loads(line)


class RunLock:
    """One sorting run per output folder at a time (a lock file holding the pid; stale locks are taken over)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _pid_alive(pid):
                    raise SortError(f"another sort (pid {pid}) is writing into {self.path.parent.parent}; "
                                    f"wait for it or delete {self.path} if it is gone") from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return self
        raise SortError(f"cannot lock {self.path}")

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
