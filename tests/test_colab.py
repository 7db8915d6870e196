"""The first cell of every notebook, executed as Colab would (``google.colab`` faked, pip recorded, nothing installed),
and the repository URL written in one place (pyproject.toml) and kept in step everywhere else."""

from __future__ import annotations

import email.message
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from auxiliary.base import layout
from auxiliary.faces import colab

ROOT = Path(__file__).resolve().parents[1]
URL = colab.pyproject_url(ROOT / "pyproject.toml")


def install_cell(notebook: str) -> str:
    data = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    return "".join(colab.first_code_cell(data)["source"])


@pytest.fixture()
def fake_colab(monkeypatch):
    """``google.colab`` (with ``drive.mount``) in sys.modules and every subprocess.run recorded, not run."""
    calls: dict[str, list] = {"run": [], "mount": []}
    google = types.ModuleType("google")
    google_colab = types.ModuleType("google.colab")
    drive = types.ModuleType("google.colab.drive")
    drive.mount = lambda where, **kw: calls["mount"].append(where)
    google.colab, google_colab.drive = google_colab, drive
    for name, mod in (("google", google), ("google.colab", google_colab), ("google.colab.drive", drive)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls["run"].append((list(cmd), kw)))
    monkeypatch.setenv("AUXILIARY_OUTPUT", "/somewhere/else")
    return calls


def test_the_url_is_set_in_pyproject():
    assert URL and URL.startswith("https://")


@pytest.mark.parametrize("notebook", colab.NOTEBOOKS)
def test_on_colab_the_install_cell_removes_opencv_and_installs_the_extras_from_the_recorded_url(notebook, fake_colab):
    source = install_cell(notebook)
    assert "def " not in source  # the notebook stays thin: the logic is colab.colab_setup
    exec(compile(source, f"{notebook}[0]", "exec"), {})
    commands = [cmd for cmd, _ in fake_colab["run"]]
    py = sys.executable
    assert commands == [
        [py, "-m", "pip", "install", "-q", "--no-deps", f"git+{URL}"],
        [py, "-m", "pip", "uninstall", "-y", "-q", "opencv-python", "opencv-contrib-python", "opencv-python-headless"],
        [py, "-m", "pip", "install", "-q", f"auxiliary[notebooks,pretrained,web] @ git+{URL}"],
    ]
    assert [kw.get("check") for _, kw in fake_colab["run"]] == [True, False, True]  # a failed install stops the cell
    assert fake_colab["mount"] == []  # nothing mounted unless asked
    assert str(layout.output_root()) == "/somewhere/else"


def test_drive_true_mounts_google_drive_and_puts_the_outputs_there(fake_colab):
    source = install_cell("04_fine_tuning").replace("DRIVE = False", "DRIVE = True", 1)
    exec(compile(source, "04_fine_tuning[0]", "exec"), {})
    name = URL.rstrip("/").split("/")[-1]
    assert fake_colab["mount"] == ["/content/drive"]
    assert layout.output_root() == Path(f"/content/drive/MyDrive/{name}")
    assert layout.runs_dir(create=False) == Path(f"/content/drive/MyDrive/{name}/runs")


def test_outside_colab_the_cell_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: ran.append(a))
    namespace: dict = {}
    exec(compile(install_cell("01_synthesis"), "01_synthesis[0]", "exec"), namespace)
    assert ran == [] and namespace["DRIVE"] is False
    assert colab.colab_setup(drive=True) == {"colab": False}


def test_the_installed_package_metadata_is_where_colab_setup_reads_the_url(monkeypatch):
    meta = email.message.Message()
    meta["Project-URL"] = "Repository, https://github.com/someone/a-fork"
    monkeypatch.setattr(colab.importlib.metadata, "metadata", lambda name: meta)
    assert colab.repository_url() == "https://github.com/someone/a-fork"


def test_every_notebook_cell_and_readme_badge_carries_the_pyproject_url():
    """Fails after Repository changed in pyproject.toml until `make colab-links` has written it everywhere."""
    expected = colab.CELL.format(repository=URL)
    stale = [nb for nb in colab.NOTEBOOKS if install_cell(nb) != expected]
    assert stale == [], f"run `make colab-links`: {stale} do not install from {URL}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert colab.badges(URL) in readme, "run `make colab-links`: the README's Colab badges are not those of the URL"


def test_sync_rewrites_a_stale_cell_and_badges(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for nb in colab.NOTEBOOKS:
        (tmp_path / "notebooks" / f"{nb}.ipynb").write_text(
            (ROOT / "notebooks" / f"{nb}.ipynb").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "README.md").write_text(f"# x\n\n{colab.badges(URL)}\n\nrest\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "auxiliary"\n\n[project.urls]\n'
                                             'Repository = "https://github.com/someone/a-fork"\n\n[tool.x]\n')
    changed = colab.sync(tmp_path)
    assert len(changed) == len(colab.NOTEBOOKS) + 1
    cell = json.loads((tmp_path / "notebooks" / "02_data.ipynb").read_text())
    assert 'REPOSITORY = "https://github.com/someone/a-fork"' in "".join(colab.first_code_cell(cell)["source"])
    readme = (tmp_path / "README.md").read_text()
    assert "github/someone/a-fork/blob/main/notebooks/06_sorting_feedback.ipynb" in readme and readme.endswith("rest\n")
    assert colab.sync(tmp_path) == []  # nothing left to change
