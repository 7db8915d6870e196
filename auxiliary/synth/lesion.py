"""What every simulator returns and the small helpers they share: lesions, results, parameter ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Lesion:
    """One acne lesion: centre (px), radius (px), kind and relative intensity (0-1.5)."""

    x: float
    y: float
    radius: float
    kind: str
    intensity: float = 1.0
    aspect: float = 1.0
    angle: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"x": round(self.x, 2), "y": round(self.y, 2), "radius": round(self.radius, 3), "kind": self.kind,
                "intensity": round(self.intensity, 3), "aspect": round(self.aspect, 3), "angle": round(self.angle, 3)}


@dataclass
class SimResult:
    """What a simulator returns: the image, the lesion records, a mask and the parameters."""

    image: np.ndarray
    """RGB uint8 (or float32 CIELAB for the canvas-level functions)."""
    lesions: list[Lesion]
    mask: np.ndarray
    """bool (H, W): pixels visibly changed by the simulator."""
    params: dict[str, Any] = field(default_factory=dict)


def value_range(r: Any) -> tuple[float, float]:
    if isinstance(r, (int, float)):
        return float(r), float(r)
    lo, hi = r
    return float(lo), float(hi)


def lesion_window(shape: tuple[int, int], x: float, y: float, R: float) -> tuple[int, int, int, int] | None:
    H, W = shape
    Ri = int(math.ceil(R)) + 1
    y0, y1 = max(0, int(y) - Ri), min(H, int(y) + Ri + 1)
    x0, x1 = max(0, int(x) - Ri), min(W, int(x) + Ri + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    return y0, y1, x0, x1


# ----------------------------------------------------------------------------- parameter draws
def draw_value(rng: np.random.Generator, r: Any, integer: bool = False) -> float:
    lo, hi = value_range(r)
    if integer:
        return float(rng.integers(int(round(lo)), int(round(hi)) + 1))
    return float(rng.uniform(lo, hi)) if hi > lo else lo
