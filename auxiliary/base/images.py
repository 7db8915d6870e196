"""Reading any image file into RGB uint8, with a clear reason when it cannot be read.

Grayscale, RGBA and palette (composited on white), 16-bit and CMYK images are converted; EXIF orientation is
applied; zero-byte, truncated, corrupt and non-image files raise :class:`ImageReadError` with
a short reason meant for a report (``skipped.csv``, ``rejected.csv``, a web page).
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from auxiliary.base.errors import AuxiliaryError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


#: Refuse images above this many pixels (decompression bombs); 100 MP is far above any photo.
MAX_PIXELS = 100_000_000


class ImageReadError(AuxiliaryError):
    """An image could not be read; ``reason`` is a short human-readable explanation."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def is_image_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 1.0
        scale = 65535.0 if hi > 255 else 255.0
        arr = np.clip(arr / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) / (hi - lo if hi > lo else 1.0) * 255.0
        arr = np.nan_to_num(arr).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def read_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read ``path`` as an RGB uint8 array (H, W, 3). Raises :class:`ImageReadError`."""
    p = Path(path)
    if not p.exists():
        raise ImageReadError(p, "file not found")
    if p.is_dir():
        raise ImageReadError(p, "is a folder, not an image")
    try:
        st = p.stat()
    except OSError as exc:
        raise ImageReadError(p, f"cannot access file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO blocks when opened, a device never ends: asked of stat alone
        kind = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}.get(stat.S_IFMT(st.st_mode), "a device")
        raise ImageReadError(p, f"{kind}, not a regular file (never opened)")
    if st.st_size == 0:
        raise ImageReadError(p, "empty file (zero bytes)")
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageReadError(p, f"too large ({w}x{h} pixels, limit {max_pixels:,})")
                if w == 0 or h == 0:
                    raise ImageReadError(p, "image has no pixels")
                img.load()
                img = ImageOps.exif_transpose(img) or img
                return _to_rgb(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(p, "not an image (unrecognised format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageReadError(p, f"too large (over {max_pixels:,} pixels)") from None
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg.lower():
            raise ImageReadError(p, "truncated image file") from None
        raise ImageReadError(p, f"corrupt or unreadable image ({msg.splitlines()[0][:120]})") from None
    except (ValueError, SyntaxError, MemoryError) as exc:
        raise ImageReadError(p, f"corrupt image ({type(exc).__name__}: {str(exc)[:120]})") from None


def read_image_bytes(data: bytes, name: str = "<upload>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Like :func:`read_image` for bytes in memory (uploads)."""
    if not data:
        raise ImageReadError(name, "empty file (zero bytes)")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.size  # noqa: B018 - forces header parsing
    except UnidentifiedImageError:
        raise ImageReadError(name, "not an image (unrecognised format)") from None
    except Exception:  # noqa: BLE001 - fall through to the full reader for a precise reason
        pass
    fd, tmp = tempfile.mkstemp(suffix=Path(name).suffix or ".img")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            return read_image(tmp, max_pixels=max_pixels)
        except ImageReadError as exc:
            raise ImageReadError(name, exc.reason) from None
    finally:
        os.unlink(tmp)


def write_png(path: str | Path, rgb: np.ndarray, fast: bool = False) -> Path:
    """Write an RGB uint8 array as PNG (deterministic bytes for the same array).

    ``fast=True`` encodes with OpenCV (one row filter, zlib Huffman-only): about 8x faster than
    the default for noisy photographs, files ~20% larger (used by the synthetic data generator);
    same pixels either way.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(rgb)
    if fast and arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        params = [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
        if hasattr(cv2, "IMWRITE_PNG_FILTER"):
            params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_AVG]
        ok, buf = cv2.imencode(".png", arr[..., ::-1] if arr.ndim == 3 else arr, params)
        if ok:
            p.write_bytes(buf.tobytes())
            return p
    Image.fromarray(arr).save(p, format="PNG", optimize=False, compress_level=6)
    return p
