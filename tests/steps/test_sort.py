"""auxiliary.steps.sort: the one sort step that the command line and notebook 06 both call; the checkpoint is
read and hashed once per sort run."""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _hostile import HOSTILE_CLASSES, assert_safe_csv
from _tiny_runs import CLASSES, tiny_checkpoint
from PIL import Image

from auxiliary.base.config_overrides import resolve
from auxiliary.faces import cli
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.steps.sort import sort

OVERRIDES = {"sort.conf": 0.4, "sort.device": "cpu"}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("run") / "best.pt", temperature=1.0)[0]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inbox")
    for i in range(9):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / f"{i}.png")
    (root / "broken.jpg").write_text("not an image")
    return root


def files_under(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file() and ".sort" not in p.parts and p.parent != out)


def test_the_notebook_call_and_the_command_line_give_the_same_sort(ckpt, inbox, tmp_path, capsys):
    """Notebook 06 calls ``sort(cfg, ckpt, inbox, out)``; ``python -m auxiliary sort`` calls the same function
    with its flags: same folders, same files, same predictions.csv rows."""
    cfg = resolve("smoke", None, {**OVERRIDES, "sort.backend": "torch"})
    notebook = sort(cfg, ckpt, inbox, tmp_path / "notebook", progress=False)
    code = cli.main(["sort", "--profile", "smoke", "--ckpt", str(ckpt), "--input", str(inbox), "--out",
                     str(tmp_path / "cli"), "--conf", "0.4", "--backend", "torch", "--device", "cpu", "--quiet"])
    assert code == 0, capsys.readouterr()
    assert "accounted for all: True" in capsys.readouterr().out
    assert notebook.summary["accounted_for_all"] and notebook.summary["n_inputs"] == 10
    assert files_under(tmp_path / "notebook") == files_under(tmp_path / "cli")
    assert {Path(f).parts[0] for f in files_under(tmp_path / "cli")} <= {*CLASSES, "low_confidence"}

    def rows(out: Path) -> pd.DataFrame:
        return pd.read_csv(out / "predictions.csv", keep_default_na=False).sort_values("source").reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(tmp_path / "notebook"), rows(tmp_path / "cli"))
    for key in ("counts", "decisions", "files", "model", "rule", "classes", "task"):
        assert notebook.summary[key] == pd.read_json(tmp_path / "cli" / "sort_report.json", typ="series")[key], key


def test_a_sort_run_reads_and_hashes_the_checkpoint_once(ckpt, inbox, tmp_path, monkeypatch):
    """Choosing the backend (``auto``: exporting ONNX beside the checkpoint, timing both, caching the choice by the
    checkpoint's hash), building the model and naming the model in every row all use the one opened checkpoint."""
    reads: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and Path(file).resolve() == ckpt.resolve():
            reads.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    cfg = resolve("smoke", None, {**OVERRIDES, "sort.backend": "auto"})
    res = sort(cfg, ckpt, inbox, tmp_path / "out", progress=False)
    assert res.summary["accounted_for_all"] and (ckpt.parent / "best.onnx").is_file()
    assert len(reads) == 1, reads


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Path]:
    """``(checkpoint, inbox)``: a model whose classes a spreadsheet would run (``=1+1``, ``+cmd``, ``@SUM(A1)``) and
    photos named like formulas (``=HYPERLINK("x").png``), one of them unreadable."""
    root = tmp_path_factory.mktemp("hostile")
    torch.manual_seed(0)
    ck = checkpoints.save_checkpoint(root / "run" / "best.pt", models.create_model("resnet18", num_classes=3),
                                     model_name="resnet18", classes=list(HOSTILE_CLASSES[:3]), img_size=32)
    inbox = root / "inbox"
    inbox.mkdir()
    for i, name in enumerate(['=HYPERLINK("x").png', "+cmd.png", "@SUM(A1).png", "-2+3.png", "plain.png"]):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(inbox / name)
    (inbox / "=1+1.jpg").write_text("not an image")
    return ck, inbox


def test_formula_names_are_neutralised_on_disk_and_read_back(hostile, tmp_path):
    """Issue 28 (1): no cell of predictions.csv or rejected.csv (headers included, as the csv module parses them)
    starts with a formula character; the package reads the class and file names back as they were; a re-run (the
    journal) and a sharded sort's ``--merge`` still work on them."""
    ck, inbox = hostile
    cfg = resolve("smoke", None, {**OVERRIDES, "sort.conf": 0.0, "sort.backend": "torch"})
    res = sort(cfg, ck, inbox, tmp_path / "out", progress=False)
    for name in ("predictions.csv", "rejected.csv"):
        assert_safe_csv(tmp_path / "out" / name)
    pred = res.predictions
    assert set(pred.loc[pred["decision"] != "rejected", "predicted"]) <= set(HOSTILE_CLASSES[:3])
    assert {Path(s).name for s in pred["source"]} == {p.name for p in inbox.iterdir()}
    for row in pred[pred["decision"] == "sorted"].itertuples():
        assert (tmp_path / "out" / row.destination).is_file() and row.folder == row.predicted
    assert [Path(s).name for s in res.rejected["source"]] == ["=1+1.jpg"]
    assert {c.removeprefix("prob_") for c in pred.columns if c.startswith("prob_")} == set(HOSTILE_CLASSES[:3])
    again = sort(cfg, ck, inbox, tmp_path / "out", progress=False)
    assert again.summary["n_processed"] == 0 and again.summary["accounted_for_all"]
    pd.testing.assert_frame_equal(again.predictions, pred)
    for i in range(2):
        sort(cfg, ck, inbox, tmp_path / "sharded", shard=(i, 2), progress=False)
    merged = sort(cfg, None, inbox, tmp_path / "sharded", merge=True, progress=False)
    assert merged.summary["accounted_for_all"] and merged.summary["n_inputs"] == 6
    assert_safe_csv(tmp_path / "sharded" / "predictions.csv")
    assert sorted(merged.predictions["predicted"]) == sorted(pred["predicted"])
