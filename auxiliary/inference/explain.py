"""Grad-CAM heat maps (pytorch-grad-cam) for any model of the factory, their overlays and a captioned mosaic.

Grad-CAM weights the feature maps of one late layer by the gradient of the class score and
keeps the positive part: where the evidence for that class sits in the image. The layer is
chosen per architecture family by :func:`target_layers`:

============================  =====================================================
family (timm class)           target layer
============================  =====================================================
resnet (ResNet, ResNeXt, SE)  ``layer4[-1]`` (last residual block)
efficientnet (EfficientNet)   ``bn2`` (norm+act after ``conv_head``, still spatial)
mobilenet (MobileNetV3)       ``blocks[-1]`` (``conv_head`` runs after pooling there)
convnext (ConvNeXt)           ``stages[-1]``
maxvit (MaxxVit, CoAtNet)     ``stages[-1]`` (NCHW output)
vit (VisionTransformer, ...)  ``blocks[-1].norm1`` with a reshape of tokens to a grid
swin (SwinTransformer)        ``layers[-1]`` with NHWC -> NCHW reshape
generic                       the last Conv2d / norm layer whose output is 4-D and spatial
============================  =====================================================

:func:`gradcam` and :func:`gradcam_overlay` work at the input image's own size: the image is prepared as the model's
:class:`~auxiliary.models.preprocess.Preprocessing` says (what its predictions see), the map is computed at the
network's ``img_size`` and put back over the part of the image the input showed (all of it for the square resize; the
centre crop's region, with zeros around it, for a model that crops), which is what the web demo shows.
:func:`gradcam_labels` gives one map per label of a multi-label model (each label's own logit).
The figures built on these maps (galleries, :func:`~auxiliary.viz.plots_mosaics.plot_gradcam_grid`)
are in :mod:`auxiliary.viz.plots_mosaics`.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from auxiliary.base.errors import AuxiliaryError
from auxiliary.models.preprocess import Preprocessing, preprocess


class ExplainError(AuxiliaryError, RuntimeError):
    """Grad-CAM cannot be computed for this model or input."""


_LAYER_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: Grad-CAM hooks the shared model: one computation at a time (the web demo serves threads).
_LOCK = threading.Lock()


# ------------------------------------------------------------------------ target layers
def _tokens_to_grid(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Reshape ViT-like token outputs (B, N, C) to (B, C, H, W), dropping class/register tokens."""
    n_prefix = int(getattr(model, "num_prefix_tokens", 1 if getattr(model, "cls_token", None) is not None else 0))
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)

    def reshape(t: torch.Tensor) -> torch.Tensor:
        if t.ndim == 4:  # already a map (NCHW)
            return t
        tokens = t[:, n_prefix:, :]
        n = tokens.shape[1]
        if grid is not None and int(grid[0]) * int(grid[1]) == n:
            h, w = int(grid[0]), int(grid[1])
        else:
            h = w = int(round(math.sqrt(n)))
            if h * w != n:
                raise ExplainError(f"cannot arrange {n} tokens on a square grid for Grad-CAM")
        return tokens.reshape(t.shape[0], h, w, t.shape[2]).permute(0, 3, 1, 2)

    return reshape


def _nhwc_to_nchw(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 3, 1, 2) if t.ndim == 4 else t


def _generic_layer(model: nn.Module, img_size: int) -> nn.Module:
    """The last Conv2d or normalisation layer (in execution order) with a spatial 4-D output."""
    order: list[nn.Module] = []
    handles = []

    def hook(mod: nn.Module, _inp: Any, out: Any) -> None:
        if torch.is_tensor(out) and out.ndim == 4 and out.shape[-1] > 1 and out.shape[-2] > 1:
            order.append(mod)

    for mod in model.modules():
        name = type(mod).__name__
        if isinstance(mod, (nn.Conv2d, nn.BatchNorm2d, nn.GroupNorm)) or "Norm" in name:
            handles.append(mod.register_forward_hook(hook))
    try:
        size = max(int(img_size), 64)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size, device=device))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise ExplainError(f"no convolution or norm layer with a spatial output found in {type(model).__name__}")
    return order[-1]


def target_layers(model: nn.Module, img_size: int = 224) -> tuple[list[nn.Module], Callable | None, str]:
    """``(layers, reshape_transform, family)`` used by Grad-CAM for ``model`` (see the module table)."""
    cached = _LAYER_CACHE.get(model)
    if cached is not None:
        return cached
    cls = type(model).__name__
    result: tuple[list[nn.Module], Callable | None, str]
    if hasattr(model, "layer4") and hasattr(model, "fc") and len(list(model.layer4.children())):
        result = [list(model.layer4.children())[-1]], None, "resnet"
    elif cls == "EfficientNet" and isinstance(getattr(model, "bn2", None), nn.Module):
        result = [model.bn2], None, "efficientnet"
    elif cls in ("MobileNetV3", "MobileNetV4") or (hasattr(model, "blocks") and hasattr(model, "conv_head")):
        result = [model.blocks[-1]], None, "mobilenet"
    elif cls == "ConvNeXt":
        result = [model.stages[-1]], None, "convnext"
    elif cls in ("MaxxVit", "CoAtNet") or (cls.startswith("Maxx") and hasattr(model, "stages")):
        result = [model.stages[-1]], None, "maxvit"
    elif cls.startswith("Swin") and hasattr(model, "layers"):
        result = [model.layers[-1]], _nhwc_to_nchw, "swin"
    elif hasattr(model, "blocks") and hasattr(model, "patch_embed") and hasattr(model.blocks[-1], "norm1"):
        result = [model.blocks[-1].norm1], _tokens_to_grid(model), "vit"
    else:
        result = [_generic_layer(model, img_size)], None, "generic"
    _LAYER_CACHE[model] = result
    return result


# ------------------------------------------------------------------------ Grad-CAM
def as_rgb(rgb: np.ndarray) -> np.ndarray:
    img = np.asarray(rgb)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ExplainError(f"expected an RGB image (H, W, 3), got shape {img.shape}")
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = np.clip(img * (255.0 if img.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def gradcam_batch(
    model: nn.Module,
    images: Sequence[np.ndarray],
    preprocessing: Preprocessing,
    target_classes: Sequence[int | None] | int | None = None,
) -> list[np.ndarray]:
    """Grad-CAM maps (each H x W float32 in 0..1 at its image's size) for several images in one pass, the images
    prepared as ``preprocessing`` (the checkpoint's spec) says.

    ``target_classes``: one class index per image, one for all, or None (the predicted class).
    """
    imgs = [as_rgb(im) for im in images]
    if not imgs:
        return []
    layers, reshape, _family = target_layers(model, preprocessing.img_size)
    x = torch.from_numpy(np.stack([preprocess(im, preprocessing) for im in imgs]))
    try:
        x = x.to(next(model.parameters()).device)
    except StopIteration:  # pragma: no cover
        pass
    x.requires_grad_(True)  # gradients reach the target layer even when the weights are frozen
    if target_classes is None or isinstance(target_classes, (int, np.integer)):
        targets_idx = [target_classes] * len(imgs)
    else:
        targets_idx = list(target_classes)
        if len(targets_idx) != len(imgs):
            raise ExplainError(f"{len(targets_idx)} target classes for {len(imgs)} images")
    was_training = model.training
    with _LOCK, torch.enable_grad():
        if any(t is None for t in targets_idx):
            with torch.no_grad():
                pred = model(x.detach()).argmax(1).tolist()
            targets_idx = [p if t is None else t for t, p in zip(targets_idx, pred)]
        targets = [ClassifierOutputTarget(int(t)) for t in targets_idx]
        cam = GradCAM(model=model, target_layers=layers, reshape_transform=reshape)
        try:
            maps = cam(input_tensor=x, targets=targets)
        except (RuntimeError, ValueError) as exc:
            raise ExplainError(f"Grad-CAM failed for {type(model).__name__}: {str(exc).splitlines()[0][:200]}") from None
        finally:
            cam.activations_and_grads.release()
            model.train(was_training)
            model.zero_grad(set_to_none=True)
    out = []
    for m, im in zip(maps, imgs):
        m = map_back(np.nan_to_num(np.asarray(m, dtype=np.float32)), im.shape[:2], preprocessing)
        out.append(np.clip(m, 0.0, 1.0).astype(np.float32))
    return out


def map_back(cam: np.ndarray, shape: tuple[int, int], preprocessing: Preprocessing) -> np.ndarray:
    """A map over the model's input, at an image of ``shape`` (H, W): resized over the part of the image the input
    showed (:meth:`~auxiliary.models.preprocess.Preprocessing.source_box`), zero outside it (nothing there was seen)."""
    h, w = int(shape[0]), int(shape[1])
    x0, y0, x1, y1 = preprocessing.source_box(h, w)
    x0, y0 = max(0, int(round(x0))), max(0, int(round(y0)))
    x1, y1 = min(w, max(x0 + 1, int(round(x1)))), min(h, max(y0 + 1, int(round(y1))))
    if (x0, y0, x1, y1) == (0, 0, w, h):
        return cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((h, w), np.float32)
    out[y0:y1, x0:x1] = cv2.resize(cam, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return out


def gradcam(
    model: nn.Module,
    rgb: np.ndarray,
    preprocessing: Preprocessing,
    target_class: int | None = None,
) -> np.ndarray:
    """Grad-CAM map of one RGB image: float32 (H, W) in 0..1 at the INPUT image's size.

    ``target_class`` None explains the predicted class.
    """
    return gradcam_batch(model, [rgb], preprocessing, target_class)[0]


def overlay(rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """Blend a 0..1 map (jet colour map) over an RGB image: ``(1 - alpha) * image + alpha * heat``."""
    img = as_rgb(rgb)
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape != img.shape[:2]:
        cam = cv2.resize(cam, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.uint8(np.clip(cam, 0, 1) * 255), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB).astype(np.float32)
    a = float(np.clip(alpha, 0.0, 1.0))
    return np.clip((1.0 - a) * img.astype(np.float32) + a * heat + 0.5, 0, 255).astype(np.uint8)


def gradcam_overlay(
    model: nn.Module,
    rgb: np.ndarray,
    preprocessing: Preprocessing,
    target_class: int | None = None,
    alpha: float = 0.4,
) -> np.ndarray:
    """The image with its Grad-CAM heat map blended in: uint8 RGB, same size as ``rgb``."""
    return overlay(rgb, gradcam(model, rgb, preprocessing, target_class), alpha)


def gradcam_labels(
    model: nn.Module,
    rgb: np.ndarray,
    preprocessing: Preprocessing,
    labels: int | Sequence[int],
) -> np.ndarray:
    """One Grad-CAM map per label of a multi-label model for one RGB image: float32 (len(labels), H, W) in 0..1.

    Each map explains that label's raw logit (``ClassifierOutputTarget(j)``): where the evidence for
    "label j is present" sits, whatever the other labels say. ``labels``: label indices, or their number
    (``4`` -> labels 0..3). The image is explained in one batch of ``len(labels)`` copies.
    """
    idx = list(range(int(labels))) if isinstance(labels, (int, np.integer)) else [int(j) for j in labels]
    if not idx:
        raise ExplainError("no labels to explain")
    img = as_rgb(rgb)
    maps = gradcam_batch(model, [img] * len(idx), preprocessing, idx)
    return np.stack(maps).astype(np.float32)


def describe_target(model: nn.Module, img_size: int = 224) -> str:
    """One line naming the Grad-CAM target layer chosen for ``model`` (shown in notebook 05)."""
    layers, reshape, family = target_layers(model, img_size)
    names = {id(m): n for n, m in model.named_modules()}
    text = f"{type(model).__name__}: family {family}, target layer {names.get(id(layers[0]), '?')!r}"
    return text + (" (output reshaped to a map)" if reshape else "")
