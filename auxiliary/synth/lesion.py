"""What every simulator returns and the small helpers they share: lesions, results, parameter ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

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


class KindSampler:
    """Draws a strength and a non-empty set of kinds, then runs a simulator on a copy of a canvas.

    ``Sampler(strength=(0.15, 0.9), kinds={"kind": probability, ...}, seed=0)(canvas)`` ->
    :class:`SimResult` (CIELAB image in ``image``): each kind is drawn with its probability, and when none is,
    one is chosen in proportion to them (an image of a condition shows at least one of its kinds). Successive
    calls continue the sampler's own stream; ``rng=`` draws from another generator instead (the dataset's
    per-subject streams). A subclass names its kinds (:attr:`KINDS`, :attr:`DEFAULT_KINDS`) and its simulator
    (:meth:`simulate`, ``lab`` drawn on in place).
    """

    KINDS: ClassVar[tuple[str, ...]] = ()
    DEFAULT_KINDS: ClassVar[dict[str, float]] = {}

    def __init__(self, strength: Any = (0.15, 0.9), kinds: dict[str, float] | None = None, seed: int = 0):
        self.strength = value_range(strength)
        self.kinds = dict(kinds or self.DEFAULT_KINDS)
        if not self.kinds or set(self.kinds) - set(self.KINDS):
            raise ValueError(f"kinds must be a non-empty subset of {', '.join(self.KINDS)}")
        self.rng = np.random.default_rng(seed)

    def simulate(self, lab: np.ndarray, canvas: Any, rng: np.random.Generator, *, strength: float,
                 kinds: tuple[str, ...]) -> SimResult:
        raise NotImplementedError

    def __call__(self, canvas: Any, rng: np.random.Generator | None = None) -> SimResult:
        rng = self.rng if rng is None else rng
        strength = draw_value(rng, self.strength)
        names = list(self.kinds)
        chosen = tuple(k for k in names if rng.random() < self.kinds[k])
        if not chosen:
            p = np.array([self.kinds[k] for k in names], np.float64) + 1e-9
            chosen = (names[int(rng.choice(len(names), p=p / p.sum()))],)
        return self.simulate(canvas.lab.copy(), canvas, rng, strength=strength, kinds=chosen)
