"""Skin masks of the user's own face photos, so that simulated lesions stay on skin.

Two OpenCV tools, combined:

1. **Face detection** with the Haar cascade shipped in ``cv2.data`` of the OpenCV wheels
   (``haarcascade_frontalface_default.xml``; eyes with ``haarcascade_eye.xml``). A detected face
   gives the face ellipse, the eye and mouth positions, and a reference patch of cheek and
   forehead skin for the colour model.
2. **A skin-colour model** in YCrCb: adaptive (Mahalanobis distance to the Cr/Cb of the
   reference patch) when a face was found, else the fixed rule of Chai & Ngan (1999) widened
   for dark and light skin. Without a face, the largest skin-coloured component is taken as the
   face and an ellipse fitted to it stands in for the detection; the method is reported
   (``MaskResult.method``) so that the fallback is never silent.

Eyes, brows, lips and nostrils are cut out (detected or at their usual place in the face
ellipse), as are hair and background (colour), and the mask is eroded away from its border.
The tone group of a photo is estimated by ITA over the masked skin (:func:`auxiliary.base.tone.estimate_ita`).
:func:`canvas_from_rgb` wraps any RGB image as a canvas; :mod:`auxiliary.synth.photo` prepares the
user's photos (views, light) for the dataset.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from auxiliary.base.tone import ita_from_lab, ita_group
from auxiliary.synth.procedural import face_regions, face_uv
from auxiliary.synth.skin import FACE_WIDTH_MM, SkinCanvas, lab_image_to_rgb, light_vector, rgb_image_to_lab

METHOD_FACE = "haar face + adaptive skin colour"


METHOD_COLOUR = "skin colour only (no face detected)"


#: Photos whose mask covers less than this fraction of the image are skipped.
MIN_SKIN_FRACTION = 0.03


MIN_SIDE = 64


WORK_SIDE = 512


@dataclass
class MaskResult:
    """A skin mask and how it was obtained."""

    mask: np.ndarray
    """bool (H, W): skin where lesions may be drawn."""
    face: tuple[int, int, int, int] | None
    """Detected face box (x, y, w, h) or None."""
    ellipse: tuple[float, float, float, float, float]
    """Face ellipse (cx, cy, half-width, half-height, roll in degrees) used for the regions."""
    method: str
    """:data:`METHOD_FACE` or :data:`METHOD_COLOUR`."""
    eyes: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return float(self.mask.mean())

    @property
    def face_detected(self) -> bool:
        return self.face is not None


_CASCADES: dict[str, Any] = {}


def _cascade(name: str):
    if name not in _CASCADES:
        path = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or "") / name
        clf = cv2.CascadeClassifier(str(path)) if path.is_file() else None
        _CASCADES[name] = clf if clf is not None and not clf.empty() else None
    return _CASCADES[name]


def detect_faces(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Frontal faces (x, y, w, h), largest first; empty when none (or no cascade available)."""
    clf = _cascade("haarcascade_frontalface_default.xml")
    if clf is None:
        return []
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    side = min(gray.shape)
    found = clf.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(max(24, side // 4),) * 2)
    boxes = [tuple(int(v) for v in b) for b in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def detect_eyes(rgb: np.ndarray, face: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """Eyes inside the upper half of a face box (image coordinates)."""
    clf = _cascade("haarcascade_eye.xml")
    if clf is None:
        return []
    x, y, w, h = face
    roi = cv2.cvtColor(rgb[y : y + h // 2 + h // 10, x : x + w], cv2.COLOR_RGB2GRAY)
    if roi.size == 0:
        return []
    found = clf.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=4, minSize=(max(8, w // 10),) * 2)
    eyes = [(int(ex + x), int(ey + y), int(ew), int(eh)) for ex, ey, ew, eh in (found if len(found) else [])]
    return sorted(eyes, key=lambda b: -b[2] * b[3])[:2]


def colour_rule(rgb: np.ndarray) -> np.ndarray:
    """Fixed YCrCb skin rule (Chai & Ngan 1999, widened for very dark and very light skin): bool mask."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    Y, cr, cb = ycc[..., 0], ycc[..., 1].astype(np.int16), ycc[..., 2].astype(np.int16)
    return (cr >= 133) & (cr <= 180) & (cb >= 72) & (cb <= 130) & (Y >= 20) & (cr - cb >= 8)


def colour_adaptive(rgb: np.ndarray, ref: np.ndarray, max_d2: float = 12.0) -> np.ndarray:
    """Pixels whose (Cr, Cb) is within Mahalanobis distance sqrt(max_d2) of the reference pixels,
    not much darker than the reference (dark hair, brows, shadows) and not strongly textured (hair)."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    refc = cv2.cvtColor(ref.reshape(-1, 1, 3), cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float64)
    mu = refc[:, 1:].mean(axis=0)
    cov = np.cov(refc[:, 1:].T) + np.eye(2) * 4.0  # floor: compression and noise widen real skin clusters
    inv = np.linalg.inv(cov).astype(np.float32)
    d = ycc[..., 1:] - mu.astype(np.float32)
    d2 = d[..., 0] ** 2 * inv[0, 0] + 2 * d[..., 0] * d[..., 1] * inv[0, 1] + d[..., 1] ** 2 * inv[1, 1]
    y = ycc[..., 0]
    y_ref = float(np.median(refc[:, 0]))
    return (d2 <= max_d2) & (y >= max(12.0, 0.55 * y_ref)) & ~_textured(y)


def _textured(y: np.ndarray) -> np.ndarray:
    """Strong local texture (hair strands, fabric): local std of luma well above that of skin."""
    k = max(3, int(min(y.shape) * 0.02) | 1)
    m = cv2.blur(y, (k, k))
    sd = np.sqrt(np.maximum(cv2.blur(y * y, (k, k)) - m * m, 0))
    return sd > max(7.0, 3.0 * float(np.median(sd)))


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.astype(bool)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return lab == best


def _ellipse_mask(shape: tuple[int, int], ell: tuple[float, float, float, float, float], scale: float = 1.0) -> np.ndarray:
    cx, cy, ax, ay, roll = ell
    m = np.zeros(shape, np.uint8)
    cv2.ellipse(m, (int(round(cx)), int(round(cy))), (max(1, int(ax * scale)), max(1, int(ay * scale))), roll, 0, 360, 1, -1)
    return m.astype(bool)


def _feature_cutout(shape: tuple[int, int], ell: tuple[float, float, float, float, float], eyes: list) -> np.ndarray:
    """Eyes+brows, nostrils and mouth at their usual places in the face ellipse (plus detected eyes)."""
    cx, cy, ax, ay, roll = ell
    out = np.zeros(shape, np.uint8)
    t = math.radians(roll)

    def at(u: float, v: float) -> tuple[int, int]:
        x, y = u * ax, v * ay
        return int(round(cx + x * math.cos(t) - y * math.sin(t))), int(round(cy + x * math.sin(t) + y * math.cos(t)))

    for u in (-0.36, 0.36):
        cv2.ellipse(out, at(u, -0.17), (int(0.25 * ax), int(0.2 * ay)), roll, 0, 360, 1, -1)  # eye + brow
    cv2.ellipse(out, at(0.0, 0.33), (int(0.2 * ax), int(0.07 * ay)), roll, 0, 360, 1, -1)  # nostrils
    cv2.ellipse(out, at(0.0, 0.58), (int(0.34 * ax), int(0.14 * ay)), roll, 0, 360, 1, -1)  # lips
    for x, y, w, h in eyes:
        cv2.ellipse(out, (x + w // 2, y + h // 2), (int(w * 0.7), int(h * 0.6)), 0, 0, 360, 1, -1)
    return out.astype(bool)


def skin_mask(rgb: np.ndarray) -> MaskResult:
    """Skin mask of a face photo (see the module docstring); works without a detected face."""
    H, W = rgb.shape[:2]
    faces = detect_faces(rgb)
    eyes: list = []
    if faces:
        x, y, w, h = faces[0]
        # The Haar box spans brows to mouth; the face (forehead to chin) is taller.
        ell = (x + w / 2.0, y + h * 0.55, w * 0.52, h * 0.72, 0.0)
        ref_boxes = [(0.18, 0.5, 0.32, 0.68), (0.68, 0.5, 0.82, 0.68), (0.35, 0.08, 0.65, 0.2)]
        ref = np.concatenate([rgb[int(y + h * b):int(y + h * d), int(x + w * a):int(x + w * c)].reshape(-1, 3)
                              for a, b, c, d in ref_boxes])
        colour = colour_adaptive(rgb, ref) if len(ref) >= 30 else colour_rule(rgb)
        region = _ellipse_mask((H, W), ell, 1.12)
        eyes = detect_eyes(rgb, faces[0])
        method = METHOD_FACE
        face = faces[0]
    else:
        colour = colour_rule(rgb)
        k = max(3, int(min(H, W) * 0.02) | 1)
        colour = cv2.morphologyEx(colour.astype(np.uint8), cv2.MORPH_OPEN, np.ones((k, k), np.uint8)).astype(bool)
        blob = _largest_component(colour)
        if blob.sum() > 0.01 * H * W:
            # Second pass: an adaptive model from the blob's core (drops dark hair that passes the rule).
            core = cv2.erode(blob.astype(np.uint8), np.ones((k * 3, k * 3), np.uint8)).astype(bool)
            if core.sum() >= 30:
                colour = cv2.morphologyEx(colour_adaptive(rgb, rgb[core]).astype(np.uint8), cv2.MORPH_OPEN,
                                          np.ones((k, k), np.uint8)).astype(bool)
                blob = _largest_component(colour)
        cnts, _ = cv2.findContours(blob.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        method = METHOD_COLOUR
        face = None
        if cnts and len(max(cnts, key=len)) >= 5 and blob.sum() > 0.01 * H * W:
            # Fill the blob's holes (eyes, mouth) before fitting, or the ellipse shrinks.
            filled = np.zeros((H, W), np.uint8)
            cv2.drawContours(filled, [max(cnts, key=cv2.contourArea)], -1, 1, -1)
            (ex, ey), (ew, eh), ang = cv2.fitEllipse(max(cnts, key=cv2.contourArea))
            if ew > eh:
                ew, eh, ang = eh, ew, ang - 90
            roll = ((ang + 90) % 180) - 90
            ell = (ex, ey, ew / 2.0, eh / 2.0, float(roll if abs(roll) < 30 else 0.0))
            region = filled.astype(bool)
            colour = blob
        else:
            ell = (W / 2.0, H / 2.0, W / 3.0, H / 2.5, 0.0)
            region = np.zeros((H, W), bool)
    mask = colour & region & ~_feature_cutout((H, W), ell, eyes)
    k = max(3, int(ell[2] * 0.06) | 1)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.erode(mask, np.ones((k, k), np.uint8)).astype(bool)
    return MaskResult(mask=mask, face=face, ellipse=tuple(float(v) for v in ell), method=method, eyes=eyes)


def work_image(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    H, W = rgb.shape[:2]
    s = min(1.0, WORK_SIDE / max(H, W))
    if s < 1.0:
        rgb = cv2.resize(rgb, (max(1, int(W * s)), max(1, int(H * s))), interpolation=cv2.INTER_AREA)
    return rgb, s


def unusable_reason(rgb: np.ndarray) -> str | None:
    """Why a photo cannot be used (too small, no skin found), or None."""
    H, W = rgb.shape[:2]
    if min(H, W) < MIN_SIDE:
        return f"too small ({W}x{H} pixels; need at least {MIN_SIDE} on each side)"
    work, _ = work_image(rgb)
    sub = work[::4, ::4].astype(np.int16)
    if np.percentile(np.abs(sub[..., 0] - sub[..., 1]) + np.abs(sub[..., 1] - sub[..., 2]), 99) < 4:
        return "grayscale image (no colour: no skin found to simulate redness on)"
    m = skin_mask(work)
    if m.fraction < MIN_SKIN_FRACTION:
        return f"no skin found (skin mask covers {m.fraction:.1%} of the image; {m.method})"
    return None


# ----------------------------------------------------------------------------- RGB-level API
def canvas_from_rgb(
    rgb: np.ndarray, mask: np.ndarray | None = None, px_per_mm: float | None = None, seed: int = 0
) -> SkinCanvas:
    """Wrap an RGB image as a :class:`~auxiliary.synth.skin.SkinCanvas` for the simulators.

    Without ``mask`` the skin is found by :func:`skin_mask` (face detection +
    skin colour) and the face regions come from the face ellipse; with ``mask`` (bool H x W) the
    whole mask is the acne/erythema region. ``px_per_mm`` defaults to the face width / 140 mm.
    """
    img = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    H, W = img.shape[:2]
    rng = np.random.default_rng([seed, 5])
    if mask is None:
        res = skin_mask(img)
        m = res.mask.astype(np.float32)
        cx, cy, ax, ay, roll = res.ellipse
        fr = {"cx": cx, "cy": cy, "ax": ax, "ay": ay, "roll": roll, "yaw": 0.0}
        lo = (max(16, H // 4), max(16, W // 4))
        u, v = face_uv((H, W), lo, fr)
        reg = face_regions(u, v, 0.0)
        regions = {k: reg[k] for k in ("cheeks", "nose", "forehead", "chin", "central", "acne", "oil")}
        ppm = px_per_mm or 2.0 * ax / FACE_WIDTH_MM
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
        ppm = px_per_mm or max(0.5, extent / FACE_WIDTH_MM)
        meta = {"mask_method": "given"}
    lab = rgb_image_to_lab(img)
    sk = m > 0.5
    Lm, am, bm = ((float(np.median(lab[..., c][sk])) for c in range(3)) if sk.sum() >= 16 else (60.0, 10.0, 15.0))
    ita = float(ita_from_lab(Lm, bm))
    return SkinCanvas(lab=lab, skin=m, area=m, regions=regions, px_per_mm=float(ppm),
                      light=tuple(float(x) for x in light_vector(rng)), base_lab=(Lm, am, bm),
                      tone_group=ita_group(ita), layout="photo", meta={"px_per_mm": round(float(ppm), 3), **meta})


def simulate_on_rgb(
    rgb: np.ndarray, draw: Callable[..., Any], stream: int, *, mask: np.ndarray | None = None,
    px_per_mm: float | None = None, seed: int = 0, **params: Any,
) -> Any:
    """What every ``simulate_*`` function does: wrap ``rgb`` as a canvas (:func:`canvas_from_rgb`), call
    ``draw(lab, canvas, rng, **params)`` (an ``add_*`` simulator) on a copy of its CIELAB image with the
    generator ``(seed, stream)``, and return its result with the RGB image, the changed-pixel mask kept
    on the skin, and the canvas's tone estimate and parameters. The input is never modified."""
    canvas = canvas_from_rgb(rgb, mask, px_per_mm, seed)
    lab = canvas.lab.copy()
    res = draw(lab, canvas, np.random.default_rng([seed, stream]), **params)
    res.image = lab_image_to_rgb(lab)
    res.mask &= canvas.skin > 0.5
    res.params.update({"tone_group_est": canvas.tone_group, **canvas.meta})
    return res
