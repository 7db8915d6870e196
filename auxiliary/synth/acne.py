"""Acne on a skin canvas: papules, pustules, comedones and post-inflammatory marks (pure functions with explicit parameters).

:func:`acne_lesions` places the lesions and :func:`render_acne` draws them on a CIELAB canvas
(:func:`add_acne` does both); :func:`simulate_acne` does it on an RGB image. Papules are raised red
bumps, shaded by the scene light, with an inflamed halo and, seen close, a lobed outline; pustules a
creamy-white head on a papule; closed comedones (whiteheads) pale, whitish domes that hide the skin's colour
beneath them; open comedones dark pores; then post-inflammatory marks and, when strong, nodules; clustered
on cheeks, forehead, chin and jaw. An image of acne always shows at least one lesion.
``strength`` (0-1) sets contrast, elevation, size and the share of inflamed lesions; weak acne is a
few faint comedones and small papules.

Inflammation is blood: a haemoglobin density added in the skin-colour model of
:mod:`auxiliary.synth.chromophores`, so it shifts a* less on dark skin and shows as a darker,
slightly violaceous tone instead; post-inflammatory marks add haemoglobin on light skin and
melanin (PIH, brown) on darker skin; pustule heads and comedones keep their contrast.
"""

from __future__ import annotations

import math

import numpy as np

from auxiliary.synth.chromophores import add_chromophores
from auxiliary.synth.lesion import Lesion, SimResult, lesion_window, value_range
from auxiliary.synth.noise import sample_points, smooth_noise, smoothstep, upsample
from auxiliary.synth.skin import SkinCanvas, redness_visibility
from auxiliary.synth.skinmask import simulate_on_rgb

ACNE_KINDS: tuple[str, ...] = ("papule", "pustule", "closed_comedone", "open_comedone", "mark", "nodule")


#: Lesion radius relative to the papule radius drawn from ``acne_size_mm``.
_KIND_SCALE = {"papule": 1.0, "pustule": 0.9, "closed_comedone": 0.4, "open_comedone": 0.22, "mark": 1.2,
               "nodule": 2.0}


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
    kind_scale: bool = True,
) -> list[Lesion]:
    """Place ``count`` lesions on the canvas's skin, clustered where acne occurs.

    Sizes are real: papule diameters are drawn from ``size_mm`` (biased up with ``strength``)
    and converted with ``canvas.px_per_mm``; the other kinds scale from it (``kind_scale``; when
    False every kind takes its diameter from ``size_mm``, as for a close-up framed on one lesion).
    Lesions do not overlap much; fewer are returned when the skin is too small to hold them.
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
    ys, xs = sample_points(rng, acne * cluster, max(count * 4, 24), (H, W), canvas.skin)
    on_skin = np.flatnonzero(canvas.skin > 0.5)
    last = -1  # index of the fallback candidate
    if on_skin.size:
        # An image of acne shows at least one lesion: a last candidate on the skin itself, kept whatever its
        # surroundings when every other was refused (a close-up of skin cut by hair, eyes or the face's edge).
        pick = int(on_skin[int(rng.integers(on_skin.size))])
        ys, xs = np.append(ys, pick // W), np.append(xs, pick % W)
        last = len(ys) - 1
    lo_mm, hi_mm = value_range(size_mm)
    s = float(np.clip(strength, 0, 1))
    out: list[Lesion] = []
    taken = np.zeros((0, 3))
    for i, (y, x) in enumerate(zip(ys, xs)):
        if len(out) >= count:
            break
        forced = not out and i == last
        kind = names[int(rng.choice(len(names), p=p))]
        d_mm = lo_mm + (hi_mm - lo_mm) * rng.beta(1.2 + 1.5 * s, 2.5 - 1.0 * s)
        r = max(0.6, 0.5 * d_mm * ppm * (_KIND_SCALE[kind] if kind_scale else 1.0))
        if len(taken):
            dist = np.hypot(taken[:, 0] - x, taken[:, 1] - y)
            if np.any(dist < 0.8 * (taken[:, 2] + r)):
                continue
        # Stay inside the skin with most of the lesion (edges of eyes, lips, face contour).
        iy, ix = int(y), int(x)
        rr = int(min(r, 30))
        if not forced and canvas.skin[max(0, iy - rr) : iy + rr + 1, max(0, ix - rr) : ix + rr + 1].min() < 0.3:
            continue
        inten = float(np.clip(rng.normal(1.0, 0.2), 0.5, 1.5))
        aspect = float(rng.uniform(0.6, 1.0)) if kind in ("mark", "nodule") else float(rng.uniform(0.85, 1.0))
        out.append(Lesion(float(x), float(y), float(r), kind, inten, aspect, float(rng.uniform(0, math.pi))))
        taken = np.vstack([taken, [x, y, r]])
    return out


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
    a creamy-white head (pustule), a dark plug (open comedone), a pale dome (closed comedone),
    a flat pink or brown macule (mark). ``strength`` scales contrast and elevation.
    """
    H, W = lab.shape[:2]
    s = float(np.clip(strength, 0, 1))
    k = 0.3 + 1.0 * s  # weak acne is faint; strong acne is obvious
    lx, ly, _ = canvas.light
    dL = np.zeros((H, W), np.float32)
    db = np.zeros((H, W), np.float32)
    hb = np.zeros((H, W), np.float32)  # haemoglobin density (inflammation), see auxiliary.synth.chromophores
    mel = np.zeros((H, W), np.float32)  # melanin density (post-inflammatory hyperpigmentation)
    pale = np.zeros((H, W), np.float32)  # 0-1: how much of the skin's own colour a white head hides
    L_img = lab[..., 0]
    for les in lesions:
        r = les.radius
        inflamed = les.kind in ("papule", "pustule", "nodule")
        halo = 2.4 if inflamed else 1.4
        win = lesion_window((H, W), les.x, les.y, r * halo * 1.5)
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
        if r > 6.0 and les.kind in ("papule", "nodule", "mark"):
            # Seen close, an inflamed bump or a mark is no circle: a lobed, irregular outline (two harmonics of the
            # angle, phased by the lesion's own angle so the same lesion is drawn the same way).
            th = np.arctan2(dy, dx)
            d2 = d2 * (1.0 + np.float32(0.22) * np.sin(2.0 * th + np.float32(les.angle))
                       + np.float32(0.14) * np.sin(3.0 * th + np.float32(2.0 * les.angle)))
        amp = k * les.intensity
        wdL = dL[y0:y1, x0:x1]
        wdb = db[y0:y1, x0:x1]
        whb = hb[y0:y1, x0:x1]
        wmel = mel[y0:y1, x0:x1]
        wpale = pale[y0:y1, x0:x1]
        elev = 0.0
        infl = None
        if inflamed:
            core, hal = (17.0, 6.0) if les.kind != "nodule" else (14.0, 8.0)
            infl = np.exp(d2 * np.float32(-1.4)) * np.float32(amp * core)
            infl += np.exp(d2 * np.float32(-1.0 / (halo * halo))) * np.float32(amp * hal)
            elev = 0.6 if les.kind != "nodule" else 0.45
        elif les.kind == "closed_comedone":
            # A whitehead: a pale, whitish dome (keratin under a thin skin), faint redness at its rim.
            dome = np.exp(d2 * np.float32(-1.5))
            infl = (np.exp(d2 * np.float32(-0.5)) - dome) * np.float32(amp * 3.0)
            wdL += dome * np.float32(amp * (4.0 + 0.1 * max(0.0, 75.0 - L_here)))
            wdb += dome * np.float32(amp * 1.5)
            wpale += dome * np.float32(min(0.4, 0.3 * amp))
            elev = 0.5
        elif les.kind == "open_comedone":
            plug = np.exp(d2 * np.float32(-1.2))
            wdL -= plug * np.float32(amp * 0.45 * L_here)
            wdb += plug * np.float32(amp * 2.0)
        elif les.kind == "mark":
            m = 1.0 - smoothstep(0.36, 1.56, d2)
            # Pink-red (post-inflammatory erythema) on light skin, brown (PIH) on darker skin.
            whb += m * np.float32(amp * 0.45 * vis)
            wmel += m * np.float32(amp * (0.15 + 0.75 * inv))
        if infl is not None:
            # Inflammation is blood: a haemoglobin density (core ~1 at full strength), which shows
            # pink-red on light skin and darker, violaceous on dark skin by itself.
            whb += infl * np.float32(1.0 / 15.0)
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
            wdb += head * np.float32(amp * 7.0)
            wpale += head * np.float32(min(0.6, 0.5 * amp))  # creamy white pus, hardly yellow
            whb -= head * whb * np.float32(0.85)  # the pus head hides the blood beneath it
    sk = canvas.skin
    hb *= sk
    mel *= sk
    add_chromophores(lab, hb, mel, where=(hb > 1e-3) | (mel > 1e-3))
    dL *= sk
    db *= sk
    np.clip(pale * sk, 0.0, 0.8, out=pale)
    lab[..., 1] *= 1.0 - pale  # white heads desaturate the skin beneath them
    lab[..., 2] *= 1.0 - 0.6 * pale
    lab[..., 0] += dL
    lab[..., 2] += db
    return np.abs(dL) + np.abs(db) + 18.0 * (hb + mel) + 20.0 * pale


def add_acne(
    lab: np.ndarray,
    canvas: SkinCanvas,
    rng: np.random.Generator,
    *,
    count: int,
    strength: float,
    size_mm: tuple[float, float] = (1.0, 5.0),
    kinds: tuple[str, ...] | None = None,
    kind_scale: bool = True,
    background: float | None = None,
) -> SimResult:
    """Place and draw acne on ``lab`` (in place), with mild perilesional redness when strong.

    ``background``: the strength of that diffuse redness (a* units on light skin); None draws it (half the
    time at full ``strength``, 1-4 units times ``strength``).
    """
    lesions = acne_lesions(canvas, rng, count=count, strength=strength, size_mm=size_mm, kinds=kinds,
                           kind_scale=kind_scale)
    shine = float(canvas.meta.get("shine", 0.2))
    effect = render_acne(lab, canvas, lesions, strength=strength, shine=shine)
    if background is None:
        background = float(rng.uniform(1.0, 4.0) * strength) if lesions and rng.random() < 0.5 * strength else 0.0
    background = float(background) if lesions else 0.0
    if background > 0:
        # Inflamed acne-prone skin: a diffuse redness where the lesions are.
        dens = canvas.regions["acne"] * (0.6 + 0.4 * smooth_noise(rng, canvas.regions["acne"].shape, 4))
        m = upsample(np.clip(dens, 0, 1).astype(np.float32), canvas.shape) * canvas.skin
        add_chromophores(lab, m * np.float32(background / 18.0))
    counts = {f"n_{k}": 0 for k in ACNE_KINDS}
    for les in lesions:
        counts[f"n_{les.kind}"] += 1
    params = {"strength": round(float(strength), 4), "count": int(count), "n_lesions": len(lesions),
              "size_mm_min": value_range(size_mm)[0], "size_mm_max": value_range(size_mm)[1],
              "acne_background_redness": round(background, 3), **counts}
    return SimResult(lab, lesions, effect > 1.5, params)


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

    Returns a :class:`~auxiliary.synth.lesion.SimResult` with the new RGB image, the lesion records (centre, radius,
    kind), a bool mask of changed pixels (always inside the skin mask) and the parameters.
    """
    return simulate_on_rgb(rgb, add_acne, 1, mask=mask, px_per_mm=px_per_mm, seed=seed, count=count, strength=strength,
                           size_mm=size_mm, kinds=kinds)
