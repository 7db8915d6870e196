"""Experiment tracking of a training run (auxiliary.training.tracking, auxiliary.base.mlflow_store): what ``train --tracking
tensorboard,mlflow`` logs, read back with the trackers' own readers (TensorBoard's ``EventAccumulator``,
``mlflow.search_runs``); resume, failure and csv-only runs; the one-line errors of a missing tracker."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from _tiny_runs import make_split
from _tiny_training import make_cfg, run

from auxiliary.base import config_overrides, mlflow_store, provenance
from auxiliary.faces import cli
from auxiliary.steps import runs as run_list
from auxiliary.tasks import TASKS

mlflow = pytest.importorskip("mlflow", reason="the tracking extra is not installed: pip install -e '.[tracking]'")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                        reason="the tracking extra is not installed: pip install -e '.[tracking]'")

TRAIN = ["--profile", "smoke", "--model", "test_resnet", "--img-size", "32", "--batch", "6", "--max-epochs", "2",
         "--freeze-epochs", "1", "--threads", "1", "--set", "data.cache=false", "--no-progress"]


def experiment_runs(store: Path, experiment: str = "auxiliary-smoke") -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=[experiment])


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One ``train`` of the command line with TensorBoard and MLflow (a store of its own: ``--tracking-uri``)."""
    root = tmp_path_factory.mktemp("tracked")
    split = make_split(root, n_per_class=6, size=32)
    out, store = root / "runs" / "tracked", root / "store"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUXILIARY_OUTPUT", str(root / "outputs"))
        code = cli.main(["train", "--data", str(split), "--out", str(out), "--tracking", "tensorboard,mlflow",
                         "--tracking-uri", str(store), *TRAIN])
    assert code == 0
    return {"root": root, "split": split, "run": out, "store": store}


def test_tensorboard_holds_every_epoch_the_learning_rate_the_config_and_the_figures(tracked):
    metrics = pd.read_csv(tracked["run"] / "logs" / "metrics.csv")
    assert list(metrics.columns) == list(TASKS["single"].metric_columns)  # metrics.csv is the same file as without tracking
    events = list((tracked["run"] / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = event_accumulator.EventAccumulator(str(events[0].parent), size_guidance={"images": 0})
    acc.Reload()
    for name in ("val_balanced_acc", "train_loss", "val_loss", "lr"):
        logged = acc.Scalars(name)
        assert [e.step for e in logged] == [1, 2], name
        assert [e.value for e in logged] == pytest.approx(metrics[name].tolist(), rel=1e-6), name
    assert {"figures/confusion_matrix", "figures/loss_curve", "figures/accuracy_curve"} <= set(acc.Tags()["images"])
    assert {"config/text_summary", "tone_groups/text_summary"} <= set(acc.Tags()["tensors"])
    summary = json.loads((tracked["run"] / "summary.json").read_text())
    assert acc.Scalars("final_test_balanced_acc")[0].value == pytest.approx(summary["test_balanced_acc"])


def test_mlflow_holds_one_run_with_metrics_params_tags_and_artifacts(tracked):
    found = experiment_runs(tracked["store"])
    assert len(found) == 1
    row = found.iloc[0]
    assert row["status"] == "FINISHED"
    assert row["tags.model_arch"] == "test_resnet" and row["tags.balance"] == "class"
    assert row["tags.task"] == "acne/erythema/none" and row["tags.profile"] == "smoke"
    assert row["tags.data_version"] == provenance.data_version(tracked["split"]) is not None
    assert row["tags.step"] == "train" and row["tags.mlflow.runName"] == "tracked"
    assert row["params.train.max_epochs"] == "2" and row["params.train.model"] == "test_resnet"
    summary = json.loads((tracked["run"] / "summary.json").read_text())
    assert row["metrics.final_test_balanced_acc"] == pytest.approx(summary["test_balanced_acc"])
    assert row["metrics.final_best_val_balanced_acc"] == pytest.approx(summary["best_val_balanced_acc"])

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tracked['store'] / 'mlflow.db'}")
    history = client.get_metric_history(row["run_id"], "val_balanced_acc")
    metrics = pd.read_csv(tracked["run"] / "logs" / "metrics.csv")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2]
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(metrics["val_balanced_acc"].tolist())
    assert [m.value for m in sorted(client.get_metric_history(row["run_id"], "lr"), key=lambda m: m.step)] == \
        pytest.approx(metrics["lr"].tolist())
    top = {a.path for a in client.list_artifacts(row["run_id"])}
    logs = {a.path for a in client.list_artifacts(row["run_id"], "logs")}
    assert {"best.pt", "best.onnx", "config.yaml", "summary.json"} <= top
    assert {"logs/confusion_matrix.png", "logs/loss_curve.png", "logs/accuracy_curve.png", "logs/tone_groups.csv",
            "logs/metrics.csv"} <= logs
    local = Path(client.download_artifacts(row["run_id"], "best.pt", str(tracked["root"] / "download")))
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (local, tracked["run"] / "best.pt")]
    assert digest[0] == digest[1]
    assert json.loads((tracked["run"] / "logs" / "tracking.json").read_text())["mlflow_run_id"] == row["run_id"]


def test_the_tone_group_table_holds_each_groups_metrics(tracked):
    table = pd.read_csv(tracked["run"] / "logs" / "tone_groups.csv")
    val = pd.read_csv(tracked["run"] / "val_predictions.csv")
    assert set(table["split"]) == {"val", "test"}
    val_rows = table[table["split"] == "val"].set_index("group")
    assert set(val_rows.index) == set(val["tone_group"])
    assert val_rows["support"].to_dict() == val["tone_group"].value_counts().to_dict()


def test_notebook_05_reads_the_same_numbers_from_the_store_and_from_the_run_folders(tracked):
    cfg = config_overrides.resolve("smoke", overrides={"tracking_uri": str(tracked["store"])})
    from_store = run_list.metric_table(run_list.tracked_runs(cfg), "mlflow")
    from_folders = run_list.metric_table(run_list.runs(tracked["root"] / "runs"), "folders")
    assert from_store.index.names == ["model", "split", "group", "metric"]
    assert len(from_store) == 8 and from_store.index.get_level_values("model").unique().tolist() == ["tracked"]
    pd.testing.assert_frame_equal(from_store, from_folders)


def test_csv_alone_writes_the_run_folder_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))
    run(tmp_path, "plain", make_cfg(max_epochs=2))
    out = tmp_path / "plain"
    assert list(pd.read_csv(out / "logs" / "metrics.csv").columns) == list(TASKS["single"].metric_columns)
    for absent in ("logs/tensorboard", "logs/tracking.json", "logs/tone_groups.csv", "best.onnx"):
        assert not (out / absent).exists(), absent
    assert not mlflow_store.default_store().exists()


def test_a_resumed_run_continues_its_mlflow_run(tmp_path):
    cfg = make_cfg(max_epochs=3, tracking="mlflow", tracking_uri=str(tmp_path / "store"))
    first = run(tmp_path, "r", cfg, stop_after_epochs=1)
    assert first["interrupted"]
    assert experiment_runs(tmp_path / "store")["status"].tolist() == ["RUNNING"]
    run(tmp_path, "r", cfg, resume=True)
    found = experiment_runs(tmp_path / "store")
    assert found["status"].tolist() == ["FINISHED"]  # one run: the resumed training continued it
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    steps = sorted(m.step for m in client.get_metric_history(found["run_id"][0], "val_loss"))
    assert steps == [1, 2, 3]
    assert pd.read_csv(tmp_path / "r" / "logs" / "metrics.csv")["epoch"].tolist() == [1, 2, 3]


class Boom:
    def on_run_end(self, **kwargs):
        raise RuntimeError("figure writer broke")


def test_a_failed_run_is_marked_failed(tmp_path):
    cfg = make_cfg(max_epochs=1, freeze_epochs=0, tracking="mlflow", tracking_uri=str(tmp_path / "store"))
    with pytest.raises(RuntimeError, match="figure writer broke"):
        run(tmp_path, "f", cfg, callbacks=[Boom()])
    assert experiment_runs(tmp_path / "store")["status"].tolist() == ["FAILED"]


def test_asking_for_a_tracker_that_is_not_installed_names_the_extra(monkeypatch, capsys, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    code = cli.main(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o"),
                     "--tracking", "csv,tensorboard", *TRAIN])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error:") and "tensorboard" in err[0] and "pip install -e '.[tracking]'" in err[0]
    assert not (tmp_path / "o").exists()

    monkeypatch.setitem(sys.modules, "mlflow", None)  # an environment without mlflow
    with pytest.raises(mlflow_store.TrackingError, match=r"pip install -e '\.\[tracking\]'"):
        mlflow_store.mlflow_module()
