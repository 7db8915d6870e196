"""ONNX for a multi-label checkpoint: task, temperatures and thresholds in the metadata, parity on sigmoid
probabilities, a multi-label predictor from ``load_predictor(..., "onnx"/"auto")``."""

from __future__ import annotations

import numpy as np
import pytest
from _multilabel_checkpoint import LABELS, multilabel_checkpoint, noise_image
from PIL import Image

from auxiliary.base import files
from auxiliary.evaluation.calibration import sigmoid, softmax
from auxiliary.faces import cli
from auxiliary.inference import backends, predictor, sorter
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import export, onnx_model
from auxiliary.models.preprocess import Preprocessing, preprocess
from auxiliary.tasks.multilabel import MultiLabel

THRESHOLDS = {"global": {"acne": 0.3, "erythema": 0.6, "hyperpigmentation": 0.5, "wrinkles": 0.45},
              "per_group": {"dark": {"acne": 0.2, "erythema": 0.6, "hyperpigmentation": 0.5, "wrinkles": 0.45}},
              "fallback": {}}
TEMPERATURES = [1.0, 2.5, 0.5, 1.5]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    images = [noise_image(i) for i in range(4)]
    logits = np.array([[2.0, -1.0, 0.3, -3.0], [-2.0, 1.5, -0.2, 0.4], [0.1, 0.2, 0.3, 0.4], [-1.0, -1.0, 2.0, 2.0]])
    return multilabel_checkpoint(tmp_path_factory.mktemp("mlonnx") / "run" / "best.pt", images, logits,
                                 temperatures=TEMPERATURES, thresholds=THRESHOLDS)


def test_export_records_the_task_and_checks_sigmoid_parity(ckpt, tmp_path, monkeypatch):
    seen = {}
    real = MultiLabel.probabilities

    def spy(self, logits, calibration):  # the parity check compares the checkpoint's task's probabilities
        seen.update(task=self.name, temperatures=list(calibration["temperatures"]))
        return real(self, logits, calibration)

    monkeypatch.setattr(MultiLabel, "probabilities", spy)
    res = export.export_onnx(ckpt, tmp_path / "ml.onnx", images=[noise_image(i) for i in range(10, 14)], device="cpu")
    assert res.max_abs_diff is not None and res.max_abs_diff <= export.PARITY_ATOL
    assert seen == {"task": "multilabel", "temperatures": TEMPERATURES}
    meta = onnx_model.onnx_metadata(res.path)
    assert meta["task"] == "multilabel" and meta["classes"] == LABELS and meta["temperatures"] == TEMPERATURES
    assert meta["thresholds"]["global"] == THRESHOLDS["global"] and "sigmoid" in meta["output"]
    # the metadata alone is enough to use the file: sigmoid(logits / temperatures) are the predictor's probabilities
    sess = onnx_model.onnx_session(res.path)
    torch_pred = predictor.Predictor.from_checkpoint(ckpt, device="cpu")
    imgs = [noise_image(i) for i in range(4)]
    batch = np.stack([torch_pred.predict_arrays([im]) for im in imgs])[:, 0]
    x = np.stack([preprocess(im, Preprocessing.of(meta)) for im in imgs])
    np.testing.assert_allclose(sigmoid(onnx_model.onnx_logits(sess, x), meta["temperatures"]), batch, atol=1e-4)
    assert export.onnx_mismatch(res.path, ckpt) is None
    # a single-label softmax would not match these probabilities: the check compares the right thing
    assert not np.allclose(softmax(onnx_model.onnx_logits(sess, x), 1.0), batch, atol=1e-2)


def test_a_single_label_file_does_not_stand_in_for_a_multilabel_checkpoint(ckpt, tmp_path):
    model, info = checkpoints.load_checkpoint(ckpt)
    onnx_model.export_model(model, tmp_path / "single.onnx", img_size=32, classes=LABELS, mean=info["mean"],
                            std=info["std"], metadata={"source_sha256": files.sha256_file(ckpt)})
    why = export.onnx_mismatch(tmp_path / "single.onnx", ckpt)
    assert why is not None and "task 'single'" in why and "'multilabel'" in why


def test_onnx_and_auto_backends_give_a_multilabel_predictor(ckpt, tmp_path):
    imgs = [noise_image(i) for i in range(4)]
    torch_pred = predictor.Predictor.from_checkpoint(ckpt, device="cpu")
    onnx_pred = backends.load_predictor(ckpt, backend="onnx", device="cpu")
    assert onnx_pred.backend == "onnx" and onnx_pred.task.name == "multilabel"
    assert onnx_pred.info["temperatures"] == TEMPERATURES
    p_t, p_o = torch_pred.predict_arrays(imgs), onnx_pred.predict_arrays(imgs)
    assert np.max(np.abs(p_t - p_o)) <= 1e-4 and not np.allclose(p_o.sum(1), 1.0)
    np.testing.assert_array_equal(onnx_pred.decide(p_o), torch_pred.decide(p_t))
    assert onnx_pred.task.thresholds(onnx_pred.info, LABELS).global_thresholds == THRESHOLDS["global"]
    backends._BACKEND_CACHE.clear()
    auto = backends.load_predictor(ckpt, backend="auto", device="cpu")
    assert auto.task is onnx_pred.task and auto.backend in ("torch", "onnx")
    # sorting on ONNX Runtime gives the torch sort's decisions
    inp = tmp_path / "in"
    inp.mkdir()
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(inp / f"{i}.png")
    a = sorter.sort_folder(ckpt, inp, tmp_path / "o_torch", backend="torch", device="cpu", progress=False)
    b = sorter.sort_folder(ckpt, inp, tmp_path / "o_onnx", backend="onnx", device="cpu", progress=False)
    cols = [f"pred_{c}" for c in LABELS] + ["destination", "decision"]
    assert a.predictions[cols].equals(b.predictions[cols])


def test_cli_export_says_multilabel(ckpt, tmp_path, capsys):
    code = cli.main(["export", "--ckpt", str(ckpt), "--out", str(tmp_path / "cli.onnx"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "multi-label" in out and "2.5" in out
