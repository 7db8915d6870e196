"""The hand-offs between notebooks: where each step's outputs live and how to (re)make them.

Every notebook calls ``ensure_*`` for its inputs, so it also works opened alone: if the
previous notebook has not run (with the same settings), its outputs are regenerated here
by calling the very same functions.  Output folders are named by profile and a hash of the
settings that produced them, so the smoke, demo and full runs never mix.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import paths
from .config import Config, section_hash


# ------------------------------------------------------------------ 01 synthesis
def synthetic_dir(cfg: Config) -> Path:
    """Folder of the synthetic dataset made with ``cfg.synth``."""
    return paths.data_dir() / "synthetic" / f"{cfg.profile}-{section_hash(cfg.synth)}"


def ensure_synthetic(cfg: Config, progress: bool = True) -> Path:
    """The synthetic dataset of ``cfg.synth``, generated when missing (notebook 01's output)."""
    from . import synth

    out = synthetic_dir(cfg)
    if (out / "metadata.csv").is_file():
        return out
    synth.generate_dataset(cfg.synth, out, overwrite=out.exists(), progress=progress)
    return out


# ------------------------------------------------------------------ 02 data
def dataset_source(cfg: Config) -> Path:
    """The dataset the series trains on: the synthetic default or ``cfg.data.data``."""
    if str(cfg.data.data).lower() == "synthetic":
        return ensure_synthetic(cfg)
    return paths.resolve_path(cfg.data.data)


def split_dir(cfg: Config) -> Path:
    """Folder of the train/val/test lists for the configured dataset and split settings."""
    src = str(cfg.data.data)
    key = section_hash(cfg.data, {"synth": section_hash(cfg.synth) if src.lower() == "synthetic" else src})
    name = "synthetic" if src.lower() == "synthetic" else Path(src).name
    return paths.data_dir() / "splits" / f"{name}-{cfg.profile}-{key}"


def ensure_splits(cfg: Config, progress: bool = True) -> Path:
    """The split folder (``train.csv``, ``val.csv``, ``test.csv``, ``classes.json``), made when missing."""
    from . import data, splits

    out = split_dir(cfg)
    if (out / "train.csv").is_file() and (out / "classes.json").is_file():
        return data.ensure_oversampled(out, cfg.data, progress=progress)
    table, _report = data.read_dataset(dataset_source(cfg), format=cfg.data.format, drop_bad=cfg.data.drop_bad,
                                       progress=progress)
    splits.make_splits(
        table, out, val=cfg.data.val, test=cfg.data.test, group_col=cfg.data.group_col, seed=cfg.data.seed,
        overwrite=out.exists(), progress=progress,
    )
    return data.ensure_oversampled(out, cfg.data, progress=progress)  # no-op unless data.oversample_to > 0


# ------------------------------------------------------------------ 03 selection
def selection_file(cfg: Config) -> Path:
    """Where model selection (notebook 03) writes the winner that notebook 04 trains by default."""
    return paths.models_dir() / f"selected-{cfg.profile}.json"


def selected_model(cfg: Config) -> str:
    """The winner of notebook 03 for this profile, else ``cfg.train.model``."""
    f = selection_file(cfg)
    if f.is_file():
        try:
            return str(json.loads(f.read_text(encoding="utf-8"))["model"])
        except (ValueError, KeyError):
            pass
    return cfg.train.model


# ------------------------------------------------------------------ 04 training
def run_dir(cfg: Config, name: str | None = None) -> Path:
    """Training run folder ``runs/<name>``; the default name is ``<model>-<profile>``."""
    return paths.runs_dir() / (name or f"{cfg.train.model}-{cfg.profile}")


def ensure_trained(cfg: Config, name: str | None = None, progress: bool = True) -> Path:
    """A run folder holding ``best.pt`` for ``cfg``, trained when missing (notebook 04's output)."""
    from . import train

    out = run_dir(cfg, name)
    if (out / "best.pt").is_file():
        return out
    resume = (out / "last.pt").is_file()
    train.fit(cfg, ensure_splits(cfg, progress=progress), out, resume=resume, progress=progress)
    return out
