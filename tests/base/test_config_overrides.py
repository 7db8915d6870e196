"""auxiliary.base.config_overrides: precedence profile < YAML < --set / notebook parameters, aliases, clear errors."""

from __future__ import annotations

import os

import pytest

from auxiliary.base import config_overrides
from auxiliary.base.config import ConfigError


def test_precedence_profile_yaml_set(tmp_path):
    y = tmp_path / "over.yaml"
    y.write_text("train:\n  max_epochs: 7\n  lr_head: 0.01\nbatch: 5\n")
    base = config_overrides.resolve("smoke")
    from_yaml = config_overrides.resolve("smoke", y)
    assert from_yaml.train.max_epochs == 7 and base.train.max_epochs != 7
    assert from_yaml.train.lr_head == 0.01
    assert from_yaml.train.batch == 5
    top = config_overrides.resolve("smoke", y, {"max_epochs": 9})
    assert top.train.max_epochs == 9  # --set beats YAML
    assert top.train.lr_head == 0.01  # YAML still beats the profile
    assert top.synth.n_per_class == base.synth.n_per_class  # profile value kept


def test_yaml_can_choose_profile(tmp_path):
    y = tmp_path / "p.yaml"
    y.write_text("profile: smoke\n")
    assert config_overrides.resolve(None, y).profile == "smoke"
    assert config_overrides.resolve("full", y).profile == "full"  # explicit profile wins


def test_notebook_parameters_override_like_set():
    ns = {"PROFILE": "smoke", "CONFIG": None, "MAX_EPOCHS": 4, "IMG_SIZE": None, "lower": 1, "DATA__SEED": 3}
    cfg = config_overrides.from_notebook(ns)
    assert cfg.profile == "smoke"
    assert cfg.train.max_epochs == 4
    assert cfg.train.img_size == config_overrides.profile_config("smoke").train.img_size  # None = keep profile
    assert cfg.data.seed == 3 and cfg.train.seed == 0  # SECTION__FIELD targets one section


def test_bare_key_sets_every_section_with_that_field():
    cfg = config_overrides.resolve("smoke", overrides={"seed": 11})
    assert cfg.synth.seed == cfg.data.seed == cfg.train.seed == 11
    cfg = config_overrides.resolve("smoke", overrides={"train.seed": 5})
    assert cfg.train.seed == 5 and cfg.data.seed == 0


def test_aliases_and_types():
    cfg = config_overrides.resolve("smoke", overrides=config_overrides.parse_set(
        ["epochs=6", "acne_count=12", "select_models=resnet18,convnext_atto", "coverage=0.9", "cache=false"]
    ))
    assert cfg.train.max_epochs == 6
    assert cfg.synth.acne_count == (12, 12)
    assert cfg.train.select_models == ("resnet18", "convnext_atto")
    assert cfg.sort.coverage == 0.9
    assert cfg.data.cache is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(profile="nope"), "unknown profile 'nope'"),
        (dict(profile="smoke", overrides={"max_epoch": 3}), "did you mean 'max_epochs'"),
        (dict(profile="smoke", overrides={"train.nope": 3}), "section 'train' has no field 'nope'"),
        (dict(profile="smoke", overrides={"max_epochs": "three"}), "expected an integer"),
        (dict(profile="smoke", overrides={"cache": "maybe"}), "expected true or false"),
        (dict(profile="smoke", overrides={"acne_strength": "0.9,0.1"}), "range minimum"),
    ],
)
def test_bad_settings_raise_one_clear_line(kwargs, message):
    with pytest.raises(ConfigError) as info:
        config_overrides.resolve(**kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_malformed_yaml(tmp_path):
    y = tmp_path / "bad.yaml"
    y.write_text("train:\n  max_epochs: [1, 2\n")
    with pytest.raises(ConfigError, match=r"malformed YAML in .*bad.yaml at line"):
        config_overrides.resolve("smoke", y)
    y.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        config_overrides.resolve("smoke", y)
    with pytest.raises(ConfigError, match="config file not found"):
        config_overrides.resolve("smoke", tmp_path / "missing.yaml")


def test_parse_set_requires_key_value():
    with pytest.raises(ConfigError, match="key=value"):
        config_overrides.parse_set(["max_epochs"])


def test_notebook_config_path_from_the_notebooks_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as a notebook runs: not from the project root
    cfg = config_overrides.from_notebook({"PROFILE": "full", "CONFIG": "configs/ham10000_cpu.yaml", "MAX_EPOCHS": 3})
    assert cfg.train.model == "tf_efficientnet_lite0" and cfg.train.ema_decay == 0.995
    assert cfg.train.max_epochs == 3  # the parameters cell still wins over the file
    with pytest.raises(ConfigError, match="config file not found"):
        config_overrides.from_notebook({"PROFILE": "demo", "CONFIG": "configs/nope.yaml"})


def _alias_bomb(depth: int = 9, width: int = 9) -> str:
    """Each anchor a list of ``width`` copies of the one before: ``width ** depth`` values once expanded."""
    names = [f"l{i}" for i in range(depth)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['x'] * width)}]"]
    lines += [f"{n}: &{n} [{', '.join([f'*{p}'] * width)}]" for p, n in zip(names, names[1:])]
    return "\n".join(lines) + f"\ntrain:\n  max_epochs: *{names[-1]}\n"


def test_an_alias_bomb_is_refused_in_one_short_line_before_it_is_built(tmp_path):
    f = tmp_path / "bomb.yaml"
    f.write_text(_alias_bomb(), encoding="utf-8")
    with pytest.raises(ConfigError, match="expands to more than 10,000 values") as info:
        config_overrides.resolve(None, f)
    assert len(str(info.value)) < 300 and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="expands to more than"):  # the same through --set
        config_overrides.parse_set(["train.max_epochs=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
                                    "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]]"])
    f.write_text("train: &a\n  max_epochs: [*a]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="refers to the value that contains it"):
        config_overrides.resolve(None, f)
    small = tmp_path / "anchors.yaml"  # ordinary anchors still work
    small.write_text("common: &c 3\ntrain:\n  max_epochs: *c\n  patience: *c\n", encoding="utf-8")
    assert "common" in config_overrides.load_yaml(small)


def test_values_in_messages_are_cut_short():
    with pytest.raises(ConfigError) as info:
        config_overrides.resolve(None, None, {"train.max_epochs": list(range(100_000))})
    assert "expected an integer, got [0, 1, 2, 3, ...]" in str(info.value) and len(str(info.value)) < 200
    with pytest.raises(ConfigError) as info:
        config_overrides.resolve(None, None, {"x" * 5000: 1})
    assert len(str(info.value)) < 300


def test_a_config_path_that_is_a_folder_or_a_device_is_named_as_such(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        config_overrides.resolve(None, tmp_path)
    with pytest.raises(ConfigError, match="not a regular file"):
        config_overrides.resolve(None, "/dev/null")
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):  # never opened: opening a FIFO would block
        config_overrides.resolve(None, fifo)


def test_yaml_that_breaks_parsers_is_one_line_and_an_empty_section_is_no_override(tmp_path):
    """Issue 28, second pass: each of these ended in a traceback (RecursionError, ValueError) or a wrong message."""
    cases = {"deep.yaml": ("train: " + "[" * 3000 + "]" * 3000, "nested too deeply"),
             "digits.yaml": ("train:\n  seed: " + "9" * 5000, "cannot read"),
             "date.yaml": ("train:\n  seed: 2001-13-45", "cannot read")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text + "\n")
        with pytest.raises(ConfigError, match=message):
            config_overrides.resolve("smoke", tmp_path / name)
    with pytest.raises(ConfigError, match="cannot read"):
        config_overrides.parse_set(["train.seed=" + "9" * 5000])
    (tmp_path / "empty.yaml").write_text("train:\ndata:\n")  # sections with nothing under them
    assert config_overrides.resolve("smoke", tmp_path / "empty.yaml") == config_overrides.resolve("smoke")
    with pytest.raises(ConfigError, match="got 99999999999999999999999999999999999$"):  # quoted as typed
        config_overrides.resolve("smoke", overrides={"train.seed": "99999999999999999999999999999999999"})
