"""Hyperpigmentation on a skin canvas: melasma, solar lentigines and post-inflammatory marks (pure functions).

:func:`add_hyperpigmentation` draws any of three kinds on a CIELAB canvas in place;
:func:`simulate_hyperpigmentation` does it on an RGB image; :class:`HyperpigmentationSampler` draws
the parameters from ranges with its own generator.

* ``melasma``: blotchy, ill-defined patches with geographic borders over the cheeks (malar),
  forehead, upper lip, nose and chin. On a face whose geometry is known (:func:`face_coordinates`)
  the pattern is drawn in face coordinates as a function of the distance to the midline, so it is
  mirror-symmetric, as melasma is; elsewhere (a close-up patch, a masked photo) it follows the
  canvas's cheek and forehead maps.
* ``lentigines``: solar lentigines, small (2-10 mm) sharp-edged brown macules, slightly irregular,
  on sun-exposed skin (cheeks, forehead, nose, temples).
* ``pih``: post-inflammatory hyperpigmentation, soft-edged oval brown marks (3-8 mm) where acne goes.

Pigment is melanin: an optical density added in the skin-colour model of
:mod:`auxiliary.synth.chromophores` (Beer-Lambert, relative to the local skin), so the same density
darkens light skin by several L* units and dark skin by fewer, and stays visible but subtle there, as
in reality. ``strength`` (0-1) scales the densities, the melasma area and the number of macules;
strength 0 changes nothing.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import cv2
import numpy as np

from auxiliary.synth.chromophores import add_chromophores
from auxiliary.synth.erythema import soft_skin
from auxiliary.synth.lesion import KindSampler, Lesion, SimResult, value_range
from auxiliary.synth.noise import sample_points, smooth_noise, smoothstep, upsample
from auxiliary.synth.procedural import face_uv
from auxiliary.synth.skin import SkinCanvas
from auxiliary.synth.skinmask import simulate_on_rgb

HYPERPIGMENTATION_KINDS: tuple[str, ...] = ("melasma", "lentigines", "pih")

#: pixels whose colour moved by more than this (CIELAB delta E) are in the result mask
CHANGED_DELTA_E = 1.0


# ----------------------------------------------------------------------------- face geometry
def face_frame_estimate(canvas: SkinCanvas) -> dict[str, float] | None:
    """The face frame (``cx``, ``cy``, ``ax``, ``ay`` in px, ``roll`` in degrees, ``yaw``) of a canvas, or None
    where the canvas does not show enough of a face to know it.

    Face layouts and face photos carry region maps drawn from a face frame
    (:func:`auxiliary.synth.procedural.face_regions`); the nose map is a Gaussian at ``(1.1 yaw, 0.12)``
    in face coordinates, so its centroid gives the face's position, its principal axis the roll (or
    ``meta["roll"]``), and the skin scale ``px_per_mm`` the size (a face is 140 mm wide, 1.29 times as
    tall). A nose cut by the frame (close-ups) or missing (patches, masked photos) gives None.
    """
    if canvas.layout not in ("face", "photo"):
        return None
    nose = np.asarray(canvas.regions.get("nose", np.zeros((2, 2))), np.float64)
    H, W = canvas.shape
    gh, gw = nose.shape
    ch, cw = H / gh, W / gw
    ax = 70.0 * canvas.px_per_mm
    ay = 1.29 * ax
    # The nose Gaussian's mass (exp(-(du/0.1)^2 - (dv/0.25)^2)) in grid cells, if it is all in the frame.
    expected = math.pi * 0.1 * 0.25 * ax * ay / (ch * cw)
    mass = float(nose.sum())
    if expected < 1.0 or mass < 0.75 * expected:
        return None
    ys = (np.arange(gh) + 0.5) * ch - 0.5
    xs = (np.arange(gw) + 0.5) * cw - 0.5
    yn = float((nose.sum(axis=1) * ys).sum() / mass)
    xn = float((nose.sum(axis=0) * xs).sum() / mass)
    if "roll" in canvas.meta:
        t = math.radians(float(canvas.meta["roll"]))
    else:
        dy, dx = ys[:, None] - yn, xs[None, :] - xn
        cxx, cyy, cxy = (nose * dx * dx).sum() / mass, (nose * dy * dy).sum() / mass, (nose * dx * dy).sum() / mass
        # The major axis is the face's vertical axis (-sin t, cos t); 0.5*atan2 gives its angle from x.
        phi = 0.5 * math.atan2(2.0 * cxy, cxx - cyy)
        t = phi - math.pi / 2 if math.sin(phi) >= 0 else phi + math.pi / 2
    yaw = float(canvas.meta.get("yaw", 0.0))
    un, vn = 1.1 * yaw, 0.12
    ct, st = math.cos(t), math.sin(t)
    return {"cx": xn - (un * ax * ct - vn * ay * st), "cy": yn - (un * ax * st + vn * ay * ct), "ax": ax, "ay": ay,
            "roll": math.degrees(t), "yaw": yaw}


def face_to_pixels(fr: dict[str, float], u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y) of face coordinates (u, v) in the frame ``fr`` (inverse of ``face_uv``)."""
    t = math.radians(fr["roll"])
    ct, st = math.cos(t), math.sin(t)
    x = fr["cx"] + u * fr["ax"] * ct - v * fr["ay"] * st
    y = fr["cy"] + u * fr["ax"] * st + v * fr["ay"] * ct
    return x, y


def face_coordinates(canvas: SkinCanvas) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Face coordinates ``(u, v, yaw)`` at full resolution (the face ~ the unit circle, u across, v down,
    the midline at ``u = yaw``), or None (see :func:`face_frame_estimate`)."""
    fr = face_frame_estimate(canvas)
    if fr is None:
        return None
    u, v = face_uv(canvas.shape, canvas.shape, fr)
    return u, v, fr["yaw"]


def _gauss(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    du, dv = (u - cu) * np.float32(1.0 / su), (v - cv) * np.float32(1.0 / sv)
    return np.exp(-(du * du + dv * dv))


# ----------------------------------------------------------------------------- melasma
def melasma_map(canvas: SkinCanvas, rng: np.random.Generator, strength: float) -> tuple[np.ndarray, str]:
    """Melasma patches (full resolution, 0-1) and the pattern drawn (``centrofacial``, ``malar`` or
    ``patchy`` where no face geometry is known). Stronger melasma covers more of its regions."""
    s = float(np.clip(strength, 0, 1))
    geo = face_coordinates(canvas)
    if geo is not None:
        u, v, yaw = geo
        uu = np.abs(u - np.float32(yaw))  # distance to the midline: every map below is mirror-symmetric
        pattern = "centrofacial" if rng.random() < 0.6 else "malar"
        prior = _gauss(uu, v, 0.42, 0.14, 0.24, 0.2) + 0.8 * _gauss(uu, v, 0.0, 0.05, 0.09, 0.22)
        if pattern == "centrofacial":
            prior = prior + 0.9 * _gauss(uu, v, 0.18, -0.58, 0.32, 0.14) + 0.8 * _gauss(uu, v, 0.0, 0.45, 0.2, 0.06)
            prior = prior + 0.4 * _gauss(uu, v, 0.0, 0.85, 0.15, 0.08)
        # One noise field sampled at (|u|, v): blotches mirrored about the midline.
        grid = smooth_noise(rng, (48, 24), rng.uniform(5.0, 8.0))
        fine = smooth_noise(rng, (96, 48), rng.uniform(14.0, 20.0))
        mx = np.ascontiguousarray(np.clip(uu, 0, 1.2) * np.float32(23.0 / 1.2), dtype=np.float32)
        my = np.ascontiguousarray(np.clip(v + 1.0, 0, 2.2) * np.float32(47.0 / 2.2), dtype=np.float32)
        blotch = cv2.remap(grid, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        blotch += 0.35 * cv2.remap(fine, mx * 2 + 0.5, my * 2 + 0.5, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    else:
        pattern = "patchy"
        reg = canvas.regions
        prior = upsample(np.clip(reg["cheeks"] + 0.6 * reg["forehead"], 0, 1.2).astype(np.float32), canvas.shape)
        zoom = max(1.0, float(canvas.meta.get("zoom", 1.0)))
        blotch = smooth_noise(rng, canvas.shape, max(2.0, rng.uniform(4.0, 8.0) / zoom))
        blotch += 0.35 * smooth_noise(rng, canvas.shape, max(4.0, rng.uniform(12.0, 20.0) / zoom))
    lo = 0.95 - 0.45 * s
    m = smoothstep(lo - 0.15, lo + 0.25, prior * 0.9 + 0.28 * blotch)
    return (m * soft_skin(canvas, 2.0)).astype(np.float32), pattern


# ----------------------------------------------------------------------------- macules
def pigment_macules(
    canvas: SkinCanvas, rng: np.random.Generator, *, kind: str, count: int, size_mm: tuple[float, float]
) -> list[Lesion]:
    """Place ``count`` macules of ``kind`` (``lentigines``: sun-exposed skin; ``pih``: where acne goes)."""
    if count <= 0:
        return []
    reg = canvas.regions
    if kind == "lentigines":
        weight = reg["cheeks"] + 0.8 * reg["forehead"] + 0.6 * reg["nose"] + 0.15
    else:
        weight = reg["acne"] + 0.05
    ys, xs = sample_points(rng, weight, count * 3, canvas.shape, canvas.skin)
    lo, hi = value_range(size_mm)
    out: list[Lesion] = []
    for y, x in zip(ys, xs):
        if len(out) >= count:
            break
        d_mm = lo + (hi - lo) * rng.beta(1.3, 2.2)
        r = max(0.6, 0.5 * d_mm * canvas.px_per_mm)
        if any(math.hypot(o.x - x, o.y - y) < 0.9 * (o.radius + r) for o in out):
            continue
        aspect = float(rng.uniform(0.55, 0.95)) if kind == "pih" else float(rng.uniform(0.7, 1.0))
        out.append(Lesion(float(x), float(y), float(r), kind, float(np.clip(rng.normal(1.0, 0.2), 0.5, 1.4)),
                          aspect, float(rng.uniform(0, math.pi))))
    return out


def macule_map(shape: tuple[int, int], lesions: list[Lesion], rng: np.random.Generator) -> np.ndarray:
    """Density map (0-~1.4) of the macules: sharp, slightly irregular edges for lentigines, soft for PIH."""
    H, W = shape
    out = np.zeros((H, W), np.float32)
    for les in lesions:
        R = les.radius * 1.8 + 2
        y0, y1 = max(0, int(les.y - R)), min(H, int(les.y + R) + 1)
        x0, x1 = max(0, int(les.x - R)), min(W, int(les.x + R) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        dy = (np.arange(y0, y1, dtype=np.float32) - les.y)[:, None]
        dx = (np.arange(x0, x1, dtype=np.float32) - les.x)[None, :]
        ca, sa = math.cos(les.angle), math.sin(les.angle)
        a = (dx * ca + dy * sa) / np.float32(les.aspect)
        b = dy * ca - dx * sa
        d = np.sqrt(a * a + b * b) / np.float32(les.radius)
        # An irregular outline: the radius wobbles with the angle (3 random harmonics).
        th = np.arctan2(b, a)
        wob = sum(rng.uniform(-0.08, 0.08) * np.cos(k * th + rng.uniform(0, 6.3)) for k in (2, 3, 5))
        d = d / (1.0 + wob.astype(np.float32))
        if les.kind == "lentigines":
            # Sharp edge (about 0.3 px wide), a little darker towards the centre.
            edge = max(0.08, 0.6 / les.radius)
            m = (1.0 - smoothstep(1.0 - edge, 1.0 + edge, d)) * (0.85 + 0.15 * (1.0 - np.minimum(d, 1.0)))
        else:
            m = 1.0 - smoothstep(0.3, 1.3, d)
        np.maximum(out[y0:y1, x0:x1], m * np.float32(les.intensity), out=out[y0:y1, x0:x1])
    return out


# ----------------------------------------------------------------------------- canvas level
def add_hyperpigmentation(
    lab: np.ndarray,
    canvas: SkinCanvas,
    rng: np.random.Generator,
    *,
    strength: float,
    kinds: tuple[str, ...] = HYPERPIGMENTATION_KINDS,
    lentigo_count: int | None = None,
    pih_count: int | None = None,
) -> SimResult:
    """Draw the ``kinds`` of hyperpigmentation on ``lab`` (in place) at ``strength`` (0-1).

    Melanin densities (optical density, see :mod:`auxiliary.synth.chromophores`): melasma
    ``0.12 + 0.5 * strength`` at full coverage, lentigines ``0.25 + 0.6 * strength``, PIH
    ``0.12 + 0.45 * strength``; macule counts default to ``strength`` times 4-16 lentigines and
    2-10 PIH marks. The mask holds the pixels whose colour moved by more than delta E 1.
    """
    unknown = set(kinds) - set(HYPERPIGMENTATION_KINDS)
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)} (choose from {', '.join(HYPERPIGMENTATION_KINDS)})")
    s = float(np.clip(strength, 0, 1))
    before = lab.copy()
    mel = np.zeros(canvas.shape, np.float32)
    params: dict[str, Any] = {"strength": round(s, 4), "kinds": "|".join(kinds), "melasma_pattern": "",
                              "melasma_area": 0.0, "n_lentigines": 0, "n_pih": 0}
    lesions: list[Lesion] = []
    if s > 0 and "melasma" in kinds:
        m, pattern = melasma_map(canvas, rng, s)
        mel += m * np.float32(0.12 + 0.5 * s)
        params.update(melasma_pattern=pattern, melasma_area=round(float((m > 0.3).mean()), 4))
    if s > 0 and "lentigines" in kinds:
        n = lentigo_count if lentigo_count is not None else int(round(s * rng.integers(4, 17)))
        les = pigment_macules(canvas, rng, kind="lentigines", count=n, size_mm=(2.0, 10.0))
        mel = np.maximum(mel, macule_map(canvas.shape, les, rng) * np.float32(0.25 + 0.6 * s))
        lesions += les
        params["n_lentigines"] = len(les)
    if s > 0 and "pih" in kinds:
        n = pih_count if pih_count is not None else int(round(s * rng.integers(2, 11)))
        les = pigment_macules(canvas, rng, kind="pih", count=n, size_mm=(3.0, 8.0))
        mel = mel + macule_map(canvas.shape, les, rng) * np.float32(0.12 + 0.45 * s)
        lesions += les
        params["n_pih"] = len(les)
    mel *= canvas.skin
    add_chromophores(lab, melanin=mel, where=mel > 1e-4)
    changed = np.sqrt(((lab - before) ** 2).sum(axis=2)) > CHANGED_DELTA_E
    return SimResult(lab, lesions, changed & (canvas.skin > 0), params)


def simulate_hyperpigmentation(
    rgb: np.ndarray,
    *,
    strength: float = 0.5,
    kinds: tuple[str, ...] = HYPERPIGMENTATION_KINDS,
    mask: np.ndarray | None = None,
    px_per_mm: float | None = None,
    seed: int = 0,
) -> SimResult:
    """Hyperpigmentation on an RGB image (pure function; see :func:`auxiliary.synth.acne.simulate_acne`)."""
    return simulate_on_rgb(rgb, add_hyperpigmentation, 6, mask=mask, px_per_mm=px_per_mm, seed=seed, strength=strength,
                           kinds=kinds)


class HyperpigmentationSampler(KindSampler):
    """Draws hyperpigmentation parameters and applies them to canvases.

    ``HyperpigmentationSampler(strength=(0.15, 0.9), kinds={"melasma": 0.6, "lentigines": 0.5, "pih": 0.4})``:
    each kind is drawn with its probability (at least one per image); ``rng=`` draws from another
    generator instead of the sampler's own (the dataset's per-subject streams).
    """

    KINDS: ClassVar[tuple[str, ...]] = HYPERPIGMENTATION_KINDS
    DEFAULT_KINDS: ClassVar[dict[str, float]] = {"melasma": 0.6, "lentigines": 0.5, "pih": 0.4}

    def simulate(self, lab: np.ndarray, canvas: SkinCanvas, rng: np.random.Generator, *, strength: float,
                 kinds: tuple[str, ...]) -> SimResult:
        return add_hyperpigmentation(lab, canvas, rng, strength=strength, kinds=kinds)
