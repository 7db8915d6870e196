"""The feedback folder: images filed by a reviewer (web demo, review panel) with their provenance.

:func:`file_image` copies (never moves) a reviewed image into ``feedback_dir/<label>/``, named by
its content hash, and appends a provenance record (original path, model's guess, reviewer's label,
time, sha256) to ``feedback_dir/provenance.csv``. Filing the same bytes again changes nothing; filing
them under another label moves the feedback copy (the reviewer changed their mind). Merging the
folder into a new split version is :mod:`auxiliary.data.merge`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import atomic_copy, neutralise, read_csv, safe_name, sha256_file, write_bytes_atomic
from auxiliary.base.images import IMAGE_EXTENSIONS, read_image
from auxiliary.data.formats import special_kind, special_reason
from auxiliary.data.labels import LABEL_SET_SEP, parse_label_folder

PROVENANCE = "provenance.csv"


PROVENANCE_COLUMNS = ("time", "sha256", "file", "label", "previous_label", "model_guess", "source", "reviewer",
                      "probs", "action")


MERGE_REPORT = "merge_report.json"


FEEDBACK_SUBDIR = "feedback"


HASH_CHARS = 20


_LOCK = threading.RLock()


class FeedbackError(AuxiliaryError):
    """A feedback problem the user can fix (bad label, missing folder, nothing to merge...)."""


# ============================================================================ filing
def _check_label(label: str, classes: Sequence[str] | None = None) -> str:
    lab = str(label).strip()
    if not lab or safe_name(lab, default="") != lab:
        raise FeedbackError(f"label {label!r} cannot be a folder name (no slashes, leading dots or dashes)")
    if classes is not None and lab not in [str(c) for c in classes] and parse_label_folder(lab, classes) is None:
        raise FeedbackError(f"unknown label {lab!r}: the classes are {', '.join(str(c) for c in classes)} "
                            f"(a multi-label set: labels joined by {LABEL_SET_SEP}, or none)")
    return lab


def _png_bytes(rgb: np.ndarray) -> bytes:
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise FeedbackError(f"image array must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FeedbackError(f"image array must be (H, W, 3) RGB, got shape {arr.shape}")
    buf = io.BytesIO()  # same encoder settings as auxiliary.base.images.write_png: same array -> same bytes
    Image.fromarray(np.ascontiguousarray(arr[..., :3])).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def image_ext(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return ".jpg" if ext == ".jpeg" else ext

    try:
        with Image.open(path) as im:
            fmt = (im.format or "png").lower()
    except Exception:  # noqa: BLE001 - read_image already accepted it
        fmt = "png"
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}")


def check_image_file(path: Path) -> None:
    """Refuse, in one line, a file to file that is no image: a FIFO, socket or device by what it is (never opened:
    opening a FIFO blocks), anything else by :func:`auxiliary.base.images.read_image`'s reason."""
    kind = special_kind(path)
    if kind:
        raise FeedbackError(f"{path} is {special_reason(kind)}: file an image")
    read_image(path)  # raises ImageReadError (one line) for anything that is not an image


def _existing_copies(feedback_dir: Path, sha: str) -> list[Path]:
    if not feedback_dir.is_dir():
        return []
    return sorted(p for p in feedback_dir.glob(f"*/{sha[:HASH_CHARS]}.*")
                  if p.is_file() and not p.name.endswith(".part") and not p.parent.name.startswith("."))


def _append_provenance(feedback_dir: Path, row: dict[str, Any]) -> None:
    """One row more in ``provenance.csv`` (appended: the file is the log of every filing). Each cell a spreadsheet
    would run (a reviewer called ``=HYPERLINK(...)``, a label ``+cmd``) is written with a ``'`` in front, as
    :func:`auxiliary.base.files.write_csv_atomic` writes every other CSV; :func:`read_provenance` takes it off."""
    path = feedback_dir / PROVENANCE
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(PROVENANCE_COLUMNS))
        if new:
            w.writeheader()
        w.writerow({k: neutralise(row.get(k, "")) for k in PROVENANCE_COLUMNS})
        fh.flush()
        with contextlib.suppress(OSError):
            os.fsync(fh.fileno())


def file_image(
    image: str | Path | np.ndarray,
    label: str,
    feedback_dir: str | Path,
    *,
    source: str,
    model_guess: str | None,
    probs: dict | None,
    reviewer: str = "reviewer",
    classes: Sequence[str] | None = None,
) -> Path:
    """Copy ``image`` (a file, or an RGB array written as PNG) to ``feedback_dir/<label>/<sha256[:20]>.<ext>``
    and record its provenance in ``feedback_dir/provenance.csv``. Returns the feedback copy's path.
    With ``classes`` (the model's or the split's), a label that is not one of them is refused
    (:class:`FeedbackError` naming the classes) before anything is written.

    Idempotent by content hash: the same bytes filed again under the same label change nothing;
    under another label the copy moves to the new label folder (recorded as ``relabel``).
    The original image is never modified or moved.
    """
    lab = _check_label(label, classes)
    fdir = Path(feedback_dir).expanduser()
    if fdir.exists() and not fdir.is_dir():
        raise FeedbackError(f"feedback folder is a file: {fdir}")
    if isinstance(image, np.ndarray):
        data = _png_bytes(image)
        sha = hashlib.sha256(data).hexdigest()
        ext = ".png"
        src_path = None
    else:
        src_path = Path(image).expanduser()
        check_image_file(src_path)
        sha = sha256_file(src_path)
        ext = image_ext(src_path)
        data = None
    with _LOCK:
        existing = _existing_copies(fdir, sha)
        same = [p for p in existing if p.parent.name == lab]
        if same:
            return same[0]
        dest = fdir / lab / f"{sha[:HASH_CHARS]}{ext}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src_path is not None:
            with contextlib.suppress(FileExistsError):
                atomic_copy(src_path, dest)
        else:
            write_bytes_atomic(dest, data)
        for old in existing:  # the reviewer changed their mind: one label per image
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        clean = {str(k): round(float(v), 6) for k, v in (probs or {}).items()}
        _append_provenance(fdir, {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sha256": sha,
            "file": dest.relative_to(fdir).as_posix(),
            "label": lab,
            "previous_label": ",".join(sorted({p.parent.name for p in existing})),
            "model_guess": "" if model_guess is None else str(model_guess),
            "source": str(source),
            "reviewer": str(reviewer),
            "probs": json.dumps(clean) if clean else "",
            "action": "relabel" if existing else "filed",
        })
    return dest


def read_provenance(feedback_dir: str | Path) -> pd.DataFrame:
    """``provenance.csv`` (one row per filing; the last row of a sha256 is its current label), every cell as it
    was filed."""
    path = Path(feedback_dir) / PROVENANCE
    if not path.is_file():
        return pd.DataFrame(columns=list(PROVENANCE_COLUMNS))
    return read_csv(path, dtype=str, keep_default_na=False)


#: Columns of :func:`feedback_listing`'s image table.
LISTING_COLUMNS = ("path", "label", "name", "file", "link")


SUBFOLDER_REASON = "in a sub-folder: only files directly in feedback/<class>/ are merged"


def _files_below(folder: Path, rel: str) -> list[dict[str, str]]:
    """Every entry below ``folder`` (links not followed), reported as left out."""
    try:
        children = sorted(folder.iterdir(), key=lambda c: c.name)
    except OSError as exc:
        return [{"file": f"{rel}/", "reason": f"{SUBFOLDER_REASON} (cannot read it: {exc.strerror or exc})"}]
    out: list[dict[str, str]] = []
    for c in children:
        if c.is_dir() and not c.is_symlink():
            out += _files_below(c, f"{rel}/{c.name}")
        else:
            out.append({"file": f"{rel}/{c.name}", "reason": SUBFOLDER_REASON})
    return out


def _special(path: Path) -> str:
    """The skipped reason of a FIFO, socket or device (or a link to one): what it is, and that it was not opened."""
    reason = special_reason(str(special_kind(path)))
    return f"link to {reason}" if path.is_symlink() else reason


def _link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def feedback_listing(feedback_dir: str | Path) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """The images of ``feedback_dir/<label>/`` and every other entry, left out with the reason why.

    Images: a table with ``path`` (absolute, symbolic links *not* resolved, so it stays inside the
    folder), ``label``, ``name``, ``file`` (``<label>/<name>``) and ``link`` (a link's target, else "").
    A link to an image elsewhere is an image like any other (its target is read, never changed).
    Left out, each ``{"file", "reason"}``: files in sub-folders of a class folder, hidden files and
    folders, files beside the class folders (other than ``provenance.csv``), broken links, links to
    folders inside a class folder, and anything that is not a regular file (a FIFO, socket or device, or a link
    to one: named as such, and never opened). Nothing is left out silently.
    """
    root = Path(os.path.abspath(Path(feedback_dir).expanduser()))
    rows: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    if not root.is_dir():
        return pd.DataFrame(rows, columns=list(LISTING_COLUMNS)), skipped
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        is_dir = entry.is_dir()
        if entry.name.startswith("."):
            skipped.append({"file": entry.name + ("/" if is_dir else ""), "reason": "hidden"})
        elif is_dir:  # a class folder (a link to a folder elsewhere is one too)
            try:
                children = sorted(entry.iterdir(), key=lambda c: c.name)
            except OSError as exc:
                skipped.append({"file": f"{entry.name}/", "reason": f"cannot read folder: {exc.strerror or exc}"})
                continue
            for f in children:
                rel = f"{entry.name}/{f.name}"
                if f.name.startswith("."):
                    skipped.append({"file": rel + ("/" if f.is_dir() else ""), "reason": "hidden"})
                elif f.is_symlink() and f.is_dir():
                    skipped.append({"file": rel, "reason": f"link to a folder ({_link_target(f)}), not followed"})
                elif f.is_dir():
                    skipped += _files_below(f, rel)
                elif f.is_file():
                    rows.append({"path": str(f), "label": entry.name, "name": f.name, "file": rel,
                                 "link": _link_target(f) if f.is_symlink() else ""})
                elif special_kind(f):
                    skipped.append({"file": rel, "reason": _special(f)})
                elif f.is_symlink():
                    skipped.append({"file": rel, "reason": f"broken link (to {_link_target(f)})"})
                else:
                    skipped.append({"file": rel, "reason": "not a regular file"})
        elif entry.name == PROVENANCE:
            continue
        elif entry.is_symlink() and not entry.exists():
            skipped.append({"file": entry.name, "reason": f"broken link (to {_link_target(entry)})"})
        elif special_kind(entry):
            skipped.append({"file": entry.name, "reason": _special(entry)})
        else:
            skipped.append({"file": entry.name, "reason": "not in a class folder: feedback images go in feedback/<class>/"})
    return pd.DataFrame(rows, columns=list(LISTING_COLUMNS)), skipped


def feedback_images(feedback_dir: str | Path) -> pd.DataFrame:
    """The image table of :func:`feedback_listing` (path, label, name, file, link), without what it leaves out."""
    return feedback_listing(feedback_dir)[0]
