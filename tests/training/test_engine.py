"""auxiliary.training.engine: bad training settings are one-line errors."""

from __future__ import annotations

import pytest
from _tiny_training import make_cfg

from auxiliary.base import errors
from auxiliary.training import engine


def test_bad_settings_are_one_line_errors():
    with pytest.raises(errors.TrainError, match="unknown monitor"):
        engine.check_config(make_cfg(monitor="val_auc").train)
    with pytest.raises(errors.TrainError, match="unknown precision"):
        engine.make_fabric(make_cfg(precision="8-mixed").train)
