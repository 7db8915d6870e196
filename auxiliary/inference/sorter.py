"""Sorting a folder of new images into class folders with a trained checkpoint, safely and resumably.

The sort step (:func:`auxiliary.steps.sort.sort`, what notebook 06 and ``python -m auxiliary sort`` call)
opens the checkpoint once and calls ``sort_folder(checkpoint, INPUT, OUT)``, which copies every file under
``INPUT`` (never moves, never modifies it) to

* ``OUT/<class>/`` when the calibrated top probability reaches ``conf`` (or, with ``coverage``,
  when the conformal prediction set of :mod:`auxiliary.evaluation.conformal` holds exactly one class),
* ``OUT/low_confidence/`` otherwise,
* nowhere when the file cannot be read (corrupt, truncated, zero-byte, not an image): it is listed
  in ``OUT/rejected.csv`` with the reason. A FIFO, socket or device among the inputs is never opened (opening a
  FIFO blocks until someone writes to it, a device may never end): its ``stat`` says what it is
  (:func:`auxiliary.data.formats.special_kind`) and it is listed there too, so that "accounted for" covers
  every entry of the folder.

Where an image goes is the checkpoint's task's :class:`~auxiliary.tasks.task.SortRule`
(:meth:`~auxiliary.tasks.task.Task.sort_rule`): a multi-label checkpoint copies an image into **each**
``OUT/<label>/`` it is positive for (per-label thresholds), into ``OUT/none/`` when it is positive for none,
and into ``OUT/low_confidence/`` instead when a label's probability is too close to its threshold
(:class:`~auxiliary.tasks.placement.LabelSort`; with ``tone_thresholds`` the thresholds of each image's tone
group, estimated here from its pixels by :func:`estimated_tone_group`).

``OUT/predictions.csv`` holds one row per input (source, destination, predicted class, every class
probability, decision, model, threshold, sha256; the columns of the task) and ``OUT/sort_report.json`` the counts.

Safety: copies go through a temporary file and an atomic rename and never replace an existing
file (a name clash gets the content hash appended); names are sanitised so that nothing can be
written outside ``OUT``. Work is streamed in batches (memory stays flat for any folder size) and
every finished input is appended to a journal (``OUT/.sort/journal.jsonl``, kept by
:mod:`auxiliary.inference.journal` with the run lock), so an interrupted run
is completed by re-running the same command, without duplicates: inputs are keyed by their path and
content hash (sha256), and an image whose bytes are already in ``OUT`` is not copied twice
(its row says ``duplicate_of``). The counts figure is
:func:`auxiliary.viz.plots_comparison.plot_sort_counts`.

A very large folder can be sorted by several processes: ``shard=(i, n)`` sorts only the inputs of shard
``i`` into ``OUT/shards/<i>-of-<n>/`` (:mod:`auxiliary.inference.shards`), and
:func:`auxiliary.inference.sort_merge.merge_shards` gathers the finished shards into ``OUT``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from auxiliary.base.errors import SortError
from auxiliary.base.files import (
    PART_SUFFIX,
    atomic_copy,
    outside_cache,
    resolved_output,
    safe_name,
    sha256_file,
    with_suffix,
    write_text_atomic,
)
from auxiliary.base.images import ImageReadError, is_image_name, read_image
from auxiliary.base.progress import progress_bar
from auxiliary.base.tone import ita_group
from auxiliary.data.formats import special_kind, special_reason
from auxiliary.data.probe import estimate_tone
from auxiliary.evaluation.conformal import calibration_file, conformal_from_csv
from auxiliary.inference.backends import load_predictor
from auxiliary.inference.journal import JOURNAL, STATE, STATE_DIR, RunLock, SortJournal, with_destinations
from auxiliary.inference.predictor import Predictor
from auxiliary.inference.shards import shard_dir, shard_of
from auxiliary.inference.sort_report import SortResult, write_sort_reports
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.models.preprocess import preprocess
from auxiliary.tasks.placement import SortRule


def _dest_name(src: Path) -> str:
    """The sanitised name of ``src``, with the image format's extension added when its name has none
    (so that the copies are recognised as images by dataset readers)."""

    name = safe_name(src.name)
    if is_image_name(name):
        return name
    try:
        with Image.open(src) as im:
            fmt = (im.format or "").lower()
    except Exception:  # noqa: BLE001 - readable by read_image, so this does not happen in practice
        fmt = ""
    ext = {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}" if fmt else "")
    return safe_name(name + ext) if ext else name


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def place_copy(src: str | Path, folder: Path, name: str, sha: str, out_root: Path,
               copy: Callable[[str | Path, Path], None] | None = None) -> tuple[Path, bool]:
    """Copy ``src`` (content hash ``sha``) into ``folder`` as ``name`` without overwriting anything.

    Returns ``(destination, copied)``; ``copied`` is False when a file with the same bytes was already
    there under that name (an earlier, interrupted run). A clash with different bytes appends the
    first 8 hex digits of the hash, then a counter. ``copy(src, dest)`` must never replace an existing
    ``dest`` (raise ``FileExistsError``): :func:`auxiliary.base.files.atomic_copy` (the default), or a hard link.
    """
    copy = copy or atomic_copy
    candidates = [name, with_suffix(name, sha[:8])] + [with_suffix(name, f"{sha[:8]}-{i}") for i in range(2, 1000)]
    for cand in candidates:
        dest = folder / cand
        if not _inside(dest, out_root):  # belt and braces: sanitised names cannot get here
            raise SortError(f"refusing to write outside {out_root}: {dest}")
        if dest.exists():
            if dest.is_file() and dest.stat().st_size == Path(src).stat().st_size and sha256_file(dest) == sha:
                return dest, False
            continue
        try:
            copy(src, dest)
        except FileExistsError:  # appeared in between: look again
            if dest.is_file() and sha256_file(dest) == sha:
                return dest, False
            continue
        return dest, True
    raise SortError(f"too many files named like {name} in {folder}")


# ============================================================================ inputs
def list_images(input_dir: str | Path, recursive: bool = False, exclude: Sequence[Path] = ()) -> list[Path]:
    """Every entry under ``input_dir`` that is not a folder (sub-folders with ``recursive``), sorted, without the
    ``exclude`` trees (the output folder when it lies inside the input): regular files, links, and the FIFOs,
    sockets and devices a sort reports as rejected without opening them. Symlinked folders are not followed."""
    root = Path(input_dir)
    excl = [e.resolve() for e in exclude]
    out: list[Path] = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in excl)
            out.extend(here / f for f in sorted(filenames))
    else:
        out = sorted(p for p in root.iterdir() if not p.is_dir())
    return out


def estimated_tone_group(rgb: np.ndarray) -> str:
    """The tone group estimated from an image's pixels (``unknown`` when too little skin is seen): what
    ``sort --tone-thresholds`` picks a multi-label checkpoint's per-group thresholds by (the ITA estimate
    behind ``tone_group_est`` in the data tables, :func:`auxiliary.data.probe.estimate_tone`)."""
    return ita_group(estimate_tone(rgb))


# ============================================================================ predictor
def sorting_predictor(checkpoint: Checkpoint | str | Path, backend: str = "auto", device: str = "auto") -> Predictor:
    """A :class:`~auxiliary.inference.predictor.Predictor` for ``checkpoint``. ``auto`` uses ONNX Runtime
    when it is faster here, only with an ONNX file that matches the checkpoint (the file beside it,
    re-exported when it does not), and PyTorch, with a one-line note, when none can be had
    (:func:`auxiliary.inference.backends.load_predictor`). ``device``: the one device rule (auto: CUDA,
    then MPS, then the CPU)."""
    backend = (backend or "auto").lower()
    if backend not in ("auto", "torch", "onnx"):
        raise SortError(f"unknown backend {backend!r} (choose auto, torch or onnx)")
    if backend == "torch":
        return Predictor.from_checkpoint(checkpoint, device=device)
    return load_predictor(checkpoint, backend=backend, device=device)


def input_key(source: Path, sha: str) -> str:
    return f"{os.path.abspath(source)}|{sha}"


def sort_folder(
    checkpoint: Checkpoint | str | Path | None,
    input_dir: str | Path,
    out_dir: str | Path,
    *,
    conf: float = 0.6,
    batch: int = 16,
    recursive: bool = False,
    coverage: float | None = None,
    calib: str | Path | None = None,
    tta: bool = False,
    backend: str = "auto",
    predictor: Any = None,
    progress: bool = True,
    device: str = "auto",
    shard: tuple[int, int] | None = None,
    tone_thresholds: bool = False,
) -> SortResult:
    """Copy every file under ``input_dir`` into ``out_dir/<class>/``, ``low_confidence/`` or ``rejected.csv``.

    ``checkpoint`` is the :class:`~auxiliary.models.checkpoint.Checkpoint` opened by the step (a path is opened
    here); or pass a ready ``predictor``. With ``coverage`` (e.g. 0.9) conformal prediction sets replace the
    ``conf`` threshold; they are calibrated on ``calib`` (a labelled CSV; default: ``val_predictions.csv``
    beside the checkpoint). Re-running with the same arguments completes an interrupted run and adds nothing
    otherwise. ``device``: where the model runs (the one device rule). ``shard=(i, n)``: only the inputs of
    shard ``i`` of ``n``, into ``out_dir/shards/<i>-of-<n>/`` (see :mod:`auxiliary.inference.shards`). A
    multi-label checkpoint sorts by its per-label thresholds, ``conf`` setting the low-confidence band, and
    ``tone_thresholds`` uses the thresholds of each image's estimated tone group
    (:class:`~auxiliary.tasks.placement.LabelSort`).
    """
    t_start = time.perf_counter()
    timing = dict.fromkeys(("list", "hash", "read", "preprocess", "infer", "copy", "report"), 0.0)
    src_root = Path(input_dir).expanduser()
    out = Path(out_dir).expanduser()
    if not src_root.exists():
        raise SortError(f"input folder not found: {src_root}")
    if not src_root.is_dir():
        raise SortError(f"--input must be a folder of images, got a file: {src_root}")
    if out.exists() and not out.is_dir():
        raise SortError(f"--out exists and is not a folder: {out}")
    if outside_cache(resolved_output(out), out) == src_root.resolve():  # a link loop or the cache: one line
        raise SortError("--out must differ from --input (sorting copies images into a new folder)")
    if _inside(src_root, out):
        raise SortError(f"--input {src_root} lies inside --out {out}; choose another output folder")
    if _inside(out, src_root):
        raise SortError(f"--out {out} lies inside --input {src_root}: the sorted copies would land among the "
                        "images to sort; choose a folder outside it")
    if not 0.0 <= float(conf) <= 1.0:
        raise SortError(f"conf must be between 0 and 1, got {conf}")
    batch = int(batch)
    if batch < 1:
        raise SortError(f"batch must be at least 1, got {batch}")
    ckpt = Checkpoint.of(checkpoint) if checkpoint is not None else None
    if coverage is not None and calib is not None:  # checked before any work (an ONNX export beside the checkpoint)
        calib = calibration_file(calib)
    if predictor is None:
        if ckpt is None:
            raise SortError("a checkpoint (--ckpt runs/NAME/best.pt) is needed to sort")
        predictor = sorting_predictor(ckpt, backend, device)
    classes = list(predictor.classes)
    rule = predictor.task.sort_rule(predictor.info, classes, conf, coverage=coverage, tone_thresholds=tone_thresholds)
    model_id = f"{predictor.name}:{ckpt.sha256[:16]}" if ckpt is not None else str(predictor.name)

    if coverage is not None:
        if calib is None and ckpt is not None and (ckpt.path.parent / "val_predictions.csv").is_file():
            calib = ckpt.path.parent / "val_predictions.csv"
        if calib is None:
            raise SortError("conformal sets (--coverage) need a labelled validation CSV: "
                            "--calib runs/NAME/val_predictions.csv")
        rule.conformal = conformal_from_csv(predictor, calib, float(coverage), batch=batch, tta=tta, progress=progress)

    if shard is not None:
        out = shard_dir(out, shard)
    # ---- state: refuse to mix runs made with another model or rule into one OUT
    state_dir = out / STATE_DIR
    if out.is_dir() and not (state_dir / STATE).is_file() and any(p.name != STATE_DIR for p in out.iterdir()):
        raise SortError(f"--out {out} already holds other files and is not a sorting output; "
                        "choose a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(exist_ok=True)
    state = {"model": model_id, "classes": classes, "conf": None if rule.conformal else float(conf),
             "coverage": None if rule.conformal is None else rule.conformal.coverage, "tta": bool(tta),
             "shard": None if shard is None else f"{shard[0]}/{shard[1]}", **rule.state()}
    state_file = state_dir / STATE
    if state_file.is_file():
        try:
            old = json.loads(state_file.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if old is not None and {k: old.get(k) for k in state} != state:
            diff = [k for k in state if old.get(k) != state[k]]
            raise SortError(
                f"{out} was sorted with other settings ({', '.join(diff)} differ); choose a new --out "
                f"or re-run with the same checkpoint and options")
    else:
        write_text_atomic(state_file, json.dumps(state, indent=2))
    with RunLock(state_dir / "lock"):
        return _sort_locked(
            predictor, ckpt, rule, src_root, out, state_dir, model_id, batch=batch, recursive=recursive, tta=tta,
            progress=progress, timing=timing, t_start=t_start, shard=shard,
        )


def _sort_locked(predictor: Any, ckpt: Checkpoint | None, rule: SortRule, src_root: Path, out: Path,
                 state_dir: Path, model_id: str, *, batch: int, recursive: bool, tta: bool, progress: bool,
                 timing: dict[str, float], t_start: float, shard: tuple[int, int] | None = None) -> SortResult:
    classes, task, description = rule.classes, predictor.task, rule.describe()
    # leftovers of a crash mid-copy or mid-report (temporary files of files.atomic_write / atomic_copy)
    for d in [out, *(out / f for f in [*rule.folders.values(), *task.sort_folders])]:
        if d.is_dir():
            for tmp in d.glob(f".*{PART_SUFFIX}"):
                with contextlib.suppress(OSError):
                    tmp.unlink()
    t0 = time.perf_counter()
    inputs = list_images(src_root, recursive=recursive, exclude=[out])
    if shard is not None:
        inputs = [p for p in inputs if shard_of(p, src_root, shard[1]) == shard[0]]
    timing["list"] = time.perf_counter() - t0
    journal = SortJournal(state_dir / JOURNAL)
    run_keys: set[str] = set()
    n_new = n_skipped = n_copied = 0
    threshold = rule.threshold
    bar = progress_bar(total=len(inputs), desc="sort", unit="img", disable=not progress)
    try:
        for start in range(0, len(inputs), batch):
            chunk = inputs[start:start + batch]
            todo: list[tuple[Path, str]] = []
            rejected: list[tuple[Path, str, str]] = []
            t0 = time.perf_counter()
            for src in chunk:
                kind = special_kind(src)  # asked of stat before anything opens it
                if kind is not None:
                    run_keys.add(input_key(src, ""))
                    if journal.finished(input_key(src, ""), out):
                        n_skipped += 1
                    else:
                        rejected.append((src, "", special_reason(kind)))
                    continue
                try:
                    sha = sha256_file(src)
                except OSError as exc:
                    rejected.append((src, "", f"cannot read file ({exc.strerror or exc})"))
                    run_keys.add(input_key(src, ""))
                    continue
                run_keys.add(input_key(src, sha))
                if journal.finished(input_key(src, sha), out):
                    n_skipped += 1
                    continue
                todo.append((src, sha))
            timing["hash"] += time.perf_counter() - t0
            arrays, ok, tones = [], [], []
            for src, sha in todo:
                t0 = time.perf_counter()
                try:
                    rgb = read_image(src)
                except ImageReadError as exc:
                    rejected.append((src, sha, exc.reason))
                    timing["read"] += time.perf_counter() - t0
                    continue
                timing["read"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                arrays.append(preprocess(rgb, predictor.preprocessing))
                tones.append(estimated_tone_group(rgb) if rule.tone_thresholds else "")
                timing["preprocess"] += time.perf_counter() - t0
                ok.append((src, sha))
            probs = np.zeros((0, len(classes)))
            if arrays:
                t0 = time.perf_counter()
                probs = predictor.predict_batch(np.stack(arrays), tta=tta)
                timing["infer"] += time.perf_counter() - t0
            del arrays
            t0 = time.perf_counter()
            for (src, sha), fields in zip(ok, rule.place(probs, tones)):
                dests, dups = [], []
                for folder in fields.get("folders") or [fields["folder"]]:
                    dup = journal.copy_in(sha, folder, out)
                    if dup is None:
                        dest, copied = place_copy(src, out / folder, _dest_name(src), sha, out)
                        dests.append(dest.relative_to(out).as_posix())
                        n_copied += int(copied)
                    else:
                        dests.append(dup)
                        dups.append(dup)
                journal.add(with_destinations({
                    "key": input_key(src, sha), "source": os.path.abspath(src), "sha256": sha, **fields,
                    "reason": "", "model": model_id, "threshold": threshold, "rule": description, "time": time.time(),
                }, dests, dups))
                n_new += 1
            for src, sha, reason in rejected:
                journal.add(with_destinations({
                    "key": input_key(src, sha), "source": os.path.abspath(src), "sha256": sha, "decision": "rejected",
                    "folder": "", "predicted": "", "probs": [math.nan] * len(classes), "margin": math.nan,
                    **rule.rejected(), "reason": reason, "model": model_id, "threshold": threshold,
                    "rule": description, "time": time.time(),
                }, [], []))
                n_new += 1
            journal.sync()
            timing["copy"] += time.perf_counter() - t0
            bar.update(len(chunk))
    finally:
        bar.close()
        journal.close()

    t0 = time.perf_counter()
    summary = write_sort_reports(out, journal, classes, rule.folders, run_keys, model_id, description, threshold, task)
    summary.update(rule.summary())
    timing["report"] = time.perf_counter() - t0
    timing["total"] = time.perf_counter() - t_start
    summary.update({"checkpoint": str(ckpt.path) if ckpt is not None else None, "input_dir": str(src_root),
                    "n_processed": n_new, "n_already_done": n_skipped, "n_copied": n_copied,
                    "timing_s": {k: round(v, 4) for k, v in timing.items()}})
    write_text_atomic(out / "sort_report.json", json.dumps(summary, indent=2, default=str))
    return SortResult(out_dir=out, summary=summary, timing=timing)
