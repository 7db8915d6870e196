"""Opening every image once: readable or not, its size, perceptual hash and an *estimated* skin tone (ITA away from the centre), cached by path, size and mtime.

The table of what was found is kept in the cache folder (:func:`auxiliary.base.layout.cache_dir`, ``probe/``): it
can be rebuilt at any time, so it belongs to no step's output. A FIFO, socket or device listed as an image is
never opened (:func:`auxiliary.data.formats.special_kind`): it is not readable, and the reason says what it is.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from typing import Any

import cv2
import imagehash
import numpy as np
import pandas as pd
from PIL import Image

from auxiliary.base.files import read_csv, write_csv_atomic
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.layout import cache_dir
from auxiliary.base.progress import progress_bar
from auxiliary.base.tone import TONE_GROUPS, estimate_ita
from auxiliary.data.formats import SPECIAL_KINDS, hash_strings, special_reason


# ----------------------------------------------------------------------------------- probing images
def skin_pixels(rgb: np.ndarray) -> np.ndarray:
    """Pixels plausibly skin: not the black vignette of dermoscopy, not specular white, not dark hair."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    v, s = hsv[..., 2].astype(np.int32), hsv[..., 1].astype(np.int32)
    return (v > 60) & ~((v > 245) & (s < 20))


def estimate_tone(rgb: np.ndarray, exclude_center: float = 0.5) -> float:
    """Estimated ITA (degrees) of an RGB image: median over skin pixels outside a central disc.

    An *estimate*: dermoscopic lighting, white balance and the lesion shift it. NaN if fewer than
    5 % of the pixels remain.
    """
    img = np.asarray(rgb)
    h, w = img.shape[:2]
    if max(h, w) > 96:
        scale = 96.0 / max(h, w)
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    mask = skin_pixels(img)
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    r = exclude_center * min(img.shape[:2]) / 2.0
    outside = (yy - img.shape[0] / 2.0) ** 2 + (xx - img.shape[1] / 2.0) ** 2 > r * r
    if (mask & outside).sum() < 0.05 * mask.size:
        return float("nan")
    return float(estimate_ita(img, mask=mask, exclude_center=exclude_center))


def _probe_one(path: str) -> dict[str, Any]:
    try:
        rgb = read_image(path)
    except ImageReadError as exc:
        return {"ok": False, "reason": exc.reason}
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    with open(path, "rb") as fh:
        md5 = hashlib.md5(fh.read()).hexdigest()
    return {
        "ok": True, "reason": "", "height": h, "width": w, "md5": md5,
        "phash": str(imagehash.phash(Image.fromarray(small))), "dhash": str(imagehash.dhash(Image.fromarray(small))),
        "ita_est": estimate_tone(rgb),
    }


_PROBE_COLS = ("path", "size", "mtime_ns", "ok", "reason", "height", "width", "md5", "phash", "dhash", "ita_est")


def probe_images(paths_: Sequence[str], progress: bool = True, cache: bool = True) -> pd.DataFrame:
    """Open every image once: readable?, size, md5, perceptual hash, estimated ITA.

    Results are cached in ``probe/probe-*.csv`` of the cache folder (:func:`auxiliary.base.layout.cache_dir`), keyed
    by path, file size and mtime, so a second read of the same dataset does not decode anything. A path that is a
    FIFO, socket or device is not readable (its reason says which) and is never opened.
    """
    paths_ = [str(p) for p in paths_]
    stats: list[tuple[int, int] | None] = []
    special: dict[int, str] = {}
    for i, p in enumerate(paths_):
        try:
            st = os.stat(p)
            stats.append((st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append(None)
            continue
        kind = SPECIAL_KINDS.get(stat.S_IFMT(st.st_mode))
        if kind:
            special[i] = kind
    roots = sorted({os.path.dirname(os.path.dirname(p)) for p in paths_})
    cache_file = cache_dir("probe", create=False) / f"probe-{hash_strings(roots[:50] + [str(len(roots))])}.csv"
    known: dict[tuple[str, int, int], dict[str, Any]] = {}
    if cache and cache_file.is_file():
        try:
            old = read_csv(cache_file, dtype={"path": str, "md5": str, "phash": str, "dhash": str, "reason": str},
                              keep_default_na=False, na_values={"ita_est": [""], "height": [""], "width": [""]})
            for rec in old.to_dict("records"):
                if str(rec.get("ok")) in ("True", "1", "true") and not rec.get("dhash"):
                    continue  # written by an older version: probe again
                known[(rec["path"], int(rec["size"]), int(rec["mtime_ns"]))] = rec
        except (ValueError, KeyError, pd.errors.ParserError):
            known = {}
    rows: list[dict[str, Any]] = []
    todo = [i for i, (p, st) in enumerate(zip(paths_, stats))
            if st is not None and i not in special and (p, *st) not in known]
    new: dict[int, dict[str, Any]] = {}
    for i in progress_bar(todo, desc="checking images", disable=not progress or len(todo) < 50, leave=False):
        new[i] = _probe_one(paths_[i])
    for i, (p, st) in enumerate(zip(paths_, stats)):
        if st is None:
            rows.append({"path": p, "ok": False, "reason": "file not found"})
            continue
        if i in special:  # never opened, never cached: it may be a file next time
            rows.append({"path": p, "size": st[0], "mtime_ns": st[1], "ok": False,
                         "reason": special_reason(special[i])})
            continue
        rec = new.get(i) or known[(p, *st)]
        rows.append({**rec, "path": p, "size": st[0], "mtime_ns": st[1], "ok": str(rec["ok"]) in ("True", "1", "true")})
    out = pd.DataFrame(rows)
    for c in _PROBE_COLS:
        if c not in out:
            out[c] = np.nan
    out["reason"] = out["reason"].fillna("").astype(str)
    out["ok"] = out["ok"].astype(bool)
    out["ita_est"] = pd.to_numeric(out["ita_est"], errors="coerce")
    if cache and new:
        merged = {**{k: v for k, v in known.items()}}
        for i, rec in new.items():
            st = stats[i]
            merged[(paths_[i], st[0], st[1])] = {**rec, "path": paths_[i], "size": st[0], "mtime_ns": st[1]}
        write_csv_atomic(cache_file, pd.DataFrame(list(merged.values()), columns=list(_PROBE_COLS)))
    return out[list(_PROBE_COLS)]


def tone_agreement(table: pd.DataFrame) -> dict[str, Any]:
    """How often the estimated tone group equals the known one (rows with both), and the mean |ΔITA|."""
    known = table[(table["tone_group"] != "unknown") & (table["tone_group_est"] != "unknown")]
    if known.empty:
        return {"n": 0, "exact": None, "within_one": None, "mean_abs_ita_error": None}
    order = {g: i for i, g in enumerate(TONE_GROUPS)}
    a = known["tone_group"].map(order).to_numpy()
    b = known["tone_group_est"].map(order).to_numpy()
    err = (known["ita"] - known["ita_est"]).abs()
    return {
        "n": int(len(known)),
        "exact": float(np.mean(a == b)),
        "within_one": float(np.mean(np.abs(a - b) <= 1)),
        "mean_abs_ita_error": float(err.mean()) if err.notna().any() else None,
    }
