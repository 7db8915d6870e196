"""What the first cell of every notebook does on Google Colab, and keeping that cell and the README's badges in step
with the one place the repository's URL is written: ``[project.urls] Repository`` in ``pyproject.toml``.

The first code cell of every notebook (:data:`CELL`, with the URL filled in by ``make colab-links``)::

    DRIVE = False  # Colab only: True keeps data/, runs/, figures/ and models/ on your Google Drive
    import sys

    if "google.colab" in sys.modules:  # on Colab: install this repository's package (elsewhere nothing happens)
        import subprocess

        REPOSITORY = "https://github.com/OWNER/REPO"  # [project.urls] of pyproject.toml; `make colab-links` writes it
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", f"git+{REPOSITORY}"], check=True)
        from auxiliary.faces.colab import colab_setup

        colab_setup(drive=DRIVE)

The cell can only fetch the package; :func:`colab_setup` does the rest: removes Colab's preinstalled OpenCV
wheels (``opencv-python`` and ``opencv-python-headless`` side by side overwrite each other's ``cv2``), installs
the package again with its dependencies and the ``notebooks,pretrained,web`` extras from the URL its own
metadata records, and, only when ``drive=True``, mounts Google Drive and points ``AUXILIARY_OUTPUT`` at
``MyDrive/<repository name>/``. This module imports nothing but the standard library, since it runs before the
dependencies are installed.

``python -m auxiliary.faces.colab`` (``make colab-links``) writes the URL of ``pyproject.toml`` into every notebook's
first cell and the README's "Open in Colab" badges; ``tests/test_colab.py`` fails while they differ.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Extras a notebook needs on Colab (Jupyter widgets and papermill, the offline weights, the web demo).
EXTRAS = ("notebooks", "pretrained", "web")
#: Colab's OpenCV wheels, removed before installing: the package brings back ``opencv-python-headless`` alone.
CONFLICTING = ("opencv-python", "opencv-contrib-python", "opencv-python-headless")
DRIVE_MOUNT = "/content/drive"
#: The first code cell of every notebook; ``{repository}`` is the URL of ``pyproject.toml``.
CELL = '''DRIVE = False  # Colab only: True keeps data/, runs/, figures/ and models/ on your Google Drive
import sys

if "google.colab" in sys.modules:  # on Colab: install this repository's package (elsewhere nothing happens)
    import subprocess

    REPOSITORY = "{repository}"  # [project.urls] of pyproject.toml; `make colab-links` writes it here
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", f"git+{{REPOSITORY}}"], check=True)
    from auxiliary.faces.colab import colab_setup

    colab_setup(drive=DRIVE)'''
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("01_synthesis", "02_data", "03_model_selection", "04_fine_tuning", "05_comparison", "06_sorting_feedback")
BADGES = ("<!-- colab-badges -->", "<!-- /colab-badges -->")


def pyproject_url(pyproject: Path = ROOT / "pyproject.toml") -> str | None:
    """``Repository`` under ``[project.urls]`` of a checkout's ``pyproject.toml`` (None when absent)."""
    if not pyproject.is_file():
        return None
    section = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", pyproject.read_text(encoding="utf-8"), re.M | re.S)
    found = re.search(r'^\s*Repository\s*=\s*"([^"]+)"', section.group(1), re.M) if section else None
    return found.group(1) if found else None


def repository_url() -> str:
    """The repository URL the installed package records (``Project-URL: Repository``), else the checkout's."""
    try:
        for entry in importlib.metadata.metadata("auxiliary").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() == "repository" and url.strip():
                return url.strip()
    except importlib.metadata.PackageNotFoundError:
        pass
    url = pyproject_url()
    if not url:
        raise RuntimeError("no repository URL recorded: set Repository under [project.urls] in pyproject.toml")
    return url


def install_commands(url: str) -> list[list[str]]:
    """The pip commands :func:`colab_setup` runs: remove the OpenCV wheels, then install the package."""
    pip = [sys.executable, "-m", "pip"]
    return [[*pip, "uninstall", "-y", "-q", *CONFLICTING],
            [*pip, "install", "-q", f"auxiliary[{','.join(EXTRAS)}] @ git+{url}"]]


def colab_setup(drive: bool = False) -> dict[str, Any]:
    """On Colab: the installs of :func:`install_commands` and, with ``drive``, outputs on Google Drive
    (``AUXILIARY_OUTPUT``). Elsewhere nothing. Returns what it did."""
    if "google.colab" not in sys.modules:
        return {"colab": False}
    url = repository_url()
    uninstall, install = install_commands(url)
    subprocess.run(uninstall, check=False)  # absent wheels are fine
    subprocess.run(install, check=True)
    done: dict[str, Any] = {"colab": True, "repository": url, "pip": [uninstall, install]}
    if drive:
        importlib.import_module("google.colab.drive").mount(DRIVE_MOUNT)
        out = Path(DRIVE_MOUNT) / "MyDrive" / url.rstrip("/").split("/")[-1].removesuffix(".git")
        os.environ["AUXILIARY_OUTPUT"] = str(out)
        done["outputs"] = str(out)
    print(f"installed auxiliary[{','.join(EXTRAS)}] from {url}; outputs under "
          f"{done.get('outputs', 'the working directory')}")
    return done


# ------------------------------------------------------------------------ keeping cells and badges in step
def badges(url: str, branch: str = "main") -> str:
    """The README's table of "Open in Colab" badges, one per notebook."""
    repo = url.removeprefix("https://github.com/").rstrip("/").removesuffix(".git")
    rows = [f"| `{nb}` | [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{nb}.ipynb) |"
            for nb in NOTEBOOKS]
    return "\n".join([BADGES[0], "| notebook | Colab |", "|---|---|", *rows, BADGES[1]])


def first_code_cell(notebook: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in notebook["cells"] if c["cell_type"] == "code")


def sync(root: Path = ROOT, branch: str = "main") -> list[Path]:
    """Write the URL of ``pyproject.toml`` into every notebook's first cell and the README's badges;
    returns the files changed."""
    url = pyproject_url(root / "pyproject.toml")
    if not url:
        raise SystemExit("error: set Repository under [project.urls] in pyproject.toml first")
    changed = []
    for nb in NOTEBOOKS:
        path = root / "notebooks" / f"{nb}.ipynb"
        data = json.loads(path.read_text(encoding="utf-8"))
        lines = CELL.format(repository=url).splitlines(keepends=True)
        cell = first_code_cell(data)
        if cell["source"] != lines:
            cell["source"] = lines
            path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(path)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = re.sub(re.escape(BADGES[0]) + r".*?" + re.escape(BADGES[1]), lambda _: badges(url, branch), text,
                 flags=re.S)
    if new != text:
        readme.write_text(new, encoding="utf-8")
        changed.append(readme)
    return changed


if __name__ == "__main__":  # pragma: no cover - make colab-links
    for p in sync(branch=sys.argv[1] if len(sys.argv) > 1 else "main"):
        print(f"updated {p}")
