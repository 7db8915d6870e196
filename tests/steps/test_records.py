"""auxiliary.training.records: every step records its run in the trackers (here ``evaluate``, and the one-call
``record_step``), read back with ``mlflow.search_runs`` and TensorBoard's ``EventAccumulator``."""

from __future__ import annotations

import pytest
from _tiny_runs import tiny_run_with_split

from auxiliary.base import config_overrides, provenance
from auxiliary.faces import cli
from auxiliary.training import records

mlflow = pytest.importorskip("mlflow", reason="the tracking extra is not installed: pip install -e '.[tracking]'")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                        reason="the tracking extra is not installed: pip install -e '.[tracking]'")


def search(store, experiment="auxiliary-smoke"):
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=[experiment])


def test_evaluate_records_its_metrics_tags_and_files(tmp_path):
    root, split, ckpt = tiny_run_with_split(tmp_path)
    out, store = tmp_path / "eval", tmp_path / "store"
    code = cli.main(["evaluate", "--ckpt", str(ckpt), "--data", str(split / "test.csv"), "--out", str(out),
                     "--profile", "smoke", "--n-bootstrap", "0", "--tracking", "mlflow,tensorboard",
                     "--tracking-uri", str(store), "--quiet"])
    assert code == 0
    found = search(store)
    assert len(found) == 1
    row = found.iloc[0]
    assert row["status"] == "FINISHED" and row["tags.step"] == "evaluate"
    assert row["tags.model_arch"] == "resnet18" and row["tags.profile"] == "smoke"
    assert row["tags.data_version"] == provenance.data_version(split)
    assert 0 <= row["metrics.balanced_accuracy"] <= 1 and row["params.eval.n_bootstrap"] == "0"
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    logged = {a.path for a in client.list_artifacts(row["run_id"])}
    written = {p.name for p in records.step_files(out)}
    assert written and written <= logged  # every table, figure and JSON of --out

    acc = event_accumulator.EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert acc.Scalars("balanced_accuracy")[0].value == pytest.approx(row["metrics.balanced_accuracy"])
    pngs = {p.stem for p in out.glob("*.png")}
    assert pngs and {f"figures/{s}" for s in pngs} <= set(acc.Tags()["images"])


def test_record_step_logs_tables_and_with_csv_alone_does_nothing(tmp_path, capsys):
    table = {"scores": __import__("pandas").DataFrame({"model": ["a", "b"], "score": [0.5, 0.7]})}
    plain = config_overrides.resolve("smoke")
    assert records.record_step(plain, "compare", tmp_path, tables=table) is None
    assert list(tmp_path.iterdir()) == []

    cfg = config_overrides.resolve("smoke", overrides={"tracking": "mlflow", "tracking_uri": str(tmp_path / "store"),
                                                       "experiment": "mine"})
    run_id = records.record_step(cfg, "compare", None, tables=table, metrics={"best": 0.7, "label": "text"})
    assert f"recorded compare: MLflow run {run_id}" in capsys.readouterr().out
    row = search(tmp_path / "store", "mine").iloc[0]
    assert row["run_id"] == run_id and row["metrics.best"] == 0.7 and "metrics.label" not in row
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    text = client.download_artifacts(run_id, "tables/scores.csv", str(tmp_path / "dl"))
    assert open(text).read().splitlines()[1:] == ["0,a,0.5", "1,b,0.7"]
