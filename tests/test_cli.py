"""auxiliary.faces.cli: the command line; --help lists the steps; bad settings give one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from auxiliary.faces import cli


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "auxiliary", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_every_step():
    res = run("--help")
    assert res.returncode == 0
    for step in cli.STEPS:
        assert step in res.stdout


def test_step_help_shows_config_flags():
    res = run("run-all", "--help")
    assert res.returncode == 0
    assert "--profile" in res.stdout and "--set" in res.stdout and "--only" in res.stdout


@pytest.mark.parametrize("step", list(cli.STEPS))
def test_every_step_help_prints(step, capsys):
    # config docstrings become help texts: a stray "%" once made argparse crash on --help
    with pytest.raises(SystemExit) as exc:
        cli.main([step, "--help"])
    assert exc.value.code == 0
    assert "--profile" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["run-all", "--profile", "nope"], "unknown profile 'nope'"),
        (["run-all", "--set", "max_epoch=3"], "unknown config key 'max_epoch'"),
        (["run-all", "--set", "max_epochs"], "--set expects key=value"),
    ],
)
def test_bad_settings_exit_nonzero_with_one_line(args, message):
    res = run(*args)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error:") and message in lines[0]


def test_malformed_yaml_on_command_line(tmp_path):
    y = tmp_path / "bad.yaml"
    y.write_text("train: {max_epochs: 3\n")
    res = run("run-all", "--config", str(y))
    assert res.returncode == 2
    assert res.stderr.startswith("error: malformed YAML")
    assert len(res.stderr.strip().splitlines()) == 1


def test_config_flags_map_to_fields(monkeypatch):
    parser = cli.build_parser("train")
    args = parser.parse_args(["train", "--epochs", "3", "--img_size", "64", "--lr-head", "0.01", "--set", "seed=4"])
    cfg = cli.resolve_config(args)
    assert (cfg.train.max_epochs, cfg.train.img_size, cfg.train.lr_head, cfg.train.seed) == (3, 64, 0.01, 4)
