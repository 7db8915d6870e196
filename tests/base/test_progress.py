"""auxiliary.base.progress: a bar where someone watches, a few plain lines in a log."""

from __future__ import annotations

import io

from tqdm.auto import tqdm

from auxiliary.base import progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_tqdms_bar_and_a_log_gets_lines(monkeypatch):
    monkeypatch.delenv("AUXILIARY_PROGRESS", raising=False)
    monkeypatch.delitem(__import__("sys").modules, "ipykernel", raising=False)
    bar = progress.progress_bar(range(3), desc="x", file=Tty())
    assert isinstance(bar, tqdm)
    bar.close()
    log = io.StringIO()
    assert list(progress.progress_bar(range(3), desc="sort", unit="img", file=log)) == [0, 1, 2]
    assert log.getvalue().splitlines() == [log.getvalue().splitlines()[0]]  # quick work: its closing line only
    assert log.getvalue().startswith("sort: done 3/3 img (100%)") and "\r" not in log.getvalue()
    monkeypatch.setenv("AUXILIARY_PROGRESS", "bar")
    assert progress.interactive(io.StringIO())


def test_slow_work_also_reports_every_quarter_and_disable_is_silent(monkeypatch):
    monkeypatch.setenv("AUXILIARY_PROGRESS", "lines")
    monkeypatch.setattr(progress, "SLOW_S", 0.0)
    log = io.StringIO()
    with progress.progress_bar(total=8, desc="merge", file=log) as bar:
        for _ in range(8):
            bar.update(1)
            bar.set_postfix(loss="0.1")
    lines = log.getvalue().splitlines()
    assert [line.split(":")[1].split()[0] for line in lines] == ["at", "at", "at", "done"]
    assert lines[-1].endswith("loss=0.1") and "8/8" in lines[-1]
    quiet = io.StringIO()
    list(progress.progress_bar(range(5), disable=True, file=quiet))
    assert quiet.getvalue() == ""
