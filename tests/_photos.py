"""A synthetic face photo for the synth tests (imported by tests, not collected)."""

from __future__ import annotations

import cv2
import numpy as np


def face_photo(h: int = 300, w: int = 260, skin_rgb=(200, 150, 120), bg=(60, 90, 160)):
    """A synthetic 'photo': a face-like ellipse (eyes, lips) under dark hair on a plain background.

    Returns the RGB image, the true skin ellipse and the eyes+mouth mask.
    """
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bg
    cx, cy = w // 2, h // 2 + 25
    cv2.ellipse(img, (cx, cy - 15), (85, 115), 0, 0, 360, (40, 30, 25), -1)
    cv2.ellipse(img, (cx, cy), (75, 100), 0, 0, 360, skin_rgb, -1)
    feats = np.zeros((h, w), np.uint8)
    for x in (cx - 30, cx + 30):
        cv2.ellipse(img, (x, cy - 20), (14, 6), 0, 0, 360, (240, 240, 240), -1)
        cv2.circle(img, (x, cy - 20), 5, (30, 20, 20), -1)
        cv2.ellipse(feats, (x, cy - 20), (14, 6), 0, 0, 360, 1, -1)
    cv2.ellipse(img, (cx, cy + 55), (24, 8), 0, 0, 360, (170, 60, 70), -1)
    cv2.ellipse(feats, (cx, cy + 55), (24, 8), 0, 0, 360, 1, -1)
    rng = np.random.default_rng(0)
    img = np.clip(cv2.GaussianBlur(img, (0, 0), 1.2) + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    true = np.zeros((h, w), np.uint8)
    cv2.ellipse(true, (cx, cy), (75, 100), 0, 0, 360, 1, -1)
    return img, true.astype(bool), feats.astype(bool)
