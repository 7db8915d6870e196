"""Samplers that draw simulator parameters from ranges with their own generator, the camera model, and one subject's images.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import cv2
import numpy as np

from auxiliary.base.config import SynthConfig
from auxiliary.base.tone import TONE_GROUPS, estimate_ita, ita_group
from auxiliary.synth.acne import add_acne
from auxiliary.synth.erythema import add_erythema
from auxiliary.synth.lesion import Lesion, SimResult, draw_value, value_range
from auxiliary.synth.noise import bank_noise
from auxiliary.synth.procedural import render_skin
from auxiliary.synth.skin import SkinCanvas, lab_image_to_rgb, rgb_image_to_lab

CLASSES: tuple[str, ...] = ("acne", "erythema", "none")
#: the labels of ``simulate --task multilabel``, in the order of ``prevalence`` and of metadata.csv's columns
MULTILABELS: tuple[str, ...] = ("acne", "erythema", "hyperpigmentation", "wrinkles")
#: Images a synthetic dataset of each ``synth.task`` holds per ``n_per_class``: one per class of the single-label
#: set, one face (carrying any of the conditions) of the multi-label set.
IMAGES_PER_UNIT: dict[str, int] = {"single": len(CLASSES), "multilabel": 1}


STREAMS = {"skin": 0, "acne": 1, "erythema": 2, "none": 3, "hyperpigmentation": 4, "wrinkles": 5, "labels": 6,
           "camera": 10}


def subject_stream(seed: int, subject: int, stream: str, extra: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(subject), STREAMS[stream], extra]))


#: lesion kinds drawn in close-up views (their shares follow the lesion's strength, see acne_kind_probabilities)
CLOSEUP_KINDS: tuple[str, ...] = ("papule", "pustule", "nodule", "open_comedone", "closed_comedone")
#: per kind of close-up: the share of its width a lesion spans (its diameter drawn between the first two) and
#: the most lesions it shows
CLOSEUP_FIELD: dict[str, tuple[float, float, int]] = {
    "papule": (0.35, 0.85, 2), "nodule": (0.35, 0.85, 2), "pustule": (0.08, 0.3, 5),
    "open_comedone": (0.2, 0.55, 2), "closed_comedone": (0.12, 0.4, 4),
}


class ConfigSampler:
    """A sampler whose ranges can come from a :class:`~auxiliary.base.config.SynthConfig`: ``CONFIG`` names the
    config fields of its constructor's ranges, in order."""

    CONFIG: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_config(cls, cfg: SynthConfig, seed: int = 0) -> Any:
        """A sampler with the ranges of ``cfg`` (the fields of :attr:`CONFIG`)."""
        return cls(*(getattr(cfg, name) for name in cls.CONFIG), seed=seed)


class AcneSampler(ConfigSampler):
    """Draws acne parameters from ranges and applies them to canvases.

    ``AcneSampler(count=(6, 40), strength=(0.15, 0.9), size_mm=(1, 5), seed=0)(canvas)`` ->
    :class:`~auxiliary.synth.lesion.SimResult` (CIELAB image in ``image``). Successive calls continue the
    sampler's own stream; ``rng=`` draws from another generator instead (the dataset's per-subject streams).
    """

    CONFIG: ClassVar[tuple[str, ...]] = ("acne_count", "acne_strength", "acne_size_mm")

    def __init__(self, count: Any = (6, 40), strength: Any = (0.15, 0.9), size_mm: Any = (1.0, 5.0), seed: int = 0):
        self.count, self.strength, self.size_mm = value_range(count), value_range(strength), value_range(size_mm)
        self.rng = np.random.default_rng(seed)

    def __call__(self, canvas: SkinCanvas, rng: np.random.Generator | None = None) -> SimResult:
        rng = self.rng if rng is None else rng
        lab = canvas.lab.copy()
        count = int(draw_value(rng, self.count, integer=True))
        strength = draw_value(rng, self.strength)
        zoom = float(canvas.meta.get("zoom", 1.0))
        size_mm, kinds, kind_scale, background = self.size_mm, None, True, None
        if zoom > 1.2 and count > 0:
            # A closer view shows 1/zoom^2 of the face's lesions, but a photo of acne shows at least one.
            count = max(int(round(count / (zoom * zoom))), int(rng.integers(1, 4)))
        if zoom >= 4.0 and count > 0:
            # A close-up is framed on lesions of one kind (any kind alike) that stand out, around the centre
            # (CLOSEUP_FIELD: how many, how wide): one or two inflamed bumps fill 35-85 % of the field across (the
            # real papule and nodule crops are cut around the redness); pustules and whiteheads come in small
            # groups, pustules on diffusely reddened skin.
            field_mm = canvas.shape[1] / max(canvas.px_per_mm, 1e-6)
            kind = str(rng.choice(CLOSEUP_KINDS))
            lo, hi, most = CLOSEUP_FIELD[kind]
            size_mm = (lo * field_mm, hi * field_mm)
            kinds, kind_scale = (kind,), False
            count = int(rng.integers(1, most + 1))
            strength = max(strength, 0.5)
            if kind in ("papule", "pustule", "nodule") and rng.random() < 0.7:
                background = float(rng.uniform(3.0, 12.0) * strength)
            centre = centred(canvas.regions["acne"].shape, 0.18 if most <= 2 else 0.3)
            canvas = replace(canvas, regions={**canvas.regions, "acne": centre}, _full={})
        return add_acne(lab, canvas, rng, count=count, strength=strength, size_mm=size_mm, kinds=kinds,
                        kind_scale=kind_scale, background=background)


def centred(shape: tuple[int, int], sigma: float = 0.18) -> np.ndarray:
    """A Gaussian weight map peaking at the centre of ``shape`` (``sigma`` in fractions of the side)."""
    ys = (np.arange(shape[0], dtype=np.float32) + 0.5) / shape[0] - 0.5
    xs = (np.arange(shape[1], dtype=np.float32) + 0.5) / shape[1] - 0.5
    return np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / np.float32(2 * sigma * sigma)).astype(np.float32)


class ErythemaSampler(ConfigSampler):
    """Draws erythema parameters (strength, extent, telangiectasia) and applies them to canvases (``rng=`` as above)."""

    CONFIG: ClassVar[tuple[str, ...]] = ("erythema_strength", "erythema_extent", "telangiectasia")

    def __init__(self, strength: Any = (0.15, 0.9), extent: Any = (0.3, 1.0), telangiectasia: float = 0.5, seed: int = 0):
        self.strength, self.extent, self.p_tel = value_range(strength), value_range(extent), float(telangiectasia)
        self.rng = np.random.default_rng(seed)

    def __call__(self, canvas: SkinCanvas, rng: np.random.Generator | None = None) -> SimResult:
        rng = self.rng if rng is None else rng
        lab = canvas.lab.copy()
        # Close-ups of rosacea show its redness and vessels; papules belong to the wider views.
        papules = 0 if float(canvas.meta.get("zoom", 1.0)) >= 4.0 else None
        return add_erythema(lab, canvas, rng, strength=draw_value(rng, self.strength),
                            extent=draw_value(rng, self.extent), telangiectasia=bool(rng.random() < self.p_tel),
                            papules=papules)


#: class -> the sampler of its simulator ("none" has none)
SAMPLERS = {"acne": AcneSampler, "erythema": ErythemaSampler}


# ----------------------------------------------------------------------------- camera
def camera_params(rng: np.random.Generator, scale: float = 1.0, closeup: bool = False) -> dict[str, Any]:
    """Draw a consumer camera and its settings (domain randomisation): defocus blur (px), sensor noise
    (L* units), white balance (red and blue gains), exposure (linear gain), contrast (tone-curve gamma),
    resolution (the side the photo was taken at, 0 = full: small web photos upscaled) and JPEG quality
    (100 = none). ``closeup``: a close-up of a lesion, which web photos mostly are as small crops (60 % of
    them are taken at 8-64 px)."""
    if closeup and rng.random() < 0.6:
        resolution = int(rng.integers(8, 65))
    else:
        resolution = int(rng.integers(40, 161)) if rng.random() < 0.3 else 0
    return {
        "blur_sigma": round(float(rng.uniform(0.0, 1.0) ** 2 * 1.1 * scale), 3),
        "noise_sigma": round(float(rng.uniform(0.4, 1.4)), 3),
        "wb_red": round(float(np.exp(np.clip(rng.normal(0.0, 0.06), -0.12, 0.12))), 4),
        "wb_blue": round(float(np.exp(np.clip(rng.normal(0.0, 0.08), -0.16, 0.16))), 4),
        "exposure": round(float(np.exp(np.clip(rng.normal(0.0, 0.18), -0.36, 0.36))), 4),
        "gamma": round(float(np.exp(np.clip(rng.normal(0.0, 0.08), -0.16, 0.16))), 4),
        "resolution": resolution,
        "jpeg_quality": int(rng.integers(60, 96)) if rng.random() < 0.85 else 100,
    }


def develop(rgb: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """White balance, exposure, contrast, resolution and JPEG of ``params`` applied to RGB uint8 (a new array).

    A photo taken small (``resolution``) is compressed at that size and then enlarged back: the order of a web
    crop, whose JPEG blocks are 8 of its own pixels and therefore large and soft once the crop is enlarged for a
    model (sim-to-real: the real whitehead and papule close-ups show exactly those blocks).
    """
    gains = np.array([params.get("wb_red", 1.0), 1.0, params.get("wb_blue", 1.0)], np.float32)
    gains *= np.float32(params.get("exposure", 1.0)) ** np.float32(1 / 2.2)
    x = np.clip(rgb.astype(np.float32) * (gains / np.float32(255.0)), 0.0, 1.0)
    g = float(params.get("gamma", 1.0))
    if abs(g - 1.0) > 1e-3:
        x = x ** np.float32(g)
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    res = int(params.get("resolution", 0))
    H, W = out.shape[:2]
    small = 0 < res < min(H, W)
    if small:
        out = cv2.resize(out, (res, res), interpolation=cv2.INTER_AREA)
    out = jpeg(out, int(params.get("jpeg_quality", 100)))
    if small:
        # Enlarged the way the series' preprocessing enlarges a small photo for a model with ImageNet weights, the
        # realism path (timm's data config: bicubic, auxiliary.models.preprocess): the smooth look such a model sees
        # on a real 10-60 px crop. (Sim-to-real run R6 showed the look must match: an enlargement unlike the
        # model's own costs the tiny close-ups most of their recall.)
        out = cv2.resize(out, (W, H), interpolation=cv2.INTER_CUBIC)
    return out


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """RGB uint8 through a JPEG encoder at ``quality`` (with its chroma subsampling); 100 or more: unchanged."""
    if quality >= 100:
        return rgb
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]) if ok else rgb


def camera(lab: np.ndarray, rng: np.random.Generator, params: dict[str, Any]) -> np.ndarray:
    """Expose CIELAB ``lab`` (modified in place) through the camera ``params``; returns RGB uint8.

    Defocus (Gaussian blur) and sensor noise (mostly luminance) are applied in CIELAB before the
    single conversion to sRGB, then :func:`develop` (white balance, exposure, contrast, resolution and JPEG
    compression, with its chroma subsampling, if quality < 100).
    """
    blur = params["blur_sigma"]
    if blur > 0.25:
        cv2.GaussianBlur(lab, (0, 0), blur, dst=lab)
    H, W = lab.shape[:2]
    sigma = params["noise_sigma"]
    lab[..., 0] += bank_noise(rng, (H, W), copy=False) * np.float32(sigma)
    lab[..., 1 + int(rng.integers(0, 2))] += bank_noise(rng, (H, W), copy=False) * np.float32(0.5 * sigma)
    return develop(lab_image_to_rgb(lab), params)


def measure_ita(rgb: np.ndarray, skin: np.ndarray, changed: np.ndarray | None = None) -> float:
    """ITA measured back from the pixels: median L*, b* over (unchanged) skin, on a regular
    subsample of the pixels (every 4th row and column from 128 px up, else every 2nd)."""
    st = 4 if min(rgb.shape[:2]) >= 128 else 2
    keep = skin[::st, ::st] > 0.5
    if changed is not None:
        k2 = keep & ~changed[::st, ::st]
        if k2.sum() >= 0.2 * keep.sum() and k2.sum() > 16:
            keep = k2
    return estimate_ita(rgb[::st, ::st], keep)


def render_class(
    canvas: SkinCanvas, label: str, cfg: SynthConfig, rng: np.random.Generator, cam_rng: np.random.Generator
) -> tuple[np.ndarray, SimResult]:
    """One image of ``label`` on ``canvas`` with parameters drawn from ``cfg``'s ranges, through a camera."""
    if label in SAMPLERS:
        res = SAMPLERS[label].from_config(cfg)(canvas, rng=rng)
    elif label == "none":
        res = SimResult(canvas.lab.copy(), [], np.zeros(canvas.shape, bool), {"strength": 0.0, "count": 0})
    else:
        raise ValueError(f"unknown class {label!r} (choose from {', '.join(CLASSES)})")
    lab = res.image
    cam = camera_params(cam_rng, scale=canvas.shape[0] / 256.0, closeup=canvas.meta.get("view") == "closeup")
    rgb = camera(lab, cam_rng, cam)
    res.image = rgb
    res.params.update(cam)
    return rgb, res


def subject_fields(canvas: SkinCanvas, ita: float, ita_img: float, source: str, subject: int) -> dict[str, Any]:
    """Tone and leakage columns of one image's metadata row.

    ``tone_group``: on procedural skin the requested group (the measured ITA falls in it, see the tests),
    on photos the group of ``ita`` measured on the clean skin; ``ita_image`` / ``tone_group_est``: what
    the image itself gives; ``group``: the subject (all its images), or the source photo (all its variants).
    """
    return {
        "tone_group": canvas.tone_group if canvas.layout != "photo" else ita_group(ita),
        "ita": round(float(ita), 3),
        "ita_image": round(float(ita_img), 3),
        "tone_group_est": ita_group(round(float(ita_img), 3)),
        "group": f"{source}-{subject:05d}" if source == "procedural" else f"photo:{source}",
        "source": source,
        "subject": subject,
    }


def subject_tone(subject: int) -> str:
    """Tone groups cycle over subjects: balanced within every class."""
    return TONE_GROUPS[subject % len(TONE_GROUPS)]


def settle_tone(canvas: SkinCanvas) -> tuple[SkinCanvas, float]:
    """The subject's clean canvas and its tone: ITA measured back from the pixels of its clean skin, before
    the camera, i.e. the constitutive skin colour, shifted neither by the lesions drawn on it nor by the
    camera's exposure and white balance (``ita_image`` has what the photo shows). Rarely (tiny images, few
    skin pixels) a procedural ITA falls outside its group: the skin is pulled back towards the drawn
    colour, at most twice."""
    for attempt in range(3):
        clean = lab_image_to_rgb(canvas.lab)
        ita = measure_ita(clean, canvas.skin)
        if canvas.layout == "photo" or ita_group(ita) == canvas.tone_group or attempt == 2:
            break
        lab_c = rgb_image_to_lab(clean)
        sk = canvas.skin > 0.5
        L_t, b_t = canvas.meta.get("L_target", canvas.base_lab[0]), canvas.meta.get("b_target", canvas.base_lab[2])
        canvas = replace(canvas, lab=canvas.lab.copy(), _full={})
        canvas.lab[..., 0] += (L_t - float(np.median(lab_c[..., 0][sk]))) * 1.5 * canvas.area
        canvas.lab[..., 2] += (b_t - float(np.median(lab_c[..., 2][sk]))) * 1.5 * canvas.area
    return canvas, ita


def render_subject(cfg: SynthConfig, subject: int, canvas: SkinCanvas | None = None,
                   source: str = "procedural", variant: int = 0) -> list[tuple[str, np.ndarray, dict[str, Any], list[Lesion]]]:
    """All classes for one subject: [(label, rgb, metadata row, lesions)]."""
    seed = int(cfg.seed)
    if canvas is None:
        canvas = render_skin(cfg.size, subject_tone(subject), subject_stream(seed, subject, "skin"),
                                      face_layout=float(cfg.face_layout))
    common = {k: v for k, v in canvas.meta.items() if not k.startswith("_")}
    canvas, ita = settle_tone(canvas)
    rendered = []
    for ci, label in enumerate(CLASSES):
        rng = subject_stream(seed, subject, label, variant)
        cam_rng = subject_stream(seed, subject, "camera", ci + 16 * variant)
        rendered.append((label, *render_class(canvas, label, cfg, rng, cam_rng)))
    out = []
    for label, rgb, res in rendered:
        # What an estimate from this photo alone gives (lesions, redness and the camera's exposure and
        # white balance shift it).
        ita_img = measure_ita(rgb, canvas.skin, res.mask)
        row: dict[str, Any] = {
            "label": label,
            **subject_fields(canvas, ita, ita_img, source, subject),
            "variant": variant,
            "layout": canvas.layout,
            "is_augmented": False,
            **{"strength": 0.0, "count": 0},
            **res.params,
            **common,
            "seed": seed,
        }
        out.append((label, rgb, row, res.lesions))
    return out
