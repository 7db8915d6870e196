"""auxiliary.synth and auxiliary.skin: determinism, tone, masks, difficulty knobs, dataset folder, CLI."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auxiliary import cli, tone
from auxiliary.config import SynthConfig
from auxiliary.synth import acne as acne_mod
from auxiliary.synth import dataset, erythema, procedural, samplers

SMALL = SynthConfig(n_per_class=6, size=64, seed=5)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.png"))}


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    a = dataset.generate_dataset(SMALL, tmp_path / "a", progress=False)
    dataset.generate_dataset(replace(SMALL, workers=2), tmp_path / "b", progress=False)
    ha, hb = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert len(ha) == 18 and ha == hb
    assert (tmp_path / "a" / "metadata.csv").read_bytes() == (tmp_path / "b" / "metadata.csv").read_bytes()
    dataset.generate_dataset(replace(SMALL, seed=6), tmp_path / "c", progress=False)
    hc = _hashes(tmp_path / "c")
    assert sum(ha[k] != hc[k] for k in ha) == len(ha)
    assert len(a) == 18


def test_metadata_contract(tmp_path):
    out = tmp_path / "ds"
    table = dataset.generate_dataset(SMALL, out, progress=False)
    meta = pd.read_csv(out / "metadata.csv")
    for col in ("path", "label", "tone_group", "ita", "group", "source", "strength", "count", "seed", "is_augmented"):
        assert col in meta.columns, col
    assert all(not Path(p).is_absolute() and (out / p).is_file() for p in meta["path"])
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in table["path"])
    assert sorted(meta["label"].unique()) == sorted(samplers.CLASSES)
    assert set(meta["tone_group"]) <= set(tone.TONE_GROUPS)
    # One subject gives one image per class; its id is the leakage group.
    assert (meta.groupby("group")["label"].nunique() == 3).all()
    assert (meta.loc[meta.label == "none", "strength"] == 0).all()
    acne = meta[meta.label == "acne"]
    assert acne["strength"].between(*SMALL.acne_strength).all()
    assert acne["count"].between(*SMALL.acne_count).all()
    ery = meta[meta.label == "erythema"]
    assert ery["strength"].between(*SMALL.erythema_strength).all() and ery["extent"].notna().all()
    lesions = pd.read_csv(out / "lesions.csv")
    assert set(lesions["kind"]) <= set(acne_mod.ACNE_KINDS) and set(lesions["path"]) <= set(meta["path"])


def test_tone_groups_balanced_across_classes(tmp_path):
    table = dataset.generate_dataset(replace(SMALL, n_per_class=12), tmp_path / "ds", progress=False)
    ct = pd.crosstab(table["tone_group"], table["label"])
    assert ct.shape == (6, 3) and (ct.to_numpy() == 2).all()


@pytest.mark.parametrize("group", tone.TONE_GROUPS)
def test_measured_ita_falls_in_requested_group(group):
    """Clean skin of every layout, and every class image of a subject, measured from the pixels."""
    for seed in range(4):
        for layout in ("face", "patch"):
            canvas = procedural.render_skin(96, group, np.random.default_rng([seed, 99]), layout=layout)
            ita = tone.estimate_ita(canvas.rgb(), canvas.skin > 0.5)
            assert tone.ita_group(ita) == group, (layout, seed, ita)
    gi = tone.TONE_GROUPS.index(group)
    for subject in (gi, gi + 6, gi + 12):
        cfg = replace(SMALL, size=96)
        canvas = procedural.render_skin(96, group, samplers.subject_stream(cfg.seed, subject, "skin"), face_layout=cfg.face_layout)
        for label, rgb, row, _ in samplers.render_subject(cfg, subject):
            assert row["tone_group"] == group
            assert tone.ita_group(row["ita"]) == group, (label, row["ita"])
            if label == "none":  # independent full-resolution measurement of the written pixels
                ita = tone.estimate_ita(rgb, canvas.skin > 0.5)
                assert tone.ita_group(ita) == group and abs(ita - row["ita"]) < 3, (ita, row["ita"])


def test_image_level_ita_estimate_is_recorded():
    rows = [r for s in range(6) for _, _, r, _ in samplers.render_subject(replace(SMALL, size=96), s)]
    for r in rows:
        assert tone.ita_group(r["ita_image"]) == r["tone_group_est"]
        if r["label"] == "none":  # the clean image: the image-level estimate is the label
            assert r["ita_image"] == r["ita"] and r["tone_group_est"] == r["tone_group"]
    # Lesions move the image-level estimate a little, not across the scale.
    assert max(abs(r["ita_image"] - r["ita"]) for r in rows) < 25


def test_lesions_and_redness_stay_on_skin():
    for seed in range(6):
        canvas = procedural.render_skin(128, tone.TONE_GROUPS[seed], np.random.default_rng(seed), layout="face")
        on_skin = canvas.skin > 0.5
        features = (canvas.area > 0.5) & (canvas.skin < 0.02)  # eyes, brows, lips, nostrils
        lab = canvas.lab.copy()
        res = acne_mod.add_acne(lab, canvas, np.random.default_rng(seed), count=40, strength=0.9)
        assert res.lesions, "no lesion placed"
        assert all(on_skin[int(les.y), int(les.x)] for les in res.lesions)
        assert not (res.mask & (canvas.skin == 0)).any()  # the soft mask edge only fades lesions out
        assert (res.mask & on_skin).sum() >= 0.97 * res.mask.sum()
        assert not (res.mask & features).any()
        changed = np.abs(lab - canvas.lab).max(axis=2) > 0.5
        assert not (changed & (canvas.skin == 0)).any()
        lab = canvas.lab.copy()
        res = erythema.add_erythema(lab, canvas, np.random.default_rng(seed), strength=0.9, extent=1.0)
        changed = np.abs(lab - canvas.lab).max(axis=2) > 0.5
        assert changed.any() and not (changed & (canvas.skin == 0)).any()


def test_strength_and_tone_change_visibility():
    """Stronger erythema is redder; at equal strength, redness shows less on dark skin."""
    def delta_a(group: str, strength: float) -> float:
        canvas = procedural.render_skin(96, group, np.random.default_rng(1), layout="face")
        lab = canvas.lab.copy()
        erythema.add_erythema(lab, canvas, np.random.default_rng(2), strength=strength, extent=0.8, telangiectasia=False)
        red = erythema.erythema_map(canvas, np.random.default_rng(2), 0.8) > 0.5
        return float((lab[..., 1] - canvas.lab[..., 1])[red].mean())

    assert delta_a("light", 0.9) > 2.0 * delta_a("light", 0.15) > 0
    assert delta_a("very_light", 0.6) > 2.0 * delta_a("dark", 0.6) > 0
    weak = acne_mod.acne_kind_probabilities(0.1)
    strong = acne_mod.acne_kind_probabilities(0.95)
    assert abs(sum(weak.values()) - 1) < 1e-9 and abs(sum(strong.values()) - 1) < 1e-9
    assert weak["closed_comedone"] + weak["open_comedone"] > strong["closed_comedone"] + strong["open_comedone"]
    assert strong["pustule"] + strong["nodule"] > weak["pustule"] + weak["nodule"]


def test_real_sizes_follow_pixel_scale():
    big = procedural.render_skin(128, "light", np.random.default_rng(3), layout="patch")
    small = replace(big, px_per_mm=big.px_per_mm / 2, _full={})
    la = acne_mod.acne_lesions(big, np.random.default_rng(0), count=20, strength=0.5, kinds=("papule",))
    lb = acne_mod.acne_lesions(small, np.random.default_rng(0), count=20, strength=0.5, kinds=("papule",))
    ra, rb = np.median([x.radius for x in la]), np.median([x.radius for x in lb])
    assert 1.6 < ra / rb < 2.5
    mm = np.array([2 * x.radius / big.px_per_mm for x in la])
    assert mm.min() >= 1.0 - 1e-6 and mm.max() <= 5.0 + 1e-6


def test_pure_functions_leave_input_alone_and_are_deterministic():
    canvas = procedural.render_skin(96, "intermediate", np.random.default_rng(4), layout="patch")
    rgb = canvas.rgb()
    before = rgb.copy()
    mask = np.zeros(rgb.shape[:2], bool)
    mask[20:80, 10:60] = True
    a = acne_mod.simulate_acne(rgb, count=15, strength=0.7, mask=mask, seed=1)
    b = acne_mod.simulate_acne(rgb, count=15, strength=0.7, mask=mask, seed=1)
    assert np.array_equal(rgb, before)
    assert np.array_equal(a.image, b.image) and a.lesions == b.lesions
    assert a.lesions and all(mask[int(x.y), int(x.x)] for x in a.lesions)
    assert not (a.mask & ~mask).any() and not np.array_equal(a.image, rgb)
    e = erythema.simulate_erythema(rgb, strength=0.8, mask=mask, seed=1)
    assert np.array_equal(rgb, before) and e.mask.any() and not (e.mask & ~mask).any()
    sampler = samplers.AcneSampler(count=(5, 5), strength=0.5, seed=3)
    assert len(sampler(canvas).lesions) == 5


def test_refuses_non_empty_output_and_overwrite_replaces(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(dataset.SynthError, match="not empty"):
        dataset.generate_dataset(SMALL, out, progress=False)
    dataset.generate_dataset(replace(SMALL, n_per_class=3), out, overwrite=True, progress=False)
    assert (out / "notes.txt").read_text() == "mine"
    dataset.generate_dataset(replace(SMALL, n_per_class=2), out, overwrite=True, progress=False)
    assert len(list(out.rglob("*.png"))) == 6 and len(pd.read_csv(out / "metadata.csv")) == 6


def test_cli_with_original_underscore_spellings(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["simulate", "--out_dir", str(out), "--n_per_class", "2", "--size", "48", "--acne_count", "7",
            "--acne_strength", "0.3,0.4", "--erythema_strength", "0.52", "--seed", "1", "--quiet"]
    assert cli.main(args) == 0
    meta = pd.read_csv(out / "metadata.csv")
    assert len(meta) == 6
    assert (meta.loc[meta.label == "acne", "count"] == 7).all()
    assert meta.loc[meta.label == "acne", "strength"].between(0.3, 0.4).all()
    assert (meta.loc[meta.label == "erythema", "strength"] == 0.52).all()
    assert "wrote 6 images" in capsys.readouterr().out
    assert cli.main(["simulate", "--out", str(out), "--n-per-class", "2", "--size", "48", "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli.main(["simulate", "--out", str(out), "--n-per-class", "1", "--size", "48", "--overwrite", "--quiet"]) == 0


@pytest.mark.parametrize("field,value", [("acne_strength", (0.2, 1.4)), ("erythema_extent", (-0.1, 0.5)),
                                         ("acne_count", (-1, 5)), ("size", 8), ("telangiectasia", 2.0)])
def test_bad_settings_are_one_line_errors(tmp_path, field, value):
    with pytest.raises(dataset.SynthError, match=field):
        dataset.generate_dataset(replace(SMALL, **{field: value}), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()
