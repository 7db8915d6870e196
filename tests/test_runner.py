"""The papermill runner passes parameters and names the notebook and cell that failed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from auxiliary import runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import build_notebook  # noqa: E402


def _write(tmp_path: Path, name: str, source: str) -> Path:
    import nbformat

    path = tmp_path / name
    nbformat.write(build_notebook.build(source), path)
    return path


OK = '''# %% tags=["parameters"]
PROFILE = "demo"
MAX_EPOCHS = None
# %%
from auxiliary import notebook
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
    from auxiliary import paths

    res = json.loads((paths.runs_dir() / "00_ok" / "results.json").read_text())
    assert res["max_epochs"] == 3 and res["profile"] == "smoke"
    assert res["config"]["train"]["max_epochs"] == 3
    assert (tmp_path / "exec" / "00_ok.ipynb").is_file()

    bad = _write(tmp_path, "01_bad.ipynb", FAIL)
    with pytest.raises(runner.NotebookFailed) as info:
        runner.run_notebook(bad, profile="smoke", out_dir=tmp_path / "exec")
    msg = str(info.value)
    assert "01_bad.ipynb" in msg and "ValueError: deliberate failure" in msg and "cell 3" in msg
