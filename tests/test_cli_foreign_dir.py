"""Every verb from a foreign working directory, importing a read-only copy of the project: every file written is
listed, and each lies under the step's ``--out``, the working directory's output folders or the cache folder.

Issue 28 ("writes outside --out"): the contract (CONTRIBUTING.md, "What is never touched") says a step writes only
under its ``--out`` (or the project's output folders of the working directory when it has none) and into the
cache folder; never into its inputs, the checkout or ``site-packages`` the package was imported from. Here the
package is imported from a copy of the checkout (``auxiliary/``, the notebooks, ``pyproject.toml``: what the
package reads) made read-only with ``chmod -R a-w``, ``AUXILIARY_OUTPUT`` and ``AUXILIARY_ROOT`` are unset,
``AUXILIARY_CACHE``, ``HOME`` and ``TMPDIR`` point at folders of the test, and the working directory is a fresh
empty folder outside any checkout. The read-only bits alone prove nothing when the tests run as root (root writes
anyway), so every file of the copy, the inputs, the working directory, ``HOME``, ``TMPDIR``, the cache, the
outputs, the real checkout's output folders and ``site-packages`` is compared before and after.

All the commands run in one interpreter (:mod:`_foreign_driver`, through ``runpy`` on ``auxiliary.__main__``, the
same entry point as ``python -m auxiliary``): about 60 s instead of 20 s per verb for a fresh interpreter.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from _tiny_runs import make_run, make_split
from PIL import Image

from auxiliary.faces import cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
#: What of the checkout the package reads: its code, the notebook series (``run-all``), the profiles' YAML files.
COPIED = ("auxiliary", "notebooks", "configs", "pyproject.toml")
#: What third-party libraries keep under ``HOME`` whatever the package does: matplotlib's font list (rebuilt when
#: missing; ``MPLCONFIGDIR`` moves it) and the IPython profile folder that ``run-all``'s notebook kernel makes on its
#: first start, as any Jupyter use does. Nothing else may appear in ``HOME`` (ONNX Runtime's device id did, before
#: ``auxiliary/__init__.py`` turned its telemetry off).
THIRD_PARTY_HOME = (".cache/matplotlib", ".config/matplotlib", ".ipython/profile_default")
#: Beside a checkpoint, in "the run folder it was given" (the contract's exception): the ONNX export that a sort on
#: ``--backend auto`` (the demo profile's) makes and reuses, and its timing decision, as the README says.
BESIDE_CHECKPOINT = ("best.onnx", "best.backend.json")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files_under(*folders: Path) -> dict[str, str]:
    """``path -> sha256`` of every file (``"dir"`` for each folder, ``"link"`` for each link) under ``folders``."""
    out: dict[str, str] = {}
    for folder in folders:
        if not folder.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            out[dirpath] = "dir"
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                p = os.path.join(dirpath, name)
                if os.path.islink(p):
                    out[p] = "link"
                elif os.path.isfile(p):
                    with open(p, "rb") as fh:
                        out[p] = hashlib.sha256(fh.read()).hexdigest()
                else:
                    out[p] = "special"
    return out


def paths_under(*folders: Path) -> set[str]:
    """The path of every entry under ``folders`` (no contents: ``site-packages`` holds tens of thousands)."""
    return {os.path.join(d, n) for folder in folders if folder.exists()
            for d, dirs, files in os.walk(folder) for n in dirs + files}


def set_writable(folder: Path, writable: bool) -> None:
    """``chmod -R a-w`` (or ``u+w`` back) on ``folder``."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for p in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            if os.path.islink(p):
                continue
            mode = os.stat(p).st_mode
            os.chmod(p, (mode | stat.S_IWUSR) if writable else (mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The read-only copy of the project, tiny inputs, and an empty working directory, HOME, TMPDIR and cache."""
    base = tmp_path_factory.mktemp("foreign")
    project = base / "project"
    project.mkdir()
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        elif src.is_file():
            shutil.copy2(src, project / name)
    inputs = base / "inputs"
    split = make_split(inputs, n_per_class=4, size=32)
    make_run(inputs / "run", model_name="test_resnet", img_size=32, val_csv=split / "val.csv")
    photos = inputs / "photos"
    photos.mkdir()
    for p in sorted((inputs / "images" / "acne").glob("*.png"))[:3]:
        (photos / p.name).write_bytes(p.read_bytes())
    new_photo = inputs / "reviewed" / "new.png"  # a photo the split does not hold, for feedback file and merge
    new_photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(new_photo)
    places = {name: base / name for name in ("cwd", "home", "tmp", "cache", "out", "harness")}
    for p in places.values():
        p.mkdir()
    set_writable(project, False)
    yield {"base": base, "project": project, "inputs": inputs, "split": split, "ckpt": inputs / "run" / "best.pt",
           "photo": sorted(photos.iterdir())[0], "photos": photos, "new_photo": new_photo, **places}
    set_writable(project, True)


def commands(w: dict, port: int) -> tuple[list[list[str]], dict[str, list[str]]]:
    """The command lines (every verb once, two without ``--out``) and, per output folder, files it must hold."""
    out, inp, ck, split = w["out"], w["inputs"], str(w["ckpt"]), str(w["split"])
    test_csv = str(w["split"] / "test.csv")
    tiny = ["--profile", "smoke"]
    argvs = [
        ["simulate", *tiny, "--n-per-class", "2", "--size", "32", "--out", f"{out}/sim", "--quiet"],
        ["simulate", *tiny, "--n-per-class", "2", "--size", "32", "--quiet"],  # into the working directory's data/
        ["split", *tiny, "--data", f"{inp}/images", "--out", f"{out}/split", "--no-duplicate-check"],
        ["train", *tiny, "--data", split, "--out", f"{out}/train", "--model", "test_resnet", "--img-size", "32",
         "--batch", "6", "--epochs", "1", "--freeze-epochs", "0", "--threads", "1", "--no-progress"],
        ["select", *tiny, "--split", split, "--out", f"{out}/select", "--select-models", "test_resnet",
         "--select-epochs", "1", "--img-size", "32", "--quiet"],
        ["adapt", *tiny, "--ckpt", ck, "--input", str(w["photos"]), "--out", f"{out}/adapt", "--method", "adabn",
         "--no-progress"],
        ["operating-point", "--ckpt", f"{out}/train/best.pt", "--min-recall", "acne=0.5", "--folds", "2", "--out",
         f"{out}/op", "--no-progress"],  # the folds repeat the recipe of the run trained above
        ["evaluate", "--ckpt", ck, "--data", test_csv, "--out", f"{out}/eval", "--quiet", "--n-bootstrap", "5"],
        ["compare", *tiny, "--runs", str(w["ckpt"].parent), "--data", test_csv, "--out", f"{out}/compare",
         "--onnx-dir", f"{out}/onnx", "--no-speed"],
        ["export", "--ckpt", ck, "--out", f"{out}/export/model.onnx"],
        ["predict", str(w["photo"]), "--ckpt", ck, "--gradcam", f"{out}/cams"],
        ["sort", "--ckpt", ck, "--input", str(w["photos"]), "--out", f"{out}/sorted", "--quiet"],
        ["feedback", "file", str(w["new_photo"]), "--label", "acne", "--split", split, "--feedback", f"{out}/fb",
         "--reviewer", "tester"],
        ["feedback", "merge", "--split", split, "--feedback", f"{out}/fb", "--out", f"{out}/merged", "--quiet"],
        ["runs", "--root", str(inp)],
        ["run-all", *tiny, "--only", "01", "--out", f"{out}/notebooks"],
        ["serve", "--ckpt", ck, "--port", str(port), "--feedback-dir", f"{out}/served_feedback"],
    ]
    expected = {
        "sim": ["metadata.csv"], "split": ["train.csv", "val.csv", "test.csv", "classes.json"],
        "train": ["best.pt", "summary.json"], "select": ["selection.csv"], "adapt": ["best.pt"], "op": ["best.pt", "operating_point.json", "oof_predictions.csv"],
        "eval": ["summary.json", "predictions.csv"], "compare": ["comparison.csv"], "onnx": [],
        "export": ["model.onnx"], "cams": [], "sorted": ["predictions.csv", "sort_report.json"],
        "fb": [], "merged": ["train.csv", "classes.json"], "notebooks": ["01_synthesis.ipynb"],
    }
    return argvs, expected


def test_every_verb_writes_only_under_its_out_the_cwd_output_folders_and_the_cache(world):
    w = world
    port = free_port()
    argvs, expected = commands(w, port)
    assert {a[0] for a in argvs} == set(cli.STEPS)  # every verb, none forgotten when one is added
    (w["harness"] / "commands.json").write_text(json.dumps(argvs))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUXILIARY_", "XDG_", "PYTHON", "JUPYTER", "IPYTHON", "MPLCONFIGDIR"))}
    env.update(AUXILIARY_CACHE=str(w["cache"]), HOME=str(w["home"]), TMPDIR=str(w["tmp"]), PYTHONPATH=str(w["project"]),
               PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", AUXILIARY_PROGRESS="lines")
    site = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    checkout_outputs = [ROOT / n for n in ("data", "runs", "models", "figures")]
    watched = [w[n] for n in ("project", "inputs", "cwd", "home", "tmp", "cache", "out")]
    before = files_under(*watched)
    before_paths = paths_under(*site, *checkout_outputs) | {str(p) for p in ROOT.iterdir()}

    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "_foreign_driver.py"),
                           str(w["harness"] / "commands.json")], cwd=w["cwd"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=420)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    package = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("PACKAGE"))[8:])
    assert Path(package).is_relative_to(w["project"]), package  # the copy was imported, not the checkout
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert [r["argv"] for r in results] == argvs, log[-3000:]
    failed = [(r["argv"][:2], r["code"]) for r in results if r["code"] != 0]
    assert not failed, f"{failed}\n{log[-3000:]}"

    after = files_under(*watched)
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p] and before[p] != "dir")
    removed = sorted(set(before) - set(after))
    written = sorted(p for p in set(after) - set(before) if after[p] != "dir")
    print(f"{len(written)} files written:\n  " + "\n  ".join(os.path.relpath(p, w["base"]) for p in written))
    print("seconds per command: " + ", ".join(f"{r['argv'][0]} {r['seconds']}" for r in results))
    assert not changed and not removed, f"changed: {changed[:10]}; removed: {removed[:10]}"

    allowed = [w["out"], w["cache"], *(w["cwd"] / n for n in ("data", "runs", "models", "figures"))]
    allowed += [w["home"] / p for p in THIRD_PARTY_HOME] + [w["ckpt"].parent / n for n in BESIDE_CHECKPOINT]
    outside = [p for p in written if not any(Path(p).is_relative_to(a) for a in allowed)]
    assert not outside, f"written outside --out, the cwd's output folders and the cache: {outside[:10]}"
    assert not any(Path(p).is_relative_to(w[n]) for p in written for n in ("project", "tmp"))
    places = {Path(p).relative_to(w["out"]).parts[0] for p in written if Path(p).is_relative_to(w["out"])}
    assert places == set(expected), places  # one folder per --out; the demo filed nothing, so made no folder
    for folder, names in expected.items():
        assert all((w["out"] / folder / n).is_file() for n in names), (folder, names)
    assert len(list((w["out"] / "fb" / "acne").glob("*.png"))) == 1  # feedback file's copy
    cwd_places = {Path(p).relative_to(w["cwd"]).parts[0] for p in written if Path(p).is_relative_to(w["cwd"])}
    # simulate without --out (data/), select's winner (models/), and what notebook 01 of run-all records beside
    # its executed copy in --out: its results (runs/01_synthesis/) and figures (figures/), the project's folders
    assert cwd_places == {"data", "models", "runs", "figures"}, cwd_places
    assert not os.listdir(w["tmp"]), os.listdir(w["tmp"])  # temporary files (the demo's examples, uploads) removed

    new_paths = paths_under(*site, *checkout_outputs) | {str(p) for p in ROOT.iterdir()}
    # Gradio itself writes gradio/hash_seed.txt into its own package the first time it is imported in a fresh
    # environment (gradio.utils.get_hash_seed); that is the library's doing, not a write of this project's
    gradio_seed = {str(s / "gradio" / "hash_seed.txt") for s in site}
    assert not new_paths - before_paths - gradio_seed, sorted(new_paths - before_paths)[:10]
