"""Notebook 01 and ``python -m auxiliary simulate``: the synthetic dataset of a config, made when missing.
"""

from __future__ import annotations

from pathlib import Path

from auxiliary.base.config import Config
from auxiliary.base.layout import synthetic_dir
from auxiliary.synth.dataset import generate_dataset


def ensure_synthetic(cfg: Config, progress: bool = True) -> Path:
    """The synthetic dataset of ``cfg.synth``, generated when missing (notebook 01's output)."""
    out = synthetic_dir(cfg)
    if (out / "metadata.csv").is_file():
        return out
    generate_dataset(cfg.synth, out, overwrite=out.exists(), progress=progress)
    return out


# ----------------------------------------------------------------------------- CLI
