"""Command-line flags built from the config dataclasses: one ``--field-name`` per field, and the values the user gave.

Also the ``type=`` functions of the steps' own numeric options (not config fields), each refusing
out-of-range values, NaN and infinity with one line: :func:`bounded_number` and the named types below.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import yaml

from auxiliary.base.bounds import MAX_BATCH, Bounds, field_bounds
from auxiliary.base.config import ALIASES, SECTIONS, cli_flag, field_docs
from auxiliary.base.config_overrides import safe_yaml


def add_cli_flags(parser: Any, sections: list[str]) -> None:
    """Add ``--field-name`` (and ``--field_name``) flags for every field of the given sections.

    Values are stored as strings under ``dest='cfg__<section>__<field>'`` and applied with
    :func:`cli_overrides`; explicit flags have the same precedence as ``--set``.
    """
    seen: set[str] = set(getattr(parser, "_aux_cfg_seen", set()))
    existing = {opt for action in parser._actions for opt in action.option_strings}
    for sec in sections:
        cls = SECTIONS[sec]
        docs = field_docs(cls)
        for f in fields(cls):
            if f.name in seen:
                continue
            names = [f.name] + [a for a, target in ALIASES.items() if target == f.name]
            cands = [o for n in names for o in (cli_flag(n), "--" + n)]
            opts = [o for o in dict.fromkeys(cands) if o not in existing]
            if not opts:
                continue
            default = getattr(cls(), f.name)
            bounds = field_bounds(cls, f.name)
            allowed = f", {bounds.describe()}" if bounds else ""
            parser.add_argument(
                *opts,
                dest=f"cfg__{f.name}",
                default=argparse.SUPPRESS,
                metavar=f.name.upper(),
                help=f"{docs.get(f.name, '')} [{sec}.{f.name}, default {default!r}{allowed}]".replace("%", "%%"),
            )
            seen.add(f.name)
    parser._aux_cfg_seen = seen


def cli_overrides(args: Any) -> dict[str, Any]:
    """Collect the values of flags added by :func:`add_cli_flags` that the user gave."""
    out: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith("cfg__"):
            try:
                out[key[5:]] = safe_yaml(value, f"--{key[5:]}") if isinstance(value, str) else value
            except yaml.YAMLError:
                out[key[5:]] = value
    return out


def bounded_number(kind: type, bounds: Bounds) -> Callable[[str], Any]:
    """An argparse ``type=`` reading an ``int`` or ``float`` within ``bounds`` (never NaN or infinity).

    A bad value makes argparse stop with one line naming the option, e.g.
    ``argument --batch-size: must be an integer between 1 and 4096, got '0'``.
    """
    noun = "an integer" if kind is int else "a number"

    def read(text: str) -> Any:
        try:
            value = kind(text)
        except (TypeError, ValueError, OverflowError):
            value = None
        if value is None or not bounds.allows(value):
            raise argparse.ArgumentTypeError(f"must be {noun} {bounds.describe()}, got {text!r}")
        return value

    return read


#: Batch size of inference (``evaluate --batch-size``, ``sort --batch``).
batch_size = bounded_number(int, Bounds(at_least=1, at_most=MAX_BATCH))
#: TCP port to listen on; 0 = any free port.
tcp_port = bounded_number(int, Bounds(at_least=0, at_most=65535))
#: Hamming distance between two 64-bit perceptual hashes.
hash_bits = bounded_number(int, Bounds(at_least=0, at_most=64))
#: ONNX opset: the range of torch's TorchScript exporter (``dynamo=False``).
onnx_opset = bounded_number(int, Bounds(at_least=7, at_most=20))
#: A tolerance on probabilities (a difference that may not reach 0 or exceed 1).
probability_tolerance = bounded_number(float, Bounds(above=0, at_most=1))
#: Largest upload size in MB.
upload_megabytes = bounded_number(float, Bounds(above=0, at_most=1024))
#: Largest image size in pixels: at most ``auxiliary.base.images.MAX_PIXELS``, what the image reader accepts (kept
#: equal by a test; not imported, since OpenCV would slow down the start of every command).
MAX_IMAGE_PIXELS = 100_000_000
pixel_count = bounded_number(int, Bounds(at_least=1, at_most=MAX_IMAGE_PIXELS))
