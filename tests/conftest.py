"""Shared fixtures. Every test writes outputs under a temporary AUXILIARY_OUTPUT, never the checkout's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from data_fixtures import synthetic_split

from auxiliary.faces import runner

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


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need a CUDA GPU: where PyTorch sees none they are skipped, saying so."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU: PyTorch {torch.__version__} sees none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread for the tiny models of the tests: faster than two on a CPU shared with
    other jobs, and deterministic. Steps that set ``threads`` themselves restore this value."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    """Point data/, models/, figures/, runs/ at a per-session temporary folder."""
    out = tmp_path_factory.getbasetemp() / "outputs"
    out.mkdir(exist_ok=True)
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(out))
    monkeypatch.setenv("AUXILIARY_CACHE", str(out / "cache"))
    monkeypatch.setenv("AUXILIARY_ROOT", str(ROOT))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield


@pytest.fixture(scope="session")
def series_output(tmp_path_factory) -> Path:
    """Output root shared by the notebook series run on the smoke profile."""
    out = tmp_path_factory.mktemp("series")
    return out


class SeriesRunner:
    """Runs the notebooks in order, once each per test session, on the smoke profile (with ``parameters``
    on top, e.g. ``TASK="multilabel"`` for the multi-label series)."""

    def __init__(self, out: Path, parameters: dict | None = None):
        self.out = out
        self.parameters = dict(parameters or {})
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
            old = {k: os.environ.get(k) for k in ("AUXILIARY_OUTPUT", "AUXILIARY_CACHE", "AUXILIARY_ROOT", "MPLBACKEND")}
            os.environ.update(AUXILIARY_OUTPUT=str(self.out), AUXILIARY_CACHE=str(self.out / "cache"),
                              AUXILIARY_ROOT=str(ROOT), MPLBACKEND="Agg")
            try:
                # a smoke cell takes seconds: a stuck one fails the test instead of hanging CI
                runner.run_notebook(nb, profile="smoke", parameters=self.parameters or None,
                                    out_dir=self.out / "runs" / "notebooks", cell_timeout=600)
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
def ml_series(tmp_path_factory) -> SeriesRunner:
    """The series on the smoke profile with ``TASK = "multilabel"`` and 36 faces (its own output root)."""
    return SeriesRunner(tmp_path_factory.mktemp("ml_series"), {"TASK": "multilabel", "N_PER_CLASS": 36})


@pytest.fixture(scope="session")
def ham10000() -> Path:
    if not (SHARED_HAM / "HAM10000_metadata.csv").is_file():
        pytest.skip(f"HAM10000 copy not found at {SHARED_HAM}")
    return SHARED_HAM


@pytest.fixture()
def split_dir(tmp_path) -> Path:
    """A split folder of a small synthetic dataset (a test module may define its own ``split_dir``)."""
    return synthetic_split(tmp_path)
