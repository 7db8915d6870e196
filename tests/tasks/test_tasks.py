"""auxiliary.tasks: one task chosen once, owning what differs between single- and multi-label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _tiny_training import make_cfg

from auxiliary.base.errors import AuxiliaryError, TrainError
from auxiliary.tasks import TASKS, choose_task, task_named, task_of, task_of_targets
from auxiliary.tasks.losses import FocalLoss, LogitAdjustedLoss, MultilabelBCE

LABELS = ["acne", "erythema", "wrinkles"]


def test_the_registry_names_each_task_once_and_old_checkpoints_are_single_label():
    assert set(TASKS) == {"single", "multilabel"}
    assert task_named(None) is TASKS["single"] and task_of({}) is TASKS["single"]
    assert task_of({"task": "multilabel"}) is TASKS["multilabel"]
    with pytest.raises(AuxiliaryError, match="unknown task 'triplet'"):
        task_named("triplet")
    assert task_of_targets(np.zeros((2, 3))) is TASKS["multilabel"] and task_of_targets(np.zeros(2)) is TASKS["single"]


def test_choose_task_follows_the_split_and_refuses_what_does_not_fit():
    assert choose_task(make_cfg().train, "multilabel").name == "multilabel"  # ce left alone: bce on multi-label data
    assert choose_task(make_cfg(loss="bce").train).name == "multilabel"  # auto without a split follows the loss
    with pytest.raises(TrainError, match="loss focal is single-label but the data is multi-label"):
        choose_task(make_cfg(loss="focal").train, "multilabel")
    with pytest.raises(TrainError, match="loss bce is multi-label but the data has one class per image"):
        choose_task(make_cfg(loss="bce").train, "single")
    with pytest.raises(TrainError, match="classes.json says multilabel"):
        choose_task(make_cfg(task="single").train, "multilabel")
    with pytest.raises(TrainError, match="not a metric of a multi-label run"):
        choose_task(make_cfg(monitor="val_acc").train, "multilabel")
    assert TASKS["multilabel"].monitor(make_cfg().train) == "val_macro_auroc"
    assert TASKS["single"].monitor(make_cfg().train) == "val_balanced_acc"


def test_each_task_builds_its_loss_from_the_training_rows():
    single, multi = TASKS["single"], TASKS["multilabel"]
    table = pd.DataFrame({"label": ["a", "a", "a", "b"], "tone_group": ["light"] * 4})
    focal = single.criterion(make_cfg(loss="focal").train, table, ["a", "b"], "none")
    assert isinstance(focal, FocalLoss) and focal.weight.tolist() == pytest.approx([4 / 6, 2.0])
    adjusted = single.criterion(make_cfg(loss="logit_adjusted").train, table, ["a", "b"], "none")
    assert isinstance(adjusted, LogitAdjustedLoss)
    assert adjusted.offset.tolist() == pytest.approx(np.log([0.75, 0.25]).tolist(), rel=1e-5)
    ml = pd.DataFrame({"acne": [1, 0, 0, 0], "erythema": [1, 1, 0, 1], "wrinkles": [0, 0, 1, 1]})
    bce = multi.criterion(make_cfg().train, ml, LABELS, "none")
    assert isinstance(bce, MultilabelBCE) and bce.pos_weight.tolist() == pytest.approx([3.0, 1 / 3, 1.0])
    assert single.targets(table, ["a", "b"]).tolist() == [0, 0, 0, 1]
    assert multi.targets(ml, LABELS).shape == (4, 3)


def test_training_accuracy_and_pass_metrics_of_each_task():
    single, multi = TASKS["single"], TASKS["multilabel"]
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    assert float(single.correct(logits, torch.tensor([0, 1, 1]))) == 2.0
    ml_logits = torch.tensor([[1.0, -1.0], [-1.0, -1.0]])
    assert float(multi.correct(ml_logits, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))) == pytest.approx(1.5)
    m = multi.pass_metrics(np.array([[1, 0], [0, 1], [1, 1], [0, 0]]), np.array([[2, -2], [-2, 2], [2, 2], [-2, -2.]]))
    assert m["macro_auroc"] == 1.0 and m["subset_accuracy"] == 1.0 and m["acc"] == 1.0


def test_calibration_probabilities_and_decisions_round_trip_through_a_checkpoints_entries():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    guess = np.where(rng.random(200) < 0.3, rng.integers(0, 3, 200), y)  # right 80 % of the time...
    logits = np.eye(3)[guess] * 6 + rng.normal(0, 1, (200, 3))  # ...but sure of it: a temperature above 1
    single = TASKS["single"]
    cal = single.calibrate(logits, y, ["a", "b", "c"], np.full(200, "unknown"), 10)
    assert set(cal) == {"temperature"} and cal["temperature"] > 1
    p = single.probabilities(logits, cal)
    assert np.allclose(p.sum(1), 1) and (single.decide(p, cal, ["a", "b", "c"]) == logits.argmax(1)).all()
    assert p.max(1).mean() < single.probabilities(logits, {}).max(1).mean()  # calibrated: less sure
    Y = (rng.random((200, 3)) < 0.4).astype(int)
    z = np.where(Y == 1, 2.0, -2.0) + rng.normal(0, 1, (200, 3))
    multi = TASKS["multilabel"]
    cal = multi.calibrate(z, Y, LABELS, np.array(["light", "dark"] * 100), 20)
    assert len(cal["temperatures"]) == 3 and set(cal["thresholds"]["global"]) == set(LABELS)
    assert set(cal["thresholds"]["per_group"]) == {"light", "dark"}
    P = multi.probabilities(z, cal)
    d = multi.decide(P, cal, LABELS)
    assert d.shape == (200, 3) and (d == Y).mean() > 0.9
    assert multi.prediction_names(np.array([[1, 0, 1], [0, 0, 0]]), LABELS) == ["acne|wrinkles", "none"]
    with pytest.raises(AuxiliaryError, match="not a number between 0 and 1"):
        multi.decide(P, {"thresholds": {"global": {"acne": 2.0}}}, LABELS)


def _ml_sort(decisions: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "source": ["a.png", "b.png", "c.png", "d.png"], "decision": decisions,
        "destination": ["acne/a.png|erythema/a.png", "none/b.png", "low_confidence/c.png", ""],
        "prob_acne": [0.9, 0.1, 0.55, 0.0], "prob_erythema": [0.8, 0.2, 0.1, 0.0], "prob_wrinkles": [0.1, 0.1, 0.1, 0.0],
        "pred_acne": [1, 0, 1, 0], "pred_erythema": [1, 0, 0, 0], "pred_wrinkles": [0, 0, 0, 0],
        "margin": [0.3, 0.3, 0.05, 0.0],
    })


def test_multilabel_sort_quality_review_queue_and_filing(tmp_path):
    multi = TASKS["multilabel"]
    pred = _ml_sort(["sorted", "sorted", "low_confidence", "rejected"])
    truth = pd.DataFrame({"source": ["a.png", "b.png", "c.png"], "acne": [1, 0, 1], "erythema": [1, 1, 0],
                          "wrinkles": [0, 0, 0]})
    q = multi.sort_quality(pred, truth, LABELS)
    assert q["n_labelled"] == 3 and q["n_sorted"] == 2 and q["n_low_confidence"] == 1
    assert q["wrong_total"] == 1 == q["wrong_in_label_folders"]  # b.png misses erythema
    assert q["per_label_sorted"]["erythema"]["recall"] == 0.5
    queue = multi.review_queue(pred, truth, LABELS)
    assert list(queue["source"]) == ["c.png", "b.png"]  # smallest margin first; the rejected file is never queued
    assert list(queue["label"]) == ["acne", "erythema"] and list(queue["why"]) == ["low confidence", "mistake"]
    folder, guess, probs = multi.review_filing(queue.iloc[1], LABELS)
    assert (folder, guess) == ("erythema", "none") and probs["erythema"] == 0.2
    assert multi.review_filing(multi.review_queue(pred, None, LABELS).iloc[0], LABELS) is None  # truth unknown
    with pytest.raises(AuxiliaryError, match="margin"):
        multi.review_queue(pred, truth, LABELS, order="entropy")


def test_each_task_names_its_run_files_and_test_line():
    multi, single = TASKS["multilabel"], TASKS["single"]
    summary = {"thresholds": {"global": {"acne": 0.4}}, "temperatures": [1.2], "test_macro_auroc": 0.9,
               "test_macro_f1": 0.7, "test_balanced_acc": 0.8}
    assert list(multi.run_files(summary, ["acne"])) == ["thresholds.json"] and single.run_files(summary, ["a"]) == {}
    assert "macro AUROC 0.900" in multi.test_line(summary) and "balanced accuracy 0.800" in single.test_line(summary)
    assert multi.test_line({}) == single.test_line({}) == ""
