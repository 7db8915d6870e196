"""Skin tone by the Individual Typology Angle (ITA).

ITA = atan((L* - 50) / b*) * 180 / pi, with L* and b* in CIELAB (D65). The six groups
(Chardon et al. 1991; Del Bino et al. 2006) used everywhere in the series:

=============  ===============
group          ITA (degrees)
=============  ===============
very_light     > 55
light          41 .. 55
intermediate   28 .. 41
tan            10 .. 28
brown          -30 .. 10
dark           < -30
=============  ===============

For real photos with no Fitzpatrick label the group is an *estimate* from pixels
(``tone_group_est``): lighting, white balance and the lesion itself move it.
"""

from __future__ import annotations

import cv2
import numpy as np

TONE_GROUPS: tuple[str, ...] = ("very_light", "light", "intermediate", "tan", "brown", "dark")


#: (low, high) ITA bounds per group; the outer groups are open-ended.
ITA_BOUNDS: dict[str, tuple[float, float]] = {
    "very_light": (55.0, 90.0),
    "light": (41.0, 55.0),
    "intermediate": (28.0, 41.0),
    "tan": (10.0, 28.0),
    "brown": (-30.0, 10.0),
    "dark": (-90.0, -30.0),
}


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) to CIELAB float (L* 0-100, a*, b*) under D65, via OpenCV's float path."""
    arr = np.asarray(rgb)
    flat = arr.reshape(-1, 1, 3).astype(np.float32) / 255.0
    lab = cv2.cvtColor(flat, cv2.COLOR_RGB2LAB)
    return lab.reshape(arr.shape).astype(np.float64)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB float (..., 3) to sRGB uint8, clipped."""
    arr = np.asarray(lab, dtype=np.float32)
    rgb = cv2.cvtColor(arr.reshape(-1, 1, 3), cv2.COLOR_LAB2RGB).reshape(arr.shape)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def ita_from_lab(L: np.ndarray | float, b: np.ndarray | float) -> np.ndarray | float:
    """ITA in degrees from L* and b* (arctan2 keeps b* <= 0 well defined)."""
    return np.degrees(np.arctan2(np.asarray(L, dtype=np.float64) - 50.0, np.asarray(b, dtype=np.float64)))


def ita_group(ita: float) -> str:
    """The tone group of one ITA value."""
    if not np.isfinite(ita):
        return "unknown"
    if ita > 55:
        return "very_light"
    if ita > 41:
        return "light"
    if ita > 28:
        return "intermediate"
    if ita > 10:
        return "tan"
    if ita > -30:
        return "brown"
    return "dark"


def estimate_ita(rgb: np.ndarray, mask: np.ndarray | None = None, exclude_center: float = 0.0) -> float:
    """Median ITA over skin pixels of an RGB image.

    ``mask`` (bool, H×W) restricts to skin; ``exclude_center`` (0-1) ignores a central disc of
    that fraction of the shorter side (where a dermoscopic lesion usually sits). Returns NaN when
    no pixel is left.
    """
    img = np.asarray(rgb)
    h, w = img.shape[:2]
    keep = np.ones((h, w), dtype=bool) if mask is None else np.asarray(mask, dtype=bool).copy()
    if exclude_center > 0:
        yy, xx = np.mgrid[0:h, 0:w]
        r = exclude_center * min(h, w) / 2.0
        keep &= (yy - h / 2.0) ** 2 + (xx - w / 2.0) ** 2 > r * r
    if not keep.any():
        return float("nan")
    lab = rgb_to_lab(img[keep])
    L, b = lab[:, 0], lab[:, 2]
    # Medians of L* and b* are robust to specular highlights, hair and dark borders.
    return float(ita_from_lab(np.median(L), np.median(b)))
