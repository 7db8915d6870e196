"""auxiliary.synth.multilabel_dataset (``simulate --task multilabel``): determinism, the metadata contract
read back by the multi-label reader, prevalences, refusals, user photos and the command line."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from _photos import face_photo
from PIL import Image

from auxiliary.base import tone
from auxiliary.base.config import SynthConfig
from auxiliary.data.readers import read_multilabel_csv
from auxiliary.synth import dataset, multilabel_dataset
from auxiliary.synth.folders import SynthError
from auxiliary.synth.samplers import MULTILABELS

ROOT = Path(__file__).resolve().parents[2]
SMALL = SynthConfig(task="multilabel", n_per_class=12, size=64, seed=3)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.png"))}


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    dataset.generate_dataset(SMALL, tmp_path / "a", progress=False)  # generate_dataset hands over on task
    multilabel_dataset.generate_multilabel_dataset(replace(SMALL, workers=2), tmp_path / "b", progress=False)
    ha, hb = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert len(ha) == 12 and ha == hb and all(k.startswith("images/") for k in ha)
    for name in ("metadata.csv", "params.csv", "lesions.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    multilabel_dataset.generate_multilabel_dataset(replace(SMALL, seed=4), tmp_path / "c", progress=False)
    hc = _hashes(tmp_path / "c")
    assert sum(ha[k] != hc[k] for k in ha) == len(ha)


def test_metadata_contract_and_the_multilabel_reader(tmp_path):
    out = tmp_path / "ds"
    table = dataset.generate_dataset(SMALL, out, progress=False)
    meta = pd.read_csv(out / "metadata.csv")
    for col in ("path", *MULTILABELS, *(f"{lab}_strength" for lab in MULTILABELS), "tone_group", "ita", "group", "seed"):
        assert col in meta.columns, col
    assert len(meta) == 12 and all((out / p).is_file() for p in meta["path"])
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in table["path"])
    for lab in MULTILABELS:
        assert set(meta[lab]) <= {0, 1}
        strength = meta[f"{lab}_strength"]
        assert (strength[meta[lab] == 0] == 0).all() and (strength[meta[lab] == 1] > 0).all(), lab
    # One face per subject, tone groups cycle over subjects: 12 faces = 2 per group.
    assert meta["group"].is_unique
    assert (meta["tone_group"].value_counts().reindex(tone.TONE_GROUPS) == 2).all()
    assert (meta["ita"].map(tone.ita_group) == meta["tone_group"]).all()  # measured on the clean skin
    read, names = read_multilabel_csv(out / "metadata.csv")
    assert names == list(MULTILABELS)
    assert read[names].to_numpy().tolist() == meta[list(MULTILABELS)].to_numpy().tolist()
    assert read["label"].tolist() == meta["label"].tolist()
    assert all(Path(p).is_file() for p in read["path"])
    params = pd.read_csv(out / "params.csv")
    assert params["path"].tolist() == meta["path"].tolist() and "jpeg_quality" in params


def test_prevalences_are_honoured_and_labels_co_occur(tmp_path):
    cfg = replace(SMALL, n_per_class=210, size=32, seed=0)
    meta = multilabel_dataset.generate_multilabel_dataset(cfg, tmp_path / "p", progress=False)
    shares = meta[list(MULTILABELS)].mean()
    # 210 independent draws per label: a binomial share's standard deviation is at most 0.035; allow 0.1.
    for lab, p in zip(MULTILABELS, cfg.prevalence):
        assert abs(shares[lab] - p) < 0.1, (lab, shares[lab], p)
    k = meta[list(MULTILABELS)].sum(axis=1)
    assert (k == 0).any() and (k >= 2).any()
    assert (meta.loc[k == 0, "label"] == "none").all()


def test_one_prevalence_for_all_and_the_extremes(tmp_path):
    none = multilabel_dataset.generate_multilabel_dataset(replace(SMALL, n_per_class=6, prevalence=(0.0,)),
                                                          tmp_path / "none", progress=False)
    assert (none[list(MULTILABELS)] == 0).all().all() and (none["label"] == "none").all()
    every = multilabel_dataset.generate_multilabel_dataset(replace(SMALL, n_per_class=6, prevalence=(1.0,)),
                                                           tmp_path / "all", progress=False)
    assert (every[list(MULTILABELS)] == 1).all().all()
    assert (every["label"] == "|".join(MULTILABELS)).all()


@pytest.mark.parametrize("field,value,words", [("task", "both", "task"), ("prevalence", (0.1, 0.2), "prevalence"),
                                               ("prevalence", (0.1, 0.2, 0.3, 1.5), "prevalence")])
def test_bad_settings_are_one_line_errors(tmp_path, field, value, words):
    with pytest.raises(SynthError, match=words) as info:
        dataset.generate_dataset(replace(SMALL, **{field: value}), tmp_path / "x", progress=False)
    assert "\n" not in str(info.value) and not (tmp_path / "x").exists()


def test_refuses_non_empty_output_and_overwrite_replaces(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(SynthError, match="not empty"):
        multilabel_dataset.generate_multilabel_dataset(SMALL, out, progress=False)
    multilabel_dataset.generate_multilabel_dataset(SMALL, out, overwrite=True, progress=False)
    multilabel_dataset.generate_multilabel_dataset(replace(SMALL, n_per_class=3), out, overwrite=True, progress=False)
    assert len(list((out / "images").glob("*.png"))) == 3 and (out / "keep.txt").is_file()


def test_photo_faces(tmp_path):
    inp = tmp_path / "photos"
    inp.mkdir()
    Image.fromarray(face_photo()[0]).save(inp / "me.png")
    cfg = replace(SMALL, n_per_class=2, input_dir=str(inp), prevalence=(1.0,))
    meta = multilabel_dataset.generate_multilabel_dataset(cfg, tmp_path / "out", progress=False)
    assert len(meta) == 2 and set(meta["group"]) == {"photo:me.png"}
    assert sorted(Path(p).name for p in meta["path"]) == ["face_00000.png", "face_00001_v01.png"]
    assert (meta[list(MULTILABELS)] == 1).all().all()
    assert (tmp_path / "out" / "skipped.csv").is_file()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auxiliary", "simulate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_cli(tmp_path):
    out = tmp_path / "D"
    res = _cli("--task", "multilabel", "--out", str(out), "--n-per-class", "12", "--size", "64", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "12 multi-label images" in res.stdout
    assert len(pd.read_csv(out / "metadata.csv")) == 12
    again = _cli("--task", "multilabel", "--out", str(tmp_path / "E"), "--n", "2", "--size", "32", "--quiet")
    assert again.returncode == 0 and "2 multi-label images" in again.stdout, again.stderr
    bad = _cli("--task", "nosuch", "--out", str(tmp_path / "F"), "--quiet")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "task" in lines[0]
    assert not (tmp_path / "F").exists()


def test_split_reads_a_multilabel_folder_as_multilabel(tmp_path):
    """`split` on a `simulate --task multilabel` folder makes a multi-label split, not classes like acne|wrinkles."""
    import json
    import subprocess
    import sys

    d = tmp_path / "ml"
    assert subprocess.run([sys.executable, "-m", "auxiliary", "simulate", "--task", "multilabel", "--out", str(d),
                           "--n", "12", "--size", "48", "--quiet"], capture_output=True, text=True).returncode == 0
    proc = subprocess.run([sys.executable, "-m", "auxiliary", "split", "--data", str(d), "--out", str(tmp_path / "s")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "s" / "classes.json").read_text())
    assert doc == {"classes": ["acne", "erythema", "hyperpigmentation", "wrinkles"], "task": "multilabel"}
