"""Notebook 01 and ``python -m auxiliary simulate``: the synthetic dataset of a config.

:func:`simulate` is the step the command line and the DVC stage ``simulate`` call; :func:`ensure_synthetic`, what
the notebooks call, reuses the config's dataset when it is complete, else makes it with :func:`simulate`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from auxiliary.base.config import Config
from auxiliary.base.files import check_output_dir
from auxiliary.base.layout import synthetic_dir
from auxiliary.synth.dataset import generate_dataset


def simulate(cfg: Config, out: str | Path | None = None, *, input_dir: str | Path | None = None,
             overwrite: bool = False, progress: bool = True) -> pd.DataFrame:
    """Generate the synthetic dataset of ``cfg.synth`` into ``out`` (default: the config's own folder,
    :func:`auxiliary.base.layout.synthetic_dir`); returns its metadata table (``attrs["summary"]``: one line).

    ``input_dir``: a folder of the user's own clean face photos to simulate on (instead of ``synth.input_dir``);
    ``out`` must not lie inside it. A non-empty ``out`` is refused unless ``overwrite``."""
    if input_dir:
        cfg = replace(cfg, synth=replace(cfg.synth, input_dir=str(input_dir)))
    target = check_output_dir(out, inputs=(cfg.synth.input_dir,)) if out else synthetic_dir(cfg)
    return generate_dataset(cfg.synth, target, overwrite=overwrite, progress=progress)


def ensure_synthetic(cfg: Config, progress: bool = True) -> Path:
    """The synthetic dataset of ``cfg.synth`` (notebook 01's output), made by :func:`simulate` when missing."""
    out = synthetic_dir(cfg)
    if not (out / "metadata.csv").is_file():
        simulate(cfg, overwrite=out.exists(), progress=progress)
    return out
