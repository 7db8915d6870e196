"""auxiliary.models.factory: the model factory, head/backbone helpers and freezing, pretrained handling."""

from __future__ import annotations

import pytest
import safetensors.torch
import timm
import timm.models._builder
import torch
from _tiny_training import loaders

from auxiliary.models import factory as models
from auxiliary.models import pretrained
from auxiliary.training import epochs, optimization


def test_fresh_head_is_xavier_initialised_for_the_class_count():
    m = models.create_model("resnet18", 5)
    assert m.fc.out_features == 5
    assert torch.count_nonzero(m.fc.bias) == 0
    bound = (6 / (m.fc.in_features + m.fc.out_features)) ** 0.5  # Xavier-uniform bound
    assert m.fc.weight.abs().max() <= bound and m.fc.weight.abs().max() > 0.8 * bound


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match="resnet18"):
        models.create_model("resnet_18x", 3)


@pytest.mark.parametrize(
    "name, head",
    [("resnet18", "fc"), ("test_efficientnet", "classifier"), ("convnext_atto", "head"), ("test_vit", "head")],
)
def test_head_and_backbone_split(name, head):
    m = models.create_model(name, 3)
    assert [n for n, _ in models.head_modules(m)] == [head]
    head_ids = {id(p) for p in models.head_parameters(m)}
    back_ids = {id(p) for p in models.backbone_parameters(m)}
    assert head_ids and back_ids and not head_ids & back_ids
    assert len(head_ids) + len(back_ids) == len(list(m.parameters()))
    models.set_backbone_trainable(m, False)
    assert models.count_parameters(m, trainable_only=True) == sum(p.numel() for p in models.head_parameters(m))
    models.set_backbone_trainable(m, True)
    assert models.count_parameters(m, trainable_only=True) == models.count_parameters(m)


def test_set_backbone_eval_keeps_the_head_in_train_mode():
    m = models.create_model("convnext_atto", 3).train()
    models.set_backbone_eval(m)
    assert m.training and m.head.training and m.head.fc.training
    assert not m.stem.training and not m.stages[0].training


def test_offline_pretrained_true_fails_with_one_clear_line(monkeypatch):
    # no network here; with a network, pretend the hub is unreachable so the test means the same everywhere
    monkeypatch.setattr(models, "_REACHABLE", {"huggingface.co": False})
    with pytest.raises(pretrained.PretrainedUnavailableError) as info:
        models.create_model("resnet18", 3, pretrained=True)
    msg = str(info.value)
    assert len(msg.splitlines()) == 1
    assert "resnet18" in msg and "--pretrained /path/to/" in msg and "tf_efficientnet_lite0" in msg


def test_hub_offline_env_is_respected(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert models.hub_reachable() is False


def test_pretrained_from_a_local_file_keeps_backbone_and_replaces_head(tmp_path):
    src = timm.create_model("resnet18", num_classes=1000)
    f = tmp_path / "resnet18.pth"
    torch.save(src.state_dict(), f)
    m = models.create_model("resnet18", 3, pretrained=str(f))
    assert torch.equal(m.conv1.weight, src.conv1.weight)
    assert m.fc.out_features == 3 and torch.count_nonzero(m.fc.bias) == 0
    same = models.create_model("resnet18", 1000, pretrained=str(f))
    assert torch.equal(same.fc.weight, src.fc.weight)  # same class count: the file's head is kept
    with pytest.raises(pretrained.PretrainedUnavailableError, match="not found"):
        models.create_model("resnet18", 3, pretrained=str(tmp_path / "missing.pth"))


def test_unknown_model_name():
    with pytest.raises(ValueError, match="did you mean"):
        models.create_model("resnet_18", 3)


def test_head_is_fresh_xavier():
    m = models.create_model("resnet18", 5)
    head = m.get_classifier()
    assert head.out_features == 5 and torch.count_nonzero(head.bias) == 0
    bound = (6 / (head.in_features + head.out_features)) ** 0.5
    assert head.weight.abs().max() <= bound


def test_freeze_really_freezes_backbone_in_phase_one(tmp_path):
    from lightning_fabric import Fabric

    torch.manual_seed(0)
    model = models.create_model("test_efficientnet", 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    head = {n for n, _ in models.head_modules(model)}
    models.set_backbone_trainable(model, False)
    assert all(not p.requires_grad for p in models.backbone_parameters(model))
    assert all(p.requires_grad for p in models.head_parameters(model))
    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")
    fm = fabric.setup_module(model)
    opt = fabric.setup_optimizers(optimization.make_optimizer(model, 1e-2, 0.05))
    tr, _ = loaders()
    epochs.train_epoch(fabric, fm, opt, tr, torch.nn.CrossEntropyLoss(), frozen_backbone=True, progress=False)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "the head trained"
    assert all(any(k.startswith(h + ".") for h in head) for k in changed), f"backbone changed: {sorted(changed)[:5]}"
    # unfrozen, the backbone (weights and BatchNorm statistics) moves
    models.set_backbone_trainable(model, True)
    opt = fabric.setup_optimizers(optimization.make_optimizer(model, 1e-2, 0.05))
    epochs.train_epoch(fabric, fm, opt, tr, torch.nn.CrossEntropyLoss(), progress=False)
    assert not torch.equal(before["conv_stem.weight"], model.state_dict()["conv_stem.weight"])


# ------------------------------------------------------------- --pretrained FILE: weights only, on every torch allowed
class _Payload:
    """Pickles as a call that creates ``marker``: it must never run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def old_torch_and_timm(monkeypatch):
    """torch < 2.6 (its loader unpickles anything unless told ``weights_only=True``) under timm 1.0.3's
    ``load_state_dict`` (which called that loader with a path and a device only): both allowed by pyproject.
    The fixture simulates the unsafe loader on purpose, to show the project's own path never uses it."""
    real_load = torch.load
    calls = []

    def load(f, *args, weights_only=False, **kwargs):
        calls.append(weights_only)
        return real_load(f, *args, weights_only=weights_only, **kwargs)

    real_timm_load = timm.models._builder.load_state_dict

    def timm_103_load_state_dict(path, use_ema=True, device="cpu", **kwargs):
        return real_timm_load(path, use_ema, device, weights_only=False)  # a bare load before torch 2.6

    monkeypatch.setattr(torch, "load", load)
    monkeypatch.setattr(timm.models._builder, "load_state_dict", timm_103_load_state_dict)
    return calls


def test_pretrained_file_is_loaded_weights_only_on_old_torch(tmp_path, old_torch_and_timm):
    src = timm.create_model("resnet18", num_classes=1000)
    state = src.state_dict()
    state["evil"] = _Payload(tmp_path / "MARKER")
    f = tmp_path / "evil.pth"
    torch.save(state, f)
    with pytest.raises(pretrained.PretrainedUnavailableError) as info:
        models.create_model("resnet18", 3, pretrained=str(f))
    msg = str(info.value)
    assert not (tmp_path / "MARKER").exists()  # the pickled call never ran
    assert "not a plain weights file" in msg and str(f) in msg and len(msg.splitlines()) == 1, msg
    assert "weights_only" not in msg
    assert old_torch_and_timm and all(w is True for w in old_torch_and_timm)


@pytest.mark.parametrize("wrap", ["state dict", "state_dict key", "model key", "module. prefix", "safetensors"])
def test_pretrained_file_formats_load_weights_only(wrap, tmp_path, old_torch_and_timm):
    src = timm.create_model("resnet18", num_classes=1000)
    sd = src.state_dict()
    f = tmp_path / ("w.safetensors" if wrap == "safetensors" else "w.pth")
    if wrap == "safetensors":
        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, str(f))
    else:
        obj = {"state dict": sd, "state_dict key": {"state_dict": sd, "epoch": 3}, "model key": {"model": sd},
               "module. prefix": {f"module.{k}": v for k, v in sd.items()}}[wrap]
        torch.save(obj, f)
    m = models.create_model("resnet18", 3, pretrained=str(f))
    assert torch.equal(m.conv1.weight, src.conv1.weight) and m.fc.out_features == 3
    assert torch.count_nonzero(m.fc.bias) == 0  # a fresh head for 3 classes
    assert "state_dict" not in (m.pretrained_cfg or {})  # the weights are not kept twice
    assert all(w is True for w in old_torch_and_timm)


def test_pretrained_file_that_is_not_weights(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("hello\n")
    with pytest.raises(pretrained.PretrainedUnavailableError, match="text file"):
        models.create_model("resnet18", 3, pretrained=str(text))
    wrong = tmp_path / "other.pth"
    torch.save(timm.create_model("mobilenetv3_small_050", num_classes=10).state_dict(), wrong)
    with pytest.raises(pretrained.PretrainedUnavailableError, match="do not fit resnet18") as info:
        models.create_model("resnet18", 3, pretrained=str(wrong))
    assert len(str(info.value).splitlines()) == 1
