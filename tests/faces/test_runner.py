"""auxiliary.faces.runner: the papermill runner passes parameters and names the notebook and cell that failed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from auxiliary.base import layout
from auxiliary.faces import runner


def _write(tmp_path: Path, name: str, source: str) -> Path:
    """A notebook from percent-format source: ``# %%`` starts a code cell, ``tags=[...]`` tags it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, chunk in enumerate(re.split(r"^# %%", source, flags=re.M)[1:]):
        header, _, body = chunk.partition("\n")
        cell = nbformat.v4.new_code_cell(body.strip("\n"))
        tags = re.search(r"tags=(\[.*\])", header)
        if tags:
            cell.metadata["tags"] = json.loads(tags.group(1))
        cell.id = f"cell-{i:02d}"
        nb.cells.append(cell)
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


OK = '''# %% tags=["parameters"]
PROFILE = "demo"
MAX_EPOCHS = None
# %%
from auxiliary.faces import notebook
cfg = notebook.setup(globals(), "00_ok")
notebook.finish("00_ok", {"max_epochs": cfg.train.max_epochs, "profile": cfg.profile}, cfg)
'''

FAIL = '''# %% tags=["parameters"]
PROFILE = "demo"
# %%
x = 1
# %%
raise ValueError("deliberate failure")
'''


@pytest.mark.slow
def test_parameters_reach_the_notebook_and_failure_is_named(tmp_path):
    ok = _write(tmp_path, "00_ok.ipynb", OK)
    runner.run_notebook(ok, profile="smoke", parameters={"max_epochs": 3}, out_dir=tmp_path / "exec")

    res = json.loads((layout.runs_dir() / "00_ok" / "results.json").read_text())
    assert res["max_epochs"] == 3 and res["profile"] == "smoke"
    assert res["config"]["train"]["max_epochs"] == 3
    assert (tmp_path / "exec" / "00_ok.ipynb").is_file()

    bad = _write(tmp_path, "01_bad.ipynb", FAIL)
    with pytest.raises(runner.NotebookFailed) as info:
        runner.run_notebook(bad, profile="smoke", out_dir=tmp_path / "exec")
    msg = str(info.value)
    assert "01_bad.ipynb" in msg and "ValueError: deliberate failure" in msg and "cell 3" in msg


def test_the_kernel_writes_where_the_caller_does(tmp_path, monkeypatch):
    """Issue 28: the kernel starts in the notebooks' folder, whose checkout would be its output root (the package's
    own copy, read-only when installed); without ``AUXILIARY_OUTPUT`` it gets the caller's output root."""
    import os
    import sys
    import types

    seen = {}
    fake = types.SimpleNamespace(execute_notebook=lambda *a, **k: seen.update(env=os.environ.get("AUXILIARY_OUTPUT")),
                                 PapermillExecutionError=RuntimeError)
    monkeypatch.setitem(sys.modules, "papermill", fake)
    monkeypatch.delenv("AUXILIARY_OUTPUT")
    monkeypatch.delenv("AUXILIARY_ROOT")
    monkeypatch.chdir(tmp_path)
    runner.run_notebook(tmp_path / "01_x.ipynb", out_dir=tmp_path / "exec")
    assert seen["env"] == str(tmp_path.resolve()) and "AUXILIARY_OUTPUT" not in os.environ  # set for the call only
