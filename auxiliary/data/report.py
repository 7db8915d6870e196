"""What was wrong with a dataset: the problems found while reading it, listed once (:class:`DatasetReport`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.errors import AuxiliaryError


# ----------------------------------------------------------------------------------- errors, report
class DatasetError(AuxiliaryError):
    """The dataset cannot be read (not found, unknown layout, no usable image...)."""


class DatasetProblemsError(DatasetError):
    """Rows with problems were found and ``drop_bad`` is off; ``.report`` lists them all."""

    def __init__(self, report: DatasetReport):
        self.report = report
        super().__init__(
            f"{report.summary()} -- fix them or drop them (drop_bad=True, --drop-bad true); "
            "report.to_frame() lists every row"
        )


@dataclass
class Problem:
    kind: str  # missing file | unreadable image | unknown label | duplicate row
    path: str
    detail: str = ""
    row: int | None = None  # line of the listing (0-based data row), when there is one


@dataclass
class DatasetReport:
    """What reading a dataset found: problems (one per row), notes, and the counts."""

    source: str
    format: str
    n_listed: int = 0
    n_kept: int = 0
    dropped: bool = True
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    #: The label columns of a dataset with several labels per image (empty: one class per image, in ``label``).
    labels: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per problem: kind, path, detail, row."""
        return pd.DataFrame(
            [{"kind": p.kind, "path": p.path, "detail": p.detail, "row": p.row} for p in self.problems],
            columns=["kind", "path", "detail", "row"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "format": self.format, "n_listed": self.n_listed, "n_kept": self.n_kept,
            "problems": self.counts(), "notes": list(self.notes), "class_counts": dict(self.class_counts),
        }

    def summary(self) -> str:
        """One line: source, format and the problem counts with a few examples."""
        if not self.problems:
            return f"{self.source} ({self.format}): {self.n_kept} images, no problems"
        parts = []
        for kind, n in self.counts().items():
            ex = [p for p in self.problems if p.kind == kind][:2]
            examples = "; ".join(f"{Path(p.path).name or p.path}" + (f": {p.detail}" if p.detail else "") for p in ex)
            parts.append(f"{n} {kind}{'s' if n > 1 else ''} (e.g. {examples})")
        return f"{len(self.problems)} problem rows in {self.source} ({self.format}): " + ", ".join(parts)

    def __str__(self) -> str:
        lines = [f"dataset {self.source} read as {self.format}: {self.n_listed} listed, {self.n_kept} kept"]
        if self.class_counts:
            lines.append("  classes: " + ", ".join(f"{k} {v}" for k, v in self.class_counts.items()))
        if self.problems:
            verb = "dropped" if self.dropped else "NOT dropped"
            lines.append(f"  {len(self.problems)} problem rows ({verb}): "
                         + ", ".join(f"{n} {k}" for k, n in self.counts().items()))
            for p in self.problems[:20]:
                where = f" (row {p.row})" if p.row is not None else ""
                lines.append(f"    - {p.kind}: {p.path}{where}" + (f" -- {p.detail}" if p.detail else ""))
            if len(self.problems) > 20:
                lines.append(f"    ... {len(self.problems) - 20} more (report.to_frame() lists all)")
        else:
            lines.append("  no problems found")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display

        return "<pre>" + html.escape(str(self)) + "</pre>"
