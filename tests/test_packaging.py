"""The project (no one module): layout, packaging and notebook hygiene: environment.yml in step, notebooks stripped and thin."""

from __future__ import annotations

import ast
import json
import re

import pytest
import tomllib
import yaml

from conftest import NOTEBOOKS, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_layout_exists():
    for name in ("notebooks", "auxiliary", "data", "models", "figures", "tests", "benchmarks", "runs"):
        assert (ROOT / name).is_dir(), name
    for name in ("environment.yml", "README.md", "pyproject.toml", "Makefile", ".ci/run"):
        assert (ROOT / name).is_file(), name
    for name in ("data", "models", "figures", "runs"):
        assert (ROOT / name / "README.md").is_file()


def test_environment_yml_in_step_with_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pythons = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert pythons == ["python=3.11"]
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert tuple(int(x) for x in "3.11".split(".")) >= tuple(int(x) for x in minimum.split("."))
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    installs = [p for p in pip if p.startswith("-e")]
    assert len(installs) == 1, "environment.yml must install the package itself (deps live in pyproject.toml)"
    extras = re.search(r"\[(.*)\]", installs[0]).group(1).split(",")
    assert "notebooks" in extras
    assert set(extras) <= set(PYPROJECT["project"]["optional-dependencies"]), extras
    # nothing declared twice: every other pip line would duplicate pyproject.toml
    assert pip == installs


def test_opencv_headless_only_and_bounded():
    deps = PYPROJECT["project"]["dependencies"]
    cv = [d for d in deps if "opencv" in d]
    assert cv == ["opencv-python-headless>=4.9,<5"]
    for d in deps:  # lower bounds, no exact pins that would fight Colab's torch
        assert "==" not in d, d


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert readme.index("make demo") < 2000 and readme.index("make test") < 2000  # stated first
    assert re.search(r"^make test$", ci, re.M)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stripped_and_thin(name):
    path = ROOT / "notebooks" / f"{name}.ipynb"
    if not path.is_file():
        pytest.fail(f"{path} is missing")
    nb = json.loads(path.read_text())
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    params = ast.parse("".join(tagged[0]["source"]))
    for node in params.body:
        assert isinstance(node, ast.Assign), "parameters cell holds only assignments"
        for target in node.targets:
            assert isinstance(target, ast.Name) and target.id.isupper(), ast.dump(target)
        ast.literal_eval(node.value)  # literals only
    assert any(t.id == "PROFILE" for n in params.body for t in n.targets)
    assert nb["cells"][0]["cell_type"] == "markdown"
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs", []) == [], f"{name}: outputs not stripped"
        assert cell.get("execution_count") is None, f"{name}: execution count not stripped"
        src = "".join(cell["source"])
        tree = ast.parse("\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)), (
                f"{name}: define functions in auxiliary, not in the notebook"
            )
    sources = "".join("".join(c["source"]) for c in nb["cells"])
    assert f'notebook.finish("{name}"' in sources
    assert f'notebook.setup(globals(), "{name}")' in sources
