"""auxiliary.base.layout: the project folders resolve from anywhere; outputs follow AUXILIARY_OUTPUT."""

from __future__ import annotations

from auxiliary.base import layout
from conftest import ROOT


def test_root_found_from_subfolder(monkeypatch):
    monkeypatch.delenv("AUXILIARY_ROOT", raising=False)
    monkeypatch.chdir(ROOT / "notebooks")
    assert layout.project_root() == ROOT


def test_outputs_follow_env(tmp_path, monkeypatch):
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path))
    assert layout.figures_dir() == tmp_path / "figures" and (tmp_path / "figures").is_dir()
    assert layout.runs_dir().parent == tmp_path


def test_new_relative_output_goes_under_output_root(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(out))
    monkeypatch.chdir(tmp_path)
    assert layout.resolve_path("data/feedback") == out / "data" / "feedback"
    (tmp_path / "mine").mkdir()
    assert layout.resolve_path("mine") == (tmp_path / "mine").resolve()
