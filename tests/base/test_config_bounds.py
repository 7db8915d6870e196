"""Numbers out of range, for every numeric option of every step: config fields (checked when a config is
resolved, naming the flag and the key) and the steps' own options (argparse ``type=`` functions)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import pytest

from auxiliary.base import bounds as bounds_mod
from auxiliary.base import config, config_overrides, images
from auxiliary.base.config import ConfigError, cli_flag
from auxiliary.faces import cli
from auxiliary.faces.cli import flags as arguments

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = (int, float)


def numeric_fields() -> list[tuple[str, str, type]]:
    """(section, field, number type) of every int, float, optional float and (min, max) range field."""
    out = []
    for sec, cls in config.SECTIONS.items():
        for f in dataclasses.fields(cls):
            typ = config.field_type(cls, f.name)
            args = [a for a in getattr(typ, "__args__", ()) if a is not type(None)]
            kind = typ if typ in NUMBERS else next((a for a in args if a in NUMBERS), None)
            if kind is not None:
                out.append((sec, f.name, kind))
    return out


FIELDS = numeric_fields()
CANDIDATES = (0, -1, math.nan, 1e12)


def refused_values() -> list[tuple[str, str, object]]:
    cases = []
    for sec, name, _ in FIELDS:
        bounds = bounds_mod.field_bounds(config.SECTIONS[sec], name)
        cases += [(sec, name, v) for v in CANDIDATES if not bounds.allows(v)]
    return cases


def test_the_numeric_fields_are_found():
    names = {name for _, name, _ in FIELDS}
    assert {"max_epochs", "lr_head", "acne_count", "acne_strength", "coverage", "sort_batch", "n_bootstrap"} <= names
    assert len(FIELDS) >= 40


@pytest.mark.parametrize("sec, name, kind", FIELDS, ids=[f"{s}.{n}" for s, n, _ in FIELDS])
def test_every_numeric_field_declares_its_bounds(sec, name, kind):
    bounds = bounds_mod.field_bounds(config.SECTIONS[sec], name)
    assert isinstance(bounds, bounds_mod.Bounds), f"{sec}.{name}: declare its range with bounds.bounded(...)"
    default = getattr(config.SECTIONS[sec](), name)
    values = default if isinstance(default, tuple) else (default,)
    assert all(bounds.allows(v) for v in values if v is not None), f"{sec}.{name}: default {default} is out of range"


@pytest.mark.parametrize("sec, name, value", refused_values(), ids=lambda v: str(v))
def test_out_of_range_values_are_refused_naming_the_flag(sec, name, value):
    with pytest.raises(ConfigError) as info:
        config_overrides.resolve("smoke", overrides={f"{sec}.{name}": value})
    msg = str(info.value)
    assert cli_flag(name) in msg and f"({sec}.{name})" in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize("sec, name, kind", FIELDS, ids=[f"{s}.{n}" for s, n, _ in FIELDS])
def test_the_inclusive_ends_are_accepted(sec, name, kind):
    bounds = bounds_mod.field_bounds(config.SECTIONS[sec], name)
    for end in (bounds.at_least, bounds.at_most):
        if end is None:
            continue
        others = {"data.val": 0, "data.test": 0} if sec == "data" else {}  # val + test may not exceed 1
        cfg = config_overrides.resolve("smoke", overrides={**others, f"{sec}.{name}": end})
        got = getattr(getattr(cfg, sec), name)
        assert (got[0] if isinstance(got, tuple) else got) == end


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", ".nan", ".inf"])
def test_nan_and_infinity_are_refused_from_the_command_line(text):
    for key in ("lr_head", "max_epochs", "acne_strength", "coverage"):
        with pytest.raises(ConfigError, match=cli_flag(key)):
            config_overrides.resolve("smoke", overrides=config_overrides.parse_set([f"{key}={text}"]))


def test_open_ends_and_optional_fields():
    with pytest.raises(ConfigError, match=r"--coverage \(sort.coverage\) must be above 0 and below 1, got 1"):
        config_overrides.resolve("smoke", overrides={"coverage": 1})
    assert config_overrides.resolve("smoke", overrides={"coverage": None}).sort.coverage is None
    assert config_overrides.resolve("smoke", overrides={"coverage": 0.9}).sort.coverage == 0.9
    with pytest.raises(ConfigError, match="must be at least 0 and below 1, got 1.0"):
        config_overrides.resolve("smoke", overrides={"label_smoothing": 1.0})


def test_message_reads_like_the_contract():
    with pytest.raises(ConfigError) as info:
        config_overrides.resolve("smoke", overrides={"max_epochs": 0})
    assert str(info.value) == "--max-epochs (train.max_epochs) must be between 1 and 1000, got 0"
    with pytest.raises(ConfigError, match=r"--acne-count \(synth.acne_count\): both ends of the range must be "
                                          r"between 0 and 500, got \(3, 900\)"):
        config_overrides.resolve("smoke", overrides={"acne_count": "3,900"})
    with pytest.raises(ConfigError, match=r"--acne-strength \(synth.acne_strength\): range minimum"):
        config_overrides.resolve("smoke", overrides={"acne_strength": "0.9,0.1"})


def test_bare_key_of_several_sections_names_the_flag():
    with pytest.raises(ConfigError, match=r"^--seed \(synth.seed\) must be between 0 and 2147483647, got -1$"):
        config_overrides.resolve("smoke", overrides={"seed": -1})


def test_yaml_values_are_checked_and_the_file_named(tmp_path):
    y = tmp_path / "over.yaml"
    y.write_text("train:\n  batch: 0\n")
    with pytest.raises(ConfigError, match=r"over.yaml: --batch \(train.batch\) must be between 1 and 4096, got 0"):
        config_overrides.resolve("smoke", y)
    y.write_text("data:\n  fraction: .nan\n")
    with pytest.raises(ConfigError, match=r"--fraction \(data.fraction\) must be above 0 and at most 1, got nan"):
        config_overrides.resolve("smoke", y)


def test_val_and_test_together_leave_a_training_split():
    with pytest.raises(ConfigError, match=r"--val \+ --test \(data.val \+ data.test\) must be at most 1"):
        config_overrides.resolve("smoke", overrides={"val": 0.6, "test": 0.5})
    assert config_overrides.resolve("smoke", overrides={"val": 0.5, "test": 0.5}).data.test == 0.5


@pytest.mark.parametrize("profile", ["smoke", "demo", "full"])
def test_profiles_still_resolve(profile):
    assert config_overrides.resolve(profile).profile == profile


def test_ham10000_recipe_still_resolves():
    cfg = config_overrides.resolve(yaml_path=ROOT / "configs" / "ham10000_cpu.yaml")
    assert cfg.train.patience == 0 and cfg.data.val == 0.15  # 0 = no early stopping is allowed


def test_help_shows_the_allowed_values(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "train.max_epochs, default 10, between 1 and 1000" in help_text


# ----------------------------------------------------------------------------- the steps' own options
TYPES = {
    "batch_size": (arguments.batch_size, ["1", "4096"], ["0", "-1", "4097", "nan", "1e12", "2.5", "x"]),
    "tcp_port": (arguments.tcp_port, ["0", "7860", "65535"], ["-1", "65536", "nan", "1e12"]),
    "hash_bits": (arguments.hash_bits, ["0", "4", "64"], ["-1", "65", "nan"]),
    "onnx_opset": (arguments.onnx_opset, ["7", "17", "20"], ["0", "-1", "6", "21", "1e12"]),
    "probability_tolerance": (arguments.probability_tolerance, ["1e-4", "1"], ["0", "-1", "nan", "inf", "1.5"]),
    "upload_megabytes": (arguments.upload_megabytes, ["0.5", "20", "1024"], ["0", "-1", "nan", "inf", "1e12"]),
    "pixel_count": (arguments.pixel_count, ["1", "50000000"], ["0", "-1", "nan", "100000001", "1e12"]),
}


@pytest.mark.parametrize("name", list(TYPES))
def test_option_types_refuse_out_of_range_values(name):
    read, good, bad = TYPES[name]
    for text in good:
        assert read(text) == float(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=r"^must be (an integer|a number) .*, got "):
            read(text)


def test_pixel_limit_is_the_image_readers():
    assert arguments.MAX_IMAGE_PIXELS == images.MAX_PIXELS


def own_numeric_options() -> list[tuple[str, str, object]]:
    found = []
    for step in cli.STEPS:
        parser = cli.build_parser(step)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[step]
        for action in sub._actions:
            if action.option_strings and action.type is not None:
                found.append((step, action.option_strings[0], action.type))
    return found


def test_no_step_option_reads_a_bare_int_or_float():
    """Every numeric option of every step refuses 0, negative, NaN or huge values where they are wrong."""
    options = own_numeric_options()
    assert {("evaluate", "--batch-size"), ("sort", "--batch"), ("serve", "--port")} <= {(s, o) for s, o, _ in options}
    assert [(s, o) for s, o, t in options if t in (int, float)] == []


# ----------------------------------------------------------------------------- through the command line
@pytest.mark.parametrize(
    "argv, option",
    [
        (["train", "--max-epochs", "0"], "--max-epochs"),
        (["train", "--lr-head", "nan"], "--lr-head"),
        (["simulate", "--n-per-class", "1e12"], "--n-per-class"),
        (["sort", "--input", "in", "--sort-batch", "-1"], "--sort-batch"),
        (["evaluate", "--ckpt", "x.pt", "--data", "d", "--n-bootstrap", "-5"], "--n-bootstrap"),
    ],
)
def test_cli_out_of_range_config_flag_is_one_error_line(argv, option, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code = cli.main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and option in lines[0], err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing created, --out included


@pytest.mark.parametrize(
    "argv, option",
    [
        (["evaluate", "--ckpt", "x.pt", "--data", "d", "--batch-size", "0"], "--batch-size"),
        (["sort", "--input", "in", "--batch", "nan"], "--batch"),
        (["serve", "--ckpt", "x.pt", "--port", "70000"], "--port"),
        (["export", "--ckpt", "x.pt", "--atol", "nan"], "--atol"),
    ],
)
def test_cli_out_of_range_step_option_exits_2_without_traceback(argv, option, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    last = err.strip().splitlines()[-1]
    assert "error:" in last and f"argument {option}:" in last and "must be" in last, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
