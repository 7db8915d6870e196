"""What every synthetic dataset shares, single-label or multi-label: its settings' checks, the output-folder
rules, the list of usable input photos, the pool of workers rendering it (:func:`render_dataset`) and the
last step that marks it complete (:func:`finish_dataset`).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import pandas as pd

from auxiliary.base.config import SYNTH_TASKS, SynthConfig
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import entry_kind, write_csv_atomic
from auxiliary.base.images import ImageReadError, is_image_name, read_image
from auxiliary.base.progress import progress_bar
from auxiliary.synth.lesion import value_range
from auxiliary.synth.photo import Photo, load_photo
from auxiliary.synth.samplers import CLASSES, MULTILABELS, subject_stream
from auxiliary.synth.skin import SkinCanvas
from auxiliary.synth.skinmask import unusable_reason


class SynthError(AuxiliaryError):
    """A synthesis problem the user can fix (output folder not empty, no usable input photo...)."""


# ----------------------------------------------------------------------------- settings
def check_synth_config(cfg: SynthConfig, photos: bool = False) -> None:
    """Raise :class:`SynthError` (one line) for settings the generator cannot honour."""
    if cfg.task not in SYNTH_TASKS:
        raise SynthError(f"task must be one of {', '.join(SYNTH_TASKS)}, got {cfg.task!r}")
    if not 32 <= cfg.size <= 1024:
        raise SynthError(f"size {cfg.size} is out of range (32 to 1024 pixels)")
    if cfg.n_per_class < (0 if photos else 1):
        raise SynthError(f"n_per_class must be at least 1, got {cfg.n_per_class}")
    for name in ("acne_strength", "erythema_strength", "erythema_extent"):
        lo, hi = value_range(getattr(cfg, name))
        if not 0.0 <= lo <= hi <= 1.0:
            raise SynthError(f"{name} must lie within 0-1, got {getattr(cfg, name)}")
    lo, hi = value_range(cfg.acne_count)
    if lo < 0 or hi > 500:
        raise SynthError(f"acne_count must lie within 0-500, got {cfg.acne_count}")
    lo, hi = value_range(cfg.acne_size_mm)
    if not 0.1 <= lo <= hi <= 20.0:
        raise SynthError(f"acne_size_mm must lie within 0.1-20 mm, got {cfg.acne_size_mm}")
    lo, hi = value_range(cfg.zoom)
    if not 0.25 <= lo <= hi <= 40.0:
        raise SynthError(f"zoom must lie within 0.25-40 (min <= max), got {cfg.zoom}")
    for name in ("face_layout", "telangiectasia", "full_face", "eye_bar"):
        if not 0.0 <= float(getattr(cfg, name)) <= 1.0:
            raise SynthError(f"{name} is a probability (0-1), got {getattr(cfg, name)}")
    prevalences(cfg)
    if cfg.workers < 1:
        raise SynthError(f"workers must be at least 1, got {cfg.workers}")


def prevalences(cfg: SynthConfig) -> dict[str, float]:
    """Label -> probability of ``cfg.prevalence`` (one value for every label, or one per label)."""
    values = tuple(float(v) for v in cfg.prevalence)
    if len(values) == 1:
        values = values * len(MULTILABELS)
    if len(values) != len(MULTILABELS) or not all(0.0 <= v <= 1.0 for v in values):
        raise SynthError(f"prevalence must be one probability (0-1) or {len(MULTILABELS)} "
                         f"({', '.join(MULTILABELS)}), got {cfg.prevalence}")
    return dict(zip(MULTILABELS, values))


# ----------------------------------------------------------------------------- folders
def check_out_dir(out: Path, overwrite: bool, input_dir: Path | None) -> None:
    """Refuse an output folder that overlaps the input or is not empty (unless ``overwrite``: then remove
    the synthetic images and CSVs a previous run wrote there, single-label or multi-label). A missing input folder
    (or a file, a FIFO) is refused here too, before the output folder is made."""
    if input_dir is not None and not input_dir.is_dir():
        raise SynthError(f"input folder {input_dir} is {entry_kind(input_dir)}, not a folder of photos"
                         if input_dir.exists() else f"input folder not found: {input_dir}")
    if input_dir is not None:
        a, b = out.resolve(), input_dir.resolve()
        if a == b or a in b.parents or b in a.parents:
            raise SynthError(f"output folder {out} overlaps the input folder {input_dir}: choose another --out "
                             "(inputs are never modified)")
    if out.exists() and not out.is_dir():
        raise SynthError(f"output path {out} exists and is not a folder")
    if out.is_dir():
        entries = [p for p in out.iterdir() if not p.name.startswith(".")]
        if entries and not overwrite:
            raise SynthError(f"output folder {out} is not empty ({len(entries)} entries); pass --overwrite "
                             "(overwrite=True) to replace its synthetic images, or choose another --out")
        if entries:
            for label in (*CLASSES, "images"):
                d = out / label
                if d.is_dir():
                    for f in d.glob("*.png"):
                        f.unlink()
            for name in ("metadata.csv", "lesions.csv", "skipped.csv", "params.csv"):
                (out / name).unlink(missing_ok=True)


#: What an input entry that is neither a file nor a folder is, by its ``stat`` type (never opened: a FIFO blocks).
SPECIAL_FILES: dict[int, str] = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
                                 stat.S_IFBLK: "a device"}


def list_photos(input_dir: Path) -> tuple[list[Path], list[dict[str, str]]]:
    """Candidate photos of ``input_dir`` (recursive, sorted) and the entries skipped by name, or because they are
    no file: a FIFO, socket or device is skipped with a reason that says which, and never opened."""
    if not input_dir.is_dir():
        raise SynthError(f"input folder not found: {input_dir}")
    files, skipped = [], []
    for p in sorted(input_dir.rglob("*")):
        if p.is_dir() or any(part.startswith(".") for part in p.relative_to(input_dir).parts):
            continue
        if not p.is_file():
            skipped.append({"path": str(p.relative_to(input_dir)), "reason": _not_a_file(p)})
        elif is_image_name(p):
            files.append(p)
        else:
            skipped.append({"path": str(p.relative_to(input_dir)), "reason": f"not an image file name ({p.suffix or 'no extension'})"})
    return files, skipped


def _not_a_file(path: Path) -> str:
    """Why an entry that is neither a file nor a folder is skipped (asked of ``stat`` alone)."""
    try:
        kind = SPECIAL_FILES.get(stat.S_IFMT(path.stat().st_mode))
    except OSError:
        return "broken link"
    return f"{kind}, not a regular file (never opened)" if kind else "not a regular file"


def photo_jobs(cfg: SynthConfig, input_dir: Path, out: Path,
               progress: bool) -> tuple[list[tuple[int, int, str, str]], list[dict[str, str]]]:
    """(subject, variant, photo path, its name under ``input_dir``) for every image to make from the usable
    photos of ``input_dir`` (at least one each, ``cfg.n_per_class`` in all), and the files skipped."""
    files, skipped = list_photos(input_dir)
    usable: list[tuple[Path, str]] = []
    for p in progress_bar(files, desc="check photos", disable=not progress):
        rel = str(p.relative_to(input_dir))
        try:
            rgb = read_image(p)
        except ImageReadError as exc:
            skipped.append({"path": rel, "reason": exc.reason})
            continue
        reason = unusable_reason(rgb)
        if reason:
            skipped.append({"path": rel, "reason": reason})
            continue
        usable.append((p, rel))
    if not usable:
        write_csv_atomic(out / "skipped.csv", pd.DataFrame(skipped, columns=["path", "reason"]))
        raise SynthError(f"no usable photo in {input_dir} ({len(skipped)} skipped; reasons in {out / 'skipped.csv'})")
    n = max(int(cfg.n_per_class), len(usable))
    jobs = [(i, i // len(usable), str(usable[i % len(usable)][0]), usable[i % len(usable)][1]) for i in range(n)]
    jobs.sort(key=lambda j: (j[2], j[1]))  # group variants of one photo (decoded once per worker chunk)
    return jobs, skipped


# ----------------------------------------------------------------------------- workers
def run_tasks(worker, tasks: list, workers: int, progress: bool, total: int, desc: str) -> tuple[list[dict], list[dict]]:
    """Run ``worker`` over ``tasks`` (each ``(cfg, items, ...)``) in order, in ``workers`` spawned processes;
    the rows and extra rows they return, concatenated in task order."""
    rows: list[dict] = []
    lrows: list[dict] = []
    bar = progress_bar(total=total, desc=desc, unit="subject", disable=not progress)
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            r, lr = worker(t)
            rows += r
            lrows += lr
            bar.update(len(t[1]))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            for t, (r, lr) in zip(tasks, ex.map(worker, tasks)):
                rows += r
                lrows += lr
                bar.update(len(t[1]))
    bar.close()
    return rows, lrows


#: Renders and writes one subject: ``write(cfg, out, subject, variant, canvas, source, info)`` -> (metadata rows,
#: extra rows); ``canvas`` is ``None`` for procedural skin, else a view of the photo ``source`` (``info``: its facts).
SubjectWriter = Callable[[SynthConfig, str, int, int, "SkinCanvas | None", str, dict], tuple[list[dict], list[dict]]]


def render_items(args: tuple[SynthConfig, list, str, SubjectWriter]) -> tuple[list[dict], list[dict]]:
    """One task of :func:`render_dataset` (run in a worker process): its subjects, or with ``cfg.input_dir`` its
    photo jobs (:func:`photo_canvases`), each rendered and written by the task's writer."""
    cfg, items, out, write = args
    cv2.setNumThreads(1)
    views = photo_canvases(cfg, items) if cfg.input_dir else ((s, 0, "procedural", None, {}) for s in items)
    rows: list[dict] = []
    extra: list[dict] = []
    for subject, variant, source, canvas, info in views:
        r, e = write(cfg, out, subject, variant, canvas, source, info)
        rows += r
        extra += e
    return rows, extra


def render_dataset(cfg: SynthConfig, out: Path, *, overwrite: bool, progress: bool, write: SubjectWriter,
                   desc: str) -> tuple[list[dict], list[dict], list[dict[str, str]] | None, float]:
    """Check the settings and the output folder, then render the whole dataset in ``cfg.workers`` processes
    (:func:`run_tasks` of :func:`render_items`): the subjects ``0..n_per_class-1``, or with ``cfg.input_dir`` the
    jobs of :func:`photo_jobs`, each written by ``write`` (a module-level function: it travels to the workers).
    Returns the rows, the extra rows, the input files skipped (photo mode; ``None`` otherwise) and the seconds."""
    input_dir = Path(cfg.input_dir).expanduser() if cfg.input_dir else None
    check_synth_config(cfg, photos=input_dir is not None)
    check_out_dir(out, overwrite, input_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    workers = max(1, int(cfg.workers))
    skipped: list[dict[str, str]] | None = None
    old_threads = cv2.getNumThreads()
    try:
        if input_dir is None:
            items: list = list(range(int(cfg.n_per_class)))
        else:
            items, skipped = photo_jobs(cfg, input_dir, out, progress)
            desc = f"{desc} photos"
        size = max(1, min(16, math.ceil(len(items) / (workers * 4))))
        tasks = [(cfg, ch, str(out), write) for ch in chunks(items, size)]
        rows, extra = run_tasks(render_items, tasks, workers, progress, len(items), desc)
    finally:
        cv2.setNumThreads(old_threads)
    return rows, extra, skipped, time.perf_counter() - t0


def chunks(items: list, n: int) -> list[list]:
    return [items[i : i + n] for i in range(0, len(items), n)]


def photo_canvases(cfg: SynthConfig, jobs: list[tuple[int, int, str, str]]) -> Iterator[tuple[int, int, str, SkinCanvas, dict]]:
    """``(subject, variant, relname, canvas, photo info)`` for each photo job of :func:`photo_jobs`: the view
    of the photo drawn from the subject's ``skin`` stream with ``cfg``'s ``zoom``, ``full_face`` and
    ``eye_bar``. Jobs of one photo come together, so each photo is read and masked once."""
    cache: dict[str, Photo] = {}
    for subject, variant, path, relname in jobs:
        if path not in cache:
            cache.clear()
            cache[path] = load_photo(path, cfg.size)
        photo = cache[path]
        canvas = photo.canvas(variant, subject_stream(cfg.seed, subject, "skin", variant), zoom=value_range(cfg.zoom),
                              full_face=float(cfg.full_face), eye_bar=float(cfg.eye_bar))
        yield subject, variant, relname, canvas, photo.info


def finish_dataset(out: Path, meta: pd.DataFrame, msg: str, skipped: list[dict[str, str]] | None,
                   progress: bool) -> pd.DataFrame:
    """Write ``skipped.csv`` (photo mode: ``skipped`` is a list) and then ``metadata.csv``, last, since its
    presence marks a finished dataset; print ``msg`` (plus the skipped count); return the metadata with
    absolute paths (the sample-table contract), ``attrs["summary"]`` and ``attrs["skipped"]``."""
    if skipped is not None:
        write_csv_atomic(out / "skipped.csv", pd.DataFrame(skipped, columns=["path", "reason"]))
        msg += f"; {len(skipped)} input file(s) skipped" + (f" (reasons in {out / 'skipped.csv'})" if skipped else "")
    write_csv_atomic(out / "metadata.csv", meta)
    if progress:
        print(msg)
    table = meta.copy()
    table["path"] = [str((out / p).resolve()) for p in table["path"]]
    table.attrs["summary"] = msg
    table.attrs["skipped"] = skipped or []
    return table
