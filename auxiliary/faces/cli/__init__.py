"""``python -m auxiliary VERB``: every notebook step without Jupyter, calling the same functions.

Each verb has one module here, named after it (``auxiliary.faces.cli.sort`` for ``sort``), holding its flags
(``configure_parser(parser)``) and its call into one step function (``run_cli(args, cfg) -> int``, which prints
what the step returns); ``flags`` builds the ``--field-name`` flags of the config sections. Every step also takes ``--profile``, ``--config FILE.yaml``,
``--set key=value`` and one ``--field-name`` flag per field of its config sections.
Problems the user can fix are printed as one line starting with ``error:``; exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from auxiliary.base.config import Config
from auxiliary.base.config_overrides import parse_set, resolve
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.profiles import PROFILES
from auxiliary.faces.cli.flags import add_cli_flags, cli_overrides

#: step -> (module, config sections whose fields become flags, one-line help)
STEPS: dict[str, tuple[str, list[str], str]] = {
    "simulate": ("auxiliary.faces.cli.simulate", ["synth"], "generate synthetic acne / erythema / clear-skin images (notebook 01)"),
    "split": ("auxiliary.faces.cli.split", ["data"], "read a dataset and write leakage-free train/val/test lists (notebook 02)"),
    "train": ("auxiliary.faces.cli.train", ["train", "data", "track"], "fine-tune a timm model with Lightning Fabric (notebook 04)"),
    "select": ("auxiliary.faces.cli.select", ["train", "data", "eval", "track"], "compare architectures on an equal budget (notebook 03)"),
    "adapt": ("auxiliary.faces.cli.adapt", ["train", "data"], "adapt a synthetic model to the photos it will sort, without their labels"),
    "operating-point": ("auxiliary.faces.cli.operating_point", [], "fit per-class decision shifts (e.g. melanoma recall >= 0.7) by k-fold, stored in the checkpoint"),
    "evaluate": ("auxiliary.faces.cli.evaluate", ["eval", "track"], "metrics, calibration and fairness of a checkpoint on a split"),
    "compare": ("auxiliary.faces.cli.compare", ["eval", "track"], "compare trained models side by side (notebook 05)"),
    "export": ("auxiliary.faces.cli.export", [], "export a checkpoint to ONNX with a parity check"),
    "predict": ("auxiliary.faces.cli.predict", [], "calibrated classes (or labels) of one or a few photos, optionally with Grad-CAM"),
    "sort": ("auxiliary.faces.cli.sort", ["sort", "track"], "copy new images into class folders and low_confidence/ (notebook 06)"),
    "feedback": ("auxiliary.faces.cli.feedback", ["sort", "data", "track"], "merge reviewed images into a new training split version"),
    "serve": ("auxiliary.faces.cli.serve", ["sort"], "web demo: upload a photo, see classes and heat map"),
    "runs": ("auxiliary.faces.cli.runs", [], "list the finished training runs: id, model, data, key metrics, when"),
    "run-all": ("auxiliary.faces.cli.run_all", [], "run the notebook series 01-06 with papermill (what `make demo` calls)"),
}


def _step_module(step: str):
    mod_name = STEPS[step][0]
    try:
        return importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name == mod_name:
            return None
        raise


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (``error: ...; see --help``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser(step: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m auxiliary",
        description="Skin-condition classification steps (the notebook series without Jupyter).",
        epilog="Run `python -m auxiliary STEP --help` for the options of a step.",
    )
    sub = parser.add_subparsers(dest="step", metavar="STEP", title="steps")
    for name, (_, sections, help_text) in STEPS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if step is not None and name != step:
            continue  # only import the module of the step actually run
        mod = _step_module(name)
        if mod is not None and hasattr(mod, "configure_parser"):
            mod.configure_parser(p)
        common = p.add_argument_group("configuration")
        common.add_argument("--profile", default=None, help=f"named profile: {', '.join(PROFILES)} (default demo)")
        common.add_argument("--config", default=None, metavar="FILE.yaml", help="YAML file of overrides")
        common.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field (repeatable)")
        add_cli_flags(common, sections)
    return parser


def resolve_config(args: argparse.Namespace) -> Config:
    overrides = parse_set(getattr(args, "set", []))
    overrides.update(cli_overrides(args))
    return resolve(getattr(args, "profile", None), getattr(args, "config", None), overrides)


class PipeSafe:
    """A stream that turns a reader who went away (``python -m auxiliary sort ... | head -1``) into silence: the
    first ``BrokenPipeError`` points the file descriptor at ``/dev/null`` and every later write is dropped, so the
    step's work completes and the interpreter's last flush raises nothing."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._silence()

    def _silence(self) -> None:
        self.gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file (a notebook, a test's capture)
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM ends a step the way Ctrl+C does (exit code 130, finished work kept, nothing half-written)."""
    raise KeyboardInterrupt


def one_line(message: str, limit: int = 2000) -> str:
    """A message as one line of at most ``limit`` characters (an ``error:`` line is never more than one)."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_link_loop(exc: BaseException) -> bool:
    """Whether ``exc`` is a symbolic link loop: ``Path.resolve`` raises ``RuntimeError("Symlink loop from ...")``
    (Python 3.11, 3.12), ``os.stat`` and later Pythons an ``OSError`` with ``errno.ELOOP``."""
    if isinstance(exc, OSError):
        return exc.errno == errno.ELOOP
    return isinstance(exc, RuntimeError) and str(exc).startswith("Symlink loop")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; problems the user can fix are one ``error:`` line and exit code 2, an interruption (Ctrl+C,
    SIGTERM) exit code 130, a closed output pipe a quiet end with the work complete."""
    streams = (sys.stdout, sys.stderr)
    sys.stdout, sys.stderr = (s if isinstance(s, PipeSafe) else PipeSafe(s) for s in streams)
    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        return _main(argv)
    finally:
        sys.stdout.flush()
        sys.stdout, sys.stderr = streams
        if in_main:
            signal.signal(signal.SIGTERM, old_term)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    step = next((a for a in argv if not a.startswith("-")), None)
    if step not in STEPS:
        step = None
    parser = build_parser(step)
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    if args.step is None:
        parser.print_help()
        return 0
    mod = _step_module(args.step)
    if mod is None or not hasattr(mod, "run_cli"):
        print(f"error: step {args.step!r} is not available in this version", file=sys.stderr)
        return 2
    try:
        cfg = resolve_config(args)
        return int(mod.run_cli(args, cfg) or 0)
    except AuxiliaryError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:  # a path the user gave that loops (Path.resolve, os.stat): theirs to fix
        if not is_link_loop(exc):
            raise
        print(f"error: {one_line(str(exc))}: a symbolic link loop among the paths given; remove it or pass another "
              "path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to complete (finished work is kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
