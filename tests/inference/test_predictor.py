"""auxiliary.inference.predictor: one call rebuilds the model; probabilities are calibrated; unreadable files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny_runs import tiny_checkpoint

from auxiliary.evaluation import calibration
from auxiliary.inference import predictor
from auxiliary.models import preprocess

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
    x = torch.from_numpy(np.stack([preprocess.preprocess(im, 32, pred.mean, pred.std) for im in imgs]))
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
