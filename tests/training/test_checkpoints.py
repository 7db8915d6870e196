"""auxiliary.training.checkpoints: the checkpoint format, weights-only loading, clear errors."""

from __future__ import annotations

import pytest
import torch

from auxiliary.training import checkpoints, models

CLASSES = ["acne", "erythema", "none"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = models.create_model("resnet18", num_classes=3)
    path = tmp_path_factory.mktemp("ck") / "best.pt"
    checkpoints.save_checkpoint(path, model, model_name="resnet18", classes=CLASSES, img_size=32, temperature=2.0,
                           metrics={"val_balanced_acc": 0.5}, config={"profile": "smoke"})
    return path, model


def test_checkpoint_loads_weights_only(ckpt):
    path, model = ckpt
    raw = torch.load(path, weights_only=True)
    assert raw["classes"] == CLASSES and raw["model_name"] == "resnet18"
    loaded, info = checkpoints.load_checkpoint(path)
    assert info["img_size"] == 32 and info["temperature"] == 2.0 and info["metrics"]["val_balanced_acc"] == 0.5
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="not found"):
        checkpoints.load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoints.CheckpointError, match="cannot read checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(checkpoints.CheckpointError, match="not a checkpoint of this project"):
        checkpoints.load_checkpoint(tmp_path / "other.pt")


def test_checkpoint_round_trip(tmp_path):
    m = models.create_model("test_resnet", 3).eval()
    p = checkpoints.save_checkpoint(tmp_path / "best.pt", m, model_name="test_resnet", classes=["a", "b", "c"],
                               img_size=32, metrics={"val_balanced_acc": 0.5}, temperature=1.7)
    raw = torch.load(p, map_location="cpu", weights_only=True)
    assert raw["temperature"] == pytest.approx(1.7) and raw["classes"] == ["a", "b", "c"]
    loaded, info = checkpoints.load_checkpoint(p)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), m(x))
    assert info["img_size"] == 32 and info["metrics"]["val_balanced_acc"] == 0.5
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoints.CheckpointError):
        checkpoints.load_checkpoint(tmp_path / "junk.pt")
