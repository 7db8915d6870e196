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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from auxiliary.errors import AuxiliaryError
from auxiliary.files import atomic_copy, safe_name, sha256_file, write_bytes_atomic
from auxiliary.images import IMAGE_EXTENSIONS, read_image

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
def _check_label(label: str) -> str:
    lab = str(label).strip()
    if not lab or safe_name(lab, default="") != lab:
        raise FeedbackError(f"label {label!r} cannot be a folder name (no slashes, leading dots or dashes)")
    return lab


def _png_bytes(rgb: np.ndarray) -> bytes:

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise FeedbackError(f"image array must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FeedbackError(f"image array must be (H, W, 3) RGB, got shape {arr.shape}")
    buf = io.BytesIO()  # same encoder settings as auxiliary.images.write_png: same array -> same bytes
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


def _existing_copies(feedback_dir: Path, sha: str) -> list[Path]:
    if not feedback_dir.is_dir():
        return []
    return sorted(p for p in feedback_dir.glob(f"*/{sha[:HASH_CHARS]}.*")
                  if p.is_file() and not p.name.endswith(".part") and not p.parent.name.startswith("."))


def _append_provenance(feedback_dir: Path, row: dict[str, Any]) -> None:
    path = feedback_dir / PROVENANCE
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(PROVENANCE_COLUMNS))
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in PROVENANCE_COLUMNS})
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
) -> Path:
    """Copy ``image`` (a file, or an RGB array written as PNG) to ``feedback_dir/<label>/<sha256[:20]>.<ext>``
    and record its provenance in ``feedback_dir/provenance.csv``. Returns the feedback copy's path.

    Idempotent by content hash: the same bytes filed again under the same label change nothing;
    under another label the copy moves to the new label folder (recorded as ``relabel``).
    The original image is never modified or moved.
    """
    lab = _check_label(label)
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
        read_image(src_path)  # raises ImageReadError (one line) for anything that is not an image
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
    """``provenance.csv`` (one row per filing; the last row of a sha256 is its current label)."""
    path = Path(feedback_dir) / PROVENANCE
    if not path.is_file():
        return pd.DataFrame(columns=list(PROVENANCE_COLUMNS))
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def feedback_images(feedback_dir: str | Path) -> pd.DataFrame:
    """The files in ``feedback_dir/<label>/`` (path, label, name); hidden files and folders are ignored."""
    root = Path(feedback_dir)
    rows = []
    if root.is_dir():
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for f in sorted(d.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    rows.append({"path": str(f.resolve()), "label": d.name, "name": f.name})
    return pd.DataFrame(rows, columns=["path", "label", "name"])
