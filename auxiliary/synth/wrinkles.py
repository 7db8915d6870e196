"""Wrinkles on a skin canvas: forehead lines, crow's feet, nasolabial folds and fine lines (pure functions).

:func:`wrinkle_furrows` lays out the furrows as polylines in pixels, :func:`wrinkle_height` turns them
into a height map (negative: furrows, with real widths in mm) and :func:`render_wrinkles` shades it
with the canvas's own light (``canvas.light``), so depth and lighting agree: the wall of a furrow that
faces the light brightens, the other darkens, and the bottom is darker still (the cavity sees less of
the sky). :func:`add_wrinkles` does all three, :func:`simulate_wrinkles` works on an RGB image and
:class:`WrinklesSampler` draws the parameters.

Placement follows the face: on a canvas whose face frame is known
(:func:`auxiliary.synth.hyperpigmentation.face_frame_estimate`) horizontal forehead lines (plus
glabellar lines when strong), crow's feet fanning from the outer eye corners, nasolabial folds from
the nose wings past the mouth corners, and fine lines under the eyes and over the cheeks, all in face
coordinates. Where the frame is not known (close-up patches, masked photos) one site is drawn: a family
of parallel lines (a forehead), a fan (the eye corner) or a fold, plus fine lines. ``strength`` (0-1)
sets depth (wall slope and cavity darkening) and density (how many lines); shading changes the light
a pixel receives, so the same wrinkle moves L* less on dark skin. Strength 0 changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np

from auxiliary.synth.erythema import soft_skin
from auxiliary.synth.hyperpigmentation import CHANGED_DELTA_E, face_frame_estimate, face_to_pixels
from auxiliary.synth.lesion import KindSampler, SimResult
from auxiliary.synth.noise import sample_points
from auxiliary.synth.skin import SkinCanvas, shade_lab
from auxiliary.synth.skinmask import simulate_on_rgb

WRINKLE_KINDS: tuple[str, ...] = ("forehead", "crows_feet", "nasolabial", "fine")

#: per kind: furrow width (mm, full width of the profile), wall slope and cavity darkening at depth 1
PROFILE: dict[str, tuple[float, float, float]] = {
    "forehead": (0.9, 1.1, 0.22),
    "crows_feet": (0.6, 0.9, 0.18),
    "nasolabial": (1.2, 1.2, 0.22),
    "fold": (4.5, 0.45, 0.08),  # the broad groove beside a nasolabial crease
    "fine": (0.4, 0.9, 0.18),
}


@dataclass(frozen=True)
class Furrow:
    """One wrinkle: a polyline (n, 2) of pixel (x, y), a profile ``kind`` and a relative depth (0-1)."""

    points: np.ndarray
    kind: str
    depth: float


# ----------------------------------------------------------------------------- layout
def _polyline(fr: dict[str, float], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x, y = face_to_pixels(fr, u, v)
    return np.stack([x, y], axis=1).astype(np.float32)


def _face_furrows(fr: dict[str, float], rng: np.random.Generator, s: float, kinds: tuple[str, ...]) -> list[Furrow]:
    """Furrows in face coordinates (eyes at u = yaw +- 0.36, v = -0.08; mouth at v = 0.575)."""
    yaw, k = fr["yaw"], fr["ax"] / fr["ay"]  # k: a step in u has the length of k steps in v
    out: list[Furrow] = []
    t = np.linspace(0.0, 1.0, 24, dtype=np.float32)
    if "forehead" in kinds:
        n = 2 + int(round(s * rng.integers(1, 5)))
        arch = rng.uniform(-0.05, 0.15)
        for v0 in np.linspace(-0.44, -0.70, n) + rng.uniform(-0.02, 0.02, n):
            half = rng.uniform(0.25, 0.5)
            u = yaw + rng.uniform(-0.05, 0.05) + half * (2 * t - 1)
            v = v0 + arch * (u - yaw) ** 2 + 0.012 * np.sin(rng.uniform(6, 14) * u + rng.uniform(0, 6.3))
            cut = rng.uniform(0.25, 0.75) if rng.random() < 0.4 else None  # some lines are broken in two
            for a, b in (((0, 24),) if cut is None else ((0, int(cut * 24) - 1), (int(cut * 24) + 1, 24))):
                out.append(Furrow(_polyline(fr, u[a:b], v[a:b]), "forehead", rng.uniform(0.6, 1.0)))
        if s > 0.4 and rng.random() < 0.6:  # glabellar (frown) lines, vertical between the brows
            for sgn in (-1, 1):
                u0 = yaw + sgn * rng.uniform(0.03, 0.07)
                u = u0 + sgn * 0.03 * t
                out.append(Furrow(_polyline(fr, u, -0.42 + 0.17 * t), "forehead", rng.uniform(0.4, 0.8)))
    for sgn in (-1, 1):
        if "crows_feet" in kinds:
            cu, cv = yaw + sgn * 0.55, -0.08
            for ang in np.linspace(-0.7, 0.7, 2 + int(round(s * rng.integers(1, 4)))) + rng.normal(0, 0.08, 1):
                length, bend = rng.uniform(0.08, 0.16), rng.normal(0, 0.3)
                a = ang + bend * t
                r = 0.03 + length * t
                out.append(Furrow(_polyline(fr, cu + sgn * r * np.cos(a), cv + r * np.sin(a) * k), "crows_feet",
                                  rng.uniform(0.5, 1.0)))
        if "nasolabial" in kinds:
            # Quadratic Bezier: nose wing -> bowed outwards -> beside the mouth corner.
            p0, p1, p2 = (0.13, 0.27), (rng.uniform(0.27, 0.33), 0.40), (rng.uniform(0.29, 0.35), 0.72)
            bu = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t * t * p2[0]
            bv = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t * t * p2[1]
            pts = _polyline(fr, yaw + sgn * bu, bv)
            d = rng.uniform(0.7, 1.0)
            out += [Furrow(pts, "nasolabial", d), Furrow(pts, "fold", d)]
        if "fine" in kinds:
            for j in range(int(round(s * rng.integers(1, 4)))):  # lines under the lower lid
                cu = yaw + sgn * 0.37
                u = cu + (2 * t - 1) * rng.uniform(0.08, 0.14)
                v = 0.03 + 0.035 * j + rng.uniform(0, 0.02) + 0.03 * (1 - ((u - cu) / 0.14) ** 2)
                out.append(Furrow(_polyline(fr, u, v), "fine", rng.uniform(0.4, 0.9)))
    return out


def _line(rng: np.random.Generator, x: float, y: float, ang: float, length: float, wobble: float = 0.15) -> np.ndarray:
    """A gently curved polyline from (x, y) in direction ``ang`` (radians), ``length`` px."""
    t = np.linspace(0.0, 1.0, 16, dtype=np.float32)
    a = ang + rng.normal(0, wobble) * t + rng.normal(0, wobble * 0.5) * np.sin(math.pi * t)
    step = length / 15.0
    xs = x + np.concatenate([[0], np.cumsum(step * np.cos(a[:-1]))])
    ys = y + np.concatenate([[0], np.cumsum(step * np.sin(a[:-1]))])
    return np.stack([xs, ys], axis=1).astype(np.float32)


def _site_furrows(canvas: SkinCanvas, rng: np.random.Generator, s: float, kinds: tuple[str, ...]) -> list[Furrow]:
    """Without a face frame: one site (parallel lines, a fan or a fold) in real sizes over the skin."""
    H, W = canvas.shape
    ppm = canvas.px_per_mm
    out: list[Furrow] = []
    sites = [k for k in kinds if k != "fine"]
    site = sites[int(rng.integers(len(sites)))] if sites else None
    ang = math.radians(float(canvas.meta.get("roll", 0.0))) + rng.normal(0, 0.25)
    diag = math.hypot(H, W)
    if site == "forehead":  # parallel lines across the frame, 6-12 mm apart
        gap = rng.uniform(6.0, 12.0) * ppm * (1.3 - 0.5 * s)
        n = int(min(12, diag / gap))
        nx, ny = -math.sin(ang), math.cos(ang)
        for i in range(n):
            off = (i - (n - 1) / 2) * gap + rng.normal(0, 0.1 * gap)
            ln = rng.uniform(0.5, 1.0) * diag
            x0 = W / 2 + off * nx - 0.5 * ln * math.cos(ang) + rng.normal(0, 0.1 * ln)
            y0 = H / 2 + off * ny - 0.5 * ln * math.sin(ang)
            out.append(Furrow(_line(rng, x0, y0, ang, ln, 0.08), "forehead", rng.uniform(0.6, 1.0)))
    elif site == "crows_feet":  # a fan from a point near the frame's edge
        side = rng.choice([-1, 1])
        x0, y0 = (W / 2 - side * 0.55 * W), H * rng.uniform(0.35, 0.65)
        base = 0.0 if side > 0 else math.pi
        for a in np.linspace(-0.7, 0.7, 3 + int(round(s * 4))):
            out.append(Furrow(_line(rng, x0, y0, base + a, rng.uniform(10, 22) * ppm), "crows_feet",
                              rng.uniform(0.5, 1.0)))
    elif site == "nasolabial":  # one fold across the frame
        x0, y0 = W * rng.uniform(0.2, 0.8), -0.05 * H
        pts = _line(rng, x0, y0, math.pi / 2 + rng.normal(0, 0.3), 1.1 * H, 0.3)
        out += [Furrow(pts, "nasolabial", 0.9), Furrow(pts, "fold", 0.9)]
    if "fine" in kinds:
        n = int(round(s * rng.integers(6, 20) * min(3.0, max(0.5, diag / (100 * ppm)))))
        weight = canvas.regions["cheeks"] + canvas.regions["forehead"] + 0.2
        ys, xs = sample_points(rng, weight, n, (H, W), canvas.skin)
        fam = rng.uniform(0, math.pi)
        for y, x in zip(ys, xs):
            a = fam + (math.pi / 2 if rng.random() < 0.3 else 0.0) + rng.normal(0, 0.2)
            out.append(Furrow(_line(rng, x, y, a, rng.uniform(3, 8) * ppm), "fine", rng.uniform(0.3, 0.8)))
    return out


def wrinkle_furrows(canvas: SkinCanvas, rng: np.random.Generator, *, strength: float,
                    kinds: tuple[str, ...] = WRINKLE_KINDS) -> tuple[list[Furrow], str]:
    """The furrows of ``kinds`` at ``strength`` and the placement used (``face`` or ``site``)."""
    unknown = set(kinds) - set(WRINKLE_KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)} (choose from {', '.join(WRINKLE_KINDS)})")
    s = float(np.clip(strength, 0, 1))
    if s <= 0 or not kinds:
        return [], "none"
    fr = face_frame_estimate(canvas)
    if fr is not None:
        return _face_furrows(fr, rng, s, tuple(kinds)), "face"
    return _site_furrows(canvas, rng, s, tuple(kinds)), "site"


# ----------------------------------------------------------------------------- height and shading
def wrinkle_height(shape: tuple[int, int], furrows: list[Furrow], ppm: float, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Height map (px units, <= 0 in furrows) and cavity map (0-1, darkening of the furrow bottoms).

    Each kind is drawn as anti-aliased polylines (tapered at both ends) on its own layer and blurred to
    a Gaussian profile of its width in mm (at least 0.6 px); the height is the profile times the width
    times the wall slope, so slopes (and shading) do not depend on the pixel scale.
    """
    H, W = shape
    height = np.zeros((H, W), np.float32)
    cavity = np.zeros((H, W), np.float32)
    depth = 0.35 + 0.65 * float(np.clip(strength, 0, 1))
    for kind in {f.kind for f in furrows}:
        width_mm, slope, occ = PROFILE[kind]
        layer = np.zeros((H, W), np.float32)
        for f in furrows:
            if f.kind != kind:
                continue
            p = np.round(f.points * 16).astype(np.int32)
            n = len(p)
            for i in range(n - 1):
                taper = math.sin(math.pi * (i + 0.5) / (n - 1)) ** 0.6
                cv2.line(layer, tuple(map(int, p[i])), tuple(map(int, p[i + 1])), float(f.depth * taper), 1,
                         cv2.LINE_AA, shift=4)
        sigma = max(0.6, 0.5 * width_mm * ppm)
        layer = cv2.GaussianBlur(layer, (0, 0), sigma) * np.float32(math.sqrt(2 * math.pi) * sigma)
        np.minimum(layer, np.float32(1.0), out=layer)
        height -= layer * np.float32(sigma * slope * depth)
        cavity += layer * np.float32(occ * depth)
    return height, np.minimum(cavity, np.float32(0.6))


def render_wrinkles(lab: np.ndarray, canvas: SkinCanvas, height: np.ndarray, cavity: np.ndarray,
                    ambient: float = 0.35) -> np.ndarray:
    """Shade ``lab`` in place by the furrows' height map under ``canvas.light``; returns the light factor.

    Lambert shading of the perturbed normal relative to flat skin under the same light, times the
    cavity term, applied as a change of the light reaching each skin pixel
    (:func:`auxiliary.synth.skin.shade_lab`, chromaticity kept), faded out by the soft skin mask.
    """
    lx, ly, lz = canvas.light
    sk = soft_skin(canvas, 0.5)
    h = height * sk
    gy, gx = np.gradient(h)
    nz = 1.0 / np.sqrt(1.0 + gx * gx + gy * gy)
    ndotl = (-gx * np.float32(lx) - gy * np.float32(ly) + np.float32(lz)) * nz
    flat = ambient + (1.0 - ambient) * max(lz, 0.05)
    f = (ambient + (1.0 - ambient) * np.clip(ndotl, 0.0, 1.0)) / np.float32(flat) * (1.0 - cavity * sk)
    f = (1.0 + (f - 1.0) * canvas.skin).astype(np.float32)
    active = np.abs(f - 1.0) > 1e-4
    if active.any():
        sub = lab[active][None]
        shade_lab(sub, f[active][None])
        lab[active] = sub[0]
    return f


def add_wrinkles(
    lab: np.ndarray,
    canvas: SkinCanvas,
    rng: np.random.Generator,
    *,
    strength: float,
    kinds: tuple[str, ...] = WRINKLE_KINDS,
) -> SimResult:
    """Lay out, build and shade wrinkles of ``kinds`` on ``lab`` (in place). The mask holds the pixels
    whose colour moved by more than delta E 1; the parameters count the furrows per kind."""
    s = float(np.clip(strength, 0, 1))
    furrows, placement = wrinkle_furrows(canvas, rng, strength=s, kinds=kinds)
    params: dict[str, Any] = {"strength": round(s, 4), "kinds": "|".join(kinds), "wrinkle_placement": placement,
                              **{f"n_{k}": sum(f.kind == k for f in furrows) for k in WRINKLE_KINDS}}
    if not furrows:
        return SimResult(lab, [], np.zeros(canvas.shape, bool), params)
    before = lab.copy()
    height, cavity = wrinkle_height(canvas.shape, furrows, canvas.px_per_mm, s)
    render_wrinkles(lab, canvas, height, cavity)
    changed = np.sqrt(((lab - before) ** 2).sum(axis=2)) > CHANGED_DELTA_E
    return SimResult(lab, [], changed & (canvas.skin > 0), params)


def simulate_wrinkles(
    rgb: np.ndarray,
    *,
    strength: float = 0.5,
    kinds: tuple[str, ...] = WRINKLE_KINDS,
    mask: np.ndarray | None = None,
    px_per_mm: float | None = None,
    seed: int = 0,
) -> SimResult:
    """Wrinkles on an RGB image (pure function; see :func:`auxiliary.synth.acne.simulate_acne`)."""
    return simulate_on_rgb(rgb, add_wrinkles, 7, mask=mask, px_per_mm=px_per_mm, seed=seed, strength=strength,
                           kinds=kinds)


class WrinklesSampler(KindSampler):
    """Draws wrinkle parameters (strength, kinds) and applies them to canvases (``rng=`` as in the others).

    ``kinds`` maps each kind to its probability per image (at least one kind is always drawn).
    """

    KINDS: ClassVar[tuple[str, ...]] = WRINKLE_KINDS
    DEFAULT_KINDS: ClassVar[dict[str, float]] = {"forehead": 0.7, "crows_feet": 0.7, "nasolabial": 0.5, "fine": 0.6}

    def simulate(self, lab: np.ndarray, canvas: SkinCanvas, rng: np.random.Generator, *, strength: float,
                 kinds: tuple[str, ...]) -> SimResult:
        return add_wrinkles(lab, canvas, rng, strength=strength, kinds=kinds)
