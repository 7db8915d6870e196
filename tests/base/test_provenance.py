"""auxiliary.base.provenance and notebook.save_figure: every figure names the notebook, run, config hash and data
version that made it, in the PNG and in a sidecar; ``python -m auxiliary runs --figure`` reads it back."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from _tiny_runs import make_split
from PIL import Image

from auxiliary.base import config_overrides, layout, provenance
from auxiliary.faces import cli, notebook


def figure():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    return fig


def test_config_hash_is_stable_and_changes_with_any_setting():
    a = config_overrides.resolve("smoke")
    assert provenance.config_hash(a) == provenance.config_hash(config_overrides.resolve("smoke"))
    assert provenance.config_hash(a) == provenance.config_hash(a.to_dict())  # a saved config.yaml gives the same
    b = config_overrides.resolve("smoke", overrides={"lr_ft": 1e-4})
    assert provenance.config_hash(a) != provenance.config_hash(b)


def test_data_version_follows_the_split_lists(tmp_path):
    split = make_split(tmp_path, n_per_class=2, size=16)
    v1 = provenance.data_version(split)
    assert v1 == provenance.data_version(split) and len(v1) == 12
    (split / "val.csv").write_text((split / "val.csv").read_text() + "\n")
    assert provenance.data_version(split) != v1
    assert provenance.data_version(tmp_path / "empty") is None


def test_the_record_travels_in_the_png_and_in_the_sidecar(tmp_path):
    rec = provenance.record("04_fine_tuning", "abc123", "0123456789ab", "ba9876543210")
    png = provenance.save_figure_with_provenance(figure(), tmp_path / "f.png", rec)
    with Image.open(png) as im:
        assert json.loads(im.text[provenance.PNG_KEY]) == rec
    assert json.loads(provenance.sidecar_path(png).read_text()) == rec
    provenance.sidecar_path(png).unlink()  # the PNG alone still says where it came from
    assert provenance.figure_provenance(png) == rec
    assert not list(tmp_path.glob("*.part"))


def test_notebook_figures_name_their_notebook_run_config_and_data(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path))
    cfg = notebook.setup({"PROFILE": "smoke", "MAX_EPOCHS": 1}, "04_fine_tuning")
    split = make_split(tmp_path / "made", n_per_class=2, size=16, split=layout.split_dir(cfg))
    png = notebook.save_figure(figure(), "04_check")
    rec = provenance.figure_provenance(png)
    assert rec["notebook"] == "04_fine_tuning" and rec["run_id"].startswith("04_fine_tuning-")
    assert rec["config_hash"] == provenance.config_hash(cfg)
    assert rec["data_version"] == provenance.data_version(split)

    # a figure of a training run names that run: its MLflow id when tracked, its config and its data
    run = tmp_path / "runs" / "r"
    (run / "logs").mkdir(parents=True)
    other = config_overrides.resolve("smoke", overrides={"lr_ft": 1e-4})
    other.save(run / "config.yaml")
    (run / "summary.json").write_text(json.dumps({"split_dir": str(split)}))
    (run / "logs" / "tracking.json").write_text(json.dumps({"mlflow_run_id": "0f0f"}))
    rec = provenance.figure_provenance(notebook.save_figure(figure(), "04_run", run=run))
    assert rec["run_id"] == "0f0f" and rec["training_run"] == str(run)
    assert rec["config_hash"] == provenance.config_hash(other) != provenance.config_hash(cfg)
    assert rec["notebook_run_id"].startswith("04_fine_tuning-")

    path = notebook.finish("04_fine_tuning", {"x": 1}, cfg)
    assert json.loads(path.read_text())["run_id"] == rec["notebook_run_id"]

    capsys.readouterr()
    assert cli.main(["runs", "--figure", str(png)]) == 0
    shown = capsys.readouterr().out
    assert "04_fine_tuning" in shown and provenance.config_hash(cfg) in shown


def test_a_png_without_record_is_one_line(tmp_path, capsys):
    bare = tmp_path / "bare.png"
    figure().savefig(bare)
    assert cli.main(["runs", "--figure", str(bare)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "bare.png" in err[0]
    with pytest.raises(provenance.ProvenanceError):
        provenance.figure_provenance(Path(tmp_path / "missing.png"))
