"""The first cell of every notebook, executed as Colab would (``google.colab`` faked, pip recorded, nothing installed),
and the repository URL written in one place (pyproject.toml) and kept in step everywhere else."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from auxiliary.base import layout
from auxiliary.faces import colab

ROOT = Path(__file__).resolve().parents[2]
URL = colab.pyproject_url(ROOT / "pyproject.toml")


def install_cell(notebook: str) -> str:
    data = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    return "".join(colab.first_code_cell(data)["source"])


@pytest.fixture()
def fake_colab(monkeypatch, tmp_path):
    """``google.colab`` (with ``drive.mount``) in sys.modules, ``/content`` a temporary folder (every glob of the cell
    looks there), and every subprocess.run recorded, not run."""
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
    content = tmp_path / "content"
    content.mkdir()
    real_glob = glob.glob
    monkeypatch.setattr(glob, "glob", lambda pattern, **kw: [p.replace(str(content), "/content") for p in
                                                             real_glob(pattern.replace("/content", str(content)), **kw)])
    calls["content"] = content
    return calls


def run_cell(notebook: str, repository: str = "", drive: bool = False) -> dict:
    source = colab.CELL.format(repository=repository) if repository else install_cell(notebook)
    if drive:
        source = source.replace("DRIVE = False", "DRIVE = True", 1)
    namespace: dict = {}
    exec(compile(source, f"{notebook}[0]", "exec"), namespace)
    return namespace


def installs(calls: dict, source: str) -> None:
    py = sys.executable
    assert [cmd for cmd, _ in calls["run"]] == [
        [py, "-m", "pip", "install", "-q", "--no-deps", source],
        [py, "-m", "pip", "uninstall", "-y", "-q", "opencv-python", "opencv-contrib-python", "opencv-python-headless"],
        [py, "-m", "pip", "install", "-q", colab.requirement(source)],
    ]
    assert [kw.get("check") for _, kw in calls["run"]] == [True, False, True]  # a failed install stops the cell


def test_the_url_is_unset_until_the_project_is_published_and_then_no_badge_shows():
    assert URL is None
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "colab.research.google.com/github" not in readme and colab.badges(None) in readme


@pytest.mark.parametrize("notebook", colab.NOTEBOOKS)
def test_with_a_repository_url_the_cell_installs_every_extra_from_it(notebook, fake_colab):
    assert "def " not in install_cell(notebook)  # the notebook stays thin: the logic is colab.colab_setup
    ns = run_cell(notebook, repository="https://github.com/someone/skin-notebooks")
    installs(fake_colab, "git+https://github.com/someone/skin-notebooks")
    assert ns["SOURCE"] == "git+https://github.com/someone/skin-notebooks"
    assert colab.requirement(ns["SOURCE"]) == ("auxiliary[notebooks,pretrained,web,tracking] @ "
                                               "git+https://github.com/someone/skin-notebooks")
    assert fake_colab["mount"] == []  # nothing mounted unless asked
    assert str(layout.output_root()) == "/somewhere/else"


def test_without_a_url_the_cell_installs_a_copy_of_the_project_under_content(fake_colab):
    copy = fake_colab["content"] / "skin-notebooks-main"  # an unpacked zip of the repository
    (copy / "auxiliary").mkdir(parents=True)
    (copy / "auxiliary" / "__main__.py").write_text("")
    (fake_colab["content"] / "sample_data").mkdir()  # Colab's own folder is not mistaken for one
    ns = run_cell("03_model_selection")
    assert ns["SOURCE"] == "/content/skin-notebooks-main"
    installs(fake_colab, "/content/skin-notebooks-main")
    assert colab.requirement(ns["SOURCE"]) == "/content/skin-notebooks-main[notebooks,pretrained,web,tracking]"


def test_a_copy_on_google_drive_is_found_once_drive_is_mounted_and_outputs_go_there(fake_colab):
    copy = fake_colab["content"] / "drive" / "MyDrive" / "course" / "skin-notebooks"
    (copy / "auxiliary").mkdir(parents=True)
    (copy / "auxiliary" / "__main__.py").write_text("")
    ns = run_cell("04_fine_tuning", drive=True)
    assert fake_colab["mount"] == ["/content/drive"]
    assert ns["SOURCE"] == "/content/drive/MyDrive/course/skin-notebooks"
    installs(fake_colab, ns["SOURCE"])
    assert layout.output_root() == Path("/content/drive/MyDrive/skin-notebooks")
    assert layout.runs_dir(create=False) == Path("/content/drive/MyDrive/skin-notebooks/runs")


def test_without_url_or_copy_an_uploaded_wheel_is_installed(fake_colab):
    (fake_colab["content"] / "auxiliary-0.1.0-py3-none-any.whl").write_bytes(b"PK")
    ns = run_cell("06_sorting_feedback")
    assert ns["SOURCE"] == "/content/auxiliary-0.1.0-py3-none-any.whl"
    installs(fake_colab, ns["SOURCE"])


def test_with_nothing_to_install_from_the_cell_says_what_to_provide_in_one_line(fake_colab, capsys):
    ns = run_cell("02_data")
    assert ns["SOURCE"] is None and fake_colab["run"] == []
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "REPOSITORY" in out and "auxiliary-*.whl" in out and "folder" in out


def test_outside_colab_the_cell_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    ran = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: ran.append(a))
    namespace: dict = {}
    exec(compile(install_cell("01_synthesis"), "01_synthesis[0]", "exec"), namespace)
    assert ran == [] and namespace["DRIVE"] is False
    assert colab.colab_setup("git+https://x", drive=True) == {"colab": False}


def test_every_notebook_cell_and_readme_badge_carries_the_pyproject_url():
    """Fails after Repository changed in pyproject.toml until `make colab-links` has written it everywhere."""
    expected = colab.CELL.format(repository=URL or "")
    stale = [nb for nb in colab.NOTEBOOKS if install_cell(nb) != expected]
    assert stale == [], f"run `make colab-links`: {stale} do not carry the install cell of {URL}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert colab.badges(URL) in readme, "run `make colab-links`: the README's Colab badges are not those of the URL"


def test_sync_writes_a_new_url_into_cells_and_badges_and_removes_them_again(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for nb in colab.NOTEBOOKS:
        (tmp_path / "notebooks" / f"{nb}.ipynb").write_text(
            (ROOT / "notebooks" / f"{nb}.ipynb").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "README.md").write_text(f"# x\n\n{colab.badges(URL)}\n\nrest\n", encoding="utf-8")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "auxiliary"\n\n[project.urls]\n'
                         'Repository = "https://github.com/someone/a-fork"\n\n[tool.x]\n')
    changed = colab.sync(tmp_path)
    assert len(changed) == len(colab.NOTEBOOKS) + 1
    cell = json.loads((tmp_path / "notebooks" / "02_data.ipynb").read_text())
    assert 'REPOSITORY = "https://github.com/someone/a-fork"' in "".join(colab.first_code_cell(cell)["source"])
    readme = (tmp_path / "README.md").read_text()
    assert "github/someone/a-fork/blob/main/notebooks/06_sorting_feedback.ipynb" in readme and readme.endswith("rest\n")
    assert colab.sync(tmp_path) == []  # nothing left to change
    pyproject.write_text('[project]\nname = "auxiliary"\n\n[project.urls]\n# Repository = "x"\n')
    assert len(colab.sync(tmp_path)) == len(colab.NOTEBOOKS) + 1
    assert "colab.research.google.com/github" not in (tmp_path / "README.md").read_text()


def test_dist_zips_the_notebooks_with_the_wheel(tmp_path):
    wheel = tmp_path / "auxiliary-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK fake wheel")
    out = colab.dist_zip(wheel, tmp_path)
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
    assert {f"skin-notebooks/notebooks/{nb}.ipynb" for nb in colab.NOTEBOOKS} <= names
    assert "skin-notebooks/auxiliary-0.1.0-py3-none-any.whl" in names and "skin-notebooks/README.md" in names
