"""auxiliary.evaluation.comparison_table: its selection error is an AuxiliaryError; multi-label rows gain a label level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auxiliary.base.config import EvalConfig
from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation import comparison_table, metrics
from auxiliary.evaluation.thresholds import LabelThresholds


def test_selection_error_is_an_auxiliary_error():
    assert issubclass(comparison_table.SelectionError, AuxiliaryError)


# ----------------------------------------------------------------------------- multi-label rows
LABELS = ["acne", "erythema", "wrinkles"]


def multilabel_case(seed: int = 0, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, 3)) < 0.4).astype(int)
    Y[:6], Y[6:12] = 1, 0
    P = np.clip(0.5 * Y + rng.uniform(0, 0.6, Y.shape), 0, 1)
    groups = np.array(["light", "intermediate", "dark"] * (n // 3))
    return Y, P, groups


def test_multilabel_rows_gain_a_label_level_and_match_the_metrics():
    Y, P, groups = multilabel_case()
    P[-1] = np.nan  # an unreadable image
    thr = LabelThresholds(LABELS, {"acne": 0.4, "erythema": 0.5, "wrinkles": 0.6},
                          {"dark": {"acne": 0.3, "erythema": 0.5, "wrinkles": 0.6}})
    ec = EvalConfig(min_group_size=5, target_recall=0.9)
    rows, worst = comparison_table.multilabel_metric_rows("A", "test", Y, P, LABELS, thr, groups, "tone_group", ec,
                                                          temperatures=[1.0, 2.0, 0.5])
    t = comparison_table.to_frame(rows)
    assert list(t.index.names) == list(comparison_table.MULTILABEL_LEVELS) and t.index.is_unique
    assert set(t.index.get_level_values("label")) == {*LABELS, "macro", "micro", "all"}
    v = t["value"]
    per = metrics.per_label_metrics(Y[:-1], P[:-1], LABELS, [0.4, 0.5, 0.6], target_recall=0.9)
    for lab in LABELS:
        for m in ("auroc", "average_precision", "f1", "precision_at_recall", "threshold"):
            assert v["A", "test", "all", lab, m] == pytest.approx(per.loc[lab, m])
    assert v["A", "test", "all", "macro", "f1"] == pytest.approx(per["f1"].mean())
    assert v["A", "test", "all", "erythema", "temperature"] == 2.0
    assert v["A", "test", "all", "all", "n_images"] == 59 and v["A", "test", "all", "all", "n_unreadable"] == 1
    s = metrics.multilabel_summary(Y[:-1], P[:-1], LABELS, [0.4, 0.5, 0.6])
    assert v["A", "test", "all", "micro", "f1"] == pytest.approx(s["micro_f1"])
    assert v["A", "test", "all", "all", "hamming_loss"] == pytest.approx(s["hamming_loss"])
    groups_level = set(t.index.get_level_values("group"))
    assert {"tone_group:dark", "gap:tone_group", "ratio:tone_group", "dark-intermediate:tone_group"} <= groups_level
    f1 = [v["A", "test", f"tone_group:{g}", "acne", "f1"] for g in ("light", "intermediate", "dark")]
    assert v["A", "test", "gap:tone_group", "acne", "f1"] == pytest.approx(max(f1) - min(f1))
    assert v["A", "test", "dark-intermediate:tone_group", "acne", "f1"] == pytest.approx(f1[2] - f1[1])
    assert v["A", "test", "tone_group:dark", "acne", "f1_group_thresholds"] != v["A", "test", "tone_group:dark", "acne", "f1"]
    assert set(worst["label"]) == {*LABELS, "macro"} and set(worst["worst_group"].dropna()) <= set(groups)
    # the headline view: the "all" rows plus macro_ and micro_ columns; one label's view
    wide = comparison_table.multilabel_wide(t)
    assert {"n_images", "subset_accuracy", "macro_f1", "macro_auroc", "micro_f1"} <= set(wide.columns)
    assert comparison_table.multilabel_wide(t, label="acne").loc["A", "auroc"] == pytest.approx(per.loc["acne", "auroc"])


def test_single_label_rows_keep_four_levels_and_size_rows_join_a_multilabel_table():
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.eye(3)[[0, 1, 1, 0, 2, 2]] * 0.8 + 0.2 / 3
    rows, _ = comparison_table.metric_rows("S", "test", y, probs, ["a", "b", "c"], None, "tone_group", 1)
    assert list(comparison_table.to_frame(rows).index.names) == list(comparison_table.LEVELS)
    Y, P, _ = multilabel_case()
    ml_rows, _ = comparison_table.multilabel_metric_rows("A", "test", Y, P, LABELS, None, None, "tone_group", EvalConfig())
    comparison_table.metric_row(ml_rows, "A", "test", "all", "parameters", 123)  # no label: a size row
    t = comparison_table.to_frame(ml_rows)
    assert t.loc[("A", "test", "all", "all", "parameters"), "value"] == 123
    assert not any(g.startswith("tone_group") for g in t.index.get_level_values("group"))
    assert isinstance(comparison_table.multilabel_wide(t), pd.DataFrame)
