"""auxiliary.base.config: the profiles, documented frozen sections, saving, section hashes, the HAM10000 recipe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from auxiliary.base import config, config_overrides


def test_profiles_differ_and_override_defaults():
    smoke, demo, full = (config_overrides.profile_config(p) for p in ("smoke", "demo", "full"))
    assert smoke.profile == "smoke"
    assert smoke.synth.n_per_class < demo.synth.n_per_class < full.synth.n_per_class
    assert smoke.train.max_epochs < demo.train.max_epochs < full.train.max_epochs
    assert len(full.train.select_models) > len(demo.train.select_models) >= 4


def test_every_field_has_a_docstring():
    for name, cls in config.SECTIONS.items():
        docs = config.field_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert not missing, f"{name} fields without docstring: {missing}"


def test_sections_are_frozen():
    cfg = config_overrides.resolve("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.max_epochs = 3  # type: ignore[misc]


def test_saved_config_round_trips(tmp_path):
    cfg = config_overrides.resolve("smoke", overrides={"max_epochs": 3, "acne_strength": "0.2,0.4", "coverage": 0.8})
    for name in ("c.yaml", "c.json"):
        path = config.save(cfg, tmp_path / name)
        assert config_overrides.load_config(path) == cfg


def test_section_hash_changes_with_settings():
    a = config_overrides.resolve("smoke")
    b = config_overrides.resolve("smoke", overrides={"n_per_class": 99})
    assert config.section_hash(a.synth) == config.section_hash(config_overrides.resolve("smoke").synth)
    assert config.section_hash(a.synth) != config.section_hash(b.synth)


def test_ham10000_cpu_recipe_is_the_measured_experiment():
    """configs/ham10000_cpu.yaml (the README's HAM10000 recipe) resolves to the settings of the benchmark run
    it quotes (benchmarks/ham10000_experiments.py, lite0_pre_224_ema), apart from where to run."""
    import importlib.util
    from dataclasses import asdict

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("ham_experiments", root / "benchmarks" / "ham10000_experiments.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    measured = bench.experiment_config("lite0_pre_224_ema")
    recipe = config_overrides.resolve(yaml_path=root / "configs" / "ham10000_cpu.yaml")
    where = {"threads", "accelerator", "devices"}
    mt = {k: v for k, v in asdict(measured.train).items() if k not in where}
    rt = {k: v for k, v in asdict(recipe.train).items() if k not in where}
    assert rt == mt
    assert asdict(recipe.data) == asdict(measured.data)
    assert recipe.eval.tta and recipe.train.ema_decay == 0.995 and recipe.profile == "full"
