"""Notebook 01's summaries of a generated dataset, single- and multi-label (synth.dataset)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest

from auxiliary.base.config_overrides import profile_config
from auxiliary.synth.dataset import (
    describe_synthetic,
    multilabel_columns,
    read_synthetic_metadata,
    synthetic_summary,
)
from auxiliary.synth.multilabel_dataset import generate_multilabel_dataset
from auxiliary.viz.plots_synth import plot_strength, plot_synthetic_samples


@pytest.fixture(scope="module")
def ml_table(tmp_path_factory):
    cfg = profile_config("smoke").synth
    from dataclasses import replace

    out = tmp_path_factory.mktemp("ml")
    generate_multilabel_dataset(replace(cfg, task="multilabel", n_per_class=18, size=64), out, progress=False)
    return read_synthetic_metadata(out)


def test_multilabel_summary_counts_faces_per_condition(ml_table):
    labels = multilabel_columns(ml_table)
    assert labels == ["acne", "erythema", "hyperpigmentation", "wrinkles"]
    s = synthetic_summary(ml_table)
    assert s["task"] == "multilabel" and s["n_images"] == 18
    for c in labels:
        assert s["per_class"][c] == int(ml_table[c].sum())
        if s["per_class"][c]:
            assert 0 < s["strength_mean"][c] <= 1
    assert sum(s["conditions_per_face"].values()) == 18
    assert sum(k * v for k, v in s["conditions_per_face"].items()) == int(ml_table[labels].to_numpy().sum())


def test_describe_multilabel_has_one_row_per_condition(ml_table):
    d = describe_synthetic(ml_table)
    assert list(d.index) == multilabel_columns(ml_table)
    assert (d["faces"] == ml_table[list(d.index)].sum().to_numpy()).all()
    tone_cols = [c for c in d.columns if c.startswith("faces_")]
    assert (d[tone_cols].sum(axis=1) == d["faces"]).all()


def test_plots_accept_multilabel_tables(ml_table):
    fig = plot_synthetic_samples(ml_table, n=2)
    assert len(fig.axes) >= 2
    assert plot_strength(ml_table).axes[0].get_title() == "strength drawn per image"


def test_single_label_table_has_no_condition_columns(tmp_path):
    from dataclasses import replace

    from auxiliary.synth.dataset import generate_dataset

    cfg = replace(profile_config("smoke").synth, n_per_class=2, size=48)
    generate_dataset(cfg, tmp_path / "s", progress=False)
    t = read_synthetic_metadata(tmp_path / "s")
    assert multilabel_columns(t) == []
    s = synthetic_summary(t)
    assert s["task"] == "single" and s["per_class"] == {"acne": 2, "erythema": 2, "none": 2}
    assert set(describe_synthetic(t).index) == {"acne", "erythema", "none"}


def test_freckle_free_canvas_differs_only_by_its_freckles():
    """freckles=False (the multi-label canvas) leaves every other draw of the clean skin as it was."""
    import numpy as np

    from auxiliary.synth.procedural import render_skin

    for seed in range(40):  # find subjects that have freckles
        a = render_skin(96, "very_light", np.random.default_rng([seed, 1]), layout="patch")
        if a.meta["freckles"]:
            break
    assert a.meta["freckles"] > 0
    b = render_skin(96, "very_light", np.random.default_rng([seed, 1]), layout="patch", freckles=False)
    assert b.meta["freckles"] == 0 and b.meta["naevi"] == a.meta["naevi"] and b.meta["pores"] == a.meta["pores"]
    d = a.lab[..., 0] - b.lab[..., 0]
    d = d - np.median(d)  # the skin's median L* is set back to the drawn tone after the texture
    assert d.min() < -1.0  # the freckles (darker spots) are gone ...
    assert d.max() < 0.1  # ... they only ever darkened the skin ...
    assert (d < -1.0).mean() < 0.3  # ... in spots, not everywhere


def test_multilabel_positives_are_visible(ml_table):
    """Every drawn condition moves part of the skin by delta E 3 (redrawn when too faint); absent ones nothing."""
    from auxiliary.synth.multilabel_dataset import MIN_VISIBLE

    for lab in multilabel_columns(ml_table):
        on = ml_table[lab].astype(int) == 1
        assert (ml_table.loc[~on, f"{lab}_visible"] == 0).all(), lab
        if on.any():
            assert (ml_table.loc[on, f"{lab}_visible"] > 0).all(), lab
            assert (ml_table.loc[on, f"{lab}_visible"] >= MIN_VISIBLE).mean() >= 0.75, lab
