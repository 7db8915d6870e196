"""``python -m auxiliary runs`` (auxiliary.steps.runs): the finished runs from the run folders alone,
newest first, and notebook 05's four-level table of them; no MLflow needed.

Named ``test_runs_step``: ``tests/training/test_runs.py`` tests the run folder, and pytest imports test modules by
their file name, which must be unique across the test folders (they are not packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _tiny_runs import make_split

from auxiliary.base import provenance
from auxiliary.faces import cli
from auxiliary.steps import runs as run_list

ROOT = Path(__file__).resolve().parents[2]


def fake_run(folder: Path, model: str, split: Path | None, when: float, finished: bool = True, **metrics) -> Path:
    folder.mkdir(parents=True)
    summary = {"model": model, "split_dir": str(split) if split else None, "epochs_run": 3, "finished": finished,
               "best_val_balanced_acc": 0.5, "test_balanced_acc": 0.4, "test_macro_auroc": 0.6, **metrics}
    (folder / "summary.json").write_text(json.dumps(summary))
    os.utime(folder / "summary.json", (when, when))
    return folder


def test_runs_are_listed_newest_first_with_model_data_metrics_and_time(tmp_path):
    split = make_split(tmp_path, n_per_class=2, size=16)
    runs = tmp_path / "runs"
    fake_run(runs / "resnet18-demo", "resnet18", split, when=1_700_000_000)
    fake_run(runs / "select-demo" / "convnext_atto-1234", "convnext_atto", split, when=1_700_000_500,
             test_balanced_acc=0.9)
    fake_run(runs / "broken", "resnet18", split, when=1_700_000_900, finished=False)  # an interrupted run
    fake_run(runs / "mlruns" / "x", "ignored", None, when=1_700_001_000)  # the tracking store is not a run
    frame = run_list.runs(runs)
    assert frame["id"].tolist() == ["select-demo/convnext_atto-1234", "resnet18-demo"]
    first = frame.iloc[0]
    assert first["model"] == "convnext_atto" and first["data"] == "split"
    assert first["data_version"] == provenance.data_version(split) and first["test_balanced_acc"] == 0.9
    assert str(first["when"]).startswith("2023-11-14")
    assert run_list.runs(runs, limit=1)["id"].tolist() == ["select-demo/convnext_atto-1234"]

    table = run_list.metric_table(frame)
    assert table.index.names == ["model", "split", "group", "metric"]
    assert table.loc[("convnext_atto-1234", "test", "all", "balanced_accuracy"), "value"] == 0.9
    assert table.loc[("resnet18-demo", "val", "all", "balanced_accuracy"), "value"] == 0.5


def test_the_command_lists_runs_without_mlflow(tmp_path):
    fake_run(tmp_path / "runs" / "resnet18-smoke", "resnet18", None, when=1_700_000_000)
    code = ("import sys; sys.modules['mlflow'] = None\n"  # as if the tracking extra were not installed
            "from auxiliary.faces import cli; sys.exit(cli.main(['runs', '--root', sys.argv[1]]))")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "runs")], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "model", "data"] and "resnet18-smoke" in lines[1]


def test_no_runs_is_said_and_a_missing_root_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main(["runs", "--root", str(tmp_path / "empty")]) == 0
    assert "no finished runs" in capsys.readouterr().out
    assert cli.main(["runs", "--root", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nope" in err[0]
