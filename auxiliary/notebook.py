"""What every notebook does first and last: resolve its config, show it, record its results.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib
import seaborn as sns

from auxiliary.config import Config, save, to_dict
from auxiliary.config_overrides import from_notebook, notebook_overrides
from auxiliary.files import jsonable, write_json_atomic
from auxiliary.layout import figures_dir, output_root, results_path, runs_dir


def setup(namespace: dict[str, Any], notebook: str) -> Config:
    """Resolve the config from the parameters cell (PROFILE, CONFIG, UPPER_CASE overrides),
    save it under ``runs/<notebook>/config.yaml``, set plotting defaults and print a summary."""
    cfg = from_notebook(namespace)
    out = runs_dir() / notebook
    out.mkdir(parents=True, exist_ok=True)
    save(cfg, out / "config.yaml")
    if not _in_notebook():
        matplotlib.use("Agg")
    sns.set_theme(context="notebook", style="whitegrid")
    overrides = notebook_overrides(namespace)
    print(f"profile: {cfg.profile}; overrides: {overrides or 'none'}; outputs under {output_root()}")
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
    out = figures_dir() / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(out, dpi=150, bbox_inches="tight")
    return out


def finish(notebook: str, values: dict[str, Any], cfg: Config) -> Path:
    """Record the notebook's key results to ``runs/<notebook>/results.json`` (the tests read them)."""
    path = record_results(notebook, values, cfg)
    print(f"results recorded in {path}")
    return path


def record_results(notebook: str, results: dict[str, Any], config: Any = None) -> Path:
    """Write ``results`` (plus a timestamp and the resolved config) for ``notebook``."""
    out = results_path(notebook)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"notebook": notebook, "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    payload.update(jsonable(results))
    if config is not None:
        payload["config"] = to_dict(config)
        save(config, out.parent / "config.yaml")
    write_json_atomic(out, payload)
    return out


def load_results(notebook: str) -> dict[str, Any]:
    return json.loads(results_path(notebook).read_text(encoding="utf-8"))
