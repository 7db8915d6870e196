"""The one progress default: a bar on a terminal and in a notebook, a few plain lines otherwise.

``progress_bar(...)`` takes tqdm's arguments and returns tqdm's own bar (``tqdm.auto``: the widget in Jupyter, the
text bar on a terminal) when someone watches the output live; when the output goes to a file, a pipe or a CI log,
it returns a :class:`LineProgress` instead, which writes one line when the work ends (``sort: done 1000/1000 img
(100%), 48.2 s``) and, for work that takes a while (:data:`SLOW_S`), one at every :data:`LINE_EVERY` of it: never
the carriage returns and escape codes of a bar. ``AUXILIARY_PROGRESS`` forces either (``bar`` or ``lines``); ``disable=True`` silences both.

Written by hand because tqdm has no line mode: its ``disable=None`` turns a bar off entirely when the output is
not a terminal, and its ``mininterval`` only slows the redraws a log still receives.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm.auto import tqdm

#: Lines a :class:`LineProgress` writes before its last: one per 25 % of the work...
LINE_EVERY = 0.25
#: ...once the work has run this many seconds (quick work gets its one closing line only).
SLOW_S = 10.0


def interactive(stream: Any = None) -> bool:
    """True when a person watches ``stream`` (default stderr) live: a terminal, or a Jupyter kernel."""
    mode = os.environ.get("AUXILIARY_PROGRESS", "").strip().lower()
    if mode in ("bar", "lines"):
        return mode == "bar"
    if "ipykernel" in sys.modules:  # a notebook (papermill keeps the bar's last state in the output)
        return True
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """A progress report for logs, with the part of tqdm's interface the package uses (iterate, ``update``,
    ``set_postfix``, ``close``, context manager)."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", disable: bool = False, file: Any = None, **_: Any):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc, self.unit, self.disable = desc or "progress", unit, disable
        self.file = file
        self.n = 0
        self.postfix = ""
        self.start = time.perf_counter()
        self.next_line = LINE_EVERY
        self.closed = False

    def _line(self, what: str) -> None:
        if self.disable:
            return
        done = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {what} {done}{pct}, {time.perf_counter() - self.start:.1f} s{extra}",
              file=self.file if self.file is not None else sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if self.total and self.n < self.total and self.n / self.total >= self.next_line:
            while self.n / self.total >= self.next_line:
                self.next_line += LINE_EVERY
            if time.perf_counter() - self.start >= SLOW_S:
                self._line("at")

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line("done")

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable or ():
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """tqdm's bar where someone watches (:func:`interactive`), else a :class:`LineProgress`; tqdm's arguments."""
    if interactive(kwargs.get("file")):
        return tqdm(iterable, **kwargs)
    return LineProgress(iterable, **kwargs)
