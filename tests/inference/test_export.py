"""auxiliary.inference.export: ONNX metadata, dynamic batch, parity with PyTorch on real images, failing parity, CLI."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from _tiny_runs import CLASSES, make_run, make_split

from auxiliary import cli, files
from auxiliary import images as images_mod
from auxiliary.inference import export, onnx_model
from auxiliary.training import checkpoints, models


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread avoids oversubscription on a shared CPU
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    split = make_split(root, n_per_class=4)
    ckpt = make_run(root / "runs" / "tiny", "resnet18", seed=0, img_size=32, temperature=1.7, val_csv=split / "val.csv")
    return root, split, ckpt


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
        export.check_parity(other, good, images, img_size=32, mean=(0.5,) * 3, std=(0.25,) * 3)

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
