"""What an executed notebook of the series holds (imported by the notebook tests, not collected)."""

from __future__ import annotations

import json
from pathlib import Path


def cell_outputs(out: Path, notebook: str, cell_id: str) -> list[dict]:
    """The outputs of cell ``cell_id`` in the executed copy of ``notebook`` (``runs/notebooks/`` of the series)."""
    nb = json.loads((Path(out) / "runs" / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    return next(c for c in nb["cells"] if c.get("id") == cell_id).get("outputs", [])


def shows_a_static_figure(out: Path, notebook: str, cell_id: str) -> bool:
    """Whether that cell shows a PNG and no widget: a panel's static fallback under papermill."""
    data = [o.get("data", {}) for o in cell_outputs(out, notebook, cell_id)]
    return any("image/png" in d for d in data) and not any(
        "application/vnd.jupyter.widget-view+json" in d for d in data)
