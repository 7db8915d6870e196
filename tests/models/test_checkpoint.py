"""auxiliary.models.checkpoint: the checkpoint format, weights-only loading, ``Checkpoint`` opened once, clear errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from _hostile import fifo, no_hang
from _tiny_runs import tiny_checkpoint

from auxiliary.base import files
from auxiliary.faces import cli
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing
from auxiliary.tasks import task_named

CLASSES = ["acne", "erythema", "none"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "best.pt", metrics={"val_balanced_acc": 0.5},
                           config={"profile": "smoke"})


def test_checkpoint_loads_weights_only(ckpt):
    path, model = ckpt
    raw = torch.load(path, weights_only=True)
    assert raw["classes"] == CLASSES and raw["model_name"] == "resnet18"
    loaded, info = checkpoints.load_checkpoint(path)
    assert info["img_size"] == 32 and info["temperature"] == 2.0 and info["metrics"]["val_balanced_acc"] == 0.5
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_a_checkpoint_is_read_and_hashed_once(ckpt, monkeypatch):
    """``Checkpoint.open`` reads the file's bytes once and hashes those very bytes: its SHA-256 is the file's,
    its entries are all but the weights, its task is the one the entries name, and its model is the saved one."""
    path, model = ckpt
    reads = []
    real = type(path).read_bytes
    monkeypatch.setattr(type(path), "read_bytes", lambda self: reads.append(self) or real(self))
    opened = checkpoints.Checkpoint.open(path)
    assert reads == [path]
    assert opened.sha256 == files.sha256_file(path) and opened.path == path
    assert "state_dict" not in opened.info and opened.info["path"] == str(path) and opened.classes == CLASSES
    assert opened.task is task_named("single") and checkpoints.Checkpoint.of(opened) is opened
    built = opened.model()
    assert not built.training and reads == [path]  # building the model reads nothing again
    for k, v in model.state_dict().items():
        assert torch.equal(v, built.state_dict()[k])


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="not found"):
        checkpoints.load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoints.CheckpointError, match="is a text file"):
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


def test_a_checkpoint_records_its_preprocessing_and_an_old_one_keeps_the_square_resize(tmp_path):
    """Issue 29: ``preprocessing`` is recorded (format 2) and read back as the same spec; a checkpoint that records
    none (written before specs existed) is the square area resize of its img_size and mean/std, never re-interpreted;
    img_size/mean/std that contradict the spec are refused rather than recorded twice differently."""
    m = models.create_model("test_resnet", 3).eval()
    spec = Preprocessing(40, (0.5,) * 3, (0.5,) * 3, resize="shorter_side", crop_pct=0.875, interpolation="bicubic")
    p = checkpoints.save_checkpoint(tmp_path / "new.pt", m, model_name="test_resnet", classes=["a", "b", "c"],
                                    img_size=40, preprocessing=spec)
    raw = torch.load(p, weights_only=True)
    assert raw["format"] == 2 and raw["preprocessing"] == spec.entry() and raw["mean"] == [0.5] * 3
    assert checkpoints.Checkpoint.open(p).preprocessing == spec
    old = checkpoints.save_checkpoint(tmp_path / "old.pt", m, model_name="test_resnet", classes=["a", "b", "c"],
                                      img_size=32)
    assert "preprocessing" not in torch.load(old, weights_only=True)
    info = checkpoints.Checkpoint.open(old).info
    assert checkpoints.Checkpoint.open(old).preprocessing == Preprocessing(32, info["mean"], info["std"])
    assert Preprocessing.of(info).resize == "square" and Preprocessing.of(info).interpolation == "area"
    with pytest.raises(ValueError, match="not those of the preprocessing"):
        checkpoints.save_checkpoint(tmp_path / "x.pt", m, model_name="test_resnet", classes=["a"], img_size=32,
                                    preprocessing=spec)
    assert not (tmp_path / "x.pt").exists()


# ----------------------------------------------------------------- every kind of bad file: one clear line
class _Payload:
    """Pickles as a call that creates ``marker``: it must never run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _bad_file(kind, folder, good):
    p = folder / f"{kind}.pt"
    if kind == "folder":
        p.mkdir()
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        data = good.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    elif kind == "cut short":
        p.write_bytes(good.read_bytes()[:-10])
    elif kind == "text":
        p.write_text("epoch,loss\n1,0.5\n")
    elif kind == "one letter":
        p.write_text("e\n")
    elif kind == "random bytes":
        p.write_bytes(bytes(range(7, 250)) * 3)
    elif kind == "pickle with code (torch.save)":
        torch.save({"state_dict": {}, "model_name": "resnet18", "x": _Payload(folder / "MARKER")}, p)
    elif kind == "pickle with code (pickle.dump)":
        with open(p, "wb") as fh:
            pickle.dump(_Payload(folder / "MARKER"), fh)
    elif kind == "numpy inside":
        torch.save({"state_dict": {}, "model_name": "resnet18", "mean": np.zeros(3)}, p)
    elif kind == "bare state dict":
        torch.save(models.create_model("test_resnet", 3).state_dict(), p)
    elif kind == "a tensor":
        torch.save(torch.zeros(3), p)
    elif kind == "newer format":
        raw = torch.load(good, weights_only=True)
        raw["format"] = checkpoints.CHECKPOINT_FORMAT + 1
        torch.save(raw, p)
    elif kind == "no classes":
        raw = torch.load(good, weights_only=True)
        del raw["classes"]
        torch.save(raw, p)
    elif kind == "unknown preprocessing":
        raw = torch.load(good, weights_only=True)
        raw["preprocessing"] = {"resize": "fisheye", "crop_pct": 0.9, "interpolation": "bicubic"}
        torch.save(raw, p)
    return p


BAD = {
    "folder": "is a folder",
    "empty": "is empty",
    "truncated": "truncated",
    "cut short": "truncated",
    "text": "text file",
    "one letter": "text file",
    "random bytes": "not a PyTorch file",
    "pickle with code (torch.save)": "not a plain weights file",
    "pickle with code (pickle.dump)": "not a plain weights file",
    "numpy inside": "not a plain weights file",
    "bare state dict": "state dict",
    "a tensor": "not a checkpoint of this project",
    "newer format": "newer version",
    "no classes": "classes",
    "unknown preprocessing": "records a preprocessing this version cannot apply",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_each_bad_checkpoint_gives_one_clear_line(kind, ckpt, tmp_path):
    p = _bad_file(kind, tmp_path, ckpt[0])
    with pytest.raises(checkpoints.CheckpointError) as info:
        checkpoints.Checkpoint.open(p)
    msg = str(info.value)
    assert BAD[kind] in msg and str(p) in msg, msg
    assert len(msg.splitlines()) == 1 and len(msg) < 400, msg
    assert "weights_only" not in msg and "False" not in msg, msg  # never points at the unsafe option
    assert not (tmp_path / "MARKER").exists()  # the pickled call never ran


def test_bad_checkpoint_on_the_command_line(ckpt, tmp_path, capsys):
    p = _bad_file("pickle with code (torch.save)", tmp_path, ckpt[0])
    assert cli.main(["export", "--ckpt", str(p), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refusing to load checkpoint") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "MARKER").exists() and not (tmp_path / "x.onnx").exists()


def test_a_fifo_or_device_given_as_checkpoint_is_refused_without_opening_it(tmp_path, capsys):
    """Issue 28 (2): opening a FIFO blocks until someone writes to it, reading /dev/zero never ends: ``--ckpt``
    naming one is refused in one line, from ``stat`` alone (``no_hang`` fails the test instead of hanging it)."""
    pipe = fifo(tmp_path / "best.pt")
    zero = tmp_path / "zero.pt"
    zero.symlink_to("/dev/zero")
    with no_hang(60):
        for path, kind in ((pipe, "a FIFO"), (zero, "a device")):
            with pytest.raises(checkpoints.CheckpointError) as info:
                checkpoints.Checkpoint.open(path)
            msg = str(info.value)
            assert kind in msg and str(path) in msg and len(msg.splitlines()) == 1, msg
        for verb in (["sort", "--input", str(tmp_path), "--out", str(tmp_path.parent / "sorted")],
                     ["evaluate", "--data", str(tmp_path), "--out", str(tmp_path.parent / "evaluated")],
                     ["export", "--out", str(tmp_path.parent / "x.onnx")]):
            assert cli.main([verb[0], "--ckpt", str(pipe), *verb[1:]]) == 2, verb
            err = capsys.readouterr().err.strip()
            assert err.startswith("error:") and "FIFO" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path.parent / "sorted").exists() and not (tmp_path.parent / "evaluated").exists()
