"""auxiliary.steps.evaluate (``python -m auxiliary evaluate``): a single-label checkpoint on a split list or photo
folders (a multi-label one: test_evaluate_multilabel.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny_runs import CLASSES, make_run, make_split

from auxiliary.base import files
from auxiliary.base.config import Config, EvalConfig
from auxiliary.evaluation import arrays, calibration, metrics, report
from auxiliary.faces import cli
from auxiliary.inference import measurements
from auxiliary.inference.predictor import Predictor
from auxiliary.steps import evaluate


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    split = make_split(root, n_per_class=6, size=32)
    ckpt = make_run(root / "run", model_name="test_convnext", img_size=32, temperature=1.5)
    return split, ckpt


def _read_pred(out: Path) -> tuple[np.ndarray, np.ndarray]:
    pred = pd.read_csv(out / "predictions.csv")
    y = arrays.labels_to_index(list(pred["label"]), CLASSES)
    return y, pred[[f"prob_{c}" for c in CLASSES]].to_numpy()


def test_evaluate_cli_with_validation(tiny, tmp_path, capsys):
    split, ckpt = tiny
    out = tmp_path / "eval"
    rc = cli.main(["evaluate", "--ckpt", str(ckpt), "--data", str(split / "test.csv"), "--val", str(split / "val.csv"),
                   "--out", str(out), "--quiet", "--min-group-size", "3", "--n-bootstrap", "10", "--profile", "smoke"])
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "test_convnext on" in text and "recall >= 0.999 for acne" in text
    for f in ("summary.json", "metrics.csv", "per_class.csv", "confusion.csv", "reliability.csv", "predictions.csv",
              "high_recall.json", "group_metrics.csv", "group_metrics_long.csv", "gaps.csv", "group_thresholds.csv",
              "reliability.png", "confusion.png", "pr_curves.png", "group_metrics.png"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 18 and summary["classes"] == CLASSES and summary["model"] == "test_convnext"
    assert summary["temperature_source"].startswith("fitted on")
    # the saved numbers are the metrics of the saved predictions
    y, probs = _read_pred(out)
    again = metrics.summary_metrics(y, probs, CLASSES)
    assert summary["metrics"]["calibrated"]["balanced_accuracy"] == pytest.approx(again["balanced_accuracy"])
    assert summary["metrics"]["calibrated"]["ece"] == pytest.approx(again["ece"])
    assert set(summary["metrics"]) == {"calibrated", "uncalibrated", "calibrated+tta"}  # smoke profile: tta on
    per = pd.read_csv(out / "per_class.csv", index_col=0)
    assert per["support"].tolist() == [6, 6, 6]
    cm = pd.read_csv(out / "confusion.csv", index_col=0)
    assert cm.values.sum() == 18
    hr = json.loads((out / "high_recall.json").read_text())
    assert hr["n_positives"] == 6 and hr["recall"] == 1.0 and "missing none" in hr["note"]
    gm = pd.read_csv(out / "group_metrics.csv", index_col=0)
    assert sorted(gm.index) == ["brown", "dark", "light"] and gm["support"].sum() == 18
    thr = pd.read_csv(out / "group_thresholds.csv", index_col=0)
    assert "all groups" in thr.index and {"f1_global", "f1_group"} <= set(thr.columns)
    assert summary["thresholds"]["__global__"] == pytest.approx(thr["threshold_global"].iloc[0])


def test_checkpoint_temperature_without_val_and_overwrite_refusal(tiny, tmp_path):
    split, ckpt = tiny
    out = tmp_path / "e"
    ec = EvalConfig(min_group_size=3, n_bootstrap=5)
    res = evaluate.evaluate(Config(eval=ec), ckpt, split / "test.csv", out, progress=False)
    assert res["temperature"] == 1.5 and res["temperature_source"] == "stored in the checkpoint"
    assert "group_thresholds" not in res
    # calibrated = uncalibrated probabilities rescaled by T = 1.5
    y, probs = _read_pred(out)
    paths = [str(split / p) for p in pd.read_csv(split / "test.csv")["path"]]
    raw = calibration.softmax(measurements.view_logits(Predictor.from_checkpoint(ckpt), paths, progress=False)[0][0])
    assert np.allclose(probs, calibration.apply_temperature(raw, 1.5, from_probs=True), atol=1e-6)
    with pytest.raises(report.EvaluationError, match="already holds an evaluation"):
        evaluate.evaluate(Config(eval=ec), ckpt, split / "test.csv", out, progress=False)
    evaluate.evaluate(Config(eval=ec), ckpt, split / "test.csv", out, progress=False, overwrite=True)


def test_bad_inputs_are_one_line_errors_or_notes(tiny, tmp_path, capsys):
    split, ckpt = tiny
    bad = tmp_path / "bad.csv"
    table = pd.read_csv(split / "test.csv")
    table["path"] = [str((split / p).resolve()) for p in table["path"]]
    table.loc[0, "label"] = "melanoma"
    table.to_csv(bad, index=False)
    rc = cli.main(["evaluate", "--ckpt", str(ckpt), "--data", str(bad), "--out", str(tmp_path / "x"), "--quiet"])
    assert rc == 2 and "melanoma" in capsys.readouterr().err
    rc = cli.main(["evaluate", "--ckpt", str(tmp_path / "none.pt"), "--data", str(bad), "--out", str(tmp_path / "x")])
    assert rc == 2 and "not found" in capsys.readouterr().err
    # positive classes the model does not know / no fairness column: skipped with a note, not a crash
    ec = EvalConfig(positive_classes=("mel",), fairness_col="sex", n_bootstrap=5)
    res = evaluate.evaluate(Config(eval=ec), ckpt, split / "test.csv", tmp_path / "n", progress=False)
    assert "high_recall" not in res and "group_metrics" not in res
    assert any("positive classes" in n for n in res["notes"]) and any("no column 'sex'" in n for n in res["notes"])


def test_real_photo_folders_with_a_label_map(tiny, tmp_path, capsys):
    """The synthetic-to-real check: class folders named otherwise (rosacea, clear), renamed by --label-map;
    no known tones, so fairness runs on the pixel estimate and says so. The folders are left untouched."""
    import shutil


    split, ckpt = tiny
    table = pd.read_csv(split / "test.csv")
    photos = tmp_path / "photos"
    rename = {"acne": "acne", "erythema": "rosacea", "none": "clear"}
    for rel, label in zip(table["path"], table["label"]):
        dst = photos / rename[label] / Path(rel).name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(split / rel, dst)
    (photos / "clear" / "broken.jpg").write_bytes(b"not an image")
    (photos / "clear" / "empty.png").write_bytes(b"")
    (photos / "acne" / "notes.jpg").write_text("text named .jpg")
    before = {p: files.sha256_file(p) for p in photos.rglob("*") if p.is_file()}

    out = tmp_path / "real"
    rc = cli.main(["evaluate", "--ckpt", str(ckpt), "--data", str(photos), "--out", str(out), "--quiet",
                   "--label-map", "rosacea=erythema, clear=none", "--n-bootstrap", "5", "--min-group-size", "1"])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["label_map"] == {"rosacea": "erythema", "clear": "none"}
    assert summary["n"] == 18  # the broken files are dropped and counted in the notes
    assert any("unreadable" in n for n in summary["notes"])
    dropped = pd.read_csv(out / "dropped.csv")  # every one of them is named, not just examples
    assert sorted(Path(p).name for p in dropped["path"]) == ["broken.jpg", "empty.png", "notes.jpg"]
    assert any("dropped.csv" in n for n in summary["notes"])
    assert any("rosacea -> erythema" in n for n in summary["notes"])
    assert summary["fairness_col"] == "tone_group_est" and any("ESTIMATE" in n for n in summary["notes"])
    per = pd.read_csv(out / "per_class.csv", index_col=0)
    assert per.index.tolist() == CLASSES and per["support"].tolist() == [6, 6, 6]
    pred = pd.read_csv(out / "predictions.csv")
    assert set(pred["label"]) == set(CLASSES) and "tone_group_est" in pred.columns
    # same predictions as the split list with the original labels
    ref = evaluate.evaluate(Config(eval=EvalConfig(n_bootstrap=5)), ckpt, split / "test.csv", tmp_path / "ref",
                            progress=False)
    assert summary["metrics"]["calibrated"]["balanced_accuracy"] == pytest.approx(
        ref["summary"]["balanced_accuracy"])
    assert before == {p: files.sha256_file(p) for p in photos.rglob("*") if p.is_file()}

    # without the map: one line naming the unknown labels and the fix
    rc = cli.main(["evaluate", "--ckpt", str(ckpt), "--data", str(photos), "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "clear" in err and "--label-map" in err and "Traceback" not in err
    rc = cli.main(["evaluate", "--ckpt", str(ckpt), "--data", str(photos), "--out", str(tmp_path / "y"), "--quiet",
                   "--label-map", "rosacea:erythema"])
    assert rc == 2 and "not OLD=NEW" in capsys.readouterr().err
    rc = cli.main(["evaluate", "--ckpt", str(ckpt), "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "z")])
    assert rc == 2 and "data not found" in capsys.readouterr().err


def test_the_console_report_has_one_entry_per_task():
    from auxiliary.faces.cli import evaluate as evaluate_cli
    from auxiliary.tasks import TASKS

    assert set(evaluate_cli.REPORT_LINES) == set(TASKS)
