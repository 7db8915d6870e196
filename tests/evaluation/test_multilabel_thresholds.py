"""auxiliary.evaluation.multilabel_thresholds: per-label and per (group, label) thresholds, the fairness gap."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from auxiliary.evaluation import multilabel as ml
from auxiliary.evaluation import multilabel_thresholds as mt
from auxiliary.evaluation.arrays import MetricsInputError

LABELS = ["acne", "pigment"]


def shifted_case(n: int = 400, seed: int = 0, dark_shift: float = -0.25):
    """Scores of positives ~ 0.3 + noise (so 0.5 is a bad threshold); in the dark group every
    score sits ``dark_shift`` lower (a model that under-calls dark skin)."""
    rng = np.random.default_rng(seed)
    groups = np.array(["intermediate", "dark"] * (n // 2), dtype=object)
    Y = (rng.random((n, 2)) < [0.4, 0.2]).astype(int)
    P = 0.05 + 0.3 * Y + rng.random((n, 2)) * 0.25
    P[groups == "dark"] += dark_shift
    return Y, np.clip(P, 0, 1), groups


def test_fit_thresholds_improves_f1_where_half_is_bad():
    Yv, Pv, _ = shifted_case(seed=1, dark_shift=0.0)
    Yt, Pt, _ = shifted_case(seed=2, dark_shift=0.0)
    t = mt.fit_thresholds(Yv, Pv, LABELS)
    assert set(t) == set(LABELS) and all(0.05 < v < 0.5 for v in t.values())
    base = ml.per_label_metrics(Yt, Pt, LABELS, 0.5)["f1"]
    tuned = ml.per_label_metrics(Yt, Pt, LABELS, t)["f1"]
    assert (tuned > base + 0.3).all() and (tuned > 0.9).all()


def test_fit_thresholds_default_without_positives():
    Y = np.array([[1, 0], [0, 0], [1, 0]])
    P = np.array([[0.8, 0.1], [0.2, 0.9], [0.7, 0.3]])
    t = mt.fit_thresholds(Y, P, LABELS, default=0.42)
    assert t == {"acne": 0.7, "pigment": 0.42}


def test_group_thresholds_reduce_a_constructed_gap():
    Yv, Pv, gv = shifted_case(seed=3)
    Yt, Pt, gt = shifted_case(seed=4)
    thr = mt.fit_label_group_thresholds(Yv, Pv, gv, LABELS, min_group_size=20)
    assert thr.fallback == {}
    assert all(thr.by_group["dark"][lab] < thr.by_group["intermediate"][lab] for lab in LABELS)
    gap = mt.fairness_gap(Yt, Pt, gt, LABELS, thr)  # dark minus intermediate
    assert gap.attrs["group_a"] == "dark" and list(gap.index) == [*LABELS, "macro"]
    assert (gap["gap_global"].abs() > 0.15).all()
    assert (gap["gap_group"].abs() < 0.1).all()
    assert gap.loc["macro", "gap_group"] == pytest.approx(
        gap.loc[LABELS, "f1_a_group"].mean() - gap.loc[LABELS, "f1_b_group"].mean())
    assert gap.loc["macro", "n_positives_a"] == gap.loc[LABELS, "n_positives_a"].sum()


def test_small_groups_and_rare_labels_fall_back_to_the_global_threshold():
    Y, P, g = shifted_case(seed=5)
    g = g.copy()
    g[:10] = "brown"  # 10 rows: below min_group_size
    thr = mt.fit_label_group_thresholds(Y, P, g, LABELS, min_group_size=20, min_positives=5)
    assert thr.fallback["brown"] == LABELS
    assert thr.by_group["brown"] == thr.global_thresholds
    strict = mt.fit_label_group_thresholds(Y, P, g, LABELS, min_group_size=20, min_positives=10_000)
    assert set(strict.fallback) == {"brown", "dark", "intermediate"}
    rows = thr.for_rows(["dark", "unseen", None])
    assert rows.shape == (3, 2)
    assert rows[1].tolist() == rows[2].tolist() == thr.for_rows().tolist()  # unseen / unknown -> global
    assert thr.for_rows(["dark"], use_groups=False).tolist() == [thr.for_rows().tolist()]


def test_thresholds_round_trip_through_json():
    Y, P, g = shifted_case(seed=6)
    thr = mt.fit_label_group_thresholds(Y, P, g, LABELS)
    back = mt.LabelThresholds.from_dict(json.loads(json.dumps(thr.to_dict())))
    assert back == thr


def test_per_group_label_table():
    Y, P, g = shifted_case(seed=7)
    thr = mt.fit_label_group_thresholds(Y, P, g, LABELS)
    tab = mt.per_group_label_metrics(Y, P, g, LABELS, thr, min_group_size=250)
    assert len(tab) == 4 and tab["flagged_small"].all()
    assert tab["group"].tolist() == ["intermediate", "intermediate", "dark", "dark"]  # tone order
    dark = tab.set_index(["group", "label"]).loc[("dark", "acne")]
    m = g == "dark"
    direct = ml.per_label_metrics(Y[m], P[m], LABELS, thr.for_rows(g[m]))
    assert dark["f1"] == direct.loc["acne", "f1"] and dark["threshold"] == thr.by_group["dark"]["acne"]
    assert dark["support"] == m.sum() and dark["n_positives"] == Y[m, 0].sum()
    plain = mt.per_group_label_metrics(Y, P, g, LABELS, 0.5)
    assert (plain["threshold"] == 0.5).all()


def test_nan_where_a_group_has_no_positives_and_bad_groups():
    Y, P, g = shifted_case(seed=8)
    Y[g == "dark", 1] = 0
    thr = mt.fit_label_group_thresholds(Y, P, g, LABELS)
    assert "pigment" in thr.fallback["dark"]
    gap = mt.fairness_gap(Y, P, g, LABELS, thr)
    assert math.isnan(gap.loc["pigment", "f1_a_global"]) and math.isnan(gap.loc["pigment", "gap_group"])
    assert gap.loc["macro", "gap_global"] == pytest.approx(gap.loc["acne", "gap_global"])
    with pytest.raises(MetricsInputError, match="no sample"):
        mt.fairness_gap(Y, P, g, LABELS, thr, group_a="very_light")
    with pytest.raises(MetricsInputError, match="group values"):
        mt.per_group_label_metrics(Y, P, g[:5], LABELS)
