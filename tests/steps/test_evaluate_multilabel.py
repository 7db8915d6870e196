"""auxiliary.steps.evaluate: ``python -m auxiliary evaluate`` on a multi-label checkpoint, end to end.

The checkpoint's logits on the split's images are chosen exactly (``_multilabel_runs``): every label is
ranked perfectly but sits at sigmoid 0.3 (positives) / 0.1 (negatives), so decisions are right only when
the thresholds (and temperatures) the step is meant to use are the ones it uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _multilabel_runs import LABELS, make_multilabel_run, make_multilabel_split, shifted_logits, split_arrays
from _tiny_runs import make_split

from auxiliary.evaluation import metrics as multilabel
from auxiliary.evaluation.calibration import sigmoid
from auxiliary.faces import cli

#: erythema runs at temperature 2: its probabilities become 0.395 / 0.25, which only its own threshold 0.3 splits
TEMPERATURES = [1.0, 2.0, 1.0, 1.0]
THRESHOLDS = {"global": {"acne": 0.2, "erythema": 0.3, "hyperpigmentation": 0.2, "wrinkles": 0.2},
              "per_group": {"dark": {"acne": 0.25, "erythema": 0.3, "hyperpigmentation": 0.25, "wrinkles": 0.25}},
              "fallback": {"dark": []}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("evaluate_multilabel")
    split = make_multilabel_split(root)
    _, Y, _ = split_arrays(split)
    logits = shifted_logits(Y)
    ckpt = make_multilabel_run(root / "run", split, logits, temperatures=TEMPERATURES, thresholds=THRESHOLDS)
    bare = make_multilabel_run(root / "bare", split, logits)  # temperatures 1, no thresholds
    return {"root": root, "split": split, "Y": Y, "logits": logits, "ckpt": ckpt, "bare": bare}


def _evaluate(*args: str) -> int:
    return cli.main(["evaluate", *args, "--quiet", "--min-group-size", "3", "--n-bootstrap", "5"])


def test_cli_end_to_end_uses_the_checkpoints_temperatures_and_thresholds(tiny, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = _evaluate("--ckpt", str(tiny["ckpt"]), "--data", str(tiny["split"] / "test.csv"), "--out", str(out))
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "multi-label, 4 labels" in text and "macro: auroc 1.000" in text and "hyperpigmentation" in text
    for f in ("summary.json", "metrics.csv", "per_label.csv", "group_label_metrics.csv", "fairness_gap.csv",
              "thresholds.json", "calibration.csv", "predictions.csv", "dropped.csv", "roc_curves.png", "pr_curves.png",
              "reliability.png", "group_label_f1.png", "fairness_gap.png", "gradcam_labels.png"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "multilabel" and summary["labels"] == LABELS and summary["n"] == 18
    assert summary["temperature"] == "one per label" and summary["temperature_source"] == "stored in the checkpoint"
    assert summary["temperatures"] == dict(zip(LABELS, TEMPERATURES))
    assert summary["threshold_source"] == "stored in the checkpoint"
    used = json.loads((out / "thresholds.json").read_text())
    assert used["global"] == pytest.approx(THRESHOLDS["global"])
    assert used["per_group"]["dark"] == pytest.approx(THRESHOLDS["per_group"]["dark"])
    per = pd.read_csv(out / "per_label.csv", index_col=0)
    assert per.index.tolist() == LABELS and per["threshold"].tolist() == pytest.approx(list(THRESHOLDS["global"].values()))
    assert per["f1"].tolist() == [1.0] * 4 and per["support"].tolist() == tiny["Y"].sum(axis=0).tolist()
    # the saved probabilities are sigmoid(logit / T_j); the saved numbers are those of the saved predictions
    pred = pd.read_csv(out / "predictions.csv")
    P = pred[[f"prob_{lab}" for lab in LABELS]].to_numpy()
    assert np.allclose(P, sigmoid(tiny["logits"], TEMPERATURES), atol=1e-4)
    assert (pred[[f"pred_{lab}" for lab in LABELS]].to_numpy() == tiny["Y"]).all()
    assert (pred["pred"] == pred["label"]).all() and (pred[LABELS].to_numpy() == tiny["Y"]).all()
    again = multilabel.multilabel_summary(tiny["Y"], P, LABELS, list(THRESHOLDS["global"].values()))
    metrics = pd.read_csv(out / "metrics.csv", index_col=0)
    assert metrics.loc["global_thresholds", "macro_auroc"] == pytest.approx(again["macro_auroc"])
    assert metrics.loc["global_thresholds", "subset_accuracy"] == 1.0 == metrics.loc["group_thresholds", "subset_accuracy"]
    cal = pd.read_csv(out / "calibration.csv", index_col=0)
    assert cal.index.tolist() == [*LABELS, "macro"] and {"ece", "brier", "ece_uncalibrated"} <= set(cal.columns)
    long = pd.read_csv(out / "group_label_metrics.csv")
    assert len(long) == 2 * 3 * 4 and set(long["thresholds"]) == {"global", "per_group"}
    dark = long[(long["thresholds"] == "per_group") & (long["group"] == "dark")]
    assert dark.set_index("label")["threshold"].to_dict() == pytest.approx(THRESHOLDS["per_group"]["dark"])
    gap = pd.read_csv(out / "fairness_gap.csv", index_col=0)
    assert gap.index.tolist() == [*LABELS, "macro"] and {"gap_global", "gap_group"} <= set(gap.columns)


def test_thresholds_fitted_on_validation_improve_on_the_default(tiny, tmp_path, capsys):
    """A checkpoint without thresholds decides at 0.5, where nothing is flagged; --val fits them (and the temperatures)."""
    test_csv, val_csv = tiny["split"] / "test.csv", tiny["split"] / "val.csv"
    assert _evaluate("--ckpt", str(tiny["bare"]), "--data", str(test_csv), "--out", str(tmp_path / "a")) == 0
    plain = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert plain["threshold_source"].startswith("default 0.5") and plain["metrics"]["global_thresholds"]["macro_f1"] == 0
    assert any("no thresholds" in n for n in plain["notes"])
    assert _evaluate("--ckpt", str(tiny["bare"]), "--data", str(test_csv), "--val", str(val_csv),
                     "--out", str(tmp_path / "b"), "--profile", "smoke") == 0
    fitted = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert fitted["temperature_source"] == f"fitted on {val_csv}" and fitted["threshold_source"].startswith("fitted")
    assert fitted["metrics"]["global_thresholds"]["macro_f1"] == 1.0
    assert "global_thresholds+tta" in fitted["metrics"]  # the smoke profile turns TTA on
    thr = json.loads((tmp_path / "b" / "thresholds.json").read_text())
    assert set(thr["per_group"]) == {"light", "intermediate", "dark"} and thr["source"].startswith("fitted")
    assert all(0.1 < t <= 0.5 for t in thr["global"].values())
    capsys.readouterr()


def test_refuses_single_label_data_and_renames_label_columns(tiny, tmp_path, capsys):
    single = make_split(tmp_path / "single", n_per_class=2, size=32)
    rc = _evaluate("--ckpt", str(tiny["ckpt"]), "--data", str(single / "test.csv"), "--out", str(tmp_path / "x"))
    err = capsys.readouterr().err
    assert rc == 2 and "no 0/1 column for the labels acne, erythema, hyperpigmentation, wrinkles" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x" / "summary.json").exists()
    # a folder of class folders is no multi-label list; a split folder is (issue 28: it stands for its test.csv, as
    # in compare, where it used to be refused like the class folders)
    rc = _evaluate("--ckpt", str(tiny["ckpt"]), "--data", str(tmp_path / "single" / "images"), "--out",
                   str(tmp_path / "y"))
    assert rc == 2 and "CSV list with one 0/1 column per label" in capsys.readouterr().err
    rc = _evaluate("--ckpt", str(tiny["ckpt"]), "--data", str(tiny["split"]), "--out", str(tmp_path / "y"))
    assert rc == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "y" / "summary.json").read_text())["data"] == str(tiny["split"] / "test.csv")

    # the same list with its columns named otherwise, plus an unreadable image: --label-map renames the columns
    table = pd.read_csv(tiny["split"] / "test.csv")
    table["path"] = [str((tiny["split"] / p).resolve()) for p in table["path"]]
    table = table.rename(columns={"acne": "spots", "wrinkles": "lines"})
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    table = pd.concat([table, table.iloc[[0]].assign(path=str(broken))], ignore_index=True)
    renamed = tmp_path / "renamed.csv"
    table.to_csv(renamed, index=False)
    rc = _evaluate("--ckpt", str(tiny["ckpt"]), "--data", str(renamed), "--out", str(tmp_path / "z"))
    assert rc == 2 and "acne, wrinkles" in capsys.readouterr().err
    rc = _evaluate("--ckpt", str(tiny["ckpt"]), "--data", str(renamed), "--out", str(tmp_path / "z"),
                   "--label-map", "spots=acne,lines=wrinkles")
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "z" / "summary.json").read_text())
    assert summary["label_map"] == {"spots": "acne", "lines": "wrinkles"} and summary["n_unreadable"] == 1
    assert summary["per_label"]["acne"]["f1"] == 1.0 and any("spots -> acne" in n for n in summary["notes"])
    assert pd.read_csv(tmp_path / "z" / "dropped.csv")["path"].tolist() == [str(broken)]
    pred = pd.read_csv(tmp_path / "z" / "predictions.csv")
    assert pd.isna(pred["pred"].iloc[-1]) and pd.isna(pred["pred_acne"].iloc[-1])


def test_without_known_tones_fairness_uses_the_estimate_and_says_so(tiny, tmp_path):
    table = pd.read_csv(tiny["split"] / "test.csv")
    table["path"] = [str((tiny["split"] / p).resolve()) for p in table["path"]]
    table = table.rename(columns={"tone_group": "tone_group_est"})
    table.to_csv(tmp_path / "photos.csv", index=False)
    assert _evaluate("--ckpt", str(tiny["ckpt"]), "--data", str(tmp_path / "photos.csv"), "--out", str(tmp_path / "e")) == 0
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["fairness_col"] == "tone_group_est" and any("ESTIMATE" in n for n in summary["notes"])
    long = pd.read_csv(tmp_path / "e" / "group_label_metrics.csv")
    assert set(long["group"]) == {"light", "intermediate", "dark"} and summary["fairness_gap"]["macro"] is not None
    assert "tone_group_est" in pd.read_csv(tmp_path / "e" / "predictions.csv").columns


def test_single_label_checkpoints_still_take_the_single_label_path(tmp_path):
    """The multi-label branch leaves a single-label evaluation alone (its own tests check it in full)."""
    from _tiny_runs import make_run

    split = make_split(tmp_path, n_per_class=2, size=32)
    ckpt = make_run(tmp_path / "run", model_name="test_convnext", img_size=32)
    assert _evaluate("--ckpt", str(ckpt), "--data", str(split / "test.csv"), "--out", str(tmp_path / "e")) == 0
    assert (tmp_path / "e" / "per_class.csv").is_file() and not (tmp_path / "e" / "per_label.csv").exists()
    assert "task" not in json.loads(Path(tmp_path / "e" / "summary.json").read_text())
