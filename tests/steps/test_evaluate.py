"""auxiliary.steps.evaluate (``python -m auxiliary evaluate``): a single-label checkpoint on a split list or photo
folders (a multi-label one: test_evaluate_multilabel.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _hostile import HOSTILE_CLASSES, assert_safe_csv, fifo, no_hang
from _tiny_runs import CLASSES, make_run, make_split
from PIL import Image

from auxiliary.base import files
from auxiliary.base.config import Config, EvalConfig
from auxiliary.evaluation import arrays, calibration, metrics, report
from auxiliary.faces import cli
from auxiliary.inference import measurements
from auxiliary.inference.predictor import Predictor
from auxiliary.steps import compare, evaluate


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


def test_a_split_folder_is_read_as_compare_reads_it(tiny, tmp_path, capsys):
    """Issue 28 (5): ``evaluate --data SPLIT_FOLDER`` (refused before, while ``compare`` took it) evaluates the
    folder's test.csv, and ``--val SPLIT_FOLDER`` its val.csv: the reading of a split folder that compare uses."""
    split, ckpt = tiny
    cfg = Config(eval=EvalConfig(min_group_size=3, n_bootstrap=5))
    by_folder = evaluate.evaluate(cfg, ckpt, split, tmp_path / "folder", val=split, progress=False)
    by_list = evaluate.evaluate(cfg, ckpt, split / "test.csv", tmp_path / "list", val=split / "val.csv",
                                progress=False)
    assert by_folder["info"]["data"] == str(split / "test.csv") and by_folder["info"]["val"] == str(split / "val.csv")
    pd.testing.assert_frame_equal(by_folder["predictions"], by_list["predictions"])
    assert by_folder["summary"] == pytest.approx(by_list["summary"], nan_ok=True)
    table, name = compare.load_table(split)
    assert name == "test" and list(by_folder["predictions"]["path"]) == [str(p) for p in table["path"]]
    rc = cli.main(["evaluate", "--ckpt", str(ckpt), "--data", str(split), "--out", str(tmp_path / "cli"), "--quiet",
                   "--n-bootstrap", "5"])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["n"] == 18
    half = tmp_path / "half_split"  # a split folder without its test list: one line, as compare says it
    half.mkdir()
    (half / "classes.json").write_text((split / "classes.json").read_text())
    for verb in ("evaluate", "compare"):
        flags = ["--ckpt", str(ckpt)] if verb == "evaluate" else ["--runs", str(ckpt.parent)]
        assert cli.main([verb, *flags, "--data", str(half), "--out", str(tmp_path / f"no_{verb}")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "has no test.csv" in err and len(err.splitlines()) == 1, err


def test_a_fifo_given_as_data_is_refused_without_opening_it(tiny, tmp_path, capsys):
    """Issue 28 (2): ``--data`` or ``--val`` naming a FIFO is one line from ``stat`` alone, never opened."""
    split, ckpt = tiny
    pipe = fifo(tmp_path / "test.csv")
    with no_hang(60):
        for flags in (["--data", str(pipe)], ["--data", str(split / "test.csv"), "--val", str(pipe)]):
            assert cli.main(["evaluate", "--ckpt", str(ckpt), *flags, "--out", str(tmp_path / "o"), "--quiet"]) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith("error:") and "a FIFO" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Path]:
    """``(checkpoint, test.csv)``: a model whose classes a spreadsheet would run and a plain CSV list of photos in
    class folders of those names, the photos named like formulas (``=HYPERLINK("x").png``)."""
    root = tmp_path_factory.mktemp("hostile_eval")
    classes = list(HOSTILE_CLASSES[:3])
    ck = make_run(root / "=run", model_name="test_convnext", img_size=32)
    info = torch.load(ck, weights_only=True)
    torch.save({**info, "classes": classes}, ck)
    rows = []
    for c, cls in enumerate(classes):
        for i, name in enumerate(['=HYPERLINK("x").png', "+cmd.png", "@SUM(A1).png", "-2+3.png"]):
            path = root / "photos" / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.random.default_rng(10 * c + i).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
            rows.append({"path": str(path), "label": cls, "group": f"{cls}{i}", "tone_group": ["dark", "light"][i % 2]})
    pd.DataFrame(rows).to_csv(root / "test.csv", index=False)
    return ck, root / "test.csv"


def test_formula_names_are_neutralised_in_every_csv_and_read_back(hostile, tmp_path):
    """Issue 28 (1): classes ``=1+1``, ``+cmd``, ``@SUM(A1)`` and photos named like formulas: no cell
    of any CSV the evaluation writes (headers and index included, as the csv module parses it) starts with a
    formula character, and the package's reader gives the names back as they were."""
    ck, test_csv = hostile
    res = evaluate.evaluate(Config(eval=EvalConfig(min_group_size=1, n_bootstrap=5)), ck, test_csv, tmp_path / "e",
                            progress=False)
    written = sorted((tmp_path / "e").glob("*.csv"))
    assert {"predictions.csv", "per_class.csv", "confusion.csv", "group_metrics.csv"} <= {p.name for p in written}
    for path in written:
        assert_safe_csv(path)
    pred = files.read_csv(tmp_path / "e" / "predictions.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(pred[["path", "label", "tone_group"]],
                                  res["predictions"][["path", "label", "tone_group"]])
    assert set(pred["label"]) == set(HOSTILE_CLASSES[:3])
    per_class = files.read_csv(tmp_path / "e" / "per_class.csv")  # the index is a column until it is restored
    assert per_class.iloc[:, 0].tolist() == list(HOSTILE_CLASSES[:3])
    assert list(files.read_csv(tmp_path / "e" / "confusion.csv").columns[1:]) == list(HOSTILE_CLASSES[:3])
