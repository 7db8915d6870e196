"""auxiliary.training.runs: an existing run name is refused unless resumed or overwritten; same settings."""

from __future__ import annotations

import pytest
from _tiny_training import make_cfg, run

from auxiliary.base import config_overrides
from auxiliary.training import runs


def test_existing_run_name_is_refused_unless_resume_or_overwrite(tmp_path):
    cfg = make_cfg(max_epochs=1, freeze_epochs=0)
    run(tmp_path, "r", cfg)
    with pytest.raises(runs.RunExistsError, match="--resume"):
        run(tmp_path, "r", cfg)
    (tmp_path / "r" / "notes.txt").write_text("mine")
    again = run(tmp_path, "r", cfg, overwrite=True)
    assert again["epochs_run"] == 1
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"  # only the run's own files are replaced
    assert run(tmp_path, "r", cfg, resume=True)["epochs_run"] == 1  # finished: nothing to do
    # notebook 04 reuses a run only when it was made with the same learning-relevant settings
    assert runs.same_settings(tmp_path / "r", cfg)
    assert runs.same_settings(tmp_path / "r", config_overrides.apply_overrides(cfg, {"threads": 2}))
    assert not runs.same_settings(tmp_path / "r", config_overrides.apply_overrides(cfg, {"lr_ft": 1e-2}))
    assert not runs.same_settings(tmp_path / "r", config_overrides.apply_overrides(cfg, {"data.augment": "color"}))
