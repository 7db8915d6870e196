"""A multi-label synthetic dataset (``simulate --task multilabel``): several conditions on one face.

Per face (a procedural subject, or a view of one of the user's photos) each of acne, erythema,
hyperpigmentation and wrinkles is drawn independently with its probability (``cfg.prevalence``), so
some faces show none and some two or three. The chosen simulators run one after the other on one
CIELAB copy of the clean canvas, always in the order erythema, hyperpigmentation, acne, wrinkles (redness
under the pigment, the papules above both, the folds' shading last), then the camera of
:mod:`auxiliary.synth.samplers`.

Written to ``out``: ``images/face_<subject>[_v<variant>].png``, ``metadata.csv`` (``path``, ``label``
= the present labels joined by ``|`` or ``none``, one 0/1 column per label, ``<label>_strength`` (0 when
absent), ``<label>_visible`` (share of the skin it visibly changed), ``tone_group``, ``ita`` (the clean skin, as in the single-label dataset), ``ita_image``,
``tone_group_est``, ``group`` (the subject, or the source photo), ``source``, ``subject``, ``layout``,
``seed``), readable by :func:`auxiliary.data.readers.read_dataset`; ``params.csv`` (every
simulator's, the canvas's and the camera's parameters, prefixed by label); ``lesions.csv`` (acne lesions
and pigment macules, with their label); with photos ``skipped.csv``. ``metadata.csv`` is written last.

The procedural canvas of a multi-label face has no freckles: freckles (ephelides) are hyperpigmentation,
and a face labelled without it must not show them (naevi, moles, stay). The same seed gives the
same subjects otherwise.

A condition must be visible to count (:func:`visible_draw`): a draw that moves less than
:data:`MIN_VISIBLE` (0.5 %) of the skin by delta E 3 is drawn again, up to :data:`VISIBLE_TRIES` times
(faint forehead lines or two small marks on a whole face otherwise become labels nobody can see);
``<label>_visible`` in ``metadata.csv`` records the share that moved.

Determinism: every draw comes from :func:`~auxiliary.synth.samplers.subject_stream` of ``(seed, subject,
stream, variant)``, so the same seed gives the same bytes whatever ``workers`` is; tone groups cycle over
subjects as in the single-label dataset.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.config import SynthConfig
from auxiliary.base.files import write_csv_atomic
from auxiliary.base.images import write_png
from auxiliary.synth.folders import finish_dataset, prevalences, render_dataset
from auxiliary.synth.hyperpigmentation import HyperpigmentationSampler
from auxiliary.synth.procedural import render_skin
from auxiliary.synth.samplers import (
    MULTILABELS,
    AcneSampler,
    ErythemaSampler,
    camera,
    camera_params,
    measure_ita,
    settle_tone,
    subject_fields,
    subject_stream,
    subject_tone,
)
from auxiliary.synth.skin import SkinCanvas
from auxiliary.synth.wrinkles import WrinklesSampler

#: A drawn condition counts as present only when it can be seen: it must move at least this share of the
#: skin by :data:`VISIBLE_DELTA_E` (before the camera); weaker draws are drawn again (label noise otherwise:
#: a label whose evidence is below what the eye, or a network, can see).
MIN_VISIBLE: float = 0.005
VISIBLE_DELTA_E: float = 3.0
VISIBLE_TRIES: int = 4

#: the order the simulators run in on one face
APPLY_ORDER: tuple[str, ...] = ("erythema", "hyperpigmentation", "acne", "wrinkles")
LESION_COLUMNS = ["path", "label", "lesion", "x", "y", "radius", "kind", "intensity", "aspect", "angle"]


def face_samplers(cfg: SynthConfig) -> dict[str, Any]:
    """Label -> its sampler (acne and erythema with ``cfg``'s ranges, the other two with their defaults)."""
    return {"acne": AcneSampler.from_config(cfg), "erythema": ErythemaSampler.from_config(cfg),
            "hyperpigmentation": HyperpigmentationSampler(), "wrinkles": WrinklesSampler()}


def visible_share(before: np.ndarray, after: np.ndarray, skin: np.ndarray) -> float:
    """Share of the skin whose colour moved by at least :data:`VISIBLE_DELTA_E` (CIELAB delta E)."""
    sk = skin > 0.5
    if not sk.any():
        return 0.0
    dE = np.sqrt(((after - before) ** 2).sum(axis=2))
    return float((dE[sk] >= VISIBLE_DELTA_E).mean())


def visible_draw(sampler: Any, canvas: SkinCanvas, seed: int, subject: int, label: str, variant: int
                 ) -> tuple[Any, float]:
    """One condition drawn on ``canvas`` so that it can be seen: the first of :data:`VISIBLE_TRIES` draws
    that moves at least :data:`MIN_VISIBLE` of the skin by delta E 3, else the most visible of them.
    Returns the simulator's result and its visible share."""
    best, best_share = None, -1.0
    for attempt in range(VISIBLE_TRIES):
        res = sampler(canvas, rng=subject_stream(seed, subject, label, variant + 1000 * attempt))
        share = visible_share(canvas.lab, res.image, canvas.skin)
        if share > best_share:
            best, best_share = res, share
        if share >= MIN_VISIBLE:
            break
    return best, best_share


def render_multilabel_face(cfg: SynthConfig, subject: int, canvas: SkinCanvas | None = None, source: str = "procedural",
                variant: int = 0) -> tuple[np.ndarray, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """One face with its independently drawn conditions: (RGB, metadata row, parameters, lesion records)."""
    seed = int(cfg.seed)
    if canvas is None:
        canvas = render_skin(cfg.size, subject_tone(subject), subject_stream(seed, subject, "skin"),
                             face_layout=float(cfg.face_layout), freckles=False)  # freckles: unlabelled hyperpigmentation
    common = {k: v for k, v in canvas.meta.items() if not k.startswith("_")}
    canvas, ita = settle_tone(canvas)
    draw = subject_stream(seed, subject, "labels", variant)
    present = {lab: bool(draw.random() < p) for lab, p in prevalences(cfg).items()}  # always four draws
    samplers = face_samplers(cfg)
    current = canvas
    changed = np.zeros(canvas.shape, bool)
    strengths = dict.fromkeys(MULTILABELS, 0.0)
    params: dict[str, Any] = {}
    lesions: list[dict[str, Any]] = []
    visible = dict.fromkeys(MULTILABELS, 0.0)
    for label in APPLY_ORDER:
        if not present[label]:
            continue
        res, visible[label] = visible_draw(samplers[label], current, seed, subject, label, variant)
        current = replace(current, lab=res.image)
        changed |= res.mask
        strengths[label] = round(float(res.params.get("strength", 0.0)), 4)
        params.update({f"{label}_{k}": v for k, v in res.params.items() if k != "strength"})
        lesions += [{"label": label, "lesion": i, **les.to_dict()} for i, les in enumerate(res.lesions)]
    cam_rng = subject_stream(seed, subject, "camera", 16 * variant)
    cam = camera_params(cam_rng, scale=canvas.shape[0] / 256.0, closeup=canvas.meta.get("view") == "closeup")
    rgb = camera(current.lab.copy(), cam_rng, cam)
    ita_img = measure_ita(rgb, canvas.skin, changed)
    names = [lab for lab in MULTILABELS if present[lab]]
    row: dict[str, Any] = {
        "label": "|".join(names) or "none",
        **{lab: int(present[lab]) for lab in MULTILABELS},
        **{f"{lab}_strength": strengths[lab] for lab in MULTILABELS},
        **{f"{lab}_visible": round(visible[lab], 5) for lab in MULTILABELS},
        **subject_fields(canvas, ita, ita_img, source, subject),
        "layout": canvas.layout,
        "is_augmented": False,
        "seed": seed,
    }
    return rgb, row, {"subject": subject, "variant": variant, **params, **cam, **common}, lesions


def _write_face(cfg: SynthConfig, out: str, subject: int, variant: int, canvas: SkinCanvas | None, source: str,
                info: dict) -> tuple[list[dict], list[dict]]:
    """One face (:func:`render_multilabel_face`), written: ([metadata row], [{"params", "lesions"}])."""
    rgb, row, params, lesions = render_multilabel_face(cfg, subject, canvas, source, variant)
    name = f"images/face_{subject:05d}" + (f"_v{variant:02d}" if variant else "") + ".png"
    write_png(Path(out) / name, rgb, fast=True)
    return [{"path": name, **row}], [{"params": {"path": name, **params, **info},
                                      "lesions": [{"path": name, **les} for les in lesions]}]


def generate_multilabel_dataset(cfg: SynthConfig, out_dir: str | Path, *, overwrite: bool = False,
                                progress: bool = True) -> pd.DataFrame:
    """Generate the multi-label dataset of ``cfg`` into ``out_dir`` (see the module docstring); returns the
    metadata table with absolute paths. ``cfg.n_per_class`` is the number of faces (with photos: at least one
    per usable photo). A non-empty ``out_dir`` is refused unless ``overwrite``, as for the single-label set."""
    out = Path(out_dir)
    rows, extra, skipped, seconds = render_dataset(cfg, out, overwrite=overwrite, progress=progress,
                                                   write=_write_face, desc="simulate multilabel")
    order = sorted(range(len(rows)), key=lambda i: (extra[i]["params"]["subject"], extra[i]["params"]["variant"]))
    meta = pd.DataFrame([rows[i] for i in order])
    params = pd.DataFrame([extra[i]["params"] for i in order])
    for c in params.columns:  # counts are 0 (not missing) where a simulator did not run
        if "_n_" in c or c.endswith(("_count", "_papules")):
            params[c] = params[c].fillna(0).astype(int)
    write_csv_atomic(out / "params.csv", params)
    write_csv_atomic(out / "lesions.csv",
                     pd.DataFrame([les for i in order for les in extra[i]["lesions"]], columns=LESION_COLUMNS))
    Y = meta[list(MULTILABELS)].to_numpy() if len(meta) else np.zeros((0, len(MULTILABELS)), int)
    k = Y.sum(axis=1)
    shown = ", ".join(f"{lab} {int(n)}" for lab, n in zip(MULTILABELS, Y.sum(axis=0)))
    msg = (f"simulate: wrote {len(meta)} multi-label images ({shown}; "
           f"no label {int((k == 0).sum())}, two or more {int((k >= 2).sum())}) to {out} in {seconds:.1f} s")
    return finish_dataset(out, meta, msg, skipped, progress)
