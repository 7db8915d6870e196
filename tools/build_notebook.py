"""Build a stripped .ipynb from a percent-format script (``# %%`` code, ``# %% [markdown]`` text).

A cell whose first line is ``# %% tags=["parameters"]`` gets papermill's ``parameters`` tag.
Usage: python tools/build_notebook.py SOURCE.py notebooks/NN_name.ipynb
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat


def build(source: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    chunks = re.split(r"^# %%", source, flags=re.M)
    for chunk in chunks[1:]:
        header, _, body = chunk.partition("\n")
        body = body.strip("\n")
        if "[markdown]" in header:
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines())
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cell = nbformat.v4.new_code_cell(body)
            m = re.search(r"tags=(\[.*\])", header)
            if m:
                cell.metadata["tags"] = json.loads(m.group(1))
            nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"
    return nb


if __name__ == "__main__":
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    nbformat.write(build(src.read_text(encoding="utf-8")), dst)
    print(f"wrote {dst}")
