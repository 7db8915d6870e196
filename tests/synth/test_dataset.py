"""auxiliary.synth.dataset: determinism, the metadata contract, tone balance, user photos and bad inputs, CLI."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from _hostile import assert_safe_csv, fifo, no_hang
from _photos import face_photo
from PIL import Image

from auxiliary.base import tone
from auxiliary.base.config import SynthConfig
from auxiliary.base.files import read_csv
from auxiliary.faces import cli
from auxiliary.synth import acne as acne_mod
from auxiliary.synth import dataset, samplers, skinmask

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


def _jpeg(rgb: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90, **kw)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _bad_and_good_inputs(folder: Path) -> dict[str, str | None]:
    """Write one file per case; returns name -> expected skip-reason fragment (None = usable)."""
    face, _, _ = face_photo()
    folder.mkdir()
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image\n")
    full = _jpeg(face)
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (folder / "notes.txt").write_text("hello")
    (folder / "gray.png").write_bytes(_png(Image.fromarray(face).convert("L")))
    (folder / "rgba.png").write_bytes(_png(Image.fromarray(face).convert("RGBA")))
    rgb16 = (face[..., 0].astype(np.uint16) * 257)  # 16-bit single channel
    (folder / "sixteen.png").write_bytes(_png(Image.fromarray(rgb16)))
    cv2.imwrite(str(folder / "colour16.png"), face[..., ::-1].astype(np.uint16) * 257)  # 16-bit colour
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: stored sideways, shown upright
    (folder / "exif.jpg").write_bytes(_jpeg(np.ascontiguousarray(np.rot90(face, 1)), exif=exif.tobytes()))
    (folder / "plain.jpg").write_bytes(full)
    huge = Image.new("1", (12000, 9000))  # 108 MP, a few kB on disk
    (folder / "huge.png").write_bytes(_png(huge))
    tiny = Image.fromarray(face).resize((40, 46))
    (folder / "tiny.png").write_bytes(_png(tiny))
    large = Image.fromarray(face).resize((2080, 2400))
    (folder / "large.jpg").write_bytes(_jpeg(np.asarray(large)))
    return {
        "zero.jpg": "empty", "text.jpg": "not an image", "truncated.jpg": "truncated", "notes.txt": "not an image file",
        "gray.png": "no skin", "sixteen.png": "no skin", "huge.png": "too large", "tiny.png": "too small",
        "rgba.png": None, "exif.jpg": None, "plain.jpg": None, "large.jpg": None, "colour16.png": None,
    }


def test_photo_folder_with_bad_inputs(tmp_path, capsys):
    inp = tmp_path / "photos"
    expected = _bad_and_good_inputs(inp)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in inp.iterdir()}
    out = tmp_path / "out"
    rc = cli.main(["simulate", "--input", str(inp), "--out", str(out), "--n-per-class", "2", "--size", "64", "--seed", "2"])
    assert rc == 0
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err
    summary = [ln for ln in printed.out.splitlines() if ln.startswith("simulate:")]
    assert len(summary) == 1 and "8 input file(s) skipped" in summary[0]
    skipped = pd.read_csv(out / "skipped.csv")
    reasons = dict(zip(skipped["path"], skipped["reason"]))
    for name, frag in expected.items():
        if frag is None:
            assert name not in reasons, (name, reasons.get(name))
        else:
            assert frag in reasons[name], (name, reasons.get(name))
    meta = pd.read_csv(out / "metadata.csv")
    usable = sorted(k for k, v in expected.items() if v is None)
    assert sorted(meta["source"].unique()) == usable
    # Every usable photo yields one image per class (5 photos > n_per_class 2); a group per photo.
    assert len(meta) == 15 and meta["group"].nunique() == 5 and (meta.groupby("group")["label"].nunique() == 3).all()
    assert (meta["tone_group"] == meta["ita"].map(tone.ita_group)).all()
    assert meta["mask_method"].isin([skinmask.METHOD_FACE, skinmask.METHOD_COLOUR]).all()
    # The EXIF-rotated photo was read upright: its face is taller than wide, like the others.
    assert meta.loc[meta.source == "exif.jpg", "photo_height"].iloc[0] > meta.loc[meta.source == "exif.jpg", "photo_width"].iloc[0]
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in inp.iterdir()}
    assert after == before, "inputs were modified"


def test_photo_variants_cycle_and_output_may_not_overlap_input(tmp_path):
    inp = tmp_path / "photos"
    inp.mkdir()
    face, _, _ = face_photo()
    (inp / "a.jpg").write_bytes(_jpeg(face))
    cfg = SynthConfig(n_per_class=3, size=64, input_dir=str(inp))
    table = dataset.generate_dataset(cfg, tmp_path / "out", progress=False)
    assert len(table) == 9 and sorted(table["variant"].unique()) == [0, 1, 2]
    assert table["group"].nunique() == 1  # all variants of one photo stay in one split
    with pytest.raises(dataset.SynthError, match="overlaps"):
        dataset.generate_dataset(cfg, inp / "out", progress=False)
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "x.jpg").write_bytes(b"")
    with pytest.raises(dataset.SynthError, match="no usable photo"):
        dataset.generate_dataset(replace(cfg, input_dir=str(empty)), tmp_path / "out2", progress=False)
    assert "empty" in pd.read_csv(tmp_path / "out2" / "skipped.csv")["reason"].iloc[0]


def test_photo_names_a_spreadsheet_would_run_and_a_fifo(tmp_path):
    """Issue 28: photos named like formulas (``=1+1.jpg``) are recorded as text in every CSV of the dataset (no
    cell a spreadsheet runs) and read back as named; a FIFO among the photos is skipped with a reason saying so,
    counted, and never opened (opening a FIFO blocks)."""
    inp = tmp_path / "photos"
    inp.mkdir()
    face, _, _ = face_photo()
    (inp / "=1+1.jpg").write_bytes(_jpeg(face))
    (inp / "+cmd.jpg").write_bytes(_jpeg(face))
    (inp / "@SUM(A1).txt").write_text("not a photo")
    fifo(inp / "-2+3.jpg")
    out = tmp_path / "out"
    with no_hang():
        table = dataset.generate_dataset(SynthConfig(n_per_class=2, size=64, input_dir=str(inp)), out, progress=False)
    assert "2 input file(s) skipped" in table.attrs["summary"]
    reasons = {s["path"]: s["reason"] for s in table.attrs["skipped"]}
    assert reasons["-2+3.jpg"].startswith("a FIFO") and "never opened" in reasons["-2+3.jpg"]
    for name in ("metadata.csv", "skipped.csv", "lesions.csv"):
        assert_safe_csv(out / name)
    assert sorted(dataset.read_synthetic_metadata(out)["source"].unique()) == ["+cmd.jpg", "=1+1.jpg"]
    assert set(read_csv(out / "skipped.csv")["path"]) == {"@SUM(A1).txt", "-2+3.jpg"}
    # several conditions per face: the same rules for its own tables
    ml = tmp_path / "out_multilabel"
    with no_hang():
        dataset.generate_dataset(SynthConfig(task="multilabel", n_per_class=2, size=64, input_dir=str(inp)), ml,
                                 progress=False)
    for name in ("metadata.csv", "skipped.csv", "lesions.csv", "params.csv"):
        assert_safe_csv(ml / name)
    assert sorted(dataset.read_synthetic_metadata(ml)["source"].unique()) == ["+cmd.jpg", "=1+1.jpg"]
