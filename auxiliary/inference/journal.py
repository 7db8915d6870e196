"""The sorting journal and run lock: what a sort has copied, so an interrupted sort resumes and never copies twice.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auxiliary.errors import SortError

STATE_DIR = ".sort"


JOURNAL = "journal.jsonl"


STATE = "state.json"


class SortJournal:
    """Append-only record of finished inputs; the last record per key wins; torn lines are ignored."""

    def __init__(self, path: Path):
        self.path = path
        self.done: dict[str, dict[str, Any]] = {}  # key -> small record (status, destination, sha)
        self.by_sha: dict[str, str] = {}  # sha -> destination (copied files only)
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
        self.done[rec["key"]] = {"decision": rec["decision"], "destination": rec.get("destination", ""),
                                 "sha256": rec["sha256"]}
        if rec.get("destination") and not rec.get("duplicate_of"):
            self.by_sha.setdefault(rec["sha256"], rec["destination"])

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
