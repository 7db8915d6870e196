"""auxiliary.steps.operating_point: the k-fold never reads a test row, the shift is stored in a new checkpoint, and
evaluate, sort, predict and the web demo's analysis decide with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from _tiny_runs import make_split

from auxiliary.base import config_overrides
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint, save_with_entries
from auxiliary.steps import operating_point as op_mod
from auxiliary.steps.evaluate import evaluate
from auxiliary.steps.predict import predict
from auxiliary.steps.serve import analyse
from auxiliary.steps.sort import sort
from auxiliary.steps.train import train_run

TINY = {"train.model": "test_resnet", "train.img_size": 32, "train.max_epochs": 2, "train.freeze_epochs": 0,
        "train.batch": 8, "train.threads": 1, "data.cache": False, "train.patience": 0, "train.ema_decay": 0.9}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run on a split whose train, validation and test lists are disjoint."""
    root = tmp_path_factory.mktemp("op")
    split = make_split(root, n_per_class=12, size=36)
    table = pd.read_csv(split / "train.csv")
    part = table.groupby("label").cumcount()
    table[part < 6].to_csv(split / "train.csv", index=False)
    table[(part >= 6) & (part < 9)].to_csv(split / "val.csv", index=False)
    table[part >= 9].to_csv(split / "test.csv", index=False)
    cfg = config_overrides.resolve("smoke", None, TINY)
    train_run(cfg, split, root / "run", progress=False)
    return {"root": root, "split": split, "ckpt": root / "run" / "best.pt", "cfg": cfg}


@pytest.fixture(scope="module")
def fitted(run):
    before = Checkpoint.open(run["ckpt"]).sha256
    rec = op_mod.operating_point(run["ckpt"], run["root"] / "op", min_recall={"acne": 0.9}, folds=2, progress=False)
    assert Checkpoint.open(run["ckpt"]).sha256 == before  # the source is read, never changed
    return {**run, "rec": rec, "out": run["root"] / "op"}


def test_the_folds_never_see_a_test_row(fitted):
    test_paths = set(pd.read_csv(fitted["split"] / "test.csv")["path"].map(lambda p: (fitted["split"] / p).resolve()))
    oof = pd.read_csv(fitted["out"] / "oof_predictions.csv")
    seen = set(oof["path"].astype(str))
    lists = sorted((fitted["out"] / "folds").glob("fold_*/split/*.csv"))
    assert len(lists) == 4  # train and val of two folds, no test list
    for f in lists:
        seen |= {str((f.parent / p).resolve()) for p in pd.read_csv(f)["path"].astype(str)}
    assert not test_paths & {Path(p).resolve() for p in seen}
    assert set(oof["fold"]) == {0, 1}
    assert len(oof) == 27 and oof["path"].is_unique  # every train + validation row predicted once, out of fold


def test_the_shift_is_stored_and_every_predicting_step_uses_it(fitted, tmp_path):
    ck = Checkpoint.open(fitted["out"] / "best.pt")
    op = ck.info["operating_point"]
    assert op["min_recall"] == {"acne": 0.9} and set(op["shift"]) == {"acne", "erythema", "none"}
    assert op["kfold_check"]["folds"] >= 2 and "(test never read)" in op["fitted_on"]
    assert json.loads((fitted["out"] / "operating_point.json").read_text())["shift"] == op["shift"]
    assert ck.info["temperature"] == op["temperature"] > 0  # refitted out of fold
    assert op["source_temperature"] == Checkpoint.open(fitted["ckpt"]).info["temperature"]
    # a strong stored shift towards "acne": every step that decides must follow it
    forced = save_with_entries(tmp_path / "forced.pt", ck, {"operating_point": {**op, "shift": {
        "acne": 30.0, "erythema": 0.0, "none": 0.0}}})
    pred = Predictor.from_checkpoint(forced, device="cpu")
    paths = [str(fitted["split"] / p) for p in pd.read_csv(fitted["split"] / "test.csv")["path"]]
    probs, _ = pred.predict_paths(paths, progress=False)
    assert (pred.decide(probs) == 0).all()
    other = [i for i in range(len(paths)) if probs[i].argmax() != 0]  # images the plain argmax does not call acne
    assert other
    analysis = pred.task.analysis({c: float(v) for c, v in zip(pred.classes, probs[other[0]])}, pred.info,
                                  pred.classes, 0.0)
    assert analysis["top"] == "acne"
    assert predict(fitted["cfg"], [paths[other[0]]], forced)[0]["top"] == "acne"
    shown = analyse(pred, paths[other[0]], 0.0, heatmap=False)  # the web demo's page
    assert shown["ok"] and shown["top"] == "acne" and "operating point" in shown["message"]
    res = evaluate(fitted["cfg"], forced, fitted["split"] / "test.csv", tmp_path / "eval", progress=False)
    rows = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert (rows["pred"] == "acne").all()
    rep = json.loads((tmp_path / "eval" / "operating_point.json").read_text())
    assert rep["per_class"]["acne"]["recall"] == 1.0 and rep["per_class"]["none"]["recall"] == 0.0
    assert res is not None
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in pd.read_csv(fitted["split"] / "test.csv")["path"][:4]:
        (inbox / (fitted["split"] / p).name).write_bytes((fitted["split"] / p).read_bytes())
    sort(config_overrides.apply_overrides(fitted["cfg"], {"sort.conf": 0.0}), forced, inbox, tmp_path / "sorted",
         progress=False)
    sorted_rows = pd.read_csv(tmp_path / "sorted" / "predictions.csv")
    assert (sorted_rows["predicted"] == "acne").all()


def test_a_second_fit_into_the_same_folder_is_refused_unless_overwrite(fitted):
    with pytest.raises(op_mod.OperatingPointError, match="already holds"):
        op_mod.operating_point(fitted["ckpt"], fitted["out"], min_recall={"acne": 0.9}, folds=2, progress=False)
    again = op_mod.operating_point(fitted["ckpt"], fitted["out"], min_recall={"acne": 0.9}, folds=2, progress=False,
                                   overwrite=True)  # the finished folds are reused: the same predictions
    assert again["shift"] == fitted["rec"]["shift"]


@pytest.mark.parametrize("args", [["--min-recall", "acne"], ["--min-recall", "acne=2"], ["--min-recall", "mel=0.7"],
                                  ["--min-recall", "acne=0.7", "--folds", "1"]])
def test_mistakes_are_one_line_and_exit_code_2(fitted, tmp_path, args):
    r = subprocess.run([sys.executable, "-m", "auxiliary", "operating-point", "--ckpt", str(fitted["ckpt"]), "--out",
                        str(tmp_path / "x"), *args], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "x" / "best.pt").exists()


def test_another_seed_reuses_the_out_of_fold_predictions_and_a_test_row_among_them_is_refused(fitted, tmp_path):
    oof = fitted["out"] / "oof_predictions.csv"
    rec = op_mod.operating_point(fitted["ckpt"], tmp_path / "again", min_recall={"acne": 0.9}, oof=oof, progress=False)
    assert rec["shift"] == fitted["rec"]["shift"] and rec["folds"] == 2 and str(oof) in rec["fitted_on"]
    assert not (tmp_path / "again" / "folds").exists()  # nothing trained
    leaky = pd.read_csv(oof)
    test_row = (fitted["split"] / pd.read_csv(fitted["split"] / "test.csv")["path"].iloc[0]).resolve()
    leaky.loc[0, "path"] = str(test_row)
    leaky.to_csv(tmp_path / "leaky.csv", index=False)
    with pytest.raises(op_mod.OperatingPointError, match="test list"):
        op_mod.operating_point(fitted["ckpt"], tmp_path / "leak", min_recall={"acne": 0.9}, oof=tmp_path / "leaky.csv",
                               progress=False)
    assert not (tmp_path / "leak" / "best.pt").exists()
