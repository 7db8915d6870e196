"""Sorting in shards (``sort --shard i/n``) and merging them (``sort --merge``): every input accounted for exactly
once, the same result as one process, resumable and idempotent merges, one-line mistakes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny_runs import tiny_checkpoint
from PIL import Image

from auxiliary.base import errors
from auxiliary.faces import cli
from auxiliary.inference import shards, sort_merge, sorter


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "best.pt", temperature=1.0)[0]


@pytest.fixture(scope="module")
def predictor(ckpt):
    return sorter.sorting_predictor(ckpt, "torch", device="cpu")


def make_inputs(root: Path) -> Path:
    """14 inputs: 12 images (one with the same bytes as another, one in a sub-folder), a corrupt one, a text file."""
    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / f"img_{i}.png")
    shutil.copyfile(root / "img_1.png", root / "same_as_1.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "sub" / "img_0.png")
    (root / "corrupt.png").write_bytes((root / "img_2.png").read_bytes()[:40] + b"\x00" * 50)
    (root / "notes.txt").write_text("not an image\n")
    return root


def sort_in_shards(ckpt, predictor, src: Path, out: Path, n: int) -> None:
    for i in range(n):
        sorter.sort_folder(ckpt, src, out, recursive=True, predictor=predictor, progress=False, shard=(i, n))


def rows(out: Path) -> pd.DataFrame:
    df = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    return df.sort_values("source").reset_index(drop=True)


def test_every_input_falls_in_exactly_one_shard(tmp_path):
    src = make_inputs(tmp_path / "in")
    files = sorter.list_images(src, recursive=True)
    for n in (1, 2, 3, 7):
        owners = [shards.shard_of(p, src, n) for p in files]
        assert all(0 <= o < n for o in owners)
        assert owners == [shards.shard_of(p, src, n) for p in files]  # the same answer in every process
    assert len({shards.shard_of(p, src, 3) for p in files}) == 3  # 14 inputs do spread over 3 shards


def test_merged_shards_give_what_one_process_gives(tmp_path, ckpt, predictor):
    src = make_inputs(tmp_path / "in")
    one = sorter.sort_folder(ckpt, src, tmp_path / "one", recursive=True, predictor=predictor, progress=False)
    sort_in_shards(ckpt, predictor, src, tmp_path / "sharded", 3)
    per_shard = [pd.read_csv(tmp_path / "sharded" / "shards" / f"{i}-of-3" / "predictions.csv") for i in range(3)]
    sources = [s for df in per_shard for s in df["source"]]
    assert len(sources) == len(set(sources)) == 14  # the shards split the inputs: none twice, none left out
    res = sort_merge.merge_shards(src, tmp_path / "sharded", recursive=True, progress=False)
    sm = res.summary
    assert sm["accounted_for_all"] and sm["n_inputs"] == 14 and sm["shards"] == 3
    assert sm["counts"] == one.summary["counts"] and sm["duplicates"] == one.summary["duplicates"] == 1
    a, b = rows(tmp_path / "one"), rows(tmp_path / "sharded")
    cols = ["source", "decision", "folder", "predicted", "sha256", "reason"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    np.testing.assert_allclose(a[[c for c in a if c.startswith("prob_")]].replace("", np.nan).astype(float),
                               b[[c for c in b if c.startswith("prob_")]].replace("", np.nan).astype(float))
    for folder in [*predictor.classes, "low_confidence"]:  # the same files (by content) in every class folder
        def content(root, folder=folder):
            return sorted(p.read_bytes() for p in (root / folder).glob("*")) if (root / folder).is_dir() else []
        assert content(tmp_path / "one") == content(tmp_path / "sharded")
    # a merge run again adds nothing
    again = sort_merge.merge_shards(src, tmp_path / "sharded", recursive=True, progress=False).summary
    assert again["n_processed"] == 0 and again["counts"] == sm["counts"] and again["accounted_for_all"]


def test_merging_needs_every_shard_finished_with_the_same_settings(tmp_path, ckpt, predictor):
    src = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    with pytest.raises(errors.SortError, match="nothing to merge"):
        sort_merge.merge_shards(src, out, progress=False)
    sorter.sort_folder(ckpt, src, out, predictor=predictor, progress=False, shard=(0, 2))
    with pytest.raises(errors.SortError, match=r"shard 1/2 is missing"):
        sort_merge.merge_shards(src, out, progress=False)
    sorter.sort_folder(ckpt, src, out, predictor=predictor, progress=False, shard=(1, 2), conf=0.9)
    with pytest.raises(errors.SortError, match="conf differ"):
        sort_merge.merge_shards(src, out, progress=False)


def test_an_input_no_shard_sorted_is_reported_and_the_cli_exits_1(tmp_path, ckpt, capsys):
    src = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    for i in range(2):
        assert cli.main(["sort", "--ckpt", str(ckpt), "--input", str(src), "--out", str(out), "--shard", f"{i}/2",
                         "--backend", "torch", "--device", "cpu", "--quiet"]) == 0
    assert (out / "shards" / "1-of-2" / "sort_report.json").is_file()
    Image.fromarray(np.zeros((30, 30, 3), dtype=np.uint8)).save(src / "late_arrival.png")
    code = cli.main(["sort", "--input", str(src), "--out", str(out), "--merge", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 1 and "accounted for all: False" in printed and "late_arrival.png" in printed
    report = sort_merge.merge_shards(src, out, progress=False).summary
    assert report["not_in_any_shard"] == [str(src / "late_arrival.png")] and not report["accounted_for_all"]


@pytest.mark.parametrize("value", ["2/2", "-1/3", "1", "a/b", "0/0"])
def test_a_bad_shard_is_one_line_naming_the_option(value):
    with pytest.raises(errors.SortError, match="--shard must be i/n"):
        shards.parse_shard(value)
