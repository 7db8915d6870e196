"""Each notebook records its key results to ``runs/<notebook>/results.json`` (tests assert on them)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import paths


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return _clean(value.to_dict())
    return value


def results_path(notebook: str) -> Path:
    return paths.runs_dir() / notebook / "results.json"


def record(notebook: str, results: dict[str, Any], config: Any = None) -> Path:
    """Write ``results`` (plus a timestamp and the resolved config) for ``notebook``."""
    out = results_path(notebook)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"notebook": notebook, "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    payload.update(_clean(results))
    if config is not None:
        from . import config as config_mod

        payload["config"] = config_mod.to_dict(config)
        config_mod.save(config, out.parent / "config.yaml")
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    tmp.replace(out)
    return out


def load(notebook: str) -> dict[str, Any]:
    return json.loads(results_path(notebook).read_text(encoding="utf-8"))
