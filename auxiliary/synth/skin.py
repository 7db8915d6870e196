"""The skin canvas of a known tone and the layers clean skin is made of: base colour, texture, lighting.

:class:`SkinCanvas` is what every simulator draws on. Everything is in CIELAB (float32, L* 0-100)
so that tone and redness have their usual meaning: the base colour of a subject is drawn per ITA
group (:func:`sample_tone`, ``ITA = atan((L*-50)/b*)``, see :mod:`auxiliary.base.tone`), texture and
lighting are added as L*, a*, b* deltas, and at the end the medians of L* and b* over the skin are
put back on the drawn target (:func:`correct_tone`), so the ITA measured from the pixels falls in
the requested group. The canvases themselves (a close-up patch or a face-like layout) are
assembled in :mod:`auxiliary.synth.procedural`.

What the skin is made of (each a vectorised numpy/OpenCV layer, no per-pixel Python):

* low-frequency melanin (L*, b*) and haemoglobin (a*) variation, mid-frequency mottling;
* natural redness: a blush on the cheeks and the nose tip, a few red macules (cherry angiomas,
  bites) -- the hard negatives of the ``none`` class, present in every class alike;
* pores and micro-relief lines, visible only when the pixel scale allows (close-ups);
* freckles (mostly on light skin) and naevi (moles; small dark papules on dark skin);
* a height field lit by one light (diffuse shading, soft specular *shine* on the oily T-zone);
* for the face layout (:mod:`auxiliary.synth.procedural`): background, hair, eyebrows, eyes,
  nostrils, lips, neck, pose and zoom.

The physical scale is explicit: ``px_per_mm`` (a face is ~140 mm wide; a close-up shows a
30-80 mm field), so lesions later get real sizes in millimetres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from auxiliary.base.tone import TONE_GROUPS
from auxiliary.synth.noise import (
    bank_noise,
    fbm,
    sample_points,
    smooth_noise,
    splat_dots,
    stamp_macule,
    upsample,
)

#: Per tone group, the ranges a clean skin's colour is drawn from: ITA (the group bounds minus a margin, so that
#: texture, lesions and the camera (noise, JPEG) cannot push the measured ITA across a boundary), b* (Del Bino et
#: al. 2006 report b* of roughly 10-25 across groups) and a*: ``(ita, b, a)``, each ``(low, high)``.
SKIN_DRAW: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "very_light": ((58.0, 68.0), (9.0, 14.5), (6.0, 11.0)),
    "light": ((44.0, 52.5), (11.0, 17.0), (7.0, 12.0)),
    "intermediate": ((31.0, 38.5), (13.0, 19.0), (8.0, 13.0)),
    "tan": ((13.5, 25.0), (15.0, 21.0), (8.0, 13.0)),
    "brown": ((-25.0, 6.0), (13.0, 20.0), (8.0, 13.0)),
    "dark": ((-58.0, -35.0), (8.0, 15.0), (6.0, 11.0)),
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
def lab_image_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float32 CIELAB (H, W, 3) to sRGB uint8 (OpenCV's float path, D65)."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def rgb_image_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (H, W, 3) to float32 CIELAB."""
    return cv2.cvtColor(np.asarray(rgb, dtype=np.float32) * np.float32(1.0 / 255.0), cv2.COLOR_RGB2LAB)


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
        return lab_image_to_rgb(self.lab)


# ----------------------------------------------------------------------------- tone
def sample_tone(group: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw a base skin colour (L*, a*, b*) whose ITA lies inside ``group`` (with a margin)."""
    if group not in TONE_GROUPS:
        raise ValueError(f"unknown tone group {group!r} (choose from {', '.join(TONE_GROUPS)})")
    (lo, hi), b_range, a_range = SKIN_DRAW[group]
    ita = float(rng.uniform(lo, hi))
    b = float(rng.uniform(*b_range))
    t = math.tan(math.radians(ita))
    L = 50.0 + b * t
    if L > 80.0:  # keep lightness plausible; move b* instead (ITA unchanged)
        L = 80.0
        b = (L - 50.0) / t
    if L < 22.0:
        L = 22.0
        b = (L - 50.0) / t
    a = float(rng.uniform(*a_range))
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
def low_variation(rng: np.random.Generator, n: int, base: dict[str, float], regions: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, Any]]:
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


def fine_texture(
    rng: np.random.Generator, lab: np.ndarray, base: dict[str, float], ppm: float, group: str,
    regions: dict[str, np.ndarray], valid: np.ndarray, area: np.ndarray, freckles: bool = True,
) -> dict[str, Any]:
    """Full-resolution texture on the skin, in place: mottling, pores, micro-relief, freckles, naevi, red macules.

    ``freckles=False`` leaves the freckles out but draws their random numbers all the same, so the rest of
    the texture does not change."""
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
        if freckles:
            lab[..., 0] -= depth * f
            lab[..., 2] += 0.55 * depth * f
            lab[..., 1] += 0.2 * depth * f
    meta["freckles"] = n_freck if freckles else 0
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
