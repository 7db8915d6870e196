"""Procedural clean skin of a known tone: a close-up patch or a whole face-like layout.

Everything is drawn in CIELAB (float32, L* 0-100) so that tone and redness have their usual
meaning: the base colour of a subject is drawn per ITA group (``ITA = atan((L*-50)/b*)``,
see :mod:`auxiliary.tone`), texture and lighting are added as L*, a*, b* deltas, and at the end
the medians of L* and b* over the skin are put back on the drawn target, so the ITA measured
from the pixels falls in the requested group.

What the skin is made of (each a vectorised numpy/OpenCV layer, no per-pixel Python):

* low-frequency melanin (L*, b*) and haemoglobin (a*) variation, mid-frequency mottling;
* natural redness: a blush on the cheeks and the nose tip, a few red macules (cherry angiomas,
  bites) -- the hard negatives of the ``none`` class, present in every class alike;
* pores and micro-relief lines, visible only when the pixel scale allows (close-ups);
* freckles (mostly on light skin) and naevi (moles; small dark papules on dark skin);
* a height field lit by one light (diffuse shading, soft specular *shine* on the oily T-zone);
* for the face layout: background, hair, eyebrows, eyes, nostrils, lips, neck, pose and zoom.

The physical scale is explicit: ``px_per_mm`` (a face is ~140 mm wide; a close-up shows a
30-80 mm field), so lesions later get real sizes in millimetres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from . import tone

#: ITA range drawn per group: the group bounds minus a margin, so that texture, lesions and the
#: camera (noise, JPEG) cannot push the measured ITA across a boundary.
ITA_DRAW: dict[str, tuple[float, float]] = {
    "very_light": (58.0, 68.0),
    "light": (44.0, 52.5),
    "intermediate": (31.0, 38.5),
    "tan": (13.5, 25.0),
    "brown": (-25.0, 6.0),
    "dark": (-58.0, -35.0),
}

#: b* range per group (Del Bino et al. 2006 report b* of roughly 10-25 across groups).
B_DRAW: dict[str, tuple[float, float]] = {
    "very_light": (9.0, 14.5),
    "light": (11.0, 17.0),
    "intermediate": (13.0, 19.0),
    "tan": (15.0, 21.0),
    "brown": (13.0, 20.0),
    "dark": (8.0, 15.0),
}

#: a* range per group.
A_DRAW: dict[str, tuple[float, float]] = {
    "very_light": (6.0, 11.0),
    "light": (7.0, 12.0),
    "intermediate": (8.0, 13.0),
    "tan": (8.0, 13.0),
    "brown": (8.0, 13.0),
    "dark": (6.0, 11.0),
}

FACE_WIDTH_MM = 140.0
"""Bizygomatic face width used to convert a face's width in pixels into ``px_per_mm``."""


def redness_visibility(L: float | np.ndarray) -> float | np.ndarray:
    """How much of a haemoglobin (redness) change shows as a* on skin of lightness ``L``.

    Melanin in the epidermis absorbs the light before and after it meets dermal blood, so the
    same inflammation shifts a* far less on dark skin: 1.0 at L* >= 70, about 0.64 at L* 50,
    0.3 at L* 30. The simulators scale the a* shift by this factor and move the remainder into
    a darker, slightly violaceous tone (lower L*, slightly lower b*), which is how erythema and
    inflamed papules look on brown and black skin.
    """
    v = 0.25 + 0.75 * (np.asarray(L, dtype=np.float64) - 25.0) / 45.0
    out = np.clip(v, 0.25, 1.0)
    return float(out) if np.ndim(out) == 0 else out


# ----------------------------------------------------------------------------- helpers
def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float32 CIELAB (H, W, 3) to sRGB uint8 (OpenCV's float path, D65)."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (H, W, 3) to float32 CIELAB."""
    return cv2.cvtColor(np.asarray(rgb, dtype=np.float32) * np.float32(1.0 / 255.0), cv2.COLOR_RGB2LAB)


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


# ----------------------------------------------------------------------------- canvas
@dataclass
class SkinCanvas:
    """A clean-skin image in CIELAB plus what the simulators need to place lesions on it."""

    lab: np.ndarray
    """float32 (H, W, 3) CIELAB image."""
    skin: np.ndarray
    """float32 (H, W) in 0-1: skin where lesions and redness may go (no eyes, lips, brows, nostrils,
    hair or background; a margin around them)."""
    area: np.ndarray
    """float32 (H, W) in 0-1: all skin of the subject (face with its features, neck)."""
    regions: dict[str, np.ndarray]
    """Low-resolution float32 maps in 0-1 (use :meth:`region` for full resolution): ``cheeks``,
    ``nose``, ``forehead``, ``chin``, ``central`` (where rosacea goes), ``acne`` (where acne goes),
    ``oil`` (T-zone)."""
    px_per_mm: float
    """Pixels per millimetre of skin (real lesion sizes are given in mm)."""
    light: tuple[float, float, float]
    """Unit vector towards the light (x right, y down, z towards the camera)."""
    base_lab: tuple[float, float, float]
    """The subject's base skin colour (L*, a*, b*)."""
    tone_group: str
    """ITA group of the base colour (for photos: estimated from the masked skin)."""
    layout: str
    """``face`` (face-like layout), ``patch`` (close-up of skin) or ``photo``."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Parameters of the rendering (recorded in metadata.csv)."""
    _full: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.lab.shape[0], self.lab.shape[1]

    def region(self, name: str) -> np.ndarray:
        """A region map at full resolution (cached)."""
        if name not in self._full:
            self._full[name] = upsample(self.regions[name], self.shape)
        return self._full[name]

    def skin_mask(self, threshold: float = 0.5) -> np.ndarray:
        return self.skin > threshold

    def rgb(self) -> np.ndarray:
        return lab_to_rgb(self.lab)


# ----------------------------------------------------------------------------- tone
def sample_tone(group: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw a base skin colour (L*, a*, b*) whose ITA lies inside ``group`` (with a margin)."""
    if group not in tone.TONE_GROUPS:
        raise ValueError(f"unknown tone group {group!r} (choose from {', '.join(tone.TONE_GROUPS)})")
    lo, hi = ITA_DRAW[group]
    ita = float(rng.uniform(lo, hi))
    b = float(rng.uniform(*B_DRAW[group]))
    t = math.tan(math.radians(ita))
    L = 50.0 + b * t
    if L > 80.0:  # keep lightness plausible; move b* instead (ITA unchanged)
        L = 80.0
        b = (L - 50.0) / t
    if L < 22.0:
        L = 22.0
        b = (L - 50.0) / t
    a = float(rng.uniform(*A_DRAW[group]))
    return {"L": L, "a": a, "b": b, "ita_target": ita}


def correct_tone(lab: np.ndarray, measure: np.ndarray, weight: np.ndarray, target_L: float, target_b: float) -> None:
    """Shift L* and b* (in place, by ``weight``) so that their medians where ``measure`` > 0.5 hit the targets."""
    sub = measure[::4, ::4] > 0.5
    if sub.sum() < 8:
        sub = measure[::2, ::2] > 0.5
        if sub.sum() < 8:
            return
        Ls, bs = lab[::2, ::2, 0][sub], lab[::2, ::2, 2][sub]
    else:
        Ls, bs = lab[::4, ::4, 0][sub], lab[::4, ::4, 2][sub]
    lab[..., 0] += (target_L - float(np.median(Ls))) * weight
    lab[..., 2] += (target_b - float(np.median(bs))) * weight


# ----------------------------------------------------------------------------- lighting
def shade_lab(lab: np.ndarray, shade: np.ndarray, spec: np.ndarray | None = None) -> None:
    """Scale the light reaching each pixel by ``shade`` (in place), then add specular ``spec``.

    In CIELAB a luminance factor ``s`` multiplies ``L*+16``, ``a*`` and ``b*`` by ``s**(1/3)``
    (exact above the dark linear segment), so shading keeps the chromaticity of the skin.
    """
    f = np.cbrt(np.maximum(shade, np.float32(0.02))).astype(np.float32)
    lab[..., 0] += 16.0
    lab[..., 0] *= f
    lab[..., 0] -= 16.0
    lab[..., 1] *= f
    lab[..., 2] *= f
    if spec is not None:
        sp = np.clip(spec, 0.0, 1.0).astype(np.float32)
        lab[..., 0] += (100.0 - lab[..., 0]) * sp
        keep = 1.0 - 0.8 * sp
        lab[..., 1] *= keep
        lab[..., 2] *= keep


def light_vector(rng: np.random.Generator) -> np.ndarray:
    """A random light direction from the front, mostly from above."""
    az = rng.uniform(0, 2 * math.pi)
    elev = rng.uniform(math.radians(45), math.radians(80))
    v = np.array([math.cos(az) * math.cos(elev), -abs(math.sin(az)) * math.cos(elev) * 0.8 + 0.1, math.sin(elev)])
    return v / np.linalg.norm(v)


def shading_from_height(
    height: np.ndarray, light: np.ndarray, slope: float, shine: float, oil: np.ndarray | float, ambient: float,
    gloss: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse shading and specular map (Blinn-Phong, viewer on the z axis) from a height field."""
    gy, gx = np.gradient(height.astype(np.float32) * np.float32(slope))
    nz = 1.0 / np.sqrt(1.0 + gx * gx + gy * gy)
    nx, ny = -gx * nz, -gy * nz
    ndotl = nx * light[0] + ny * light[1] + nz * light[2]
    diffuse = ambient + (1.0 - ambient) * np.clip(ndotl, 0.0, 1.0)
    hv = light + np.array([0.0, 0.0, 1.0])
    hv = hv / np.linalg.norm(hv)
    ndoth = np.clip(nx * hv[0] + ny * hv[1] + nz * hv[2], 0.0, 1.0)
    spec = shine * oil * ndoth**gloss
    return diffuse.astype(np.float32), spec.astype(np.float32)


# ----------------------------------------------------------------------------- skin texture
def _low_variation(rng: np.random.Generator, n: int, base: dict[str, float], regions: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
    """Low-frequency colour variation at n x n: melanin (L*, b*), haemoglobin (a*), blush."""
    L0 = base["L"]
    vis = redness_visibility(L0)
    shape = (n, n)
    mel = fbm(rng, shape, rng.uniform(2.5, 5.0), octaves=3)
    hae = fbm(rng, shape, rng.uniform(3.0, 7.0), octaves=3)
    mel_amp = rng.uniform(0.8, 2.2)
    hae_amp = rng.uniform(0.8, 2.2) * vis
    d = np.empty((n, n, 3), np.float32)
    d[..., 0] = -mel_amp * mel - 0.5 * hae_amp * hae
    d[..., 1] = hae_amp * hae + 0.2 * mel_amp * mel
    d[..., 2] = 0.6 * mel_amp * mel
    # Natural redness: a blush of the cheeks and nose tip, patchy (hard negatives for erythema).
    blush = float(rng.uniform(0.0, 6.0) if rng.random() < 0.7 else 0.0)
    if blush > 0:
        bmap = regions["cheeks"] * (0.7 + 0.3 * smooth_noise(rng, shape, 5)) + 0.6 * regions["nose"]
        d[..., 1] += blush * vis * bmap
        d[..., 0] -= 0.25 * blush * bmap
    return d, {"blush": round(blush, 3), "melanin_var": round(mel_amp, 3), "haemoglobin_var": round(hae_amp, 3)}


def _fine_texture(
    rng: np.random.Generator, lab: np.ndarray, base: dict[str, float], ppm: float, group: str,
    regions: dict[str, np.ndarray], valid: np.ndarray, area: np.ndarray,
) -> dict[str, Any]:
    """Full-resolution texture on the skin, in place: mottling, pores, micro-relief, freckles, naevi, red macules."""
    L0 = base["L"]
    vis = redness_visibility(L0)
    shape = lab.shape[:2]
    S = max(shape)
    meta: dict[str, Any] = {}
    mot = smooth_noise(rng, shape, min(64.0, S / max(3.0, ppm * 2.5)))
    lab[..., 0] += rng.uniform(0.4, 1.2) * mot * area
    # Pores (about 30-90 per cm^2 on the cheek) and micro-relief lines, visible in close-ups only.
    pores = 0
    if ppm >= 2.0:
        dens = rng.uniform(0.3, 0.9)
        area_mm2 = float(valid[::4, ::4].mean()) * shape[0] * shape[1] / (ppm * ppm)
        pores = int(min(dens * area_mm2, shape[0] * shape[1] / 14))
        ys, xs = sample_points(rng, regions["oil"] + 0.4, pores, shape, valid)
        r_px = max(0.5, rng.uniform(0.05, 0.1) * ppm)
        amp = -rng.uniform(3.0, 7.0) * min(1.0, ppm / 5.0) * (L0 / 60.0)
        lab[..., 0] += splat_dots(shape, ys, xs, amp, r_px)
        noise = bank_noise(rng, shape)
        k = max(3, int(round(ppm * 1.5)) | 1)
        kern = np.zeros((k, k), np.float32)
        cv2.line(kern, (0, k // 2), (k - 1, k // 2), 1.0, 1)
        ctr = (k / 2 - 0.5, k / 2 - 0.5)
        ang = rng.uniform(0, 180)
        k1 = cv2.warpAffine(kern, cv2.getRotationMatrix2D(ctr, ang, 1.0), (k, k))
        k2 = cv2.warpAffine(kern, cv2.getRotationMatrix2D(ctr, ang + rng.uniform(60, 120), 1.0), (k, k))
        r1 = cv2.filter2D(noise, -1, k1 / max(float(k1.sum()), 1e-3))
        r2 = cv2.filter2D(noise, -1, k2 / max(float(k2.sum()), 1e-3))
        relief = np.minimum(r1, r2)  # furrows where the two line families cross
        lab[..., 0] += rng.uniform(1.0, 2.5) * min(1.0, ppm / 4.0) * relief * area
    meta["pores"] = pores
    # Freckles (ephelides), mostly on light skin, concentrated on nose and cheeks.
    p_freck = {"very_light": 0.45, "light": 0.35, "intermediate": 0.2, "tan": 0.12, "brown": 0.08, "dark": 0.05}[group]
    n_freck = int(rng.integers(20, 160)) if rng.random() < p_freck else 0
    if n_freck:
        ys, xs = sample_points(rng, regions["cheeks"] + regions["nose"] + 0.25, n_freck, shape, valid)
        r_px = max(0.6, rng.uniform(0.5, 1.1) * ppm)
        f = splat_dots(shape, ys, xs, rng.uniform(0.4, 1.0, len(ys)), r_px)
        depth = rng.uniform(5.0, 12.0) * (L0 / 65.0)
        lab[..., 0] -= depth * f
        lab[..., 2] += 0.55 * depth * f
        lab[..., 1] += 0.2 * depth * f
    meta["freckles"] = n_freck
    # Naevi (moles); on brown and dark skin they also stand for small dark papules (DPN).
    n_naevi = int(rng.integers(1, 5)) if rng.random() < 0.4 else 0
    if n_naevi:
        ys, xs = sample_points(rng, regions["cheeks"] + regions["forehead"] + regions["chin"] + 0.3, n_naevi, shape, valid)
        for y, x in zip(ys, xs):
            r = max(0.8, rng.uniform(0.6, 2.0) * ppm)
            stamp_macule(lab, y, x, r, dL=-rng.uniform(10, 24) * (L0 / 60.0) - 3, da=rng.uniform(0.5, 3.0),
                         db=rng.uniform(1.0, 5.0), edge=rng.uniform(0.15, 0.35))
    meta["naevi"] = n_naevi
    # Isolated small red macules (cherry angiomas, insect bites, a shaving nick): acne look-alikes.
    n_red = int(rng.integers(1, 4)) if rng.random() < 0.3 else 0
    if n_red:
        ys, xs = sample_points(rng, regions["cheeks"] + 0.5, n_red, shape, valid)
        for y, x in zip(ys, xs):
            r = max(0.7, rng.uniform(0.4, 1.2) * ppm)
            stamp_macule(lab, y, x, r, dL=-rng.uniform(2, 6), da=rng.uniform(8, 18) * vis, db=rng.uniform(-1, 3), edge=0.4)
    meta["red_macules"] = n_red
    return meta


# ----------------------------------------------------------------------------- face layout
def _hair_colour(rng: np.random.Generator, group: str) -> np.ndarray:
    dark = group in ("brown", "dark", "tan")
    choices = [
        ((12, 18), (0, 2), (0, 4), 0.55 if dark else 0.2),  # black
        ((18, 28), (3, 6), (6, 12), 0.3),  # dark brown
        ((30, 42), (5, 9), (12, 20), 0.1 if dark else 0.2),  # brown
        ((55, 68), (3, 6), (20, 30), 0.0 if dark else 0.15),  # blond
        ((35, 45), (16, 24), (24, 32), 0.0 if dark else 0.07),  # red
        ((58, 72), (0, 1), (0, 4), 0.05 if dark else 0.08),  # grey
    ]
    p = np.array([c[3] for c in choices], dtype=np.float64)
    c = choices[int(rng.choice(len(choices), p=p / p.sum()))]
    return np.array([rng.uniform(*c[0]), rng.uniform(*c[1]), rng.uniform(*c[2])], np.float32)


BACKGROUNDS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "white": ((80, 95), (-1, 2), (-2, 6)),
    "grey": ((45, 75), (-1, 1), (-3, 3)),
    "beige": ((65, 85), (1, 5), (8, 18)),
    "blue": ((40, 70), (-8, 2), (-30, -10)),
    "green": ((40, 65), (-20, -8), (5, 20)),
    "dark": ((8, 25), (-2, 4), (-4, 6)),
    "warm": ((35, 60), (8, 20), (15, 30)),
}


def _background(rng: np.random.Generator, n: int) -> tuple[np.ndarray, str]:
    name = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    Lr, ar, br = BACKGROUNDS[name]
    col = [rng.uniform(*Lr), rng.uniform(*ar), rng.uniform(*br)]
    bg = np.empty((n, n, 3), np.float32)
    grad = np.linspace(-1, 1, n, dtype=np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    g = math.cos(ang) * grad[None, :] + math.sin(ang) * grad[:, None]
    noise = smooth_noise(rng, (n, n), rng.uniform(2, 6))
    bg[..., 0] = col[0] + rng.uniform(2, 10) * g + rng.uniform(0.5, 4) * noise
    bg[..., 1] = col[1] + 0.5 * noise
    bg[..., 2] = col[2] + 0.5 * noise
    return bg, name


def _hair_texture(rng: np.random.Generator, n: int, colour: np.ndarray) -> np.ndarray:
    k = max(5, n // 10)
    strands = cv2.blur(bank_noise(rng, (n, n)), (1, k)) * math.sqrt(k)
    strands = cv2.warpAffine(strands, cv2.getRotationMatrix2D((n / 2, n / 2), rng.uniform(-30, 30), 1.0), (n, n),
                             borderMode=cv2.BORDER_REFLECT)
    tex = np.empty((n, n, 3), np.float32)
    tex[..., 0] = colour[0] + 3.0 * strands + 4.0 * smooth_noise(rng, (n, n), 4)
    tex[..., 1] = colour[1]
    tex[..., 2] = colour[2] + 0.8 * strands
    return tex


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float, soft: float) -> np.ndarray:
    du = (u - cu) * np.float32(1.0 / au)
    dv = (v - cv) * np.float32(1.0 / av)
    return 1.0 - smoothstep(1.0 - soft, 1.0 + soft, np.sqrt(du * du + dv * dv))


def _gauss(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    du = (u - cu) * np.float32(1.0 / su)
    dv = (v - cv) * np.float32(1.0 / sv)
    return np.exp(-(du * du + dv * dv))


def _mix(lab: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """lab += alpha * (colour - lab), in place; ``colour`` is (3,) or like ``lab``."""
    a = np.clip(alpha, 0, 1).astype(np.float32)
    col = np.asarray(colour, np.float32)
    for c in range(3):
        ch = lab[..., c]
        ch += (col[..., c] - ch) * a


def face_frame(rng: np.random.Generator, S: int) -> dict[str, float]:
    """Pose of a face: centre and half-axes (px), roll (degrees), yaw (feature shift)."""
    close = rng.random() < 0.65  # acne and rosacea photos are mostly close-ups of the face
    ax = float(rng.uniform(0.42, 0.9) if close else rng.uniform(0.30, 0.42)) * S
    ay = ax * float(rng.uniform(1.22, 1.36))
    cx = S * (0.5 + rng.uniform(-0.1, 0.1))
    cy = S * (0.5 + rng.uniform(-0.06, 0.1)) + (ax / S - 0.35) * 0.3 * S * rng.uniform(-1, 1)
    return {"cx": cx, "cy": cy, "ax": ax, "ay": ay, "roll": float(rng.uniform(-14, 14)), "yaw": float(rng.uniform(-0.14, 0.14))}


def face_uv(shape: tuple[int, int], n: tuple[int, int], fr: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Face coordinates (u across, v down; the face ~ unit circle) at an n grid of pixel centres of ``shape``."""
    H, W = shape
    ys = (np.arange(n[0], dtype=np.float32) + 0.5) * (H / n[0]) - 0.5 - fr["cy"]
    xs = (np.arange(n[1], dtype=np.float32) + 0.5) * (W / n[1]) - 0.5 - fr["cx"]
    xx, yy = np.meshgrid(xs, ys)
    t = math.radians(fr["roll"])
    ct, st = math.cos(t), math.sin(t)
    u = (xx * ct + yy * st) * np.float32(1.0 / fr["ax"])
    v = (-xx * st + yy * ct) * np.float32(1.0 / fr["ay"])
    return u.astype(np.float32), v.astype(np.float32)


def face_regions(u: np.ndarray, v: np.ndarray, yaw: float) -> dict[str, np.ndarray]:
    """Soft region maps of a face (cheeks, nose, forehead, chin, jaw, central, acne, oil, height)."""
    uj = u * (1.0 + 0.22 * np.clip(v, 0, None))
    face = _ellipse(uj, v, 0.0, 0.0, 1.0, 1.0, 0.05)
    cheeks = np.clip(_gauss(u, v, -0.5 + yaw, 0.2, 0.28, 0.24) + _gauss(u, v, 0.5 + yaw, 0.2, 0.28, 0.24), 0, 1)
    nose = _gauss(u, v, 1.1 * yaw, 0.12, 0.1, 0.25)
    forehead = _gauss(u, v, yaw, -0.55, 0.45, 0.16)
    chin = _gauss(u, v, yaw, 0.85, 0.25, 0.12)
    jaw = np.clip(_gauss(u, v, -0.7, 0.6, 0.18, 0.25) + _gauss(u, v, 0.7, 0.6, 0.18, 0.25), 0, 1)
    glabella = _gauss(u, v, yaw, -0.35, 0.15, 0.14)
    central = np.clip(0.9 * cheeks + nose + 0.6 * chin + 0.5 * glabella, 0, 1) * face
    acne = np.clip(cheeks + 0.8 * forehead + 0.9 * chin + 0.8 * jaw + 0.3 * nose + 0.1, 0, None) * face
    oil = np.clip(forehead + nose + 0.5 * chin, 0, 1)
    r2 = np.clip(uj * uj + v * v, 0, 1)
    height = np.sqrt(1.0 - r2) * face + 0.16 * _gauss(u, v, 1.1 * yaw, 0.12, 0.11, 0.3) * face
    height += 0.12 * cheeks * face + 0.06 * _gauss(u, v, yaw, -0.25, 0.5, 0.06)
    height -= 0.10 * (_gauss(u, v, -0.36 + yaw, -0.08, 0.18, 0.1) + _gauss(u, v, 0.36 + yaw, -0.08, 0.18, 0.1))
    under = _gauss(u, v, -0.36 + yaw, 0.02, 0.16, 0.06) + _gauss(u, v, 0.36 + yaw, 0.02, 0.16, 0.06)
    neck = _ellipse(u, v, 0.0, 1.25, 0.5, 0.55, 0.05) * smoothstep(0.6, 0.75, v)
    height += 0.5 * neck * (1.0 - face)
    return {"cheeks": cheeks * face, "nose": nose * face, "forehead": forehead * face, "chin": chin * face,
            "jaw": jaw * face, "central": central, "acne": acne, "oil": oil * face, "height": height,
            "under_eye": under * face, "face": face}


def render_face(rng: np.random.Generator, S: int, group: str, base: dict[str, float]) -> SkinCanvas:
    """A face-like layout: background, hair, skin with eyes, brows, nose, lips and a neck."""
    fr = face_frame(rng, S)
    yaw = fr["yaw"]
    hairline = float(rng.uniform(-0.85, -0.55))
    lip_w = float(rng.uniform(0.2, 0.27))
    L0, a0, b0 = base["L"], base["a"], base["b"]
    lo = max(16, S // 4)
    mid = max(32, S // 2)
    # Soft maps at low resolution.
    ul, vl = face_uv((S, S), (lo, lo), fr)
    reg = face_regions(ul, vl, yaw)
    low, meta = _low_variation(rng, lo, base, reg)
    low[..., 0] -= rng.uniform(0, 5) * reg["under_eye"]
    # Sharp structure at mid resolution.
    u, v = face_uv((S, S), (mid, mid), fr)
    uj = u * (1.0 + 0.22 * np.clip(v, 0, None))
    face = _ellipse(uj, v, 0.0, 0.0, 1.0, 1.0, 0.03)
    face_skin = face * smoothstep(hairline - 0.03, hairline + 0.03, v - 0.35 * u * u)
    neck = _ellipse(u, v, 0.0, 1.25, 0.5, 0.55, 0.05) * smoothstep(0.6, 0.75, v)
    head = _ellipse(u, v + 0.08, 0.0, 0.0, 1.12, 1.1, 0.05)
    skin_area = np.clip(face_skin + neck * (1.0 - head), 0, 1)
    eyes = _ellipse(u, v, -0.36 + yaw, -0.08, 0.17, 0.07, 0.25) + _ellipse(u, v, 0.36 + yaw, -0.08, 0.17, 0.07, 0.25)
    yi = yaw * 1.3
    iris = (_ellipse(u, v, -0.36 + yi, -0.08, 0.065, 0.08, 0.2) + _ellipse(u, v, 0.36 + yi, -0.08, 0.065, 0.08, 0.2)) * eyes
    pupil = (_ellipse(u, v, -0.36 + yi, -0.08, 0.025, 0.03, 0.3) + _ellipse(u, v, 0.36 + yi, -0.08, 0.025, 0.03, 0.3)) * eyes
    lash = _ellipse(u, v, -0.36 + yaw, -0.115, 0.17, 0.02, 0.6) + _ellipse(u, v, 0.36 + yaw, -0.115, 0.17, 0.02, 0.6)
    brows = np.clip(_ellipse(u, v + 0.32 * (u + 0.36 - yaw) ** 2, -0.38 + yaw, -0.30, 0.2, 0.045, 0.35)
                    + _ellipse(u, v + 0.32 * (u - 0.36 - yaw) ** 2, 0.38 + yaw, -0.30, 0.2, 0.045, 0.35), 0, 1)
    lips = _ellipse(u, v, yaw, 0.575, lip_w, 0.075, 0.2)
    mouth = _ellipse(u, v, yaw, 0.57, lip_w * 0.95, 0.012, 0.6)
    nostrils = (_ellipse(u, v, -0.1 + 1.2 * yaw, 0.33, 0.05, 0.022, 0.5)
                + _ellipse(u, v, 0.1 + 1.2 * yaw, 0.33, 0.05, 0.022, 0.5))
    keep_out = np.clip(
        _ellipse(u, v, -0.36 + yaw, -0.1, 0.25, 0.13, 0.3) + _ellipse(u, v, 0.36 + yaw, -0.1, 0.25, 0.13, 0.3)
        + _ellipse(u, v, yaw, 0.575, lip_w + 0.06, 0.12, 0.3) + 1.5 * nostrils + brows, 0, 1)
    lesion_ok = np.clip(skin_area * (1.0 - keep_out) * 1.6 - 0.3, 0, 1)
    # Skin colour (base + low-frequency variation), then the features.
    lab = upsample(low, (mid, mid)) + np.array([L0, a0, b0], np.float32)
    hair = _hair_colour(rng, group)
    _mix(lab, brows * rng.uniform(0.6, 0.95), hair * 0.7 + np.array([L0, a0, b0], np.float32) * 0.3)
    _mix(lab, eyes, np.array([rng.uniform(78, 88), rng.uniform(1, 4), rng.uniform(3, 8)], np.float32))
    light_eyes = group in ("very_light", "light")
    iris_col = [[28, 8, 16], [18, 3, 6], [48, -4, -16], [45, -9, 12]][
        int(rng.choice(4, p=[0.45, 0.35, 0.1, 0.1] if light_eyes else [0.45, 0.55, 0.0, 0.0]))]
    _mix(lab, iris, np.array(iris_col, np.float32))
    _mix(lab, pupil, np.array([6, 1, 1], np.float32))
    _mix(lab, lash * 0.8, hair * 0.5)
    lip_col = [L0 - rng.uniform(6, 16), a0 + 3 + rng.uniform(8, 18) * redness_visibility(L0), b0 - rng.uniform(0, 5)]
    _mix(lab, lips * 0.9, np.array(lip_col, np.float32))
    _mix(lab, mouth * 0.7, np.array([L0 * 0.45, a0 * 0.8, b0 * 0.6], np.float32))
    _mix(lab, nostrils * 0.8, np.array([L0 * 0.4, a0 * 0.9, b0 * 0.7], np.float32))
    # Composite over hair and background.
    bg, bg_name = _background(rng, mid)
    long_hair = bool(rng.random() < 0.4)
    if long_hair:
        head = np.clip(head + np.clip(_ellipse(u, v, 0.0, 0.45, 1.3, 1.05, 0.05) - face, 0, 1) * smoothstep(-0.5, -0.3, v), 0, 1)
    if rng.random() < 0.08:
        head = head * 0.0  # bald or hair out of frame
    _mix(bg, head * (1.0 - skin_area), _hair_texture(rng, mid, hair))
    cover = np.clip(skin_area + face * (eyes + brows + lips), 0, 1)
    _mix(bg, cover, lab)
    stack = np.concatenate([bg, skin_area[..., None], lesion_ok[..., None], neck[..., None] * (1.0 - face[..., None])], axis=2)
    full = upsample(stack, S)
    out = np.ascontiguousarray(full[..., :3])
    area, ok, neck_full = full[..., 3], full[..., 4], full[..., 5]
    ppm = 2.0 * fr["ax"] / FACE_WIDTH_MM
    meta.update(_fine_texture(rng, out, base, ppm, group, reg, ok, area))
    # Lighting: gradient, shape shading and a soft specular shine on the T-zone.
    light = light_vector(rng)
    shine = float(rng.uniform(0.0, 0.45) if rng.random() < 0.6 else 0.0)
    oil = np.clip(reg["oil"] + 0.3 * reg["cheeks"], 0, 1)
    diff, spec = shading_from_height(reg["height"], light, 40.0 * lo / 64.0, shine, oil,
                                     ambient=float(rng.uniform(0.45, 0.7)), gloss=float(rng.uniform(8, 30)))
    ds = upsample(np.stack([diff, spec], axis=2), S)
    shade_lab(out, ds[..., 0] * (1.0 - 0.25 * neck_full), ds[..., 1])
    correct_tone(out, ok, area, L0, b0)
    meta.update({"background": bg_name, "px_per_mm": round(ppm, 3), "shine": round(shine, 3),
                 "roll": round(fr["roll"], 2), "yaw": round(yaw, 3), "face_width_px": round(2 * fr["ax"], 1),
                 "long_hair": long_hair})
    regions = {k: reg[k] for k in ("cheeks", "nose", "forehead", "chin", "central", "acne", "oil")}
    return SkinCanvas(lab=out, skin=ok, area=area, regions=regions, px_per_mm=ppm,
                      light=tuple(float(x) for x in light), base_lab=(L0, a0, b0), tone_group=group, layout="face", meta=meta)


def render_patch(rng: np.random.Generator, S: int, group: str, base: dict[str, float]) -> SkinCanvas:
    """A close-up of skin (a cheek, the forehead...) 30-80 mm across, sometimes with the face contour."""
    field_mm = float(rng.uniform(30.0, 80.0))
    ppm = S / field_mm
    lo = max(16, S // 4)
    L0, a0, b0 = base["L"], base["a"], base["b"]
    blob = smooth_noise(rng, (lo, lo), rng.uniform(1.5, 3.0))
    cheeks = smoothstep(-0.8, 1.2, blob).astype(np.float32)
    oil_level = float(rng.uniform(0.2, 0.8))
    reg = {"cheeks": cheeks, "nose": np.zeros_like(cheeks), "forehead": np.full_like(cheeks, 0.5),
           "chin": np.zeros_like(cheeks), "oil": np.full_like(cheeks, oil_level), "central": cheeks,
           "acne": np.clip(0.4 + 0.3 * smooth_noise(rng, (lo, lo), 3), 0.05, None).astype(np.float32)}
    low, meta = _low_variation(rng, lo, base, reg)
    edge = bool(rng.random() < 0.25)
    if edge:  # the contour of the face, background beyond it (drawn at full resolution)
        c = (np.arange(S, dtype=np.float32) + 0.5) / S - 0.5
        ang = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(1.2, 2.0)
        dx = (c + dist * math.cos(ang))[None, :]
        dy = (c + dist * math.sin(ang))[:, None]
        d = np.sqrt(dx * dx + dy * dy)
        rad = dist + rng.uniform(0.2, 0.42)
        area = np.ascontiguousarray(1.0 - smoothstep(rad - 1.2 / S, rad + 1.2 / S, d), dtype=np.float32)
        bg, bg_name = _background(rng, lo)
        full = upsample(np.concatenate([low + np.array([L0, a0, b0], np.float32), bg], axis=2), S)
        lab = np.ascontiguousarray(full[..., :3])
        bg_full = np.ascontiguousarray(full[..., 3:6])
        ok = cv2.erode(np.clip(area * 2.0 - 1.0, 0, 1), np.ones((5, 5), np.uint8))
    else:
        lab = upsample(low, S) + np.array([L0, a0, b0], np.float32)
        area = np.ones((S, S), np.float32)
        ok = area
        bg_name = "none"
    meta.update(_fine_texture(rng, lab, base, ppm, group, reg, ok, area))
    light = light_vector(rng)
    shine = float(rng.uniform(0.0, 0.35) if rng.random() < 0.5 else 0.0)
    height = smooth_noise(rng, (lo, lo), rng.uniform(1.0, 2.0)) * 0.15
    diff, spec = shading_from_height(height, light, 30.0 * lo / 64.0, shine, oil_level,
                                     ambient=float(rng.uniform(0.55, 0.8)), gloss=float(rng.uniform(6, 20)))
    g = np.linspace(-1, 1, lo, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    diff = diff * (1.0 + rng.uniform(0.0, 0.15) * (gx * light[0] + gy * light[1]))
    ds = upsample(np.stack([diff, spec], axis=2).astype(np.float32), S)
    shade_lab(lab, ds[..., 0], ds[..., 1])
    correct_tone(lab, ok, area, L0, b0)
    if edge:
        _mix(lab, 1.0 - area, bg_full)
    meta.update({"background": bg_name, "px_per_mm": round(ppm, 3), "shine": round(shine, 3), "field_mm": round(field_mm, 1)})
    return SkinCanvas(lab=lab, skin=ok, area=area, regions=reg, px_per_mm=ppm, light=tuple(float(x) for x in light),
                      base_lab=(L0, a0, b0), tone_group=group, layout="patch", meta=meta)


def render_skin(
    size: int, tone_group: str, rng: np.random.Generator, *, layout: str | None = None, face_layout: float = 0.5
) -> SkinCanvas:
    """Clean procedural skin of ``tone_group``: a face-like layout (probability ``face_layout``) or a close-up.

    The medians of L* and b* over the skin are set to the drawn base colour, so the ITA
    measured from the pixels is the drawn one up to noise (margins in :data:`ITA_DRAW`).
    """
    if layout is None:
        layout = "face" if rng.random() < face_layout else "patch"
    base = sample_tone(tone_group, rng)
    if layout == "face":
        canvas = render_face(rng, int(size), tone_group, base)
    elif layout == "patch":
        canvas = render_patch(rng, int(size), tone_group, base)
    else:
        raise ValueError(f"unknown layout {layout!r} (face or patch)")
    canvas.meta.update({"L_target": round(base["L"], 3), "a_base": round(base["a"], 3), "b_target": round(base["b"], 3),
                        "ita_target": round(base["ita_target"], 3)})
    return canvas
