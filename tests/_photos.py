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


#: Four skin tones, light to dark, for the clean faces of the sim-to-real benchmarks' smoke tests.
TONES = [(235, 200, 180), (200, 150, 120), (150, 100, 70), (95, 62, 45)]


def clean_and_real_folders(root, n_per_class: int, **size):
    """``(clean, real)`` under ``root``: four clean face photos (simulator input) and ``n_per_class`` face photos in
    each of ``clear/``, ``rosacea/``, ``acne_closeup/`` (the real folders' layout), ``size`` (``h``, ``w``) passed on."""
    from pathlib import Path

    from auxiliary.base.images import write_png

    inp, real = Path(root) / "clean", Path(root) / "real"
    inp.mkdir(parents=True)
    for i, tone in enumerate(TONES):
        write_png(inp / f"face{i}.png", face_photo(skin_rgb=tone, bg=(60 + 30 * i, 90, 160))[0])
    for label in ("clear", "rosacea", "acne_closeup"):
        (real / label).mkdir(parents=True)
        for i in range(n_per_class):
            write_png(real / label / f"{label}{i}.png",
                      face_photo(skin_rgb=TONES[i % 4], bg=(40, 40 + 20 * i, 90), **size)[0])
    return inp, real
