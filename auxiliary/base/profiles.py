"""The named profiles: ``smoke`` (tests and CI: seconds per notebook), ``demo`` (the README run: the whole
series in 20 minutes on a 2-core CPU) and ``full`` (a user with a GPU).

A profile is a set of dotted overrides on the defaults of :mod:`auxiliary.base.config`;
:func:`auxiliary.base.config_overrides.profile_config` applies one.
"""

from __future__ import annotations

from typing import Any

PROFILES: dict[str, dict[str, Any]] = {
    # CI and tests: seconds per notebook.
    "smoke": {
        "synth.n_per_class": 12,
        "synth.size": 96,
        "data.cache": False,
        "train.img_size": 48,
        "train.batch": 16,
        "train.max_epochs": 2,
        "train.freeze_epochs": 1,
        "train.patience": 2,
        "train.select_models": ("resnet18", "mobilenetv3_large_100"),
        "train.select_epochs": 1,
        "eval.n_bootstrap": 20,
        "eval.min_group_size": 3,
        "eval.speed_repeats": 2,
        "eval.gallery_size": 4,
        "eval.tta": True,
        "sort.n_new": 12,
        "sort.backend": "torch",  # skip the one-off ONNX export + timing in CI (tests cover the onnx path)
    },
    # README run: the whole series in at most 20 minutes on a 2-core CPU.
    "demo": {
        "synth.n_per_class": 300,
        "synth.size": 256,
        # Offline ImageNet weights where the model has them (tf_efficientnet_lite0), from scratch otherwise;
        # 128 px rather than the 224 px default to fit the 20-minute budget on 2 CPU cores.
        "train.model": "tf_efficientnet_lite0",
        "train.pretrained": "offline",
        "train.img_size": 128,
        "train.batch": 32,
        "train.max_epochs": 8,
        "train.freeze_epochs": 1,
        "train.select_epochs": 4,  # from scratch, 4 epochs x 4 models: ~3 min here; 2 epochs learn nothing
        "eval.n_bootstrap": 200,
        "eval.tta": True,
        "sort.n_new": 90,
    },
    # A user with a GPU.
    "full": {
        "synth.n_per_class": 2000,
        "synth.size": 256,
        "synth.workers": 4,
        "data.num_workers": 4,
        "train.img_size": 224,
        "train.batch": 64,
        "train.max_epochs": 30,
        "train.freeze_epochs": 3,
        "train.patience": 6,
        "train.select_models": (
            "resnet18", "efficientnet_b0", "mobilenetv3_large_100", "convnext_atto",
            "efficientnet_b3", "maxvit_tiny_tf_224",
        ),
        "train.select_epochs": 8,
        "eval.n_bootstrap": 1000,
        "eval.tta": True,  # flip TTA: +0.008 to +0.074 test balanced accuracy, lite0 runs on HAM10000 (README)
        "sort.n_new": 500,
    },
}


DEFAULT_PROFILE = "demo"
