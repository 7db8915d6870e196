"""Numbers a setting may take: the bounds declared next to each config field, checked when a config is resolved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Bounds:
    """The values a number may take: ``at_least``/``at_most`` inclusive, ``above``/``below`` exclusive.

    ``None`` leaves a side open; NaN and infinity are never allowed. For a (min, max) range field
    both ends must lie within the bounds (and min <= max).
    """

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None

    def describe(self) -> str:
        """The allowed values in words: ``at least 1``, ``between 0 and 1``, ``above 0 and at most 1``..."""
        if self.at_least is not None and self.at_most is not None:
            return f"between {number_text(self.at_least)} and {number_text(self.at_most)}"
        low = (f"at least {number_text(self.at_least)}" if self.at_least is not None
               else f"above {number_text(self.above)}" if self.above is not None else "")
        high = (f"at most {number_text(self.at_most)}" if self.at_most is not None
                else f"below {number_text(self.below)}" if self.below is not None else "")
        return " and ".join(p for p in (low, high) if p) or "a finite number"

    def allows(self, value: float) -> bool:
        """Whether ``value`` is finite and within the bounds."""
        v = float(value)
        return math.isfinite(v) and not (
            (self.at_least is not None and v < self.at_least)
            or (self.above is not None and v <= self.above)
            or (self.at_most is not None and v > self.at_most)
            or (self.below is not None and v >= self.below)
        )


def number_text(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() else str(value)


def bounded(
    default: Any,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
) -> Any:
    """A dataclass field with the :class:`Bounds` its value must respect (checked when a config is resolved)."""
    return field(default=default, metadata={"bounds": Bounds(at_least, above, at_most, below)})


def field_bounds(cls: type, name: str) -> Bounds | None:
    """The :class:`Bounds` declared for a field with :func:`bounded`, or None."""
    return next((f.metadata.get("bounds") for f in fields(cls) if f.name == name), None)


#: Upper bounds shared by several fields and options: larger values exhaust memory or disk, or never finish.
MAX_SEED = 2**31 - 1  # numpy, torch and scikit-learn all accept it


MAX_IMAGES_PER_CLASS = 100_000


MAX_BATCH = 4096


MAX_EPOCHS = 1000


MAX_WORKERS = 128


MAX_THREADS = 1024
