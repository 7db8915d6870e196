"""What the first cell of every notebook does on Google Colab: install the package from wherever this copy of the
project came from, then set up the runtime; and keeping that cell and the README's badges in step with the one
place the repository's URL is written, ``[project.urls] Repository`` in ``pyproject.toml`` (unset until the
project is published: the badges then do not appear).

The first code cell of every notebook (:data:`CELL`) installs, in this order, from

1. ``REPOSITORY``, the project's git URL, when it is set (``make colab-links`` writes it from ``pyproject.toml``);
2. a copy of the project under ``/content`` or on Google Drive (``DRIVE = True`` mounts it first): a clone, an
   unpacked zip, a Drive folder, found by its ``auxiliary/__main__.py``;
3. a wheel the user uploaded (``auxiliary-*.whl``; ``make dist`` builds it, and a zip of the notebooks with it);

otherwise it prints one line saying which of the three to provide. The cell can only fetch the package (it
holds no function, and nothing of the package exists yet); :func:`colab_setup` does the rest: removes Colab's
preinstalled OpenCV wheels (``opencv-python`` and ``opencv-python-headless`` side by side overwrite each other's
``cv2``), installs the package again from the same source with its dependencies and every extra a notebook's
parameters can ask for (:data:`EXTRAS`, tracking included), and, only when ``drive=True``, points
``AUXILIARY_OUTPUT`` at a folder on Google Drive. This module imports nothing but the standard library, since
it runs before the dependencies are installed.

``python -m auxiliary.faces.colab`` (``make colab-links``) writes the URL of ``pyproject.toml`` (or none) into every
notebook's first cell and the README's "Open in Colab" badges (none without a URL); ``python -m
auxiliary.faces.colab dist DIR`` (``make dist``) zips the notebooks with a wheel of the package for a class.
``tests/faces/test_colab.py`` runs the cell for each source against a fake ``google.colab``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

#: Extras a notebook can need on Colab: Jupyter widgets and papermill, the offline weights, the web demo, and
#: ``TRACKING = "tensorboard,mlflow"``.
EXTRAS = ("notebooks", "pretrained", "web", "tracking")
#: Colab's OpenCV wheels, removed before installing: the package brings back ``opencv-python-headless`` alone.
CONFLICTING = ("opencv-python", "opencv-contrib-python", "opencv-python-headless")
DRIVE_MOUNT = "/content/drive"
#: Where Colab keeps the session's files and mounts Google Drive.
CONTENT = "/content"
#: The first code cell of every notebook; ``{repository}`` is the URL of ``pyproject.toml`` (empty when unset).
CELL = '''DRIVE = False  # Colab only: True keeps data/, runs/, figures/ and models/ on your Google Drive
REPOSITORY = "{repository}"  # the project's git URL once published (`make colab-links` writes it from pyproject.toml)
import sys

if "google.colab" in sys.modules:  # on Colab: install the package from REPOSITORY, a copy of the project, or a wheel
    import glob
    import subprocess

    if DRIVE:
        from google.colab import drive

        drive.mount("/content/drive")
    roots = ["/content/*", "/content/*/*", "/content/drive/MyDrive/*", "/content/drive/MyDrive/*/*"]
    copies = sorted(p[: -len("/auxiliary/__main__.py")] for r in roots for p in glob.glob(f"{{r}}/auxiliary/__main__.py"))
    wheels = sorted(p for r in ["/content", *roots] for p in glob.glob(f"{{r}}/auxiliary-*.whl"))
    SOURCE = f"git+{{REPOSITORY}}" if REPOSITORY else (copies or wheels or [None])[-1]
    if SOURCE is None:
        print("to install auxiliary, give one of: REPOSITORY above (the project's git URL); the project's folder "
              "under /content or on your Drive (a clone, or its zip unpacked; DRIVE = True for Drive); "
              "or an uploaded auxiliary-*.whl (`make dist` builds one)")
    else:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", SOURCE], check=True)
        from auxiliary.faces.colab import colab_setup

        colab_setup(SOURCE, drive=DRIVE)'''
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


def requirement(source: str) -> str:
    """The pip requirement of the package with :data:`EXTRAS` from ``source``: ``git+URL``, a project folder or a
    wheel file."""
    extras = ",".join(EXTRAS)
    return f"auxiliary[{extras}] @ {source}" if source.startswith("git+") else f"{source}[{extras}]"


def install_commands(source: str) -> list[list[str]]:
    """The pip commands :func:`colab_setup` runs: remove the OpenCV wheels, then install the package."""
    pip = [sys.executable, "-m", "pip"]
    return [[*pip, "uninstall", "-y", "-q", *CONFLICTING], [*pip, "install", "-q", requirement(source)]]


def outputs_folder(source: str) -> Path:
    """Where ``DRIVE = True`` keeps the outputs: ``MyDrive/<the repository's or project folder's name>``."""
    name = source.rstrip("/").split("/")[-1].removesuffix(".git")
    if name.endswith(".whl") or not name:
        name = "skin-notebooks"
    return Path(CONTENT) / "drive" / "MyDrive" / name


def colab_setup(source: str, drive: bool = False) -> dict[str, Any]:
    """On Colab: the installs of :func:`install_commands` from ``source`` (what the first cell found) and, with
    ``drive``, outputs on Google Drive (``AUXILIARY_OUTPUT``; the cell mounted it). Elsewhere nothing. Returns
    what it did."""
    if "google.colab" not in sys.modules:
        return {"colab": False}
    uninstall, install = install_commands(source)
    subprocess.run(uninstall, check=False)  # absent wheels are fine
    subprocess.run(install, check=True)
    done: dict[str, Any] = {"colab": True, "source": source, "pip": [uninstall, install]}
    if drive:
        out = outputs_folder(source)
        os.environ["AUXILIARY_OUTPUT"] = str(out)
        done["outputs"] = str(out)
    print(f"installed auxiliary[{','.join(EXTRAS)}] from {source}; outputs under "
          f"{done.get('outputs', 'the working directory')}")
    return done


# ------------------------------------------------------------------------ keeping cells and badges in step
def badges(url: str | None, branch: str = "main") -> str:
    """The README's table of "Open in Colab" badges, one per notebook; none (the markers alone) without a URL."""
    if not url:
        return "\n".join(BADGES)
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
    url = pyproject_url(root / "pyproject.toml") or ""
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


def dist_zip(wheel: Path, out_dir: Path, root: Path = ROOT) -> Path:
    """``out_dir/skin-notebooks.zip``: the six notebooks, the README and ``wheel``, in one folder a teacher hands
    out; unpacked under ``/content`` or on Google Drive, the notebooks' first cell installs from the wheel."""
    out = Path(out_dir) / "skin-notebooks.zip"
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for nb in NOTEBOOKS:
            z.write(root / "notebooks" / f"{nb}.ipynb", f"skin-notebooks/notebooks/{nb}.ipynb")
        z.write(root / "README.md", "skin-notebooks/README.md")
        z.write(wheel, f"skin-notebooks/{Path(wheel).name}")
    tmp.replace(out)
    return out


if __name__ == "__main__":  # pragma: no cover - make colab-links, make dist
    if sys.argv[1:2] == ["dist"]:
        folder = Path(sys.argv[2] if len(sys.argv) > 2 else "dist")
        built = sorted(folder.glob("auxiliary-*.whl"), key=lambda p: p.stat().st_mtime)
        if not built:
            raise SystemExit(f"error: no auxiliary-*.whl in {folder}: build it first (make dist)")
        print(f"wrote {dist_zip(built[-1], folder)}")
    else:
        for p in sync(branch=sys.argv[1] if len(sys.argv) > 1 else "main"):
            print(f"updated {p}")
