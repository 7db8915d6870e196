"""Erythema on a skin canvas: blotchy redness with soft edges and optional telangiectasia (pure functions).

:func:`render_erythema` (or :func:`add_erythema` on a canvas, :func:`simulate_erythema` on an RGB image):
diffuse, blotchy redness (haemoglobin, :mod:`auxiliary.synth.chromophores`) with feathered edges over the
convex central face (cheeks, nose, chin, glabella, central forehead); ``extent`` sets how far it spreads,
with optional telangiectasia (fine branching vessels), a speckle of fine red macules over the red area,
and, when strong, a few papules (papulopustular rosacea, drawn by :mod:`auxiliary.synth.acne`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from auxiliary.synth.acne import acne_lesions, render_acne
from auxiliary.synth.chromophores import add_chromophores
from auxiliary.synth.lesion import Lesion, SimResult
from auxiliary.synth.noise import sample_points, smooth_noise, smoothstep, splat_dots, upsample
from auxiliary.synth.skin import SkinCanvas
from auxiliary.synth.skinmask import simulate_on_rgb


# ----------------------------------------------------------------------------- erythema
def erythema_map(canvas: SkinCanvas, rng: np.random.Generator, extent: float) -> np.ndarray:
    """Blotchy red-area map (full resolution, 0-1) over the canvas's rosacea-prone regions.

    ``extent`` (0-1) lowers the threshold on the region map, so redness spreads from the
    cheeks and nose outwards; low-frequency blotches break the outline and a finer mottling
    gives the patchy look of flushed skin. Edges are soft (ill-defined, as in real erythema).
    """
    base = canvas.regions["central"].astype(np.float32)
    base = base * np.float32(1.0 / (float(base.max()) or 1.0))
    shp = base.shape
    # Blotches have a size on the face, not in the frame: closer views see fewer, larger ones.
    zoom = max(1.0, float(canvas.meta.get("zoom", 1.0)))
    blotch = smooth_noise(rng, shp, max(1.5, rng.uniform(4, 8) / zoom))
    e = float(np.clip(extent, 0, 1))
    lo = 0.6 - 0.55 * e
    m = smoothstep(lo - 0.2, lo + 0.5, base + 0.22 * blotch)
    m = m * (0.8 + 0.2 * smooth_noise(rng, shp, max(2.0, rng.uniform(10, 16) / zoom)))
    full = upsample(np.clip(m, 0, 1).astype(np.float32), canvas.shape)
    fine = smooth_noise(rng, canvas.shape, max(3.0, rng.uniform(14, 24) / zoom))
    full *= 0.92 + 0.08 * fine
    return full * soft_skin(canvas)


def soft_skin(canvas: SkinCanvas, edge_mm: float = 1.5) -> np.ndarray:
    """The canvas's skin mask with feathered edges (redness fades out over about ``edge_mm`` instead of
    stopping at the mask's border: no hard or straight edges at the nose, eyes or hairline)."""
    sk = canvas.skin.astype(np.float32)
    px = max(0.8, edge_mm * canvas.px_per_mm)
    k = max(1, int(round(px)))
    inner = cv2.erode((sk > 0.5).astype(np.float32), np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    return np.minimum(cv2.GaussianBlur(inner, (0, 0), px), np.float32(1.0)) * sk


def _telangiectasia(
    shape: tuple[int, int], rng: np.random.Generator, red_map: np.ndarray, ppm: float, n: int
) -> tuple[np.ndarray, int]:
    """Fine branching vessels as anti-aliased random-walk polylines inside the red area."""
    H, W = shape
    img = np.zeros((H, W), np.float32)
    ys, xs = sample_points(rng, red_map * red_map, n, shape, red_map * 2.0)
    drawn = 0
    for y, x in zip(ys, xs):
        length_mm = rng.uniform(3.0, 12.0)
        steps = int(rng.integers(4, 9))
        step = length_mm * ppm / steps
        ang = rng.uniform(0, 2 * math.pi)
        pts = [(x, y)]
        for _ in range(steps):
            ang += rng.normal(0, 0.6)
            x, y = x + step * math.cos(ang), y + step * math.sin(ang)
            pts.append((x, y))
        arr = (np.array(pts) * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [arr], False, float(rng.uniform(0.6, 1.0)), 1, cv2.LINE_AA, shift=4)
        if rng.random() < 0.5 and len(pts) > 3:  # a branch
            j = int(rng.integers(1, len(pts) - 1))
            bx, by = pts[j]
            b_ang = ang + rng.choice([-1, 1]) * rng.uniform(0.6, 1.2)
            bpts = [(bx, by)] + [(bx + step * i * math.cos(b_ang), by + step * i * math.sin(b_ang)) for i in (1, 2)]
            cv2.polylines(img, [(np.array(bpts) * 16).astype(np.int32).reshape(-1, 1, 2)], False, 0.6, 1, cv2.LINE_AA,
                          shift=4)
        drawn += 1
    # Vessels are 0.1-0.3 mm wide: at low pixel scales they are faint, sub-pixel lines.
    img *= float(min(1.0, 0.25 * ppm + 0.25))
    return img, drawn


def speckle_map(canvas: SkinCanvas, rng: np.random.Generator, red_map: np.ndarray, density: float) -> tuple[np.ndarray, int]:
    """Fine red macules and tiny papules (0.5-1.5 mm) scattered over the red area, ``density`` per cm^2 of
    it at full redness: the mottled, speckled texture of rosacea skin. Returns the map (0-1) and the count."""
    ppm = canvas.px_per_mm
    area_cm2 = float((red_map * red_map).sum()) / (ppm * ppm) / 100.0
    n = int(min(4000, rng.poisson(max(0.0, density) * area_cm2)))
    if n == 0:
        return np.zeros(canvas.shape, np.float32), 0
    ys, xs = sample_points(rng, red_map * red_map, n, canvas.shape, red_map * 2.0)
    amps = rng.uniform(0.4, 1.0, len(ys)).astype(np.float32)
    dots = splat_dots(canvas.shape, ys, xs, amps, max(0.5, rng.uniform(0.25, 0.6) * ppm))
    return np.minimum(dots, np.float32(1.0)), len(ys)


def render_erythema(
    lab: np.ndarray,
    canvas: SkinCanvas,
    red_map: np.ndarray,
    *,
    strength: float,
    vessels: np.ndarray | None = None,
    speckle: np.ndarray | None = None,
) -> np.ndarray:
    """Apply diffuse redness ``red_map`` (0-1) and optional ``vessels`` (0-1) to ``lab`` in place.

    Redness is blood: a haemoglobin density ``(0.15 + 1.1 * strength) * map`` added in the skin-colour
    model of :mod:`auxiliary.synth.chromophores` (a soft, diffuse increase of blood colour: pink-red
    on light skin, a smaller, darker and violaceous shift on dark skin, with no tone-specific rule).
    Returns the effect map (about a* units).
    """
    s = float(np.clip(strength, 0, 1))
    hb = red_map * np.float32(0.15 + 1.1 * s)
    if vessels is not None:
        # Fine vessels: more blood along thin lines (red on light skin, barely visible on dark skin).
        hb = hb + vessels * soft_skin(canvas, 0.5) * np.float32(0.15 + 0.4 * s)
    if speckle is not None:
        hb = hb + speckle * soft_skin(canvas, 0.5) * np.float32(0.3 + 0.6 * s)
    add_chromophores(lab, hb, where=hb > 1e-3)
    return hb * np.float32(18.0)


def add_erythema(
    lab: np.ndarray,
    canvas: SkinCanvas,
    rng: np.random.Generator,
    *,
    strength: float,
    extent: float = 0.6,
    telangiectasia: bool = True,
    papules: int | None = None,
) -> SimResult:
    """Blotchy centrofacial redness (plus vessels, plus a few papules when strong) on ``lab`` in place."""
    red = erythema_map(canvas, rng, extent)
    vessels = None
    n_vessels = 0
    if telangiectasia and canvas.px_per_mm >= 0.9:
        n_req = int(rng.integers(3, 6 + int(20 * strength)))
        vessels, n_vessels = _telangiectasia(canvas.shape, rng, red, canvas.px_per_mm, n_req)
    speckle, n_speckle = None, 0
    if rng.random() < 0.6:
        speckle, n_speckle = speckle_map(canvas, rng, red, rng.uniform(2.0, 12.0) * strength)
    effect = render_erythema(lab, canvas, red, strength=strength, vessels=vessels, speckle=speckle)
    if papules is None:
        papules = int(rng.integers(1, 7)) if (strength > 0.35 and rng.random() < 0.35) else 0
    lesions: list[Lesion] = []
    if papules:
        sub = replace(canvas, regions={**canvas.regions, "acne": canvas.regions["central"]}, _full={})
        lesions = acne_lesions(sub, rng, count=papules, strength=strength * 0.8, size_mm=(1.0, 3.0),
                               kinds=("papule", "pustule"))
        effect = effect + render_acne(lab, canvas, lesions, strength=strength * 0.8, shine=0.1)
    params = {"strength": round(float(strength), 4), "extent": round(float(extent), 4),
              "telangiectasia": bool(vessels is not None), "n_vessels": n_vessels, "n_speckles": n_speckle,
              "papules": len(lesions),
              "red_area": round(float((red > 0.2).mean()), 4)}
    return SimResult(lab, lesions, effect > 1.5, params)


def simulate_erythema(
    rgb: np.ndarray,
    *,
    strength: float = 0.5,
    extent: float = 0.6,
    telangiectasia: bool = True,
    mask: np.ndarray | None = None,
    px_per_mm: float | None = None,
    seed: int = 0,
) -> SimResult:
    """Erythema on an RGB image (pure function; see :func:`auxiliary.synth.acne.simulate_acne`)."""
    return simulate_on_rgb(rgb, add_erythema, 2, mask=mask, px_per_mm=px_per_mm, seed=seed, strength=strength,
                           extent=extent, telangiectasia=telangiectasia, papules=0)
