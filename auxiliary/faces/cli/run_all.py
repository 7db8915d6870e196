"""``python -m auxiliary run-all``: its flags and its call into :mod:`auxiliary.faces.runner`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from auxiliary.base.config_overrides import parse_set
from auxiliary.base.files import check_output_dir
from auxiliary.base.layout import output_root
from auxiliary.faces.cli.flags import cli_overrides
from auxiliary.faces.runner import run_all


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="*", default=None, help="run only these notebooks (e.g. 01 02)")
    parser.add_argument("--out", default=None, help="folder for executed notebooks (default runs/notebooks)")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    overrides = parse_set(args.set)
    overrides.update(cli_overrides(args))
    params = {k.replace(".", "__").upper(): v for k, v in overrides.items()}
    if args.config:
        params["CONFIG"] = str(Path(args.config).resolve())
    if args.out:
        check_output_dir(args.out)
    done = run_all(profile=cfg.profile, only=args.only, parameters=params, out_dir=args.out)
    root = output_root()
    print("\nResults:")
    print(f"  executed notebooks: {Path(args.out) if args.out else root / 'runs' / 'notebooks'}")
    print(f"  notebook results:   {root / 'runs'}/<notebook>/results.json")
    print(f"  figures:            {root / 'figures'}")
    print(f"  models:             {root / 'models'} and training runs in {root / 'runs'}")
    return 0 if done else 1

