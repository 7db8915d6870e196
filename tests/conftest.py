"""Shared fixtures. Every test writes outputs under a temporary AUXILIARY_OUTPUT, never the checkout's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auxiliary import runner

ROOT = Path(__file__).resolve().parents[1]
SHARED_HAM = ROOT.parent / "shared" / "data" / "ham10000"

#: The notebook series, in order.
NOTEBOOKS = (
    "01_synthesis",
    "02_data",
    "03_model_selection",
    "04_fine_tuning",
    "05_comparison",
    "06_sorting_feedback",
)


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Point data/, models/, figures/, runs/ at a per-session temporary folder."""
    out = tmp_path_factory.getbasetemp() / "outputs"
    out.mkdir(exist_ok=True)
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(out))
    monkeypatch.setenv("AUXILIARY_ROOT", str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield


@pytest.fixture(scope="session")
def series_output(tmp_path_factory) -> Path:
    """Output root shared by the notebook series run on the smoke profile."""
    out = tmp_path_factory.mktemp("series")
    return out


class SeriesRunner:
    """Runs the notebooks in order, once each per test session, on the smoke profile."""

    def __init__(self, out: Path):
        self.out = out
        self.done: dict[str, dict] = {}
        self.failed: dict[str, str] = {}

    def run(self, name: str) -> dict:

        idx = NOTEBOOKS.index(name)
        for prev in NOTEBOOKS[: idx + 1]:
            if prev in self.failed:
                pytest.fail(f"notebook {prev} failed earlier in this session: {self.failed[prev]}")
            if prev in self.done:
                continue
            nb = ROOT / "notebooks" / f"{prev}.ipynb"
            if not nb.is_file():
                if prev == name:
                    pytest.fail(f"notebook {nb} is missing")
                continue  # a later notebook regenerates what it needs itself
            old = {k: os.environ.get(k) for k in ("AUXILIARY_OUTPUT", "AUXILIARY_ROOT", "MPLBACKEND")}
            os.environ.update(AUXILIARY_OUTPUT=str(self.out), AUXILIARY_ROOT=str(ROOT), MPLBACKEND="Agg")
            try:
                # a smoke cell takes seconds: a stuck one fails the test instead of hanging CI
                runner.run_notebook(nb, profile="smoke", out_dir=self.out / "runs" / "notebooks", cell_timeout=600)
            except runner.NotebookFailed as exc:
                self.failed[prev] = str(exc)
                pytest.fail(str(exc))
            finally:
                for k, v in old.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            res = self.out / "runs" / prev / "results.json"
            if not res.is_file():
                self.failed[prev] = f"{prev} did not record {res}"
                pytest.fail(self.failed[prev])
            self.done[prev] = json.loads(res.read_text())
        return self.done[name]


@pytest.fixture(scope="session")
def series(series_output) -> SeriesRunner:
    return SeriesRunner(series_output)


@pytest.fixture(scope="session")
def ham10000() -> Path:
    if not (SHARED_HAM / "HAM10000_metadata.csv").is_file():
        pytest.skip(f"HAM10000 copy not found at {SHARED_HAM}")
    return SHARED_HAM
