"""Where every output lives: the project folders and the name of each step's output, nothing else.

The root is found wherever Jupyter, papermill or pytest starts (any sub-folder of the checkout
works). Two environment variables move things:

* ``AUXILIARY_ROOT``: the project root itself (e.g. on Colab, or an installed package).
* ``AUXILIARY_OUTPUT``: where ``data/``, ``models/``, ``figures/`` and ``runs/`` are written (the tests
  point it at a temporary folder so that a test run never touches the user's outputs). Unset, they are
  written in the checkout the working directory lies in (a notebook's, ``make demo``'s), else in the working
  directory itself: never in the checkout or ``site-packages`` the package was imported from.
* ``AUXILIARY_CACHE``: where caches are kept (decoded image caches, image-probe tables, decoded MedMNIST
  arrays): re-creatable data that is nobody's output; default the per-user cache folder of ``platformdirs``
  (``~/.cache/auxiliary`` on Linux).

Only the top folders are created (``data_dir()``... with ``create=True``); nothing else is written or
read here. Output folders of the series are named by profile and a hash of the settings that produced
them (:func:`auxiliary.base.config.section_hash`), so the smoke, demo and full runs never mix; the steps
that make them are in :mod:`auxiliary.steps`.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from auxiliary.base.config import Config, section_hash

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
    """Base folder of generated outputs: ``$AUXILIARY_OUTPUT``, else the checkout the working directory lies in
    (``$AUXILIARY_ROOT`` first), else the working directory."""
    env = os.environ.get("AUXILIARY_OUTPUT")
    if env:
        return Path(env).expanduser().resolve()
    root = os.environ.get("AUXILIARY_ROOT")
    if root:
        return Path(root).expanduser().resolve()
    here = Path.cwd().resolve()
    return next((p for p in (here, *here.parents) if _looks_like_root(p)), here)


def cache_dir(name: str = "", create: bool = True) -> Path:
    """The cache folder (``$AUXILIARY_CACHE``, else the per-user cache of ``platformdirs``), or its sub-folder
    ``name``: what can be rebuilt at any time and belongs to no step's ``--out``."""
    env = os.environ.get("AUXILIARY_CACHE")
    base = Path(env).expanduser().resolve() if env else Path(platformdirs.user_cache_dir("auxiliary"))
    d = base / name if name else base
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d


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


# ------------------------------------------------------------------ 01 synthesis
def synthetic_dir(cfg: Config) -> Path:
    """Folder of the synthetic dataset made with ``cfg.synth``."""
    return data_dir() / "synthetic" / f"{cfg.profile}-{section_hash(cfg.synth)}"


# ------------------------------------------------------------------ 02 data
def split_dir(cfg: Config) -> Path:
    """Folder of the train/val/test lists for the configured dataset and split settings."""
    src = str(cfg.data.data)
    key = section_hash(cfg.data, {"synth": section_hash(cfg.synth) if src.lower() == "synthetic" else src})
    name = "synthetic" if src.lower() == "synthetic" else Path(src).name
    return data_dir() / "splits" / f"{name}-{cfg.profile}-{key}"


# ------------------------------------------------------------------ 03 selection
def selection_file(cfg: Config, create: bool = True) -> Path:
    """Where model selection (notebook 03) writes the winner that notebook 04 trains by default."""
    return models_dir(create) / f"selected-{cfg.profile}.json"


# ------------------------------------------------------------------ 04 training
def run_dir(cfg: Config, name: str | None = None) -> Path:
    """Training run folder ``runs/<name>``; the default name is ``<model>-<profile>``."""
    return runs_dir() / (name or f"{cfg.train.model}-{cfg.profile}")


# ------------------------------------------------------------------ every notebook; selection runs
def results_path(notebook: str) -> Path:
    """``runs/<notebook>/results.json``, written by :func:`auxiliary.faces.notebook.record_results`."""
    return runs_dir() / notebook / "results.json"


def default_out_root(cfg: Config) -> Path:
    """``runs/select-<profile>``: where model selection trains its candidates."""
    return runs_dir() / f"select-{cfg.profile}"
