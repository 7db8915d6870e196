"""Near-duplicate images across splits: 64-bit perceptual hashes compared by Hamming distance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from auxiliary.data.probe import probe_images

#: Hamming distance (of 64 bits) at or below which two images count as near-duplicates (phash and dhash).
NEAR_THRESHOLD = 4


def _hex64(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros(len(values), dtype=np.uint64)
    ok = np.zeros(len(values), dtype=bool)
    for i, h in enumerate(values):
        try:
            out[i] = np.uint64(int(str(h), 16))
            ok[i] = True
        except (ValueError, TypeError):
            pass
    return out, ok


def _hashes(df: pd.DataFrame, progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(phash, dhash as uint64, md5 str, valid) per row, computing (cached) what the table lacks."""
    cols = ("phash", "dhash", "md5")
    need = any(c not in df for c in cols) or any(df[c].astype(str).isin(["", "nan", "None", "<NA>"]).any()
                                                 for c in cols if c in df)
    src = probe_images(df["path"].tolist(), progress=progress) if need and len(df) else df
    ph, ok1 = _hex64(src["phash"].to_numpy() if len(df) else np.zeros(0))
    dh, ok2 = _hex64(src["dhash"].to_numpy() if len(df) else np.zeros(0))
    md5 = src["md5"].astype(str).to_numpy() if len(df) else np.zeros(0, dtype=str)
    return ph, dh, md5, ok1 & ok2


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    b = x.view(np.uint8).reshape(*x.shape, 8)  # pragma: no cover - numpy < 2
    return np.unpackbits(b, axis=-1).sum(axis=-1)


def find_duplicates(
    splits: dict[str, pd.DataFrame], threshold: int = NEAR_THRESHOLD, progress: bool = True, max_pairs: int = 100_000,
) -> pd.DataFrame:
    """Pairs of images in *different* splits that are identical (same bytes) or nearly so: both
    perceptual hashes (``imagehash`` phash and dhash, 64 bits each) within ``threshold`` bits.
    Requiring both keeps distinct dermoscopy images (a dark blob centred on skin: similar
    low-frequency content, so similar phash) from counting as duplicates, while re-encoded,
    resized or brightened copies (distance 0-3) are found. Columns: split_a, path_a, split_b,
    path_b, distance (the larger of the two), kind ("exact" or "near")."""
    hashed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    for s, df in splits.items():
        if df is None or not len(df):
            continue
        sub = df.loc[~df["is_augmented"].astype(bool)] if "is_augmented" in df else df
        ph, dh, md5, valid = _hashes(sub, progress)
        hashed[s] = (ph[valid], dh[valid], md5[valid], sub["path"].astype(str).to_numpy()[valid])
    rows: list[dict[str, Any]] = []
    names = list(hashed)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pa, da, ma, fa = hashed[a]
            pb, db, mb, fb = hashed[b]
            for start in range(0, len(pa), 512):
                sl = slice(start, start + 512)
                dist = _popcount(np.bitwise_xor(pa[sl, None], pb[None, :]))
                ddist = _popcount(np.bitwise_xor(da[sl, None], db[None, :]))
                exact = ma[sl, None] == mb[None, :]
                ii, jj = np.nonzero(((dist <= threshold) & (ddist <= threshold)) | exact)
                for x, y in zip(ii, jj):
                    rows.append({"split_a": a, "path_a": fa[start + x], "split_b": b, "path_b": fb[y],
                                 "distance": int(max(dist[x, y], ddist[x, y])),
                                 "kind": "exact" if exact[x, y] else "near"})
                if len(rows) >= max_pairs:
                    break
    return pd.DataFrame(rows, columns=["split_a", "path_a", "split_b", "path_b", "distance", "kind"])
