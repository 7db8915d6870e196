"""The user's own clean face photos as canvases for the simulators: views, scale and light (photo mode).

:func:`load_photo` reads a photo, masks its skin (:mod:`auxiliary.synth.skinmask`) and keeps the
face ellipse; :meth:`Photo.canvas` cuts one *view* of it and wraps it as a
:class:`~auxiliary.synth.skin.SkinCanvas`. A view is what a real photo of a skin condition shows:

* ``portrait``: the head with hair, neck and background (zoom below 1, as in everyday photos);
* ``face``: the whole face, which nearly fills the frame (zoom 1-2, as in clinical photos);
* ``half``: a cheek, the forehead or the chin and jaw, 2-4x closer;
* ``closeup``: a few centimetres of skin on the acne-prone areas, up to ``zoom[1]`` times closer,
  as in close-up photos of single lesions.

The view is drawn per subject and variant from ``zoom`` and ``full_face`` (the share of whole-face
views, portrait or face; see :func:`draw_view`), and shared by the three classes of that subject, so the view never tells the
class. The crop is resampled to the output size *before* the simulators draw, and the skin scale
``px_per_mm`` follows the crop (the face's width in pixels / 140 mm, times the zoom), so lesions are
drawn sharp and at their real size in millimetres in every view. Upsampled close-ups get a fine
skin texture back (pores, micro-relief) at that scale.

The light direction of the photo is estimated from the shading of its skin (:func:`estimate_light`),
so raised lesions catch the light from the side the face is lit from. Clinical photos often hide
the eyes behind a bar: ``eye_bar`` is the probability that a whole-face view gets one (any class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from auxiliary.base.images import read_image
from auxiliary.base.tone import ita_from_lab, ita_group
from auxiliary.synth.noise import bank_noise, sample_points, splat_dots
from auxiliary.synth.procedural import face_regions, face_uv
from auxiliary.synth.skin import FACE_WIDTH_MM, SkinCanvas, light_vector, rgb_image_to_lab
from auxiliary.synth.skinmask import MaskResult, skin_mask, work_image

VIEWS: tuple[str, ...] = ("portrait", "face", "half", "closeup")
#: the face crop's side in face widths: the face nearly fills the frame
FACE_CROP = 1.05
#: the smallest crop taken from the photo, in pixels (closer views are limited by it)
MIN_CROP_PX = 12


def estimate_light(lab: np.ndarray, skin: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Unit vector towards the light, from how the skin's lightness varies across the face.

    The correlation of L* with the horizontal (vertical) position over the skin is the light's
    x (y) component, scaled to at most 0.8; faces lit from the front get a random light from above.
    """
    m = skin > 0.5
    if int(m.sum()) < 64:
        return tuple(float(v) for v in light_vector(rng))  # type: ignore[return-value]
    ys, xs = np.nonzero(m)
    L = lab[..., 0][m].astype(np.float64)
    sd = float(L.std())
    if sd < 1e-6:
        return tuple(float(v) for v in light_vector(rng))  # type: ignore[return-value]
    rx = float(np.corrcoef(L, xs)[0, 1]) if xs.std() > 0 else 0.0
    ry = float(np.corrcoef(L, ys)[0, 1]) if ys.std() > 0 else 0.0
    lx, ly = np.clip(1.2 * rx, -0.8, 0.8), np.clip(1.2 * ry, -0.8, 0.8)
    if abs(lx) < 0.05 and abs(ly) < 0.05:
        return tuple(float(v) for v in light_vector(rng))  # type: ignore[return-value]
    lz = math.sqrt(max(0.2, 1.0 - lx * lx - ly * ly))
    v = np.array([lx, ly, lz])
    return tuple(float(x) for x in v / np.linalg.norm(v))  # type: ignore[return-value]


def view_name(z: float) -> str:
    """The view of a zoom: ``portrait`` below 1, ``face`` below 2, ``half`` below 4, else ``closeup``."""
    return "portrait" if z < 1.0 else "face" if z < 2.0 else "half" if z < 4.0 else "closeup"


def draw_view(rng: np.random.Generator, zoom: tuple[float, float], full_face: float) -> tuple[str, float]:
    """(view, zoom) of one canvas. With probability ``full_face`` a whole face, its zoom drawn
    log-uniformly from ``zoom[0]`` (when below 1: a portrait with hair and background) to 1.2 (the
    face fills the frame); otherwise a closer view, log-uniform from 2 to ``zoom[1]``."""
    lo, hi = float(zoom[0]), float(zoom[1])
    if hi <= 1.2 or rng.random() < full_face:
        a, b = min(lo, 1.0), min(max(hi, lo), 1.2)
        z = float(math.exp(rng.uniform(math.log(a), math.log(b)))) if b > a else a
    else:
        a = max(lo, 2.0)
        z = float(math.exp(rng.uniform(math.log(a), math.log(max(hi, a)))))
    return view_name(z), z


def closeup_texture(lab: np.ndarray, mask: np.ndarray, rng: np.random.Generator, ppm: float, upscale: float) -> None:
    """Pores and micro-relief lost by upsampling a close crop, added back at ``ppm`` (in place)."""
    if upscale <= 1.5 or ppm < 2.0:
        return
    H, W = lab.shape[:2]
    gain = min(1.0, (upscale - 1.5) / 3.0)
    fine = cv2.GaussianBlur(bank_noise(rng, (H, W)), (0, 0), max(0.6, 0.12 * ppm))
    fine /= float(fine.std()) or 1.0
    lab[..., 0] += fine * np.float32(gain * rng.uniform(0.8, 1.8)) * mask
    n = int(min(H * W / 30, rng.uniform(0.3, 0.8) * float(mask.mean()) * H * W / (ppm * ppm)))
    ys, xs = sample_points(rng, np.ones((8, 8), np.float32), n, (H, W), mask)
    pores = splat_dots((H, W), ys, xs, 1.0, max(0.6, 0.07 * ppm))
    lab[..., 0] -= pores * np.float32(gain * rng.uniform(2.0, 5.0) * float(np.median(lab[..., 0][mask > 0.5]) / 60.0
                                                                           if (mask > 0.5).any() else 1.0))


def draw_eye_bar(lab: np.ndarray, mask: np.ndarray, fr: dict[str, float], rng: np.random.Generator) -> None:
    """A privacy bar over both eyes (flat grey, black or skin-like), in place; the mask loses what it covers."""
    t = math.radians(fr["roll"])
    cx = fr["cx"] + 0.0 * fr["ax"]
    cy = fr["cy"] - 0.2 * fr["ay"]
    w, h = fr["ax"] * rng.uniform(1.5, 1.9), fr["ay"] * rng.uniform(0.16, 0.26)
    box = cv2.boxPoints(((cx - math.sin(t) * 0.0, cy), (w, h), fr["roll"])).astype(np.int32)
    bar = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(bar, box, 1)
    on = bar.astype(bool)
    kind = rng.choice(["black", "grey", "skin"])
    colour = {"black": (rng.uniform(0, 8), 0.0, 0.0), "grey": (rng.uniform(30, 70), 0.0, 0.0),
              "skin": (float(np.median(lab[..., 0][mask > 0.5])) if (mask > 0.5).any() else 60.0,
                       rng.uniform(5, 12), rng.uniform(5, 14))}[str(kind)]
    lab[on] = np.array(colour, np.float32)
    mask[on] = 0.0


@dataclass
class Photo:
    """A user photo prepared for simulation: working RGB, skin mask and face geometry."""

    rgb: np.ndarray
    result: MaskResult
    size: int
    info: dict[str, Any]

    def crop_box(self, view: str, z: float, rng: np.random.Generator) -> tuple[int, int, int]:
        """(x0, y0, side) in the working photo of a ``view`` at zoom ``z``."""
        H, W = self.rgb.shape[:2]
        cx, cy, ax, ay, roll = self.result.ellipse
        # By the face's width, so the skin scale is the same on every photo (forehead and chin may be cut, as in
        # clinical photos).
        face_side = min(FACE_CROP * 2.0 * ax, H, W)
        side = float(np.clip(face_side / z, MIN_CROP_PX, min(H, W)))
        if view in ("portrait", "face"):
            cx += rng.uniform(-0.06, 0.06) * side
            cy += rng.uniform(-0.04, 0.08) * side
        else:
            # Centre on acne-prone skin (cheeks, forehead, chin, jaw) of the mask.
            u, v = face_uv((H, W), (max(16, H // 8), max(16, W // 8)), {"cx": cx, "cy": cy, "ax": ax, "ay": ay,
                                                                       "roll": roll, "yaw": 0.0})
            weight = face_regions(u, v, 0.0)["acne"]
            ys, xs = sample_points(rng, weight, 8, (H, W), self.result.mask.astype(np.float32))
            if len(ys):
                cy, cx = float(ys[0]), float(xs[0])
        x0 = int(round(np.clip(cx - side / 2, 0, W - side)))
        y0 = int(round(np.clip(cy - side / 2, 0, H - side)))
        return x0, y0, int(round(side))

    def canvas(self, variant: int, rng: np.random.Generator, *, zoom: tuple[float, float] = (1.0, 1.0),
               full_face: float = 1.0, eye_bar: float = 0.0) -> SkinCanvas:
        """One view of the photo, ``size`` square, as a :class:`~auxiliary.synth.skin.SkinCanvas` (see the module docstring)."""
        view, z = draw_view(rng, zoom, full_face)
        x0, y0, sd = self.crop_box(view, z, rng)
        flip = bool(rng.random() < 0.5)
        crop = self.rgb[y0 : y0 + sd, x0 : x0 + sd]
        mask = self.result.mask[y0 : y0 + sd, x0 : x0 + sd].astype(np.float32)
        S = self.size
        crop = cv2.resize(crop, (S, S), interpolation=cv2.INTER_AREA if sd > S else cv2.INTER_CUBIC)
        mask = (cv2.resize(mask, (S, S), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.float32)
        sc = S / max(sd, 1)
        cx, cy, ax, ay, roll = self.result.ellipse
        fr = {"cx": (cx - x0) * sc, "cy": (cy - y0) * sc, "ax": ax * sc, "ay": ay * sc, "roll": roll, "yaw": 0.0}
        if flip:
            crop = np.ascontiguousarray(crop[:, ::-1])
            mask = np.ascontiguousarray(mask[:, ::-1])
            fr["cx"] = S - 1 - fr["cx"]
            fr["roll"] = -roll
        lo = max(16, S // 4)
        u, v = face_uv((S, S), (lo, lo), fr)
        reg = face_regions(u, v, 0.0)
        regions = {k: reg[k] for k in ("cheeks", "nose", "forehead", "chin", "central", "acne", "oil")}
        lab = rgb_image_to_lab(crop)
        ppm = 2.0 * fr["ax"] / FACE_WIDTH_MM
        closeup_texture(lab, mask, rng, ppm, sc)
        bar = view in ("portrait", "face") and rng.random() < eye_bar
        if bar:
            draw_eye_bar(lab, mask, fr, rng)
        sk = mask > 0.5
        Lm, am, bm = ((float(np.median(lab[..., c][sk])) for c in range(3)) if sk.sum() >= 16 else (60.0, 10.0, 15.0))
        ita = float(ita_from_lab(Lm, bm))
        return SkinCanvas(
            lab=lab, skin=mask, area=mask, regions=regions, px_per_mm=ppm,
            light=estimate_light(lab, mask, rng), base_lab=(Lm, am, bm),
            tone_group=ita_group(ita), layout="photo",
            meta={"px_per_mm": round(ppm, 3), "view": view, "zoom": round(z, 3), "crop_x": x0, "crop_y": y0,
                  "crop_side": sd, "flip": flip, "eye_bar": bool(bar), "shine": 0.15},
        )


def load_photo(path: str | Path, size: int) -> Photo:
    """Read a photo (any format :func:`auxiliary.base.images.read_image` handles), mask its skin."""
    rgb = read_image(path)
    work, _ = work_image(rgb)
    res = skin_mask(work)
    info = {"mask_method": res.method, "face_detected": res.face_detected, "skin_fraction": round(res.fraction, 4),
            "photo_width": int(rgb.shape[1]), "photo_height": int(rgb.shape[0])}
    return Photo(rgb=work, result=res, size=int(size), info=info)
