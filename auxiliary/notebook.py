"""What every notebook does first and last: resolve its config, show it, record its results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import config as config_mod
from . import paths, results
from .config import Config


def setup(namespace: dict[str, Any], notebook: str) -> Config:
    """Resolve the config from the parameters cell (PROFILE, CONFIG, UPPER_CASE overrides),
    save it under ``runs/<notebook>/config.yaml``, set plotting defaults and print a summary."""
    cfg = config_mod.from_notebook(namespace)
    out = paths.runs_dir() / notebook
    out.mkdir(parents=True, exist_ok=True)
    config_mod.save(cfg, out / "config.yaml")
    try:
        import matplotlib

        if not _in_notebook():
            matplotlib.use("Agg")
        import seaborn as sns

        sns.set_theme(context="notebook", style="whitegrid")
    except ImportError:  # pragma: no cover
        pass
    overrides = config_mod.notebook_overrides(namespace)
    print(f"profile: {cfg.profile}; overrides: {overrides or 'none'}; outputs under {paths.output_root()}")
    return cfg


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and "IPKernelApp" in ip.config
    except ImportError:  # pragma: no cover
        return False


def save_figure(fig: Any, name: str) -> Path:
    """Save a matplotlib figure as ``figures/<name>.png`` (150 dpi, tight) and return the path."""
    out = paths.figures_dir() / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(out, dpi=150, bbox_inches="tight")
    return out


def finish(notebook: str, values: dict[str, Any], cfg: Config) -> Path:
    """Record the notebook's key results to ``runs/<notebook>/results.json`` (the tests read them)."""
    path = results.record(notebook, values, cfg)
    print(f"results recorded in {path}")
    return path
