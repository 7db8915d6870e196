"""Issue 27: a model trained on procedural synthetic skin only is for teaching, not for real photos. ``sort``,
``evaluate``, ``predict`` (tests/steps/test_predict.py) and ``serve`` print one ``note:`` line when such a model is
used on photos, and never refuse; a model trained on conditions simulated on photos gets no note, and neither does
an evaluation on procedural images (what the model is for)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _tiny_runs import CLASSES, tiny_checkpoint

from auxiliary.base import config_overrides
from auxiliary.base.images import write_png
from auxiliary.faces import cli
from auxiliary.steps.serve import serve


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("notice")
    return {kind: tiny_checkpoint(root / kind / "best.pt", extra={"trained_on": kind})[0]
            for kind in ("procedural", "synthetic")}


@pytest.fixture()
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    paths = [write_png(folder / f"p{i}.png", rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for i in range(3)]
    return folder, paths


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("note:")]


def test_sort_notes_a_procedural_model_once_and_sorts_anyway(models, photos, tmp_path, capsys):
    folder, _ = photos
    assert cli.main(["sort", "--ckpt", str(models["procedural"]), "--input", str(folder), "--out",
                     str(tmp_path / "a"), "--quiet"]) == 0
    [note] = notes(capsys.readouterr().err)
    assert "procedural synthetic skin only" in note and "simulate --input" in note
    assert (tmp_path / "a" / "predictions.csv").is_file()
    assert cli.main(["sort", "--ckpt", str(models["synthetic"]), "--input", str(folder), "--out",
                     str(tmp_path / "b"), "--quiet"]) == 0
    assert notes(capsys.readouterr().err) == []


@pytest.mark.parametrize(("groups", "noted"), [(["photo:a", "photo:b", "photo:c"], True), (None, True),
                                               (["procedural-1", "procedural-2", "procedural-3"], False)])
def test_evaluate_notes_it_on_photos_not_on_procedural_images(models, photos, tmp_path, capsys, groups, noted):
    _, paths = photos
    table = pd.DataFrame({"path": [str(p) for p in paths], "label": CLASSES})
    if groups:
        table["group"] = groups
    table.to_csv(tmp_path / "list.csv", index=False)
    assert cli.main(["evaluate", "--ckpt", str(models["procedural"]), "--data", str(tmp_path / "list.csv"),
                     "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    assert len(notes(capsys.readouterr().err)) == int(noted)


def test_serve_notes_a_procedural_model_before_the_page_opens(models, tmp_path, capsys):
    cfg = config_overrides.resolve("smoke", None, {})
    serve(cfg, models["procedural"], feedback_dir=tmp_path / "fb", examples=False, quiet=True)
    assert len(notes(capsys.readouterr().err)) == 1
    serve(cfg, models["synthetic"], feedback_dir=tmp_path / "fb", examples=False, quiet=True)
    assert notes(capsys.readouterr().err) == []
