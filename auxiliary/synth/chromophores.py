"""Skin colour as light absorbed by blood and pigment: add haemoglobin and melanin to an image (pure functions).

Skin reflectance is well described by two chromophores (Tsumura et al. 2003, "Image-based skin
colour and texture analysis/synthesis by extracting hemoglobin and melanin information in the
skin"): in optical density ``-log(linear RGB)``, more blood adds a multiple of the haemoglobin
absorbance vector (strong in green and blue: redder), more pigment a multiple of the melanin vector
(every channel, most in the blue: browner and darker). Erythema, inflamed papules and the
post-inflammatory marks are drawn here as *density* maps, so the same inflammation looks right on
every tone without a tone-specific rule: on light skin it turns pink-red, on dark skin the same blood
change is a smaller, darker, violaceous shift, because melanin already absorbs most of the light
(see :func:`auxiliary.synth.skin.redness_visibility` for the measured a* shift this produces).

Densities are in optical-density units along the unit vectors below (0.5 of haemoglobin is a clear
flush on light skin; 1.0 is a strong rosacea cheek).
"""

from __future__ import annotations

import cv2
import numpy as np

#: absorbance of oxy-haemoglobin over the sRGB channels (R, G, B), normalised to unit length
HAEMOGLOBIN = np.array([0.18, 0.80, 0.57], np.float32) / np.float32(np.linalg.norm([0.18, 0.80, 0.57]))
#: absorbance of epidermal melanin over (R, G, B), normalised to unit length: it falls steadily with
#: wavelength (about lambda^-3.5), flattened by scattering as cameras see it
MELANIN = np.array([0.45, 0.55, 0.70], np.float32) / np.float32(np.linalg.norm([0.45, 0.55, 0.70]))


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB values in 0-1 to linear light (IEC 61966-2-1)."""
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return np.where(x <= 0.04045, x / np.float32(12.92), ((x + np.float32(0.055)) / np.float32(1.055)) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in 0-1 to sRGB values in 0-1."""
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return np.where(x <= 0.0031308, x * np.float32(12.92), np.float32(1.055) * x ** np.float32(1 / 2.4) - np.float32(0.055))


def absorb_linear(lin: np.ndarray, haemoglobin: np.ndarray | float = 0.0, melanin: np.ndarray | float = 0.0) -> np.ndarray:
    """Linear RGB (H, W, 3) after adding ``haemoglobin`` and ``melanin`` optical densities (maps or scalars;
    negative values remove chromophore, e.g. a pale centre). Beer-Lambert: ``lin * exp(-(h*H + m*M))``."""
    h = np.asarray(haemoglobin, np.float32)
    m = np.asarray(melanin, np.float32)
    od = h[..., None] * HAEMOGLOBIN if h.ndim else h * HAEMOGLOBIN
    od = od + (m[..., None] * MELANIN if m.ndim else m * MELANIN)
    return lin * np.exp(-od).astype(np.float32)


def add_chromophores(lab: np.ndarray, haemoglobin: np.ndarray | float = 0.0, melanin: np.ndarray | float = 0.0,
                     where: np.ndarray | None = None) -> np.ndarray:
    """Add chromophore densities to the float32 CIELAB image ``lab`` in place; returns ``lab``.

    ``where`` (H, W) optionally limits the work to the bounding box of its non-zero pixels (speed:
    a few lesions on a large image); the densities must be zero outside it.
    """
    H, W = lab.shape[:2]
    y0, y1, x0, x1 = 0, H, 0, W
    if where is not None:
        ys, xs = np.nonzero(where)
        if len(ys) == 0:
            return lab
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    sub = np.ascontiguousarray(lab[y0:y1, x0:x1], dtype=np.float32)
    h = haemoglobin[y0:y1, x0:x1] if np.ndim(haemoglobin) == 2 else haemoglobin
    m = melanin[y0:y1, x0:x1] if np.ndim(melanin) == 2 else melanin
    lin = srgb_to_linear(cv2.cvtColor(sub, cv2.COLOR_LAB2RGB))
    out = linear_to_srgb(absorb_linear(lin, h, m))
    new = cv2.cvtColor(np.ascontiguousarray(out, dtype=np.float32), cv2.COLOR_RGB2LAB)
    # Only pixels that received a chromophore change (the round trip clips colours outside sRGB).
    active = (np.abs(np.asarray(h, np.float32)) > 0) | (np.abs(np.asarray(m, np.float32)) > 0)
    if np.ndim(active) == 2:
        sub[active] = new[active]
        lab[y0:y1, x0:x1] = sub
    elif bool(active):
        lab[y0:y1, x0:x1] = new
    return lab


def chromophore_shift(L: float, a: float, b: float, haemoglobin: float = 0.0, melanin: float = 0.0) -> tuple[float, float, float]:
    """(dL*, da*, db*) that the densities produce on one skin colour (for tests and the README's table)."""
    px = np.array([[[L, a, b]]], np.float32)
    new = add_chromophores(px.copy(), haemoglobin, melanin)[0, 0]
    return float(new[0] - L), float(new[1] - a), float(new[2] - b)
