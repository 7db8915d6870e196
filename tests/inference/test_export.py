"""auxiliary.models.export: ONNX metadata, dynamic batch, parity with PyTorch on real images, failing parity, CLI."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from _tiny_runs import CLASSES, make_run, tiny_run_with_split

from auxiliary.base import files
from auxiliary.base import images as images_mod
from auxiliary.faces import cli
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import export, onnx_model
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run_with_split(tmp_path_factory.mktemp("export"))


def test_export_metadata_dynamic_batch_and_parity(run, tmp_path):
    _, _, ckpt = run
    res = export.export_onnx(ckpt, tmp_path / "tiny.onnx")
    assert res.path.is_file() and not res.reused
    assert res.max_abs_diff is not None and res.max_abs_diff <= export.PARITY_ATOL
    assert "validation images" in res.parity_source  # real inputs from the run's val_predictions.csv
    meta = onnx_model.onnx_metadata(res.path)
    assert meta["classes"] == CLASSES and meta["img_size"] == 32 and meta["temperature"] == pytest.approx(1.7)
    assert meta["mean"] == pytest.approx([0.485, 0.456, 0.406]) and meta["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert meta["source_sha256"] == files.sha256_file(ckpt)
    graph = onnx.load(str(res.path)).graph
    dim0 = graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch" and not dim0.dim_value
    sess = onnx_model.onnx_session(res.path)
    model, _ = checkpoints.load_checkpoint(ckpt)
    for n in (1, 5):
        x = np.random.default_rng(n).standard_normal((n, 3, 32, 32)).astype(np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(onnx_model.onnx_logits(sess, x), ref, atol=1e-4)
    again = export.export_onnx(ckpt, tmp_path / "tiny.onnx")  # same checkpoint: kept, not rewritten
    assert again.reused


def test_failing_parity_raises_and_leaves_no_file(run, tmp_path, monkeypatch):
    _, split, ckpt = run
    good = export.export_onnx(ckpt, tmp_path / "good.onnx").path
    torch.manual_seed(123)
    other = models.create_model("resnet18", len(CLASSES))  # different weights than the ONNX graph
    images = [images_mod.read_image(p) for p in sorted((split.parent / "images" / "acne").glob("*.png"))]
    with pytest.raises(export.OnnxParityError, match="parity check failed"):
        export.check_parity(other, good, images, preprocessing=Preprocessing(32, (0.5,) * 3, (0.25,) * 3))

    real_export = onnx_model.export_model

    def wrong_graph(model, out, **kw):  # the exporter "silently" produces another network
        return real_export(other, out, **kw)

    monkeypatch.setattr(export, "export_model", wrong_graph)
    with pytest.raises(export.OnnxParityError):
        export.export_onnx(ckpt, tmp_path / "bad.onnx")
    assert not list(tmp_path.glob("*bad*"))


def test_existing_file_from_another_checkpoint_is_not_overwritten(run, tmp_path):
    root, _, ckpt = run
    other = make_run(root / "runs" / "other", "resnet18", seed=5, img_size=32)
    out = export.export_onnx(other, tmp_path / "m.onnx").path
    with pytest.raises(onnx_model.ExportError, match="overwrite"):
        export.export_onnx(ckpt, out)
    assert onnx_model.onnx_metadata(out)["source_sha256"] == files.sha256_file(other)
    res = export.export_onnx(ckpt, out, overwrite=True)
    assert onnx_model.onnx_metadata(res.path)["source_sha256"] == files.sha256_file(ckpt)


def test_cli_export_and_one_line_errors(run, tmp_path, capsys):
    _, split, ckpt = run
    out = tmp_path / "cli.onnx"
    assert cli.main(["export", "--ckpt", str(ckpt), "--out", str(out), "--images", str(split / "test.csv")]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "max |p_torch - p_onnx|" in text and "images from" in text
    assert cli.main(["export", "--ckpt", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: checkpoint not found") and len(err.splitlines()) == 1
    assert cli.main(["export", "--ckpt", str(ckpt), "--out", str(out), "--overwrite", "--images",
                     str(tmp_path / "nowhere")]) == 2
    assert "neither a folder of images nor a CSV" in capsys.readouterr().err


def test_onnx_mismatch_names_every_difference(run, tmp_path):
    """The one rule: recorded source hash, classes, input size and normalisation must all match."""
    _, _, ckpt = run
    good = export.export_onnx(ckpt, tmp_path / "good.onnx").path
    assert export.onnx_mismatch(good, ckpt) is None
    assert export.ensure_onnx(ckpt, good) == good
    model, info = checkpoints.load_checkpoint(ckpt)
    base = dict(img_size=32, classes=CLASSES, mean=info["mean"], std=info["std"])
    sha = {"source_sha256": files.sha256_file(ckpt)}
    cases = {
        "classes": (dict(base, classes=["a", "b", "c"]), sha, "its classes ['a', 'b', 'c'] differ"),
        "img_size": (dict(base, img_size=40), sha, "input size 40 differs from the checkpoint's 32"),
        "mean": (dict(base, mean=(0.5, 0.5, 0.5)), sha, "normalisation"),
        "std": (dict(base, std=(0.5, 0.5, 0.5)), sha, "normalisation"),
        "no hash": (base, None, "records no source checkpoint"),
        "other hash": (base, {"source_sha256": "0" * 64, "source_checkpoint": "elsewhere/best.pt"},
                       "exported from another checkpoint (elsewhere/best.pt)"),
    }
    for name, (kw, meta, why) in cases.items():
        path = onnx_model.export_model(model, tmp_path / f"{name}.onnx", metadata=meta, **kw)
        got = export.onnx_mismatch(path, ckpt)
        assert got is not None and why in got and len(got.splitlines()) == 1, (name, got)
        before = path.read_bytes()
        with pytest.raises(onnx_model.ExportError, match="does not match") as info_:
            export.ensure_onnx(ckpt, path)  # an explicit path is never replaced without permission
        assert len(str(info_.value).splitlines()) == 1 and path.read_bytes() == before
    bare = onnx.load(str(tmp_path / "no hash.onnx"))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    assert "no metadata" in export.onnx_mismatch(tmp_path / "bare.onnx", ckpt)
    assert export.onnx_mismatch(tmp_path / "missing.onnx", ckpt) == "it does not exist"
    (tmp_path / "text.onnx").write_text("not onnx")
    assert "cannot be read" in export.onnx_mismatch(tmp_path / "text.onnx", ckpt)
    replaced = export.ensure_onnx(ckpt, tmp_path / "text.onnx", replace_stale=True)  # allowed: re-exported
    assert export.onnx_mismatch(replaced, ckpt) is None


def test_the_export_records_the_checkpoints_preprocessing_and_parity_holds(run, tmp_path):
    """Issue 29: a checkpoint with a centre-crop spec exports with that spec in its metadata (``preprocessing``, and
    ``resize`` in words); parity holds on images prepared with it; an ONNX file recording another preprocessing does
    not stand in for the checkpoint, and one that records none (exported before specs) stands in for an old one."""
    _, split, old = run
    spec = Preprocessing(32, (0.5,) * 3, (0.5,) * 3, resize="shorter_side", crop_pct=0.875, interpolation="bicubic")
    torch.manual_seed(0)
    model = models.create_model("resnet18", len(CLASSES))
    ckpt = checkpoints.save_checkpoint(tmp_path / "run" / "best.pt", model, model_name="resnet18", classes=CLASSES,
                                       img_size=32, preprocessing=spec)
    res = export.export_onnx(ckpt, images=split.parent / "images")
    meta = onnx_model.onnx_metadata(res.path)
    assert meta["preprocessing"] == spec.entry() and "centre 32 x 32 crop" in meta["resize"]
    assert res.max_abs_diff <= export.PARITY_ATOL and Preprocessing.of(meta) == spec
    assert export.onnx_mismatch(res.path, ckpt) is None
    sha = {"source_sha256": files.sha256_file(ckpt)}
    square = onnx_model.export_model(model, tmp_path / "square.onnx", img_size=32, classes=CLASSES, mean=spec.mean,
                                     std=spec.std, metadata=sha)  # no preprocessing recorded: the square resize
    assert "its preprocessing" in export.onnx_mismatch(square, ckpt)
    old_model, info = checkpoints.load_checkpoint(old)
    plain = onnx_model.export_model(old_model, tmp_path / "plain.onnx", img_size=32, classes=CLASSES, mean=info["mean"],
                                    std=info["std"], metadata={"source_sha256": files.sha256_file(old)})
    assert export.onnx_mismatch(plain, old) is None
