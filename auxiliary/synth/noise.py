"""Noise and point patterns for procedural skin and lesions: a shared bank of smooth noise, fBm, blue-noise points, macule stamps.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_BANK: np.ndarray | None = None


_BANK_SIDE = 1024


def _noise_bank() -> np.ndarray:
    """A fixed 1024x1024 block of standard normal noise (same in every process)."""
    global _BANK
    if _BANK is None:
        _BANK = np.random.default_rng(20240607).standard_normal((_BANK_SIDE, _BANK_SIDE), dtype=np.float32)
    return _BANK


def bank_noise(rng: np.random.Generator, shape: tuple[int, int], copy: bool = True) -> np.ndarray:
    """White standard normal noise of ``shape``: a random window (and flip) of a fixed noise bank.

    About 20x faster than drawing fresh normals and just as deterministic (the window is
    drawn from ``rng``); windows of different images overlap only by chance.
    """
    h, w = shape
    if h > _BANK_SIDE or w > _BANK_SIDE:
        return rng.standard_normal((h, w), dtype=np.float32)
    bank = _noise_bank()
    oy = int(rng.integers(0, _BANK_SIDE - h + 1))
    ox = int(rng.integers(0, _BANK_SIDE - w + 1))
    k = int(rng.integers(0, 4))
    win = bank[oy : oy + h, ox : ox + w]
    if k & 1:
        win = win[::-1]
    if k & 2:
        win = win[:, ::-1]
    return np.ascontiguousarray(win) if copy else win


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> np.ndarray:
    """Zero-mean, unit-std smooth noise with about ``cells`` blobs across the larger side."""
    h, w = shape
    n = max(2, int(round(cells)))
    gh = max(2, int(math.ceil(n * h / max(h, w)))) + 3
    gw = max(2, int(math.ceil(n * w / max(h, w)))) + 3
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    # Resize the grid with an extra border, then crop: no edge artefacts, random sub-cell phase.
    bw, bh = int(w * gw / (gw - 3)) + 2, int(h * gh / (gh - 3)) + 2
    big = cv2.resize(grid, (bw, bh), interpolation=cv2.INTER_CUBIC)
    oy = int(rng.integers(0, bh - h + 1))
    ox = int(rng.integers(0, bw - w + 1))
    out = big[oy : oy + h, ox : ox + w]
    sub = out[::4, ::4]
    return (out - float(sub.mean())) * np.float32(1.0 / (float(sub.std()) or 1.0))


def fbm(rng: np.random.Generator, shape: tuple[int, int], cells: float, octaves: int = 3, gain: float = 0.5) -> np.ndarray:
    """Fractal sum of :func:`smooth_noise` octaves (about unit std)."""
    out = smooth_noise(rng, shape, cells)
    amp, tot = gain, 1.0
    for i in range(1, octaves):
        out += amp * smooth_noise(rng, shape, cells * (2**i))
        tot += amp * amp
        amp *= gain
    return out * np.float32(1.0 / math.sqrt(tot))


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.minimum(np.maximum((x - edge0) * np.float32(1.0 / (edge1 - edge0)), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def upsample(a: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a (multi-channel) float32 map to ``size`` (side or (H, W))."""
    h, w = (size, size) if isinstance(size, int) else size
    if a.shape[0] == h and a.shape[1] == w:
        return a
    return cv2.resize(np.ascontiguousarray(a, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def splat_dots(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, amps: np.ndarray | float, sigma: float) -> np.ndarray:
    """Sum of Gaussian dots of one width (peak ``amps``), by impulse image + one Gaussian blur."""
    img = np.zeros(shape, np.float32)
    if len(ys):
        yi = np.clip(np.round(ys).astype(np.int64), 0, shape[0] - 1)
        xi = np.clip(np.round(xs).astype(np.int64), 0, shape[1] - 1)
        np.add.at(img, (yi, xi), np.broadcast_to(np.asarray(amps, np.float32), yi.shape))
        s = max(float(sigma), 0.5)
        img = cv2.GaussianBlur(img, (0, 0), s, borderType=cv2.BORDER_REFLECT)
        img *= np.float32(2.0 * math.pi * s * s)
    return img


def sample_points(
    rng: np.random.Generator,
    weight: np.ndarray,
    n: int,
    out_shape: tuple[int, int],
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw up to ``n`` positions (in ``out_shape`` pixels) with density proportional to ``weight``.

    ``weight`` may have any resolution (it is sampled on a coarse grid, jittered within cells);
    points where the full-resolution ``valid`` map is <= 0.5 are dropped.
    """
    if n <= 0:
        return np.zeros(0), np.zeros(0)
    w8 = np.asarray(weight, np.float32)
    if max(w8.shape) > 96:
        w8 = cv2.resize(w8, (64, 64), interpolation=cv2.INTER_AREA)
    gh, gw = w8.shape
    flat = np.clip(w8, 0, None).ravel().astype(np.float64)
    tot = float(flat.sum())
    if tot <= 0:
        return np.zeros(0), np.zeros(0)
    idx = rng.choice(flat.size, size=n, p=flat / tot)
    cy, cx = np.divmod(idx, gw)
    H, W = out_shape
    ys = np.clip((cy + rng.random(n)) * (H / gh) - 0.5, 0, H - 1)
    xs = np.clip((cx + rng.random(n)) * (W / gw) - 0.5, 0, W - 1)
    if valid is not None:
        keep = valid[ys.astype(np.int64), xs.astype(np.int64)] > 0.5
        ys, xs = ys[keep], xs[keep]
    return ys, xs


def stamp_macule(lab: np.ndarray, y: float, x: float, r: float, *, dL: float, da: float, db: float, edge: float) -> None:
    """Add a flat round spot of radius ``r`` px (soft edge ``edge`` in radii) to ``lab`` in place."""
    H, W = lab.shape[:2]
    R = int(math.ceil(r * (1.0 + 2.0 * edge))) + 1
    y0, y1 = max(0, int(y) - R), min(H, int(y) + R + 1)
    x0, x1 = max(0, int(x) - R), min(W, int(x) + R + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy = (np.arange(y0, y1, dtype=np.float32) - y)[:, None]
    xx = (np.arange(x0, x1, dtype=np.float32) - x)[None, :]
    d = np.sqrt(yy * yy + xx * xx) * np.float32(1.0 / r)
    m = 1.0 - smoothstep(1.0 - edge, 1.0 + edge, d)
    win = lab[y0:y1, x0:x1]
    win[..., 0] += dL * m
    win[..., 1] += da * m
    win[..., 2] += db * m
