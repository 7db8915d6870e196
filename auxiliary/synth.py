"""Synthetic acne, erythema (rosacea-like redness) and clear skin on tone-diverse skin.

The embedded default data source of the series (notebook 01, ``python -m auxiliary simulate``).

Skin
    Procedural clean skin from :mod:`auxiliary.skin` (a face-like layout or a close-up, base
    colour drawn in CIELAB per ITA group), or the user's own clean face photos with a skin mask
    from :mod:`auxiliary.skinmask`.

Simulators (all deltas in CIELAB, applied only on the skin mask, real sizes in millimetres)
    * **Acne** (:func:`acne_lesions` + :func:`render_acne`, or :func:`simulate_acne` on an RGB
      image): papules (raised red bumps, shaded by the scene light, with an inflamed halo),
      pustules (a pale-yellow head on a papule), closed comedones (small skin-coloured/whitish
      bumps), open comedones (dark pores), post-inflammatory marks and, when strong, nodules;
      clustered on cheeks, forehead, chin and jaw. ``strength`` (0-1) sets contrast, elevation,
      size and the share of inflamed lesions; weak acne is a few faint comedones and small papules.
    * **Erythema** (:func:`render_erythema` / :func:`simulate_erythema`): diffuse, blotchy redness
      (a* up, L* down) over cheeks, nose, chin and glabella on faces (random blotches on close-ups),
      ``extent`` sets how far it spreads, optional telangiectasia (fine red vessels) and, when
      strong, a few papules (papulopustular rosacea).
    * **None**: the clean skin itself, which carries the hard negatives of every class alike
      (natural blush, a few red macules, freckles, naevi, specular shine, pores).

Tone and visibility
    Redness is scaled by :func:`auxiliary.skin.redness_visibility` of the local L*: the same
    inflammation shifts a* less on dark skin and shows as a darker, slightly violaceous tone
    instead; post-inflammatory marks are pink-red on light skin and brown (PIH) on dark skin;
    pustule heads and comedones keep their contrast. So at equal ``strength`` redness is harder
    to see on brown and dark skin, as in real photos.

Camera
    Each image then goes through a random camera: slight defocus, sensor noise, JPEG.

Determinism
    Every image draws from its own generator seeded by ``(seed, subject, stream)``, so the same
    seed gives the same bytes whatever ``workers`` is. One *subject* (a clean skin) is rendered
    once and yields one image per class (``group`` = subject id, so splits keep them together);
    tone groups cycle over subjects, so tones are balanced within and across classes.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from . import skin as skin_mod
from . import tone
from .config import SynthConfig
from .errors import AuxiliaryError
from .skin import SkinCanvas, redness_visibility, sample_points, smooth_noise, smoothstep, upsample

CLASSES: tuple[str, ...] = ("acne", "erythema", "none")
ACNE_KINDS: tuple[str, ...] = ("papule", "pustule", "closed_comedone", "open_comedone", "mark", "nodule")

#: Lesion radius relative to the papule radius drawn from ``acne_size_mm``.
_KIND_SCALE = {"papule": 1.0, "pustule": 0.9, "closed_comedone": 0.4, "open_comedone": 0.22, "mark": 1.2,
               "nodule": 2.0}

STREAMS = {"skin": 0, "acne": 1, "erythema": 2, "none": 3, "camera": 10}


class SynthError(AuxiliaryError):
    """A synthesis problem the user can fix (output folder not empty, no usable input photo...)."""


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Lesion:
    """One acne lesion: centre (px), radius (px), kind and relative intensity (0-1.5)."""

    x: float
    y: float
    radius: float
    kind: str
    intensity: float = 1.0
    aspect: float = 1.0
    angle: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"x": round(self.x, 2), "y": round(self.y, 2), "radius": round(self.radius, 3), "kind": self.kind,
                "intensity": round(self.intensity, 3), "aspect": round(self.aspect, 3), "angle": round(self.angle, 3)}


@dataclass
class SimResult:
    """What a simulator returns: the image, the lesion records, a mask and the parameters."""

    image: np.ndarray
    """RGB uint8 (or float32 CIELAB for the canvas-level functions)."""
    lesions: list[Lesion]
    mask: np.ndarray
    """bool (H, W): pixels visibly changed by the simulator."""
    params: dict[str, Any] = field(default_factory=dict)


def _stream(seed: int, subject: int, stream: str, extra: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(subject), STREAMS[stream], extra]))


def _range(r: Any) -> tuple[float, float]:
    if isinstance(r, (int, float)):
        return float(r), float(r)
    lo, hi = r
    return float(lo), float(hi)


# ----------------------------------------------------------------------------- acne
def acne_kind_probabilities(strength: float) -> dict[str, float]:
    """Share of each lesion kind at ``strength``: weak acne is mostly comedones, strong acne inflamed."""
    s = float(np.clip(strength, 0, 1))
    p = {
        "closed_comedone": 0.30 - 0.18 * s,
        "open_comedone": 0.18 - 0.10 * s,
        "mark": 0.10,
        "nodule": 0.10 * max(0.0, s - 0.5) * 2.0,
        "pustule": 0.08 + 0.20 * s,
    }
    p["papule"] = 1.0 - sum(p.values())
    return p


def acne_lesions(
    canvas: SkinCanvas,
    rng: np.random.Generator,
    *,
    count: int,
    strength: float,
    size_mm: tuple[float, float] = (1.0, 5.0),
    kinds: tuple[str, ...] | None = None,
) -> list[Lesion]:
    """Place ``count`` lesions on the canvas's skin, clustered where acne occurs.

    Sizes are real: papule diameters are drawn from ``size_mm`` (biased up with ``strength``)
    and converted with ``canvas.px_per_mm``. Lesions do not overlap much; fewer are returned
    when the skin is too small to hold them.
    """
    count = int(max(0, count))
    if count == 0:
        return []
    probs = acne_kind_probabilities(strength)
    if kinds:
        unknown = set(kinds) - set(ACNE_KINDS)
        if unknown:
            raise ValueError(f"unknown lesion kind(s) {sorted(unknown)} (choose from {', '.join(ACNE_KINDS)})")
        probs = {k: (v if k in kinds else 0.0) for k, v in probs.items()}
        if sum(probs.values()) <= 0:
            probs = {k: (1.0 if k in kinds else 0.0) for k in probs}
    names = list(probs)
    p = np.array([probs[k] for k in names])
    p = p / p.sum()
    H, W = canvas.shape
    ppm = canvas.px_per_mm
    # Acne density: the layout's acne map, modulated by clustering noise.
    acne = canvas.regions["acne"]
    cluster = np.exp(1.1 * smooth_noise(rng, acne.shape, rng.uniform(3, 7)))
    ys, xs = sample_points(rng, acne * cluster, count * 4, (H, W), canvas.skin)
    lo_mm, hi_mm = _range(size_mm)
    s = float(np.clip(strength, 0, 1))
    out: list[Lesion] = []
    taken = np.zeros((0, 3))
    for y, x in zip(ys, xs):
        if len(out) >= count:
            break
        kind = names[int(rng.choice(len(names), p=p))]
        d_mm = lo_mm + (hi_mm - lo_mm) * rng.beta(1.2 + 1.5 * s, 2.5 - 1.0 * s)
        r = max(0.6, 0.5 * d_mm * ppm * _KIND_SCALE[kind])
        if len(taken):
            dist = np.hypot(taken[:, 0] - x, taken[:, 1] - y)
            if np.any(dist < 0.8 * (taken[:, 2] + r)):
                continue
        # Stay inside the skin with most of the lesion (edges of eyes, lips, face contour).
        iy, ix = int(y), int(x)
        rr = int(min(r, 30))
        if canvas.skin[max(0, iy - rr) : iy + rr + 1, max(0, ix - rr) : ix + rr + 1].min() < 0.3:
            continue
        inten = float(np.clip(rng.normal(1.0, 0.2), 0.5, 1.5))
        aspect = float(rng.uniform(0.6, 1.0)) if kind in ("mark", "nodule") else float(rng.uniform(0.85, 1.0))
        out.append(Lesion(float(x), float(y), float(r), kind, inten, aspect, float(rng.uniform(0, math.pi))))
        taken = np.vstack([taken, [x, y, r]])
    return out


def _window(shape: tuple[int, int], x: float, y: float, R: float) -> tuple[int, int, int, int] | None:
    H, W = shape
    Ri = int(math.ceil(R)) + 1
    y0, y1 = max(0, int(y) - Ri), min(H, int(y) + Ri + 1)
    x0, x1 = max(0, int(x) - Ri), min(W, int(x) + Ri + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    return y0, y1, x0, x1


def render_acne(
    lab: np.ndarray,
    canvas: SkinCanvas,
    lesions: list[Lesion],
    *,
    strength: float,
    shine: float = 0.3,
) -> np.ndarray:
    """Draw ``lesions`` onto the CIELAB image ``lab`` (in place); returns the float effect map (H, W).

    Each lesion adds an inflammation term (a* up by the tone's redness visibility, the rest as
    darker and slightly violaceous), an elevation shaded by the scene light, and its own marks:
    a pale-yellow head (pustule), a dark plug (open comedone), a whitish dome (closed comedone),
    a flat pink or brown macule (mark). ``strength`` scales contrast and elevation.
    """
    H, W = lab.shape[:2]
    s = float(np.clip(strength, 0, 1))
    k = 0.2 + 1.05 * s  # weak acne is faint; strong acne is obvious
    lx, ly, _ = canvas.light
    dL = np.zeros((H, W), np.float32)
    da = np.zeros((H, W), np.float32)
    db = np.zeros((H, W), np.float32)
    L_img = lab[..., 0]
    for les in lesions:
        r = les.radius
        inflamed = les.kind in ("papule", "pustule", "nodule")
        halo = 2.4 if inflamed else 1.4
        win = _window((H, W), les.x, les.y, r * halo * 1.5)
        if win is None:
            continue
        y0, y1, x0, x1 = win
        L_here = float(L_img[min(int(les.y), H - 1), min(int(les.x), W - 1)])
        vis = float(redness_visibility(L_here))
        inv = 1.0 - vis
        dy = (np.arange(y0, y1, dtype=np.float32) - np.float32(les.y))[:, None]
        dx = (np.arange(x0, x1, dtype=np.float32) - np.float32(les.x))[None, :]
        ir2 = np.float32(1.0 / (r * r))
        if les.aspect != 1.0:
            ca, sa = math.cos(les.angle), math.sin(les.angle)
            u = (dx * ca + dy * sa) * np.float32(1.0 / les.aspect)
            v = dy * ca - dx * sa
            d2 = (u * u + v * v) * ir2
        else:
            d2 = dx * dx * ir2 + dy * dy * ir2
        amp = k * les.intensity
        wdL = dL[y0:y1, x0:x1]
        wda = da[y0:y1, x0:x1]
        wdb = db[y0:y1, x0:x1]
        elev = 0.0
        infl = None
        if inflamed:
            core, hal = (17.0, 6.0) if les.kind != "nodule" else (14.0, 8.0)
            infl = np.exp(d2 * np.float32(-1.4)) * np.float32(amp * core)
            infl += np.exp(d2 * np.float32(-1.0 / (halo * halo))) * np.float32(amp * hal)
            elev = 0.6 if les.kind != "nodule" else 0.45
        elif les.kind == "closed_comedone":
            dome = np.exp(d2 * np.float32(-1.5))
            infl = dome * np.float32(amp * 2.5)
            wdL += dome * np.float32(amp * 5.0)
            wdb += dome * np.float32(amp * 3.0)
            elev = 0.45
        elif les.kind == "open_comedone":
            plug = np.exp(d2 * np.float32(-1.2))
            wdL -= plug * np.float32(amp * 0.45 * L_here)
            wdb += plug * np.float32(amp * 2.0)
        elif les.kind == "mark":
            m = 1.0 - smoothstep(0.36, 1.56, d2)
            # Pink-red (post-inflammatory erythema) on light skin, brown (PIH) on dark skin.
            wda += m * np.float32(amp * 8.0 * vis)
            wdL -= m * np.float32(amp * (3.0 + 14.0 * inv))
            wdb += m * np.float32(amp * (1.5 + 5.0 * inv))
        if infl is not None:
            wda += infl * np.float32(vis)
            wdL -= infl * np.float32(0.45 + 0.45 * inv)
            wdb += infl * np.float32(0.1 - 0.3 * inv)
        if elev > 0:
            # Dome h = elev * r * (1 - d^2)^1.5: the slope towards the light brightens, away darkens.
            q = np.sqrt(np.maximum(1.0 - d2, 0.0))
            wdL += q * (dx * np.float32(lx) + dy * np.float32(ly)) * np.float32(amp * 30.0 * elev * (L_here / 60.0) / r)
            if shine > 0.05 and les.kind != "open_comedone" and r > 1.2:
                hx, hy = dx + np.float32(0.35 * r * lx), dy + np.float32(0.35 * r * ly)
                hl = np.exp((hx * hx + hy * hy) * np.float32(-1.0 / (0.09 * r * r + 0.3)))
                wdL += hl * np.float32(amp * shine * 25.0 * (100.0 - L_here) / 50.0)
        if les.kind == "pustule":
            head = np.exp(d2 * np.float32(-1.0 / 0.16))
            wdL += head * np.float32(amp * (10.0 + 0.25 * max(0.0, 70.0 - L_here)))
            wdb += head * np.float32(amp * 12.0)
            wda -= head * wda * np.float32(0.8)
    sk = canvas.skin
    dL *= sk
    da *= sk
    db *= sk
    lab[..., 0] += dL
    lab[..., 1] += da
    lab[..., 2] += db
    return np.abs(dL) + np.abs(da) + np.abs(db)


def add_acne(
    lab: np.ndarray,
    canvas: SkinCanvas,
    rng: np.random.Generator,
    *,
    count: int,
    strength: float,
    size_mm: tuple[float, float] = (1.0, 5.0),
    kinds: tuple[str, ...] | None = None,
) -> SimResult:
    """Place and draw acne on ``lab`` (in place), with mild perilesional redness when strong."""
    lesions = acne_lesions(canvas, rng, count=count, strength=strength, size_mm=size_mm, kinds=kinds)
    shine = float(canvas.meta.get("shine", 0.2))
    effect = render_acne(lab, canvas, lesions, strength=strength, shine=shine)
    background = 0.0
    if lesions and rng.random() < 0.5 * strength:
        # Inflamed acne-prone skin: a faint diffuse redness where the lesions are.
        background = float(rng.uniform(1.0, 4.0) * strength)
        dens = canvas.regions["acne"] * (0.6 + 0.4 * smooth_noise(rng, canvas.regions["acne"].shape, 4))
        m = upsample(np.clip(dens, 0, 1).astype(np.float32), canvas.shape) * canvas.skin
        vis = redness_visibility(canvas.base_lab[0])
        lab[..., 1] += background * vis * m
        lab[..., 0] -= 0.3 * background * m
    counts = {f"n_{k}": 0 for k in ACNE_KINDS}
    for les in lesions:
        counts[f"n_{les.kind}"] += 1
    params = {"strength": round(float(strength), 4), "count": int(count), "n_lesions": len(lesions),
              "size_mm_min": _range(size_mm)[0], "size_mm_max": _range(size_mm)[1],
              "acne_background_redness": round(background, 3), **counts}
    return SimResult(lab, lesions, effect > 1.5, params)


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
    blotch = smooth_noise(rng, shp, rng.uniform(4, 8))
    e = float(np.clip(extent, 0, 1))
    lo = 0.6 - 0.55 * e
    m = smoothstep(lo - 0.2, lo + 0.5, base + 0.22 * blotch)
    m = m * (0.8 + 0.2 * smooth_noise(rng, shp, rng.uniform(10, 16)))
    full = upsample(np.clip(m, 0, 1).astype(np.float32), canvas.shape)
    fine = smooth_noise(rng, canvas.shape, rng.uniform(14, 24))
    full *= 0.92 + 0.08 * fine
    return full * canvas.skin


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


def render_erythema(
    lab: np.ndarray,
    canvas: SkinCanvas,
    red_map: np.ndarray,
    *,
    strength: float,
    vessels: np.ndarray | None = None,
) -> np.ndarray:
    """Apply diffuse redness ``red_map`` (0-1) and optional ``vessels`` (0-1) to ``lab`` in place.

    Redness is an inflammation term I = (3 + 22 * strength) * map: a* rises by I times the
    redness visibility of the local L* (less on dark skin), L* drops (crimson rather than pink)
    and, on dark skin, the rest shows as a darker, slightly violaceous tone. Returns the effect map.
    """
    s = float(np.clip(strength, 0, 1))
    vis = redness_visibility(np.clip(lab[..., 0], 0, 100)).astype(np.float32)
    infl = red_map * np.float32(3.0 + 22.0 * s)
    inv = 1.0 - vis
    lab[..., 1] += infl * vis
    lab[..., 0] -= infl * (0.45 + 0.45 * inv)
    lab[..., 2] += infl * (0.06 - 0.3 * inv)
    if vessels is not None:
        # Fine vessels: red lines on light skin, barely visible on dark skin.
        ves = vessels * canvas.skin * np.float32(6.0 + 14.0 * s) * vis
        lab[..., 1] += ves
        lab[..., 0] -= ves * np.float32(0.4)
        infl = infl + ves
    return infl


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
    effect = render_erythema(lab, canvas, red, strength=strength, vessels=vessels)
    if papules is None:
        papules = int(rng.integers(1, 5)) if (strength > 0.45 and rng.random() < 0.25) else 0
    lesions: list[Lesion] = []
    if papules:
        sub = replace(canvas, regions={**canvas.regions, "acne": canvas.regions["central"]}, _full={})
        lesions = acne_lesions(sub, rng, count=papules, strength=strength * 0.8, size_mm=(1.0, 3.0),
                               kinds=("papule", "pustule"))
        effect = effect + render_acne(lab, canvas, lesions, strength=strength * 0.8, shine=0.1)
    params = {"strength": round(float(strength), 4), "extent": round(float(extent), 4),
              "telangiectasia": bool(vessels is not None), "n_vessels": n_vessels, "papules": len(lesions),
              "red_area": round(float((red > 0.2).mean()), 4)}
    return SimResult(lab, lesions, effect > 1.5, params)


# ----------------------------------------------------------------------------- RGB-level API
def canvas_from_rgb(
    rgb: np.ndarray, mask: np.ndarray | None = None, px_per_mm: float | None = None, seed: int = 0
) -> SkinCanvas:
    """Wrap an RGB image as a :class:`~auxiliary.skin.SkinCanvas` for the simulators.

    Without ``mask`` the skin is found by :func:`auxiliary.skinmask.skin_mask` (face detection +
    skin colour) and the face regions come from the face ellipse; with ``mask`` (bool H x W) the
    whole mask is the acne/erythema region. ``px_per_mm`` defaults to the face width / 140 mm.
    """
    from . import skinmask

    img = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    H, W = img.shape[:2]
    rng = np.random.default_rng([seed, 5])
    if mask is None:
        res = skinmask.skin_mask(img)
        m = res.mask.astype(np.float32)
        cx, cy, ax, ay, roll = res.ellipse
        fr = {"cx": cx, "cy": cy, "ax": ax, "ay": ay, "roll": roll, "yaw": 0.0}
        lo = (max(16, H // 4), max(16, W // 4))
        u, v = skin_mod.face_uv((H, W), lo, fr)
        reg = skin_mod.face_regions(u, v, 0.0)
        regions = {k: reg[k] for k in ("cheeks", "nose", "forehead", "chin", "central", "acne", "oil")}
        ppm = px_per_mm or 2.0 * ax / skin_mod.FACE_WIDTH_MM
        meta = {"mask_method": res.method}
    else:
        m = np.asarray(mask, dtype=np.float32)
        if m.shape != (H, W):
            raise ValueError(f"mask shape {m.shape} does not match the image {H}x{W}")
        small = cv2.resize(m, (max(16, W // 4), max(16, H // 4)), interpolation=cv2.INTER_AREA)
        regions = {k: small for k in ("cheeks", "central", "acne")}
        regions.update({k: np.zeros_like(small) for k in ("nose", "forehead", "chin")})
        regions["oil"] = small * 0.5
        ys, xs = np.nonzero(m > 0.5)
        extent = (xs.max() - xs.min() + 1) if len(xs) else W
        ppm = px_per_mm or max(0.5, extent / skin_mod.FACE_WIDTH_MM)
        meta = {"mask_method": "given"}
    lab = skin_mod.rgb_to_lab(img)
    sk = m > 0.5
    Lm, am, bm = ((float(np.median(lab[..., c][sk])) for c in range(3)) if sk.sum() >= 16 else (60.0, 10.0, 15.0))
    ita = float(tone.ita_from_lab(Lm, bm))
    return SkinCanvas(lab=lab, skin=m, area=m, regions=regions, px_per_mm=float(ppm),
                      light=tuple(float(x) for x in skin_mod.light_vector(rng)), base_lab=(Lm, am, bm),
                      tone_group=tone.ita_group(ita), layout="photo", meta={"px_per_mm": round(float(ppm), 3), **meta})


def simulate_acne(
    rgb: np.ndarray,
    *,
    count: int = 20,
    strength: float = 0.5,
    size_mm: tuple[float, float] = (1.0, 5.0),
    mask: np.ndarray | None = None,
    px_per_mm: float | None = None,
    kinds: tuple[str, ...] | None = None,
    seed: int = 0,
) -> SimResult:
    """Acne on an RGB image (a pure function: the input is not modified; same arguments, same output).

    Returns a :class:`SimResult` with the new RGB image, the lesion records (centre, radius,
    kind), a bool mask of changed pixels (always inside the skin mask) and the parameters.
    """
    canvas = canvas_from_rgb(rgb, mask, px_per_mm, seed)
    lab = canvas.lab.copy()
    res = add_acne(lab, canvas, np.random.default_rng([seed, 1]), count=count, strength=strength, size_mm=size_mm,
                   kinds=kinds)
    res.image = skin_mod.lab_to_rgb(lab)
    res.mask &= canvas.skin > 0.5
    res.params.update({"tone_group_est": canvas.tone_group, **canvas.meta})
    return res


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
    """Erythema on an RGB image (pure function; see :func:`simulate_acne`)."""
    canvas = canvas_from_rgb(rgb, mask, px_per_mm, seed)
    lab = canvas.lab.copy()
    res = add_erythema(lab, canvas, np.random.default_rng([seed, 2]), strength=strength, extent=extent,
                       telangiectasia=telangiectasia, papules=0)
    res.image = skin_mod.lab_to_rgb(lab)
    res.mask &= canvas.skin > 0.5
    res.params.update({"tone_group_est": canvas.tone_group, **canvas.meta})
    return res


class AcneSampler:
    """Draws acne parameters from ranges with its own generator and applies them to canvases.

    ``AcneSampler(count=(6, 40), strength=(0.15, 0.9), size_mm=(1, 5), seed=0)(canvas)`` ->
    :class:`SimResult` (CIELAB image in ``image``). Successive calls continue the same stream.
    """

    def __init__(self, count: Any = (6, 40), strength: Any = (0.15, 0.9), size_mm: Any = (1.0, 5.0), seed: int = 0):
        self.count, self.strength, self.size_mm = _range(count), _range(strength), _range(size_mm)
        self.rng = np.random.default_rng(seed)

    def __call__(self, canvas: SkinCanvas) -> SimResult:
        lab = canvas.lab.copy()
        return add_acne(lab, canvas, self.rng, count=int(_draw(self.rng, self.count, integer=True)),
                        strength=_draw(self.rng, self.strength), size_mm=self.size_mm)


class ErythemaSampler:
    """Draws erythema parameters (strength, extent, telangiectasia) with its own generator."""

    def __init__(self, strength: Any = (0.15, 0.9), extent: Any = (0.3, 1.0), telangiectasia: float = 0.5, seed: int = 0):
        self.strength, self.extent, self.p_tel = _range(strength), _range(extent), float(telangiectasia)
        self.rng = np.random.default_rng(seed)

    def __call__(self, canvas: SkinCanvas) -> SimResult:
        lab = canvas.lab.copy()
        return add_erythema(lab, canvas, self.rng, strength=_draw(self.rng, self.strength),
                            extent=_draw(self.rng, self.extent), telangiectasia=bool(self.rng.random() < self.p_tel))


# ----------------------------------------------------------------------------- camera
def camera_params(rng: np.random.Generator, scale: float = 1.0) -> dict[str, Any]:
    """Draw a consumer camera: defocus blur (px), sensor noise (L* units), JPEG quality (100 = none)."""
    return {
        "blur_sigma": round(float(rng.uniform(0.0, 1.0) ** 2 * 1.1 * scale), 3),
        "noise_sigma": round(float(rng.uniform(0.4, 1.4)), 3),
        "jpeg_quality": int(rng.integers(60, 96)) if rng.random() < 0.85 else 100,
    }


def camera(lab: np.ndarray, rng: np.random.Generator, params: dict[str, Any]) -> np.ndarray:
    """Expose CIELAB ``lab`` (modified in place) through the camera ``params``; returns RGB uint8.

    Defocus (Gaussian blur) and sensor noise (mostly luminance) are applied in CIELAB before the
    single conversion to sRGB, then JPEG compression (with its chroma subsampling) if quality < 100.
    """
    blur = params["blur_sigma"]
    if blur > 0.25:
        cv2.GaussianBlur(lab, (0, 0), blur, dst=lab)
    H, W = lab.shape[:2]
    sigma = params["noise_sigma"]
    lab[..., 0] += skin_mod.bank_noise(rng, (H, W), copy=False) * np.float32(sigma)
    lab[..., 1 + int(rng.integers(0, 2))] += skin_mod.bank_noise(rng, (H, W), copy=False) * np.float32(0.5 * sigma)
    rgb = skin_mod.lab_to_rgb(lab)
    q = params["jpeg_quality"]
    if q < 100:
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        if ok:
            rgb = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return rgb


def measure_ita(rgb: np.ndarray, skin: np.ndarray, changed: np.ndarray | None = None) -> float:
    """ITA measured back from the pixels: median L*, b* over (unchanged) skin, on a regular
    subsample of the pixels (every 4th row and column from 128 px up, else every 2nd)."""
    st = 4 if min(rgb.shape[:2]) >= 128 else 2
    keep = skin[::st, ::st] > 0.5
    if changed is not None:
        k2 = keep & ~changed[::st, ::st]
        if k2.sum() >= 0.2 * keep.sum() and k2.sum() > 16:
            keep = k2
    return tone.estimate_ita(rgb[::st, ::st], keep)


# ----------------------------------------------------------------------------- one subject
def _draw(rng: np.random.Generator, r: Any, integer: bool = False) -> float:
    lo, hi = _range(r)
    if integer:
        return float(rng.integers(int(round(lo)), int(round(hi)) + 1))
    return float(rng.uniform(lo, hi)) if hi > lo else lo


def render_class(
    canvas: SkinCanvas, label: str, cfg: SynthConfig, rng: np.random.Generator, cam_rng: np.random.Generator
) -> tuple[np.ndarray, SimResult]:
    """One image of ``label`` on ``canvas`` with parameters drawn from ``cfg``'s ranges, through a camera."""
    lab = canvas.lab.copy()
    if label == "acne":
        res = add_acne(lab, canvas, rng, count=int(_draw(rng, cfg.acne_count, integer=True)),
                       strength=_draw(rng, cfg.acne_strength), size_mm=_range(cfg.acne_size_mm))
    elif label == "erythema":
        res = add_erythema(lab, canvas, rng, strength=_draw(rng, cfg.erythema_strength),
                           extent=_draw(rng, cfg.erythema_extent), telangiectasia=bool(rng.random() < cfg.telangiectasia))
    elif label == "none":
        res = SimResult(lab, [], np.zeros(canvas.shape, bool), {"strength": 0.0, "count": 0})
    else:
        raise ValueError(f"unknown class {label!r} (choose from {', '.join(CLASSES)})")
    cam = camera_params(cam_rng, scale=canvas.shape[0] / 256.0)
    rgb = camera(lab, cam_rng, cam)
    res.image = rgb
    res.params.update(cam)
    return rgb, res


def subject_tone(subject: int) -> str:
    """Tone groups cycle over subjects: balanced within every class."""
    return tone.TONE_GROUPS[subject % len(tone.TONE_GROUPS)]


def render_subject(cfg: SynthConfig, subject: int, canvas: SkinCanvas | None = None,
                   source: str = "procedural", variant: int = 0) -> list[tuple[str, np.ndarray, dict[str, Any], list[Lesion]]]:
    """All classes for one subject: [(label, rgb, metadata row, lesions)]."""
    seed = int(cfg.seed)
    if canvas is None:
        canvas = skin_mod.render_skin(cfg.size, subject_tone(subject), _stream(seed, subject, "skin"),
                                      face_layout=float(cfg.face_layout))
    common = {k: v for k, v in canvas.meta.items() if not k.startswith("_")}
    for attempt in range(3):
        rendered = []
        for ci, label in enumerate(CLASSES):
            rng = _stream(seed, subject, label, variant)
            cam_rng = _stream(seed, subject, "camera", ci + 16 * variant)
            rendered.append((label, *render_class(canvas, label, cfg, rng, cam_rng)))
        # The subject's tone: ITA measured back from the pixels of its clean image (the ``none`` one),
        # i.e. the constitutive skin colour, not shifted by the lesions drawn on the other two.
        clean = rendered[CLASSES.index("none")][1]
        ita = measure_ita(clean, canvas.skin)
        if canvas.layout == "photo" or tone.ita_group(ita) == canvas.tone_group or attempt == 2:
            break
        # Rare (tiny images, few skin pixels): pull the skin back towards the drawn colour and redo.
        lab_c = skin_mod.rgb_to_lab(clean)
        sk = canvas.skin > 0.5
        L_t, b_t = common.get("L_target", canvas.base_lab[0]), common.get("b_target", canvas.base_lab[2])
        canvas = replace(canvas, lab=canvas.lab.copy(), _full={})
        canvas.lab[..., 0] += (L_t - float(np.median(lab_c[..., 0][sk]))) * 1.5 * canvas.area
        canvas.lab[..., 2] += (b_t - float(np.median(lab_c[..., 2][sk]))) * 1.5 * canvas.area
    out = []
    for label, rgb, res in rendered:
        # What an estimate from this image alone gives (lesions and redness shift it a little).
        ita_img = ita if label == "none" else measure_ita(rgb, canvas.skin, res.mask)
        row: dict[str, Any] = {
            "label": label,
            # Procedural skin: the requested group (the measured ITA falls in it, see the tests);
            # photos: the group estimated from the masked skin of the clean image.
            "tone_group": canvas.tone_group if canvas.layout != "photo" else tone.ita_group(ita),
            "ita": round(float(ita), 3),
            "ita_image": round(float(ita_img), 3),
            "tone_group_est": tone.ita_group(round(float(ita_img), 3)),
            # Leakage group: the subject (its three classes), or the source photo (all its variants).
            "group": f"{source}-{subject:05d}" if source == "procedural" else f"photo:{source}",
            "source": source,
            "subject": subject,
            "variant": variant,
            "layout": canvas.layout,
            "is_augmented": False,
            **{"strength": 0.0, "count": 0},
            **res.params,
            **common,
            "seed": seed,
        }
        out.append((label, rgb, row, res.lesions))
    return out


# ----------------------------------------------------------------------------- dataset
def _check_out_dir(out: Path, overwrite: bool, input_dir: Path | None) -> None:
    if input_dir is not None:
        a, b = out.resolve(), input_dir.resolve()
        if a == b or a in b.parents or b in a.parents:
            raise SynthError(f"output folder {out} overlaps the input folder {input_dir}: choose another --out "
                             "(inputs are never modified)")
    if out.exists() and not out.is_dir():
        raise SynthError(f"output path {out} exists and is not a folder")
    if out.is_dir():
        entries = [p for p in out.iterdir() if not p.name.startswith(".")]
        if entries and not overwrite:
            raise SynthError(f"output folder {out} is not empty ({len(entries)} entries); pass --overwrite "
                             "(overwrite=True) to replace its synthetic images, or choose another --out")
        if entries:
            for label in CLASSES:
                d = out / label
                if d.is_dir():
                    for f in d.glob("*.png"):
                        f.unlink()
            for name in ("metadata.csv", "lesions.csv", "skipped.csv"):
                (out / name).unlink(missing_ok=True)


def _write_subject(out: str, results: list, rel: bool = True) -> tuple[list[dict], list[dict]]:
    from . import imageio

    rows, lesion_rows = [], []
    for label, rgb, row, lesions in results:
        name = f"{label}/{label}_{row['subject']:05d}" + (f"_v{row['variant']:02d}" if row["variant"] else "") + ".png"
        imageio.write_png(Path(out) / name, rgb, fast=True)
        row = {"path": name, **row}
        rows.append(row)
        for i, les in enumerate(lesions):
            lesion_rows.append({"path": name, "lesion": i, **les.to_dict()})
    return rows, lesion_rows


def _work_procedural(args: tuple[SynthConfig, list[int], str]) -> tuple[list[dict], list[dict]]:
    cfg, subjects, out = args
    cv2.setNumThreads(1)
    rows, lrows = [], []
    for s in subjects:
        r, lr = _write_subject(out, render_subject(cfg, s))
        rows += r
        lrows += lr
    return rows, lrows


def _work_photo(args: tuple[SynthConfig, list[tuple[int, int, str, str]], str]) -> tuple[list[dict], list[dict]]:
    from . import skinmask

    cfg, jobs, out = args
    cv2.setNumThreads(1)
    rows, lrows = [], []
    cache: dict[str, Any] = {}
    for subject, variant, path, relname in jobs:
        if path not in cache:
            cache.clear()
            cache[path] = skinmask.load_photo(path, cfg.size)
        photo = cache[path]
        canvas = photo.canvas(variant, _stream(cfg.seed, subject, "skin", variant))
        res = render_subject(cfg, subject, canvas=canvas, source=relname, variant=variant)
        for _, _, row, _ in res:
            row.update(photo.info)
        r, lr = _write_subject(out, res)
        rows += r
        lrows += lr
    return rows, lrows


def _run(worker, tasks: list, workers: int, progress: bool, total: int, desc: str) -> tuple[list[dict], list[dict]]:
    from tqdm.auto import tqdm

    rows: list[dict] = []
    lrows: list[dict] = []
    bar = tqdm(total=total, desc=desc, unit="subject", disable=not progress)
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            r, lr = worker(t)
            rows += r
            lrows += lr
            bar.update(len(t[1]))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            for t, (r, lr) in zip(tasks, ex.map(worker, tasks)):
                rows += r
                lrows += lr
                bar.update(len(t[1]))
    bar.close()
    return rows, lrows


def _chunks(items: list, n: int) -> list[list]:
    return [items[i : i + n] for i in range(0, len(items), n)]


def list_inputs(input_dir: Path) -> tuple[list[Path], list[dict[str, str]]]:
    """Candidate photos of ``input_dir`` (recursive, sorted) and the files skipped by name."""
    from . import imageio

    if not input_dir.is_dir():
        raise SynthError(f"input folder not found: {input_dir}")
    files, skipped = [], []
    for p in sorted(input_dir.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(input_dir).parts):
            continue
        if imageio.is_image_name(p):
            files.append(p)
        else:
            skipped.append({"path": str(p.relative_to(input_dir)), "reason": f"not an image file name ({p.suffix or 'no extension'})"})
    return files, skipped


def generate_dataset(
    cfg: SynthConfig, out_dir: str | Path, *, overwrite: bool = False, progress: bool = True
) -> pd.DataFrame:
    """Generate the synthetic dataset of ``cfg`` into ``out_dir``; returns the metadata table.

    Writes ``out_dir/{acne,erythema,none}/*.png``, ``metadata.csv`` (paths relative to
    ``out_dir``; label, tone_group, ita, group, source, strength, count, every simulator and
    camera parameter, seed), ``lesions.csv`` (one row per acne lesion) and, with photos,
    ``skipped.csv``. ``metadata.csv`` is written last, so its presence marks a complete dataset.
    Refuses a non-empty ``out_dir`` unless ``overwrite`` (then only its synthetic images and
    CSVs are replaced). The returned table has absolute paths (the team's sample-table contract).
    """
    out = Path(out_dir)
    input_dir = Path(cfg.input_dir).expanduser() if cfg.input_dir else None
    validate(cfg, photos=input_dir is not None)
    _check_out_dir(out, overwrite, input_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    workers = max(1, int(cfg.workers))
    skipped: list[dict[str, str]] = []
    old_threads = cv2.getNumThreads()
    try:
        if input_dir is None:
            subjects = list(range(int(cfg.n_per_class)))
            size = max(1, min(16, math.ceil(len(subjects) / (workers * 4))))
            tasks = [(cfg, ch, str(out)) for ch in _chunks(subjects, size)]
            rows, lrows = _run(_work_procedural, tasks, workers, progress, len(subjects), "simulate")
        else:
            rows, lrows, skipped = _photo_dataset(cfg, input_dir, out, workers, progress)
    finally:
        cv2.setNumThreads(old_threads)
    meta = _tidy(pd.DataFrame(rows))
    pd.DataFrame(lrows, columns=["path", "lesion", "x", "y", "radius", "kind", "intensity", "aspect", "angle"]).to_csv(
        out / "lesions.csv", index=False)
    if input_dir is not None:
        pd.DataFrame(skipped, columns=["path", "reason"]).to_csv(out / "skipped.csv", index=False)
    tmp = out / "metadata.csv.tmp"
    meta.to_csv(tmp, index=False)
    tmp.replace(out / "metadata.csv")
    dt = time.perf_counter() - t0
    counts = meta["label"].value_counts().reindex(list(CLASSES), fill_value=0)
    msg = (f"simulate: wrote {len(meta)} images ({', '.join(f'{k} {v}' for k, v in counts.items())}) to {out} "
           f"in {dt:.1f} s")
    if input_dir is not None:
        msg += f"; {len(skipped)} input file(s) skipped" + (f" (reasons in {out / 'skipped.csv'})" if skipped else "")
    if progress:
        print(msg)
    table = meta.copy()
    table["path"] = [str((out / p).resolve()) for p in table["path"]]
    table.attrs["summary"] = msg
    table.attrs["skipped"] = skipped
    return table


def validate(cfg: SynthConfig, photos: bool = False) -> None:
    """Raise :class:`SynthError` (one line) for settings the generator cannot honour."""
    if not 32 <= cfg.size <= 1024:
        raise SynthError(f"size {cfg.size} is out of range (32 to 1024 pixels)")
    if cfg.n_per_class < (0 if photos else 1):
        raise SynthError(f"n_per_class must be at least 1, got {cfg.n_per_class}")
    for name in ("acne_strength", "erythema_strength", "erythema_extent"):
        lo, hi = _range(getattr(cfg, name))
        if not 0.0 <= lo <= hi <= 1.0:
            raise SynthError(f"{name} must lie within 0-1, got {getattr(cfg, name)}")
    lo, hi = _range(cfg.acne_count)
    if lo < 0 or hi > 500:
        raise SynthError(f"acne_count must lie within 0-500, got {cfg.acne_count}")
    lo, hi = _range(cfg.acne_size_mm)
    if not 0.1 <= lo <= hi <= 20.0:
        raise SynthError(f"acne_size_mm must lie within 0.1-20 mm, got {cfg.acne_size_mm}")
    for name in ("face_layout", "telangiectasia"):
        if not 0.0 <= float(getattr(cfg, name)) <= 1.0:
            raise SynthError(f"{name} is a probability (0-1), got {getattr(cfg, name)}")
    if cfg.workers < 1:
        raise SynthError(f"workers must be at least 1, got {cfg.workers}")


def _tidy(meta: pd.DataFrame) -> pd.DataFrame:
    """Lesion counts are 0 (not missing) where a simulator did not run; stable row order."""
    for c in meta.columns:
        if c.startswith("n_") or c in ("papules", "count"):
            meta[c] = meta[c].fillna(0).astype(int)
    if "telangiectasia" in meta:
        meta["telangiectasia"] = meta["telangiectasia"].fillna(False).astype(bool)
    return meta.sort_values(["label", "subject", "variant"], kind="stable").reset_index(drop=True)


def _photo_dataset(cfg: SynthConfig, input_dir: Path, out: Path, workers: int, progress: bool):
    from . import imageio, skinmask

    files, skipped = list_inputs(input_dir)
    usable: list[tuple[Path, str]] = []
    from tqdm.auto import tqdm

    for p in tqdm(files, desc="check photos", disable=not progress):
        rel = str(p.relative_to(input_dir))
        try:
            rgb = imageio.read_image(p)
        except imageio.ImageReadError as exc:
            skipped.append({"path": rel, "reason": exc.reason})
            continue
        reason = skinmask.unusable_reason(rgb)
        if reason:
            skipped.append({"path": rel, "reason": reason})
            continue
        usable.append((p, rel))
    if not usable:
        pd.DataFrame(skipped, columns=["path", "reason"]).to_csv(out / "skipped.csv", index=False)
        raise SynthError(f"no usable photo in {input_dir} ({len(skipped)} skipped; reasons in {out / 'skipped.csv'})")
    n = max(int(cfg.n_per_class), len(usable))
    jobs = [(i, i // len(usable), str(usable[i % len(usable)][0]), usable[i % len(usable)][1]) for i in range(n)]
    jobs.sort(key=lambda j: (j[2], j[1]))  # group variants of one photo (decoded once per worker chunk)
    size = max(1, min(16, math.ceil(len(jobs) / (workers * 4))))
    tasks = [(cfg, ch, str(out)) for ch in _chunks(jobs, size)]
    rows, lrows = _run(_work_photo, tasks, workers, progress, len(jobs), "simulate photos")
    return rows, lrows, skipped


# ----------------------------------------------------------------------------- previews and plots
def preview(
    kind: str = "acne",
    *,
    tone_group: str = "light",
    strength: float = 0.5,
    count: int = 20,
    seed: int = 0,
    size: int = 256,
    layout: str | None = None,
    extent: float = 0.7,
    lesion_kind: str | None = None,
    camera_on: bool = False,
) -> np.ndarray:
    """One image with explicit parameters (for the widget and the figures); RGB uint8."""
    canvas = skin_mod.render_skin(size, tone_group, np.random.default_rng([seed, 7]), layout=layout)
    return render_on(canvas, kind, strength=strength, count=count, seed=seed, extent=extent, lesion_kind=lesion_kind,
                     camera_on=camera_on)


def render_on(
    canvas: SkinCanvas, kind: str, *, strength: float, count: int = 20, seed: int = 0, extent: float = 0.7,
    lesion_kind: str | None = None, camera_on: bool = False, lesions: list[Lesion] | None = None,
) -> np.ndarray:
    """Render ``kind`` on ``canvas`` with fixed parameters (same ``seed`` -> same placement on same geometry)."""
    lab = canvas.lab.copy()
    rng = np.random.default_rng([seed, 11])
    if kind == "acne":
        if lesions is None:
            kinds = (lesion_kind,) if lesion_kind and lesion_kind != "mixed" else None
            lesions = acne_lesions(canvas, rng, count=count, strength=strength, kinds=kinds)
        render_acne(lab, canvas, lesions, strength=strength, shine=float(canvas.meta.get("shine", 0.2)))
    elif kind == "erythema":
        add_erythema(lab, canvas, rng, strength=strength, extent=extent, telangiectasia=True, papules=0)
    elif kind != "none":
        raise ValueError(f"unknown class {kind!r} (choose from {', '.join(CLASSES)})")
    if camera_on:
        cam_rng = np.random.default_rng([seed, 13])
        return camera(lab, cam_rng, camera_params(cam_rng, scale=canvas.shape[0] / 256.0))
    return skin_mod.lab_to_rgb(lab)


def tone_row(kind: str, *, strength: float = 0.5, count: int = 24, seed: int = 0, size: int = 256,
             layout: str = "face") -> list[np.ndarray]:
    """The same lesion parameters (same geometry, same lesion list) on all six tone groups."""
    canvases = [skin_mod.render_skin(size, g, np.random.default_rng([seed, 7]), layout=layout) for g in tone.TONE_GROUPS]
    lesions = None
    if kind == "acne":
        lesions = acne_lesions(canvases[0], np.random.default_rng([seed, 11]), count=count, strength=strength)
    return [render_on(c, kind, strength=strength, count=count, seed=seed, lesions=lesions) for c in canvases]


def plot_images(images: list[np.ndarray], titles: list[str] | None = None, ncols: int | None = None,
                row_labels: list[str] | None = None, ax=None, cell: float = 1.7):
    """A grid of images; returns the figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    ncols = ncols or n
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, cell * nrows + 0.3), squeeze=False)
    for i, a in enumerate(axes.ravel()):
        a.set_xticks([])
        a.set_yticks([])
        for sp in a.spines.values():
            sp.set_visible(False)
        if i < n:
            a.imshow(images[i])
            if titles and i < len(titles) and titles[i]:
                a.set_title(titles[i], fontsize=8)
        else:
            a.axis("off")
    if row_labels:
        for r, lab in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(lab, fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


def plot_montage(strengths: tuple[float, ...] = (0.2, 0.5, 0.85), *, seed: int = 0, size: int = 160, count: int = 24,
                 ax=None):
    """Montage: rows = classes x strengths, columns = the six tone groups (fixed parameters)."""
    images, rows = [], []
    for kind in CLASSES:
        for s in (strengths if kind != "none" else (0.0,)):
            for gi, g in enumerate(tone.TONE_GROUPS):
                layout = "face" if (gi + len(rows)) % 2 == 0 else "patch"
                images.append(preview(kind, tone_group=g, strength=s, count=count, seed=seed + 31 * gi + len(rows),
                                      size=size, layout=layout, camera_on=True))
            rows.append(f"{kind}" + (f"\nstrength {s:.2f}" if kind != "none" else ""))
    fig = plot_images(images, titles=[g.replace("_", " ") for g in tone.TONE_GROUPS] + [""] * (len(images) - 6),
                      ncols=len(tone.TONE_GROUPS), row_labels=rows)
    return fig


def plot_tone_distribution(table: pd.DataFrame, ax=None):
    """Counts of tone groups per class and the ITA histogram with the group bounds."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    else:
        axes = ax
        fig = axes[0].figure
    order = [g for g in tone.TONE_GROUPS if g in set(table["tone_group"])]
    ct = pd.crosstab(table["tone_group"], table["label"]).reindex(order)
    ct.plot.bar(ax=axes[0], rot=30)
    axes[0].set_xlabel("tone group (ITA)")
    axes[0].set_ylabel("images")
    axes[0].set_title("tone groups per class")
    sns.histplot(data=table, x="ita", hue="tone_group", hue_order=order, bins=40, ax=axes[1], palette="copper_r")
    for lo, _ in tone.ITA_BOUNDS.values():
        if -90 < lo < 90:
            axes[1].axvline(lo, color="k", lw=0.6, ls="--")
    axes[1].set_xlabel("ITA measured from the generated pixels (degrees)")
    axes[1].set_title("ITA distribution with group bounds")
    fig.tight_layout()
    return fig


def plot_strength(table: pd.DataFrame, ax=None):
    """Distribution of the drawn strength per class (the difficulty spread)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = (plt.subplots(figsize=(5, 3)) if ax is None else (ax.figure, ax))
    sub = table[table["label"] != "none"]
    sns.histplot(data=sub, x="strength", hue="label", bins=20, ax=ax, element="step")
    ax.set_title("strength drawn per image")
    fig.tight_layout()
    return fig


def preview_panel(size: int = 192):
    """An ipywidgets panel (kind, lesion kind, count, strength, tone, seed) re-rendering a preview live.

    Returns the widget (display it in Jupyter); building it needs no display, so it also runs
    under papermill.
    """
    import ipywidgets as w

    kind = w.Dropdown(options=list(CLASSES), value="acne", description="class")
    lkind = w.Dropdown(options=["mixed", *ACNE_KINDS], value="mixed", description="lesion kind")
    count = w.IntSlider(value=20, min=0, max=80, description="count")
    strength = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="strength")
    tone_w = w.Dropdown(options=list(tone.TONE_GROUPS), value="light", description="tone")
    seed = w.IntSlider(value=0, min=0, max=99, description="seed")
    layout = w.Dropdown(options=["face", "patch"], value="face", description="layout")
    img = w.Image(format="png", width=size * 2, height=size * 2)

    def update(*_):
        rgb = preview(kind.value, tone_group=tone_w.value, strength=strength.value, count=count.value, seed=seed.value,
                      size=size, layout=layout.value, lesion_kind=lkind.value, camera_on=True)
        img.value = cv2.imencode(".png", rgb[..., ::-1])[1].tobytes()

    for c in (kind, lkind, count, strength, tone_w, seed, layout):
        c.observe(update, names="value")
    update()
    return w.HBox([w.VBox([kind, lkind, count, strength, tone_w, seed, layout]), img])


def read_metadata(out_dir: str | Path) -> pd.DataFrame:
    """The metadata table of a generated dataset, with absolute paths."""
    out = Path(out_dir)
    f = out / "metadata.csv"
    if not f.is_file():
        raise SynthError(f"no synthetic dataset in {out} (metadata.csv missing): run `python -m auxiliary simulate`")
    table = pd.read_csv(f)
    table["path"] = [str((out / p).resolve()) for p in table["path"]]
    return table


def plot_samples(table: pd.DataFrame, n: int = 6, seed: int = 0, ax=None):
    """Random images of each class from a generated dataset (rows = classes), titled tone and strength."""
    from . import imageio

    images, titles, rows = [], [], []
    for label in CLASSES:
        sub = table[table["label"] == label]
        if sub.empty:
            continue
        pick = sub.sample(min(n, len(sub)), random_state=seed)
        for _, r in pick.iterrows():
            images.append(imageio.read_image(r["path"]))
            titles.append(f"{r['tone_group'].replace('_', ' ')}" + (f", s={r['strength']:.2f}" if label != "none" else ""))
        images += [np.full_like(images[-1], 255)] * (n - len(pick))
        titles += [""] * (n - len(pick))
        rows.append(label)
    return plot_images(images, titles, ncols=n, row_labels=rows)


def summary(table: pd.DataFrame) -> dict[str, Any]:
    """Key figures of a generated dataset (what notebook 01 records)."""
    in_group = (table["ita"].map(tone.ita_group) == table["tone_group"]).mean() if len(table) else float("nan")
    return {
        "n_images": int(len(table)),
        "per_class": {k: int(v) for k, v in table["label"].value_counts().sort_index().items()},
        "tone_groups": {k: int(v) for k, v in table["tone_group"].value_counts().sort_index().items()},
        "ita_in_group_fraction": float(in_group),
        "strength_mean": {k: float(v) for k, v in table.groupby("label")["strength"].mean().items()},
        "layouts": {k: int(v) for k, v in table["layout"].value_counts().items()},
    }


# ----------------------------------------------------------------------------- CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "--out_dir", "--out-dir", dest="out", default=None, metavar="DIR",
                        help="output folder (default: data/synthetic/<profile>-<hash>, what notebook 02 reads)")
    parser.add_argument("--input", dest="input", default=None, metavar="DIR",
                        help="folder of your own clean face photos to simulate on (instead of procedural skin)")
    parser.add_argument("--overwrite", action="store_true", help="replace the synthetic images of a non-empty --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    from . import pipeline

    if getattr(args, "input", None):
        cfg = replace(cfg, synth=replace(cfg.synth, input_dir=str(args.input)))
    out = Path(args.out).expanduser() if args.out else pipeline.synthetic_dir(cfg)
    table = generate_dataset(cfg.synth, out, overwrite=bool(args.overwrite), progress=not args.quiet)
    if args.quiet:
        print(table.attrs.get("summary", f"wrote {len(table)} images to {out}"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    from .cli import main

    sys.exit(main(["simulate", *sys.argv[1:]]))

__all__ = [
    "CLASSES", "ACNE_KINDS", "Lesion", "SimResult", "SynthError", "acne_lesions", "render_acne", "add_acne",
    "simulate_acne", "simulate_erythema", "AcneSampler", "ErythemaSampler", "canvas_from_rgb",
    "erythema_map", "render_erythema", "add_erythema", "camera", "generate_dataset", "preview", "tone_row",
    "plot_montage", "plot_tone_distribution", "plot_strength", "preview_panel", "summary", "read_metadata",
    "plot_samples",
]
