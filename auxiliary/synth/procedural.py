"""Procedural canvases for the default dataset: a flat skin patch or a stylised face (frame, regions, hair, background).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from auxiliary.synth.noise import bank_noise, smooth_noise, smoothstep, upsample
from auxiliary.synth.skin import (
    FACE_WIDTH_MM,
    SkinCanvas,
    correct_tone,
    fine_texture,
    light_vector,
    low_variation,
    redness_visibility,
    sample_tone,
    shade_lab,
    shading_from_height,
)


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
    mid_forehead = _gauss(u, v, yaw, -0.62, 0.2, 0.14)
    # Rosacea: the convex central face (cheeks, nose, chin, glabella and central forehead).
    central = np.clip(0.9 * cheeks + nose + 0.6 * chin + 0.5 * glabella + 0.4 * mid_forehead, 0, 1) * face
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


def render_face(rng: np.random.Generator, S: int, group: str, base: dict[str, float], freckles: bool = True) -> SkinCanvas:
    """A face-like layout: background, hair, skin with eyes, brows, nose, lips and a neck (``freckles``: see
    :func:`auxiliary.synth.skin.fine_texture`)."""
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
    low, meta = low_variation(rng, lo, base, reg)
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
    meta.update(fine_texture(rng, out, base, ppm, group, reg, ok, area, freckles))
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


def render_patch(rng: np.random.Generator, S: int, group: str, base: dict[str, float], freckles: bool = True) -> SkinCanvas:
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
    low, meta = low_variation(rng, lo, base, reg)
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
    meta.update(fine_texture(rng, lab, base, ppm, group, reg, ok, area, freckles))
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
    size: int, tone_group: str, rng: np.random.Generator, *, layout: str | None = None, face_layout: float = 0.5,
    freckles: bool = True,
) -> SkinCanvas:
    """Clean procedural skin of ``tone_group``: a face-like layout (probability ``face_layout``) or a close-up.

    ``freckles=False`` draws no freckles (the multi-label task, where freckles would be unlabelled
    hyperpigmentation); every other random draw stays the same.

    The medians of L* and b* over the skin are set to the drawn base colour, so the ITA
    measured from the pixels is the drawn one up to noise (margins in :data:`auxiliary.synth.skin.SKIN_DRAW`).
    """
    if layout is None:
        layout = "face" if rng.random() < face_layout else "patch"
    base = sample_tone(tone_group, rng)
    if layout == "face":
        canvas = render_face(rng, int(size), tone_group, base, freckles)
    elif layout == "patch":
        canvas = render_patch(rng, int(size), tone_group, base, freckles)
    else:
        raise ValueError(f"unknown layout {layout!r} (face or patch)")
    canvas.meta.update({"L_target": round(base["L"], 3), "a_base": round(base["a"], 3), "b_target": round(base["b"], 3),
                        "ita_target": round(base["ita_target"], 3)})
    return canvas
