"""Command-line flags built from the config dataclasses: one ``--field-name`` per field, and the values the user gave.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

import yaml

from auxiliary.config import ALIASES, SECTIONS, field_docs


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
            cands = [o for n in names for o in ("--" + n.replace("_", "-"), "--" + n)]
            opts = [o for o in dict.fromkeys(cands) if o not in existing]
            if not opts:
                continue
            default = getattr(cls(), f.name)
            parser.add_argument(
                *opts,
                dest=f"cfg__{f.name}",
                default=argparse.SUPPRESS,
                metavar=f.name.upper(),
                help=f"{docs.get(f.name, '')} [{sec}.{f.name}, default {default!r}]".replace("%", "%%"),
            )
            seen.add(f.name)
    parser._aux_cfg_seen = seen


def cli_overrides(args: Any) -> dict[str, Any]:
    """Collect the values of flags added by :func:`add_cli_flags` that the user gave."""
    out: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith("cfg__"):
            try:
                out[key[5:]] = yaml.safe_load(value) if isinstance(value, str) else value
            except yaml.YAMLError:
                out[key[5:]] = value
    return out
