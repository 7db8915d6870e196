"""auxiliary.viz.panels_comparison: notebook 05's comparison browser over real comparisons (one class, several labels
per image): a selector per level of the table drives the table and the plot, prev / next page the gallery, and
without a front end it is a static figure."""

from __future__ import annotations

import math

import matplotlib
import pandas as pd
import pytest
from _panels import comparison, multilabel_runs, single_runs

from auxiliary.viz import panels_comparison as pc

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser_single")
    split, ckpts = single_runs(root)
    return comparison(root, split, ckpts)


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser_multi")
    split, ckpts = multilabel_runs(root)
    return comparison(root, split, ckpts)


def test_the_first_view_is_the_headline_metric_by_tone_group(single, multi):
    b = pc.comparison_browser(single, interactive=False)
    assert b.levels == ["model", "group", "metric"]  # one split: no selector for it
    assert b.choice["metric"] == "balanced_accuracy" and b.choice["model"] == single.best_model()
    assert b.choice["group"].startswith("tone_group:")
    assert list(b.view().columns) == ["all", "tone_group:light", "tone_group:brown", "tone_group:dark"]
    assert b.value() == pytest.approx(single.table.loc[(b.choice["model"], "test", b.choice["group"],
                                                        "balanced_accuracy"), "value"])
    m = pc.comparison_browser(multi, interactive=False)
    assert m.levels == ["model", "group", "label", "metric"]  # the label level of multi-label models
    assert (m.choice["label"], m.choice["metric"]) == ("macro", "auroc")  # macro_auroc, the task's headline
    assert m.value() == pytest.approx(multi.wide(m.choice["group"]).loc[m.choice["model"], "macro_auroc"])


@pytest.mark.parametrize("which", ["single", "multi"])
def test_the_selectors_drive_the_table_and_the_plot(which, request):
    cmp = request.getfixturevalue(which)
    b = pc.comparison_browser(cmp, gallery_size=4, interactive=True)
    assert b.mode == "live" and list(b.controls) == b.levels
    image, html, status = b.image.value, b.html.value, b.status.value
    assert image[:8] == b"\x89PNG\r\n\x1a\n" and "<table" in html
    other = next(m for m in b.options("model") if m != b.choice["model"])
    b.controls["model"].value = other  # as the front end does
    assert b.choice["model"] == other and b.image.value != image and b.status.value != status
    b.controls["metric"].value = "f1" if which == "multi" else "macro_f1"
    assert b.html.value != html and "f1" in b.status.value
    b.controls["group"].value = "all"
    assert list(b.view().columns) == ["all"]
    if which == "multi":
        b.controls["label"].value = "acne"
        expected = cmp.table.loc[(other, "test", "all", "acne", "f1"), "value"]
        assert b.value() == pytest.approx(expected)
    # a metric that is not measured in the group chosen says so instead of failing
    b.select(metric="parameters", group=next(g for g in b.options("group") if g.startswith("tone_group:")))
    assert math.isnan(b.value()) and "no value" in b.status.value
    with pytest.raises(ValueError, match="no group"):
        b.select(group="nowhere")


def test_prev_and_next_page_the_gallery(single, multi):
    b = pc.comparison_browser(single, gallery_size=4, interactive=True)
    names = [name for name, _ in b.pages]
    other = next(m for m in single.models if m != single.best_model())  # the best model's galleries come first
    assert names == ["errors_mistakes", "errors_low_confidence", "gradcam_grid", f"mistakes: {other}",
                     f"low_confidence: {other}"]
    first = b.gallery.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and "page 1 / 5" in b.page_label.value
    b.next_button.click()
    assert b.page == 1 and b.gallery.value != first and "errors_low_confidence" in b.page_label.value
    b.prev_button.click()
    b.prev_button.click()  # wraps round to the last page
    assert b.page == 4 and f"low_confidence: {other}" in b.page_label.value
    m = pc.comparison_browser(multi, gallery_size=2, interactive=True)
    assert [name for name, _ in m.pages] == ["gradcam_labels"] and m.gallery.value[:4] == b"\x89PNG"


def test_static_figure_without_a_front_end(single):
    b = pc.comparison_browser(single)  # no kernel here: no one to click
    assert b.mode == "static" and b.widget is None
    assert b._drawn == {}  # the gallery is not drawn for a static view: notebook 05 shows its figures itself
    b._ipython_display_()
    assert b.shown == "static"
    assert len(b.draw().axes) == 1 and "<table" in b.tables()[0]


def test_default_choice_spells_the_headline_metric():
    index = pd.MultiIndex.from_product([["A"], ["test"], ["all"], ["acne", "macro"], ["auroc", "f1"]],
                                       names=["model", "split", "group", "label", "metric"])
    table = pd.DataFrame({"value": range(4)}, index=index)
    assert pc.default_choice(table, "macro_f1") == {"model": "A", "split": "test", "group": "all", "label": "macro",
                                                    "metric": "f1"}
    assert pc.default_choice(table, "auroc")["label"] == "acne"  # a metric of its own: the first of each level
    assert pc.group_kind("tone_group:dark") == "tone_group" and pc.group_kind("all") == "all"
