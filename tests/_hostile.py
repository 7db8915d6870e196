"""Hostile inputs for the tests of issue 28 (imported by tests, not collected): names a spreadsheet would run as a
formula, the check that a CSV on disk holds none of them, and special files (a FIFO) with a bound on the time a
test may block on one.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
from collections.abc import Iterator
from pathlib import Path

#: Class names (folder names), photo names and reviewers a spreadsheet would run (the OWASP "CSV injection" list).
HOSTILE_CLASSES = ("=1+1", "+cmd", "@SUM(A1)", "-2+3")
HOSTILE_REVIEWER = '=HYPERLINK("http://example.invalid","click")'
#: What a cell may not start with (a number such as ``-0.5`` is read as a number, not run: allowed).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def formula_cells(path: Path) -> list[tuple[int, str]]:
    """``(row, cell)`` of every cell of the CSV file ``path`` (its header included), as the ``csv`` module parses
    it, that a spreadsheet would run as a formula."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [(i, cell) for i, row in enumerate(csv.reader(fh)) for cell in row
                if cell.startswith(FORMULA_START) and not _number(cell)]


def assert_safe_csv(path: Path) -> None:
    bad = formula_cells(path)
    assert not bad, f"{path} has cells a spreadsheet would run: {bad[:5]}"


@contextlib.contextmanager
def no_hang(seconds: int = 60) -> Iterator[None]:
    """Fail instead of hanging when the block opens a FIFO (which blocks until a writer comes): SIGALRM interrupts
    the blocked ``open`` in the main thread after ``seconds``."""

    def boom(*_):
        raise TimeoutError(f"blocked for {seconds} s: a FIFO was opened")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def fifo(path: Path) -> Path:
    """A FIFO at ``path`` (its folder made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path
