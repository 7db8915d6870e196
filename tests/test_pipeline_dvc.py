"""The DVC pipeline (dvc.yaml, params.yaml): ``dvc repro`` on the smoke parameters in a temporary copy of the
project builds every stage; a second ``dvc repro`` does nothing; a changed parameter marks only the stages
that use it. Also: params.yaml is a config the command line accepts, holding the smoke profile's values."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from auxiliary.base import config_overrides, profiles

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["simulate", "split", "select", "train", "evaluate", "export", "sort"]


def test_params_yaml_is_a_config_with_the_smoke_profiles_values():
    cfg = config_overrides.resolve(None, ROOT / "params.yaml")
    smoke = config_overrides.resolve("smoke")
    assert cfg.profile == "smoke"
    for key in profiles.PROFILES["smoke"]:
        sec, name = key.split(".")
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        if name in params.get(sec, {}):
            assert getattr(getattr(cfg, sec), name) == getattr(getattr(smoke, sec), name), key
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(stages) == STAGES


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    pytest.importorskip("dvc", reason="the pipeline extra is not installed: pip install -e '.[pipeline]'")
    work = tmp_path_factory.mktemp("pipeline") / "project"
    work.mkdir()
    shutil.copytree(ROOT / "auxiliary", work / "auxiliary", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, work / name)
    # the stages run `python -m auxiliary` from the copy, exactly as a user's shell would: no test overrides
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUXILIARY_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", DVC_NO_ANALYTICS="1",
               DVC_SITE_CACHE_DIR=str(work.parent / "dvc-site-cache"), MPLBACKEND="Agg")

    def dvc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=work, env=env, capture_output=True,
                             text=True, timeout=900)
        if check:
            assert res.returncode == 0, f"dvc {' '.join(args)}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        return res

    dvc("init", "--no-scm", "-q")
    first = dvc("repro")
    lock = (work / "dvc.lock").read_bytes()
    second = dvc("repro")
    return {"work": work, "dvc": dvc, "first": first, "second": second, "lock": lock}


def test_dvc_repro_builds_every_stage_on_the_smoke_parameters(pipeline):
    work = pipeline["work"]
    for stage in STAGES:
        assert f"Running stage '{stage}'" in pipeline["first"].stdout, stage
    summary = json.loads((work / "runs" / "pipeline" / "train" / "summary.json").read_text())
    selected = json.loads((work / "models" / "selected-smoke.json").read_text())
    assert summary["model"] == selected["model"] and summary["epochs_run"] == 2  # train --from-selection
    assert (work / "runs" / "pipeline" / "train" / "best.onnx").is_file()
    assert (work / "runs" / "pipeline" / "evaluate").is_dir()
    predictions = (work / "runs" / "pipeline" / "sorted" / "predictions.csv").read_text().splitlines()
    assert len(predictions) - 1 >= 3 * 12  # every fresh image (sort.n_new per class) was sorted
    assert not (ROOT / "data" / "pipeline").exists()  # nothing was written into the checkout


def test_a_second_repro_does_nothing(pipeline):
    out = pipeline["second"].stdout
    assert "Running stage" not in out
    assert all(f"Stage '{s}' didn't change, skipping" in out for s in STAGES), out
    assert (pipeline["work"] / "dvc.lock").read_bytes() == pipeline["lock"]


@pytest.mark.parametrize("key, value, stages", [
    ("sort.conf", 0.5, {"sort"}),
    ("train.max_epochs", 3, {"train"}),  # `dvc exp run -S train.max_epochs=3` re-runs train and what follows it
    ("eval.n_bootstrap", 10, {"evaluate"}),
])
def test_a_parameter_change_touches_only_the_stages_that_use_it(pipeline, key, value, stages):
    params = pipeline["work"] / "params.yaml"
    original = params.read_text()
    data = yaml.safe_load(original)
    sec, name = key.split(".")
    data[sec][name] = value
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        changed = json.loads(pipeline["dvc"]("status", "--json").stdout)
    finally:
        params.write_text(original)
    assert set(changed) == stages, changed
