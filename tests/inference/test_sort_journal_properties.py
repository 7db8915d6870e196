"""auxiliary.inference.sorter and journal: any sequence of kills and re-runs ends with every input
accounted for exactly once (Hypothesis chooses where each run is killed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auxiliary.base.files import PART_SUFFIX
from auxiliary.base.images import IMAGE_EXTENSIONS, write_png
from auxiliary.inference import sort_report, sorter
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models

CLASSES = ["acne", "erythema", "none"]
N_IMAGES = 7


class Killed(BaseException):
    """A kill: not an Exception, so nothing in the sorter may catch it as an ordinary error."""


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    torch.manual_seed(0)
    ck = checkpoints.save_checkpoint(tmp_path_factory.mktemp("ck") / "best.pt", models.create_model("resnet18", 3),
                                     model_name="resnet18", classes=CLASSES, img_size=32, temperature=1.0)
    return sorter.sorting_predictor(ck, "torch")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        write_png(folder / f"img_{i}.png", rng.integers(0, 256, (36, 36, 3), dtype=np.uint8))
    (folder / "broken.jpg").write_text("not an image")  # always rejected: accounted for as rejected
    return folder


#: each run is killed at the copy with this index, before or after the copy lands; None = runs to the end
KILL = st.one_of(st.none(), st.tuples(st.integers(0, N_IMAGES), st.sampled_from(["before", "after"])))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kills=st.lists(KILL, min_size=0, max_size=4))
def test_any_kills_then_a_full_run_account_for_every_input_once(kills, predictor, inputs, tmp_path_factory,
                                                                 monkeypatch):
    out = tmp_path_factory.mktemp("sorted")
    real = sorter.place_copy
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    for kill in [*kills, None]:
        calls = {"n": 0}

        def place(src, folder, name, sha, out_root, kill=kill, calls=calls):
            if kill is not None and calls["n"] == kill[0] and kill[1] == "before":
                raise Killed()
            result = real(src, folder, name, sha, out_root)
            if kill is not None and calls["n"] == kill[0] and kill[1] == "after":
                raise Killed()
            calls["n"] += 1
            return result

        monkeypatch.setattr(sorter, "place_copy", place)
        try:
            res = sorter.sort_folder(None, inputs, out, predictor=predictor, conf=0.5, batch=3, progress=False)
        except Killed:
            continue
    assert res.summary["accounted_for_all"]
    pred = sort_report.read_sort_predictions(out)
    names = sorted(Path(s).name for s in pred["source"])
    assert names == sorted(before)  # every input once
    sorted_files = [p for p in out.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                    and not any(part.startswith(".") for part in p.relative_to(out).parts)]
    assert len(sorted_files) == N_IMAGES  # one copy of each readable input, none twice
    assert not list(out.rglob(f"*{PART_SUFFIX}"))  # no temporary file left behind
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before  # inputs untouched
    assert isinstance(pd.read_csv(out / "rejected.csv"), pd.DataFrame)
