"""auxiliary.inference.predictor: one call rebuilds the model; probabilities are calibrated; unreadable files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _tiny_runs import tiny_checkpoint

from auxiliary.base.config import DataConfig
from auxiliary.base.images import write_png
from auxiliary.data import loaders
from auxiliary.evaluation import calibration
from auxiliary.inference import predictor
from auxiliary.models import export, preprocess

CLASSES = ["acne", "erythema", "none"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "best.pt", metrics={"val_balanced_acc": 0.5},
                           config={"profile": "smoke"})


def test_predictor_matches_manual_forward_with_temperature(ckpt):
    path, model = ckpt
    pred = predictor.Predictor.from_checkpoint(path)
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 255, (40 + i, 50, 3), dtype=np.uint8) for i in range(3)]
    probs = pred.predict_arrays(imgs, batch_size=2)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1)
    square = preprocess.Preprocessing(32, pred.mean, pred.std)  # a checkpoint recording no spec: the square resize
    x = torch.from_numpy(np.stack([preprocess.preprocess(im, square) for im in imgs]))
    model.eval()
    with torch.no_grad():
        logits = model(x).numpy()
    assert np.allclose(probs, calibration.softmax(logits, 2.0), atol=1e-5)
    tta = pred.predict_arrays(imgs, tta=True)
    assert tta.shape == (3, 3) and not np.allclose(tta, probs)


def test_predict_paths_reports_unreadable(ckpt, tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_text("text")
    pred = predictor.Predictor.from_checkpoint(ckpt[0])
    probs, errors = pred.predict_paths([tmp_path / "ok.png", tmp_path / "bad.png"], progress=False)
    assert np.isfinite(probs[0]).all() and np.isnan(probs[1]).all()
    assert errors == {1: "not an image (unrecognised format)"}


def test_predictor_training_loader_and_export_parity_prepare_the_same_array(tmp_path, monkeypatch):
    """Issue 29: for a checkpoint recording a centre-crop spec, the predictor, the validation loader of training
    (given the spec's geometry) and the export's parity check feed the model the same array for the same image."""
    spec = preprocess.Preprocessing(32, (0.5,) * 3, (0.5,) * 3, resize="shorter_side", crop_pct=0.875,
                                    interpolation="bicubic")
    path, _ = tiny_checkpoint(tmp_path / "run" / "best.pt", preprocessing=spec)
    rng = np.random.default_rng(3)
    paths = []
    for i, (h, w) in enumerate(((40, 52), (30, 21), (64, 64))):
        paths.append(write_png(tmp_path / "images" / f"im{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
    pred = predictor.Predictor.from_checkpoint(path, device="cpu")
    assert pred.preprocessing == spec
    seen = []
    logits = pred.logits
    monkeypatch.setattr(pred, "logits", lambda batch: seen.append(np.array(batch)) or logits(batch))
    pred.predict_paths(paths, batch_size=8, progress=False)
    table = pd.DataFrame({"path": [str(p) for p in paths], "label": ["acne"] * 3})
    loader = loaders.build_loader(table, targets=np.zeros(3, np.int64), img_size=32, mean=spec.mean, std=spec.std,
                                  train=False, data_cfg=DataConfig(cache=False), batch_size=8, progress=False,
                                  geometry=spec.geometry())
    from_loader = next(iter(loader))[0].numpy()
    parity = []
    real = export.onnx_logits
    monkeypatch.setattr(export, "onnx_logits", lambda sess, batch: parity.append(np.array(batch)) or real(sess, batch))
    export.export_onnx(path, images=paths, device="cpu")
    assert np.array_equal(seen[0], parity[0]) and seen[0].shape == (3, 3, 32, 32)
    assert np.allclose(seen[0], from_loader, atol=1e-5)
