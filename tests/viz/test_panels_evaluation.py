"""auxiliary.viz.panels_evaluation: notebook 03's explorer over a real selection table and winner's evaluation, for
one class and for several labels per image: its numbers agree with the evaluation's, its dropdowns redraw the table
and the plot, and without a front end it is a static figure."""

from __future__ import annotations

import math

import matplotlib
import pytest
from _panels import multilabel_runs, selection_table, single_runs, winner_report

from auxiliary.viz import panels_evaluation as rx
from auxiliary.viz.widgets import WIDGETS_ENV

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer_single")
    split, (a, _) = single_runs(root)
    return selection_table(["resnet18", "mobilenet"], "resnet18"), winner_report(root, split, a)


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    root = tmp_path_factory.mktemp("explorer_multi")
    split, (a, _) = multilabel_runs(root)
    return selection_table(["resnet18", "mobilenet"], "mobilenet"), winner_report(root, split, a)


def test_operating_points_of_one_class_per_image_agree_with_the_evaluation(single):
    _, rep = single
    table = rx.operating_point_table(rep)
    points = list(dict.fromkeys(table.index.get_level_values("operating_point")))
    assert points == ["argmax", "high recall", "validation threshold", "per-group thresholds"]
    assert list(dict.fromkeys(table.index.get_level_values("group"))) == ["all", "light", "brown", "dark"]
    # the arg-max is what the evaluation reports; the high-recall threshold reaches the recall it promises
    assert table.loc[("argmax", "all"), "balanced_accuracy"] == pytest.approx(rep["summary"]["balanced_accuracy"])
    assert table.loc[("argmax", "all"), "macro_f1"] == pytest.approx(rep["summary"]["macro_f1"])
    assert table.loc[("high recall", "all"), "sensitivity"] == pytest.approx(rep["high_recall"]["recall"])
    assert table.loc[("high recall", "all"), "precision"] == pytest.approx(rep["high_recall"]["precision"])
    # per group, the rows the group holds; the per-group thresholds are the evaluation's own
    assert table.loc[("argmax", "dark"), "support"] == (rep["predictions"]["tone_group"] == "dark").sum()
    per_group = rep["group_thresholds"]
    for g in ("light", "brown", "dark"):
        assert table.loc[("per-group thresholds", g), "sensitivity"] == pytest.approx(per_group.loc[g, "recall_group"],
                                                                                       nan_ok=True)


def test_operating_points_of_several_labels_agree_with_the_evaluation(multi):
    _, rep = multi
    table = rx.operating_point_table(rep)
    points = list(dict.fromkeys(table.index.get_level_values("operating_point")))
    assert points == ["0.5 per label", "validation thresholds", "per-group thresholds", "high recall"]
    assert table.loc[("validation thresholds", "all"), "macro_f1"] == pytest.approx(rep["summary"]["macro_f1"])
    assert table.loc[("validation thresholds", "all"), "micro_f1"] == pytest.approx(rep["summary"]["micro_f1"])
    assert table.loc[("per-group thresholds", "all"), "subset_accuracy"] == pytest.approx(
        rep["metrics"].loc["group_thresholds", "subset_accuracy"])
    assert table.loc[("high recall", "all"), "micro_recall"] >= rep["target_recall"] - 1e-9


@pytest.mark.parametrize("which", ["single", "multi"])
def test_the_dropdowns_drive_the_table_and_the_plot(which, request):
    selection, rep = request.getfixturevalue(which)
    ex = rx.results_explorer(selection, rep, interactive=True)
    assert ex.mode == "live" and set(ex.controls) == {"metric", "group", "point"}
    image, html, status = ex.image.value, ex.html.value, ex.status.value
    assert image[:8] == b"\x89PNG\r\n\x1a\n" and "<table" in html
    ex.controls["point"].value = ex.controls["point"].options[-1]  # as a click in the front end does
    assert ex.point == ex.controls["point"].options[-1]
    assert ex.image.value != image and ex.html.value != html and ex.status.value != status
    image, html = ex.image.value, ex.html.value
    ex.controls["group"].value = "dark"
    assert ex.group == "dark" and ex.image.value != image and ex.html.value != html
    value = ex.table.loc[(ex.point, "dark"), ex.metric]
    assert (f"{value:.3f}" if not math.isnan(value) else "nan") in ex.status.value
    ex.controls["metric"].value = ex.controls["metric"].options[1]
    assert ex.metric == ex.controls["metric"].options[1] and ex.view().columns.tolist()[2:] == list(ex.spec.metrics)
    # the candidates are ranked by the chosen metric where select measures it
    ex.select(metric=ex.spec.metrics[0])
    ranked = ex.candidates()
    assert ranked is not None and ranked.iloc[:, 0].is_monotonic_decreasing
    # select() sets the dropdowns too, and refuses what the evaluation has not
    ex.select(group="all", point=ex.points[0].name)
    assert ex.controls["group"].value == "all" and ex.controls["point"].value == ex.points[0].name
    with pytest.raises(ValueError, match="unknown group"):
        ex.select(group="purple")


def test_static_figure_without_a_front_end(single, monkeypatch):
    selection, rep = single
    monkeypatch.delenv(WIDGETS_ENV, raising=False)
    ex = rx.results_explorer(selection, rep)  # no kernel here: no one to click
    assert ex.mode == "static" and ex.widget is None and ex.shown is None
    fig = ex.draw()
    assert len(fig.axes) == 2 and ex.metric in fig.axes[0].get_title()
    ex._ipython_display_()  # what a notebook does with the cell's last expression
    assert ex.shown == "static"
    assert any("candidates" in t for t in ex.tables())
