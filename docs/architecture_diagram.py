"""Draw docs/images/architecture.png from the package's real imports.

The import graph comes from tests/test_architecture.py (the same AST walk that enforces the
layers), loaded by file path. Each box is a layer with its modules; each arrow is the number of
import statements from one layer to another, so the picture cannot drift from the code.

Usage: python docs/architecture_diagram.py [OUT.png]
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: layer -> (x, y, width, height, colour) in axes units
BOXES = {
    "faces": (0.05, 0.86, 0.90, 0.09, "#f4d6d6"),
    "steps": (0.05, 0.69, 0.62, 0.13, "#f6e3c6"),
    "viz": (0.72, 0.64, 0.23, 0.18, "#e8dcf2"),
    "inference": (0.05, 0.50, 0.42, 0.14, "#d8e8f4"),
    "training": (0.52, 0.50, 0.43, 0.10, "#d8e8f4"),
    "models": (0.52, 0.37, 0.43, 0.09, "#d4ecec"),
    "tasks": (0.05, 0.37, 0.42, 0.09, "#d4ecec"),
    "synth": (0.05, 0.14, 0.28, 0.19, "#dff0d8"),
    "data": (0.36, 0.14, 0.30, 0.19, "#dff0d8"),
    "evaluation": (0.69, 0.14, 0.26, 0.19, "#dff0d8"),
    "base": (0.05, 0.02, 0.90, 0.09, "#e6e6e6"),
}


def load_architecture_test():
    spec = importlib.util.spec_from_file_location("architecture_rules", ROOT / "tests" / "test_architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def anchors(src: tuple, dst: tuple) -> tuple[tuple[float, float], tuple[float, float]]:
    """Arrow ends on the boxes' edges: from the source's bottom (or side) to the target's top (or side)."""
    _, _, xs, ys, ws, hs = src
    _, _, xt, yt, wt, ht = dst
    if yt + ht <= ys + 1e-6:  # target below: bottom edge -> top edge, spread along the edges
        xa = min(max(xt + wt / 2, xs + 0.03), xs + ws - 0.03)
        xb = min(max(xs + ws / 2, xt + 0.03), xt + wt - 0.03)
        return (xa, ys), (xb, yt + ht)
    if xt >= xs + ws:  # target to the right
        return (xs + ws, ys + hs * 0.35), (xt, yt + ht * 0.6)
    return (xs, ys + hs * 0.35), (xt + wt, yt + ht * 0.6)


def draw(out: Path) -> Path:
    arch = load_architecture_test()
    edges = arch.graph()
    members: dict[str, list[str]] = {k: [] for k in BOXES}
    for m in arch.MODULES:
        parts = m.split(".")
        if len(parts) <= 2:  # auxiliary, auxiliary.__main__, a room's __init__
            continue
        leaf = "cli/<verb>" if parts[2] == "cli" else parts[-1]
        if leaf not in members[arch.layer(m)]:
            members[arch.layer(m)].append(leaf)
    counts = Counter((arch.layer(a), arch.layer(b)) for a, targets in edges.items() for b in targets
                     if arch.layer(a) != arch.layer(b))

    fig, ax = plt.subplots(figsize=(11, 8.5))
    ax.set_axis_off()
    centre = {}
    for name, (x, y, w, h, colour) in BOXES.items():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.005,rounding_size=0.01", fc=colour,
                                    ec="#555555", lw=1))
        title = f"auxiliary/{name}/"
        ax.text(x + 0.01, y + h - 0.012, title, fontsize=10, fontweight="bold", va="top")
        names = sorted(members[name])
        per_line = max(1, int(w / (0.0068 * (max(len(n) for n in names) + 2)))) if names else 1
        lines = [", ".join(names[i:i + per_line]) for i in range(0, len(names), per_line)]
        ax.text(x + 0.01, y + h - 0.038, "\n".join(lines), fontsize=7.5, va="top", family="monospace")
        centre[name] = (x + w / 2, y + h / 2, x, y, w, h)
    for (a, b), n in sorted(counts.items()):
        start, end = anchors(centre[a], centre[b])
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, lw=0.5 + 0.07 * n,
                                     color="#3a5f8a", alpha=0.6, shrinkA=2, shrinkB=2))
        lx, ly = start[0] + 0.3 * (end[0] - start[0]), start[1] + 0.3 * (end[1] - start[1])
        ax.text(lx, ly, str(n), fontsize=7, color="#1f3d5c", ha="center", va="center",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.4})
    ax.set_title(f"auxiliary: {len(arch.MODULES)} modules; arrows = import statements between layers "
                 f"(all point down; {len(arch.cycles(edges))} circles)", fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "architecture.png"
    print(f"wrote {draw(target)}")
