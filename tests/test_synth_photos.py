"""The user-photo path of auxiliary.synth: skin masks (auxiliary.skinmask) and bad inputs."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from auxiliary import cli, tone
from auxiliary.config import SynthConfig
from auxiliary.synth import acne, dataset, skinmask


def face_photo(h: int = 300, w: int = 260, skin_rgb=(200, 150, 120), bg=(60, 90, 160)):
    """A synthetic 'photo': a face-like ellipse (eyes, lips) under dark hair on a plain background.

    Returns the RGB image, the true skin ellipse and the eyes+mouth mask.
    """
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bg
    cx, cy = w // 2, h // 2 + 25
    cv2.ellipse(img, (cx, cy - 15), (85, 115), 0, 0, 360, (40, 30, 25), -1)
    cv2.ellipse(img, (cx, cy), (75, 100), 0, 0, 360, skin_rgb, -1)
    feats = np.zeros((h, w), np.uint8)
    for x in (cx - 30, cx + 30):
        cv2.ellipse(img, (x, cy - 20), (14, 6), 0, 0, 360, (240, 240, 240), -1)
        cv2.circle(img, (x, cy - 20), 5, (30, 20, 20), -1)
        cv2.ellipse(feats, (x, cy - 20), (14, 6), 0, 0, 360, 1, -1)
    cv2.ellipse(img, (cx, cy + 55), (24, 8), 0, 0, 360, (170, 60, 70), -1)
    cv2.ellipse(feats, (cx, cy + 55), (24, 8), 0, 0, 360, 1, -1)
    rng = np.random.default_rng(0)
    img = np.clip(cv2.GaussianBlur(img, (0, 0), 1.2) + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    true = np.zeros((h, w), np.uint8)
    cv2.ellipse(true, (cx, cy), (75, 100), 0, 0, 360, 1, -1)
    return img, true.astype(bool), feats.astype(bool)


@pytest.mark.parametrize("skin_rgb", [(235, 200, 180), (200, 150, 120), (150, 100, 70), (95, 62, 45)])
@pytest.mark.parametrize("haar", [True, False])
def test_mask_stays_on_skin(skin_rgb, haar, monkeypatch):
    if not haar:  # the skin-colour model alone must still work, and say so
        monkeypatch.setattr(skinmask, "detect_faces", lambda rgb: [])
    img, true, feats = face_photo(skin_rgb=skin_rgb)
    res = skinmask.skin_mask(img)
    assert res.method in (skinmask.METHOD_FACE, skinmask.METHOD_COLOUR)
    if not haar:
        assert res.method == skinmask.METHOD_COLOUR and not res.face_detected
    m = res.mask
    assert m.sum() > 0.4 * true.sum(), f"mask covers only {m.sum() / true.sum():.0%} of the face ({res.method})"
    assert (m & true).sum() >= 0.98 * m.sum(), f"mask leaks off the face ({res.method})"
    assert not (m & feats).any(), "mask on eyes or lips"
    sim = acne.simulate_acne(img, count=25, strength=0.8, seed=1)
    assert sim.lesions and all(true[int(les.y), int(les.x)] and not feats[int(les.y), int(les.x)] for les in sim.lesions)
    assert not (sim.mask & ~true).any()
    assert sim.params["mask_method"] == res.method


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
