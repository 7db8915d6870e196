"""auxiliary.evaluation.thresholds: per-group thresholds on P(positive classes); per-label and per (group, label)
thresholds, and the fairness gap they close (auxiliary.evaluation.fairness)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from auxiliary.base.errors import AuxiliaryError
from auxiliary.evaluation import fairness, metrics, operating_point, thresholds
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
    t = thresholds.fit_thresholds(Yv, Pv, LABELS)
    assert set(t) == set(LABELS) and all(0.05 < v < 0.5 for v in t.values())
    base = metrics.per_label_metrics(Yt, Pt, LABELS, 0.5)["f1"]
    tuned = metrics.per_label_metrics(Yt, Pt, LABELS, t)["f1"]
    assert (tuned > base + 0.3).all() and (tuned > 0.9).all()


def test_fit_thresholds_default_without_positives():
    Y = np.array([[1, 0], [0, 0], [1, 0]])
    P = np.array([[0.8, 0.1], [0.2, 0.9], [0.7, 0.3]])
    t = thresholds.fit_thresholds(Y, P, LABELS, default=0.42)
    assert t == {"acne": 0.7, "pigment": 0.42}


def test_group_thresholds_reduce_a_constructed_gap():
    Yv, Pv, gv = shifted_case(seed=3)
    Yt, Pt, gt = shifted_case(seed=4)
    thr = thresholds.fit_label_group_thresholds(Yv, Pv, gv, LABELS, min_group_size=20)
    assert thr.fallback == {}
    assert all(thr.by_group["dark"][lab] < thr.by_group["intermediate"][lab] for lab in LABELS)
    gap = fairness.fairness_gap(Yt, Pt, gt, LABELS, thr)  # dark minus intermediate
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
    thr = thresholds.fit_label_group_thresholds(Y, P, g, LABELS, min_group_size=20, min_positives=5)
    assert thr.fallback["brown"] == LABELS
    assert thr.by_group["brown"] == thr.global_thresholds
    strict = thresholds.fit_label_group_thresholds(Y, P, g, LABELS, min_group_size=20, min_positives=10_000)
    assert set(strict.fallback) == {"brown", "dark", "intermediate"}
    rows = thr.for_rows(["dark", "unseen", None])
    assert rows.shape == (3, 2)
    assert rows[1].tolist() == rows[2].tolist() == thr.for_rows().tolist()  # unseen / unknown -> global
    assert thr.for_rows(["dark"], use_groups=False).tolist() == [thr.for_rows().tolist()]


def test_thresholds_round_trip_through_json():
    Y, P, g = shifted_case(seed=6)
    thr = thresholds.fit_label_group_thresholds(Y, P, g, LABELS)
    back = thresholds.LabelThresholds.from_dict(json.loads(json.dumps(thr.to_dict())))
    assert back == thr


def test_per_group_label_table():
    Y, P, g = shifted_case(seed=7)
    thr = thresholds.fit_label_group_thresholds(Y, P, g, LABELS)
    tab = fairness.per_group_label_metrics(Y, P, g, LABELS, thr, min_group_size=250)
    assert len(tab) == 4 and tab["flagged_small"].all()
    assert tab["group"].tolist() == ["intermediate", "intermediate", "dark", "dark"]  # tone order
    dark = tab.set_index(["group", "label"]).loc[("dark", "acne")]
    m = g == "dark"
    direct = metrics.per_label_metrics(Y[m], P[m], LABELS, thr.for_rows(g[m]))
    assert dark["f1"] == direct.loc["acne", "f1"] and dark["threshold"] == thr.by_group["dark"]["acne"]
    assert dark["support"] == m.sum() and dark["n_positives"] == Y[m, 0].sum()
    plain = fairness.per_group_label_metrics(Y, P, g, LABELS, 0.5)
    assert (plain["threshold"] == 0.5).all()


def test_nan_where_a_group_has_no_positives_and_bad_groups():
    Y, P, g = shifted_case(seed=8)
    Y[g == "dark", 1] = 0
    thr = thresholds.fit_label_group_thresholds(Y, P, g, LABELS)
    assert "pigment" in thr.fallback["dark"]
    gap = fairness.fairness_gap(Y, P, g, LABELS, thr)
    assert math.isnan(gap.loc["pigment", "f1_a_global"]) and math.isnan(gap.loc["pigment", "gap_group"])
    assert gap.loc["macro", "gap_global"] == pytest.approx(gap.loc["acne", "gap_global"])
    with pytest.raises(MetricsInputError, match="no sample"):
        fairness.fairness_gap(Y, P, g, LABELS, thr, group_a="very_light")
    with pytest.raises(MetricsInputError, match="group values"):
        fairness.per_group_label_metrics(Y, P, g[:5], LABELS)


# ----------------------------------------------------------------------------- one class per image
CLASSES = ["acne", "erythema", "none"]


def _probs(p_acne: np.ndarray) -> np.ndarray:
    rest = (1 - p_acne) / 2
    return np.column_stack([p_acne, rest + 0.01, rest - 0.01])


def _shifted(rng: np.random.Generator, n_light: int, n_dark: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model scores acne lower on dark skin: one global threshold fits light skin only."""
    parts = []
    for group, n, mu_pos, mu_neg in (("light", n_light, 0.70, 0.30), ("dark", n_dark, 0.40, 0.18)):
        y = rng.integers(0, 3, n)
        pos = y == 0
        s = np.where(pos, rng.normal(mu_pos, 0.08, n), rng.normal(mu_neg, 0.08, n)).clip(0.01, 0.97)
        parts.append((y, _probs(s), np.array([group] * n)))
    return tuple(np.concatenate(x) for x in zip(*parts))  # type: ignore[return-value]


def test_per_group_thresholds_improve_the_worst_group():
    rng = np.random.default_rng(0)
    y_val, p_val, g_val = _shifted(rng, 400, 150)
    y_test, p_test, g_test = _shifted(rng, 400, 150)
    thr = thresholds.fit_group_thresholds(y_val, p_val, g_val, CLASSES, ["acne"], objective="f1")
    assert set(thr) == {thresholds.GLOBAL, "light", "dark"}
    assert thr["dark"] < thr[thresholds.GLOBAL]
    table = thresholds.evaluate_group_thresholds(y_test, p_test, g_test, CLASSES, ["acne"], thr)
    assert list(table.index) == ["light", "dark", thresholds.ALL]
    worst = table.drop(index=thresholds.ALL)["f1_global"].idxmin()
    assert worst == "dark"
    assert table.loc["dark", "f1_group"] > table.loc["dark", "f1_global"] + 0.1
    assert table.loc[thresholds.ALL, "f1_group"] >= table.loc[thresholds.ALL, "f1_global"]
    # decisions agree with the table
    flags = thresholds.apply_group_thresholds(p_test, g_test, CLASSES, ["acne"], thr)
    m = g_test == "dark"
    assert operating_point.binary_rates(y_test[m] == 0, flags[m].astype(float), 0.5)["f1"] == pytest.approx(
        table.loc["dark", "f1_group"]
    )
    same = thresholds.apply_group_thresholds(p_test, g_test, CLASSES, ["acne"], thr, use_groups=False)
    assert (same == (p_test[:, 0] >= thr[thresholds.GLOBAL])).all()
    report = thresholds.group_threshold_report(y_val, p_val, g_val, y_test, p_test, g_test, CLASSES, ["acne"])
    assert report.attrs["thresholds"] == thr


def test_recall_objective_and_small_group_fallback():
    rng = np.random.default_rng(1)
    y, p, g = _shifted(rng, 300, 12)
    thr = thresholds.fit_group_thresholds(y, p, g, CLASSES, ["acne"], objective="recall", target_recall=0.95,
                                        min_group_size=20)
    assert thr["dark"] == thr[thresholds.GLOBAL] and thr.fallback == {"dark"}  # too small: global threshold
    light = g == "light"
    assert thr["light"] == pytest.approx(operating_point.recall_threshold(y[light] == 0, p[light, 0], 0.95))
    table = thresholds.evaluate_group_thresholds(y, p, g, CLASSES, ["acne"], thr, min_group_size=20)
    assert table.loc["dark", "flagged_small"] and table.loc["dark", "fallback"]
    assert table.loc["light", "recall_group"] >= 0.95
    with pytest.raises(AuxiliaryError, match="objective"):
        thresholds.fit_group_thresholds(y, p, g, CLASSES, ["acne"], objective="accuracy")


def test_best_f1_threshold_known_answer():
    y = np.array([1, 1, 0, 1, 0, 0], dtype=bool)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    # cut at .8 -> F1 = 2*2/(2+0+3) = .8 ; at .6 -> 2*3/(3+1+3) = .857 ; so .6
    assert thresholds.best_f1_threshold(y, s) == pytest.approx(0.6)
    assert math.isnan(thresholds.best_f1_threshold(np.zeros(3, bool), s[:3]))
