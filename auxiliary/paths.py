"""Where things live: the project root and its data/, models/, figures/, runs/ folders.

The root is found wherever Jupyter, papermill or pytest starts (any sub-folder of the
checkout works), so notebooks use these folders without ``sys.path`` hacks. Two environment
variables move things:

* ``AUXILIARY_ROOT``: the project root itself (e.g. on Colab, or an installed package).
* ``AUXILIARY_OUTPUT``: where data/, models/, figures/ and runs/ are written (the tests point
  it at a temporary folder so that a test run never touches the user's outputs).
"""

from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("pyproject.toml", "notebooks")


def _looks_like_root(p: Path) -> bool:
    return (p / "pyproject.toml").is_file() and (p / "auxiliary").is_dir()


def project_root(start: str | Path | None = None) -> Path:
    """The checkout's root: ``$AUXILIARY_ROOT``, else the first parent of ``start`` (or the
    working directory, then this file) holding ``pyproject.toml`` and ``auxiliary/``; else the
    working directory (an installed package used from anywhere)."""
    env = os.environ.get("AUXILIARY_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    starts = [Path(start)] if start else [Path.cwd(), Path(__file__).resolve().parent]
    for s in starts:
        s = s.resolve()
        for p in (s, *s.parents):
            if _looks_like_root(p):
                return p
    return Path.cwd().resolve()


def output_root() -> Path:
    """Base folder of generated outputs: ``$AUXILIARY_OUTPUT`` or the project root."""
    env = os.environ.get("AUXILIARY_OUTPUT")
    return Path(env).expanduser().resolve() if env else project_root()


def _sub(name: str, create: bool) -> Path:
    p = output_root() / name
    if create:
        p.mkdir(parents=True, exist_ok=True)
    return p


def data_dir(create: bool = True) -> Path:
    """Generated and downloaded datasets, splits, caches."""
    return _sub("data", create)


def models_dir(create: bool = True) -> Path:
    """Exported models (ONNX) and the model chosen by selection."""
    return _sub("models", create)


def figures_dir(create: bool = True) -> Path:
    """Report figures (PNG)."""
    return _sub("figures", create)


def runs_dir(create: bool = True) -> Path:
    """Training runs, executed notebooks and each notebook's results.json."""
    return _sub("runs", create)


def notebooks_dir() -> Path:
    """The notebook series shipped with the checkout."""
    return project_root() / "notebooks"


def resolve_path(path: str | Path) -> Path:
    """A user path: absolute stays, ``~`` expands; a relative one is taken from the output root when
    it exists there, else from the working directory when it exists there, else (a new output) from
    the output root."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    cand = output_root() / p
    if cand.exists():
        return cand
    here = (Path.cwd() / p).resolve()
    return here if here.exists() else cand
