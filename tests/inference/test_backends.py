"""auxiliary.inference.backends: the ONNX predictor matches PyTorch; the auto choice is measured once, cached."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from _tiny_runs import CLASSES, tiny_run_with_split

from auxiliary.base import errors, files
from auxiliary.base import images as images_mod
from auxiliary.inference import backends, predictor, sorter
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import export, onnx_model
from auxiliary.models import factory as models
from auxiliary.tasks import task_of


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run_with_split(tmp_path_factory.mktemp("export"))


def test_predictor_backends_onnx_and_auto(run, monkeypatch):
    root, split, ckpt = run
    images = [images_mod.read_image(p) for p in sorted((split.parent / "images").rglob("*.png"))]
    torch_pred = predictor.Predictor.from_checkpoint(ckpt)
    onnx_pred = backends.load_predictor(ckpt, backend="onnx")
    assert onnx_pred.backend == "onnx" and onnx_model.default_onnx_path(ckpt).is_file()
    p_t, p_o = torch_pred.predict_arrays(images), onnx_pred.predict_arrays(images)
    assert np.max(np.abs(p_t - p_o)) <= 1e-4
    assert np.max(np.abs(torch_pred.predict_arrays(images, tta=True) - onnx_pred.predict_arrays(images, tta=True))) <= 1e-4

    backends._BACKEND_CACHE.clear()
    auto = backends.load_predictor(ckpt, backend="auto")
    choice = auto.info["backend_choice"]
    assert auto.backend == choice["backend"] in ("torch", "onnx")
    assert choice["torch_ms_per_image"] > 0 and choice["onnx_ms_per_image"] > 0
    saved = json.loads(onnx_model.default_onnx_path(ckpt).with_suffix(".backend.json").read_text())
    assert saved["backend"] == choice["backend"]

    def no_more_timing(*a, **k):
        raise AssertionError("the backend decision must be cached, not measured again")

    monkeypatch.setattr(backends, "speed", no_more_timing)
    assert backends.load_predictor(ckpt, backend="auto").backend == choice["backend"]
    backends._BACKEND_CACHE.clear()  # a new process: the decision is read back from disk
    assert backends.load_predictor(ckpt, backend="auto").backend == choice["backend"]
    with pytest.raises(onnx_model.ExportError, match="unknown inference backend"):
        backends.load_predictor(ckpt, backend="tensorrt")


# ------------------------------------------------------------- an ONNX file that does not match its checkpoint
TWO = ["acne", "none"]


def _two_class_ckpt(run_dir):
    torch.manual_seed(1)
    model = models.create_model("resnet18", num_classes=len(TWO))
    run_dir.mkdir(parents=True, exist_ok=True)
    return checkpoints.save_checkpoint(run_dir / "best.pt", model, model_name="resnet18", classes=TWO, img_size=32)


def _biased_three_class_ckpt(run_dir):
    """A 3-class checkpoint whose head always prefers the third class (index 2: out of range for 2 classes)."""
    torch.manual_seed(2)
    model = models.create_model("resnet18", num_classes=len(CLASSES))
    with torch.no_grad():
        model.fc.bias.copy_(torch.tensor([0.0, 0.0, 30.0]))
    run_dir.mkdir(parents=True, exist_ok=True)
    return checkpoints.save_checkpoint(run_dir / "best.pt", model, model_name="resnet18", classes=CLASSES, img_size=32)


def _foreign_onnx(kind, dest, two_ckpt, root):
    """An ONNX file at ``dest`` that is not an export of ``two_ckpt`` (in the ways a user meets them)."""
    three = _biased_three_class_ckpt(root / "runs" / "three")
    if kind == "exported from a 3-class checkpoint":
        export.export_onnx(three, dest)
        return
    model, info = checkpoints.load_checkpoint(three)
    mean, std, classes = info["mean"], info["std"], info["classes"]
    if kind == "other normalisation, no hash":  # the right weights and classes, another mean/std
        model, info = checkpoints.load_checkpoint(two_ckpt)
        mean, std, classes = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), info["classes"]
    onnx_model.export_model(model, dest, img_size=32, classes=classes, mean=mean, std=std)  # no source hash
    if kind == "3-class, no metadata":
        proto = onnx.load(str(dest))
        del proto.metadata_props[:]
        onnx.save(proto, str(dest))


KINDS = ["exported from a 3-class checkpoint", "3-class, no hash", "3-class, no metadata",
         "other normalisation, no hash"]


@pytest.mark.parametrize("kind", KINDS)
def test_sort_auto_never_uses_an_onnx_file_that_does_not_match(kind, tmp_path, monkeypatch, capsys):
    """A foreign ONNX file beside a 2-class best.pt is re-exported before sorting; it is never used as is."""
    two = _two_class_ckpt(tmp_path / "runs" / "two")
    beside = onnx_model.default_onnx_path(two)
    _foreign_onnx(kind, beside, two, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i in range(6):
        images_mod.write_png(inputs / f"img_{i}.png", np.random.default_rng(i).integers(0, 256, (40, 40, 3), np.uint8))
    backends._BACKEND_CACHE.clear()
    monkeypatch.setattr(backends, "choose_backend", lambda *a, **k: {"backend": "onnx"})  # ONNX "faster" here
    capsys.readouterr()
    res = sorter.sort_folder(two, inputs, tmp_path / "sorted", backend="auto", progress=False)
    assert res.summary["accounted_for_all"]
    meta = onnx_model.onnx_metadata(beside)
    assert meta["classes"] == TWO and meta["source_sha256"] == files.sha256_file(two)
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406])
    table = pd.read_csv(tmp_path / "sorted" / "predictions.csv").sort_values("source")
    expect, _ = predictor.Predictor.from_checkpoint(two).predict_paths(list(table["source"]), progress=False)
    np.testing.assert_allclose(table[[f"prob_{c}" for c in TWO]].to_numpy(), expect, atol=1e-5)
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    if kind != "exported from a 3-class checkpoint":
        assert len(notes) == 1 and str(beside) in notes[0] and "re-export" in notes[0], notes


def test_an_explicit_onnx_file_that_does_not_match_is_never_replaced(tmp_path, capsys):
    """An ONNX path the user names is not ours to replace: backend=onnx fails in one line, auto uses PyTorch."""
    two = _two_class_ckpt(tmp_path / "runs" / "two")
    theirs = tmp_path / "theirs.onnx"
    _foreign_onnx("exported from a 3-class checkpoint", theirs, two, tmp_path)
    before = theirs.read_bytes()
    with pytest.raises(onnx_model.ExportError) as info:
        backends.load_predictor(two, backend="onnx", onnx_path=theirs)
    msg = str(info.value)
    assert len(msg.splitlines()) == 1 and str(theirs) in msg and "classes" in msg and "another checkpoint" in msg, msg
    capsys.readouterr()
    auto = backends.load_predictor(two, backend="auto", onnx_path=theirs)
    notes = capsys.readouterr().out.strip().splitlines()
    assert auto.backend == "torch" and auto.classes == TWO
    assert len(notes) == 1 and notes[0].startswith("note: not using ONNX Runtime") and "using PyTorch" in notes[0]
    assert theirs.read_bytes() == before  # left alone
    assert not onnx_model.default_onnx_path(two).exists()


def test_predictor_refuses_a_model_with_another_class_count(tmp_path):
    """Belt and braces: scores that do not fit the classes are one clear error, not an IndexError later."""
    three = _biased_three_class_ckpt(tmp_path / "three")
    model, info = checkpoints.load_checkpoint(three)
    wrong = predictor.Predictor(model, {**info, "classes": TWO}, task_of(info))
    with pytest.raises(errors.AuxiliaryError, match="gives 3 class scores but 2 classes"):
        wrong.predict_arrays([np.zeros((40, 40, 3), np.uint8)])
