"""A whole synthetic dataset folder (acne, erythema, clear skin on tone-diverse skin), and single previews.

The embedded default data source of the series (notebook 01, ``python -m auxiliary simulate``):
:func:`generate_dataset` writes the class folders and ``metadata.csv``; :func:`read_synthetic_metadata`
and :func:`synthetic_summary` read it back; :func:`preview`, :func:`render_on` and :func:`tone_row`
render single images for the widget and the figures.

Skin
    Procedural clean skin from :mod:`auxiliary.synth.procedural` (a face-like layout or a close-up,
    base colour drawn in CIELAB per ITA group, see :mod:`auxiliary.synth.skin`), or the user's own
    clean face photos with a skin mask from :mod:`auxiliary.synth.skinmask`.

Classes (all deltas in CIELAB, applied only on the skin mask, real sizes in millimetres)
    ``acne`` (:mod:`auxiliary.synth.acne`), ``erythema`` (rosacea-like redness,
    :mod:`auxiliary.synth.erythema`) and ``none``: the clean skin itself, which carries the hard
    negatives of every class alike (natural blush, a few red macules, freckles, naevi, specular
    shine, pores). Parameters are drawn from the ranges of ``cfg`` and each image then goes through a
    random camera (slight defocus, sensor noise, JPEG): :mod:`auxiliary.synth.samplers`. Redness is
    scaled by :func:`auxiliary.synth.skin.redness_visibility`, so at equal ``strength`` it is harder
    to see on brown and dark skin, as in real photos.

Determinism
    Every image draws from its own generator seeded by ``(seed, subject, stream)``, so the same
    seed gives the same bytes whatever ``workers`` is. One *subject* (a clean skin) is rendered
    once and yields one image per class (``group`` = subject id, so splits keep them together);
    tone groups cycle over subjects, so tones are balanced within and across classes.

:func:`generate_dataset` makes the dataset of ``cfg.task`` (:data:`GENERATORS`): one class per image
(:func:`generate_class_dataset`, below), or several conditions per face (:mod:`auxiliary.synth.multilabel_dataset`);
the checks, folder rules and workers both use are in :mod:`auxiliary.synth.folders`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.config import SynthConfig
from auxiliary.base.files import read_csv, write_csv_atomic
from auxiliary.base.images import write_png
from auxiliary.base.tone import TONE_GROUPS, ita_group
from auxiliary.synth.acne import acne_lesions, render_acne
from auxiliary.synth.erythema import add_erythema
from auxiliary.synth.folders import (
    SynthError,
    check_synth_config,
    finish_dataset,
    render_dataset,
)
from auxiliary.synth.lesion import Lesion
from auxiliary.synth.multilabel_dataset import generate_multilabel_dataset
from auxiliary.synth.procedural import render_skin
from auxiliary.synth.samplers import CLASSES, MULTILABELS, camera, camera_params, render_subject
from auxiliary.synth.skin import SkinCanvas, lab_image_to_rgb


# ----------------------------------------------------------------------------- dataset
def _write_subject(out: str, results: list, rel: bool = True) -> tuple[list[dict], list[dict]]:
    rows, lesion_rows = [], []
    for label, rgb, row, lesions in results:
        name = f"{label}/{label}_{row['subject']:05d}" + (f"_v{row['variant']:02d}" if row["variant"] else "") + ".png"
        write_png(Path(out) / name, rgb, fast=True)
        row = {"path": name, **row}
        rows.append(row)
        for i, les in enumerate(lesions):
            lesion_rows.append({"path": name, "lesion": i, **les.to_dict()})
    return rows, lesion_rows


def _write_views(cfg: SynthConfig, out: str, subject: int, variant: int, canvas: SkinCanvas | None, source: str,
                 info: dict) -> tuple[list[dict], list[dict]]:
    """Every class of one subject (:func:`~auxiliary.synth.samplers.render_subject`), written: (rows, lesion rows)."""
    res = render_subject(cfg, subject, canvas=canvas, source=source, variant=variant)
    for _, _, row, _ in res:
        row.update(info)
    return _write_subject(out, res)


def generate_class_dataset(
    cfg: SynthConfig, out_dir: str | Path, *, overwrite: bool = False, progress: bool = True
) -> pd.DataFrame:
    """Generate the single-label dataset of ``cfg`` (one class per image) into ``out_dir``; returns the
    metadata table.

    Writes ``out_dir/{acne,erythema,none}/*.png``, ``metadata.csv`` (paths relative to
    ``out_dir``; label, tone_group, ita, group, source, strength, count, every simulator and
    camera parameter, seed), ``lesions.csv`` (one row per acne lesion) and, with photos,
    ``skipped.csv``. ``metadata.csv`` is written last, so its presence marks a complete dataset.
    Refuses a non-empty ``out_dir`` unless ``overwrite`` (then only its synthetic images and
    CSVs are replaced). The returned table has absolute paths (the team's sample-table contract).
    """
    out = Path(out_dir)
    rows, lrows, skipped, seconds = render_dataset(cfg, out, overwrite=overwrite, progress=progress,
                                                   write=_write_views, desc="simulate")
    meta = _tidy(pd.DataFrame(rows))
    write_csv_atomic(out / "lesions.csv", pd.DataFrame(
        lrows, columns=["path", "lesion", "x", "y", "radius", "kind", "intensity", "aspect", "angle"]))
    counts = meta["label"].value_counts().reindex(list(CLASSES), fill_value=0)
    msg = (f"simulate: wrote {len(meta)} images ({', '.join(f'{k} {v}' for k, v in counts.items())}) to {out} "
           f"in {seconds:.1f} s")
    return finish_dataset(out, meta, msg, skipped, progress)


#: The generator of each ``synth.task``: one class per image, or several conditions per face.
GENERATORS: dict[str, Callable[..., pd.DataFrame]] = {
    "single": generate_class_dataset,
    "multilabel": generate_multilabel_dataset,
}


def generate_dataset(
    cfg: SynthConfig, out_dir: str | Path, *, overwrite: bool = False, progress: bool = True
) -> pd.DataFrame:
    """Generate the synthetic dataset of ``cfg`` into ``out_dir`` with the generator of ``cfg.task``
    (:data:`GENERATORS`); returns the metadata table with absolute paths (``attrs["summary"]``: one line)."""
    check_synth_config(cfg, photos=bool(cfg.input_dir))  # an unknown task is refused in one line here
    return GENERATORS[cfg.task](cfg, out_dir, overwrite=overwrite, progress=progress)


def _tidy(meta: pd.DataFrame) -> pd.DataFrame:
    """Lesion counts are 0 (not missing) where a simulator did not run; stable row order."""
    for c in meta.columns:
        if c.startswith("n_") or c in ("papules", "count"):
            meta[c] = meta[c].fillna(0).astype(int)
    if "telangiectasia" in meta:
        meta["telangiectasia"] = meta["telangiectasia"].fillna(False).astype(bool)
    return meta.sort_values(["label", "subject", "variant"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- previews and reading back
def preview(
    kind: str = "acne",
    *,
    tone_group: str = "light",
    strength: float = 0.5,
    count: int = 20,
    seed: int = 0,
    size: int = 256,
    layout: str | None = None,
    extent: float = 0.7,
    lesion_kind: str | None = None,
    camera_on: bool = False,
) -> np.ndarray:
    """One image with explicit parameters (for the widget and the figures); RGB uint8."""
    canvas = render_skin(size, tone_group, np.random.default_rng([seed, 7]), layout=layout)
    return render_on(canvas, kind, strength=strength, count=count, seed=seed, extent=extent, lesion_kind=lesion_kind,
                     camera_on=camera_on)


def render_on(
    canvas: SkinCanvas, kind: str, *, strength: float, count: int = 20, seed: int = 0, extent: float = 0.7,
    lesion_kind: str | None = None, camera_on: bool = False, lesions: list[Lesion] | None = None,
) -> np.ndarray:
    """Render ``kind`` on ``canvas`` with fixed parameters (same ``seed`` -> same placement on same geometry)."""
    lab = canvas.lab.copy()
    rng = np.random.default_rng([seed, 11])
    if kind == "acne":
        if lesions is None:
            kinds = (lesion_kind,) if lesion_kind and lesion_kind != "mixed" else None
            lesions = acne_lesions(canvas, rng, count=count, strength=strength, kinds=kinds)
        render_acne(lab, canvas, lesions, strength=strength, shine=float(canvas.meta.get("shine", 0.2)))
    elif kind == "erythema":
        add_erythema(lab, canvas, rng, strength=strength, extent=extent, telangiectasia=True, papules=0)
    elif kind != "none":
        raise ValueError(f"unknown class {kind!r} (choose from {', '.join(CLASSES)})")
    if camera_on:
        cam_rng = np.random.default_rng([seed, 13])
        return camera(lab, cam_rng, camera_params(cam_rng, scale=canvas.shape[0] / 256.0))
    return lab_image_to_rgb(lab)


def tone_row(kind: str, *, strength: float = 0.5, count: int = 24, seed: int = 0, size: int = 256,
             layout: str = "face") -> list[np.ndarray]:
    """The same lesion parameters (same geometry, same lesion list) on all six tone groups."""
    canvases = [render_skin(size, g, np.random.default_rng([seed, 7]), layout=layout) for g in TONE_GROUPS]
    lesions = None
    if kind == "acne":
        lesions = acne_lesions(canvases[0], np.random.default_rng([seed, 11]), count=count, strength=strength)
    return [render_on(c, kind, strength=strength, count=count, seed=seed, lesions=lesions) for c in canvases]


def read_synthetic_metadata(out_dir: str | Path) -> pd.DataFrame:
    """The metadata table of a generated dataset, with absolute paths (its cells as they were generated: a photo
    named ``=1+1.jpg`` is its ``source`` again, :func:`auxiliary.base.files.read_csv`)."""
    out = Path(out_dir)
    f = out / "metadata.csv"
    if not f.is_file():
        raise SynthError(f"no synthetic dataset in {out} (metadata.csv missing): run `python -m auxiliary simulate`")
    table = read_csv(f)
    table["path"] = [str((out / p).resolve()) for p in table["path"]]
    return table


def multilabel_columns(table: pd.DataFrame) -> list[str]:
    """The condition columns of a multi-label dataset (``simulate --task multilabel``), empty for a single-label one."""
    return [c for c in MULTILABELS if c in table.columns and f"{c}_strength" in table.columns]


def synthetic_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Key figures of a generated dataset (what notebook 01 records).

    Single-label: images per class and mean strength per class. Multi-label: faces per condition
    (``per_class``), mean strength where present, and how many faces carry 0, 1, 2... conditions."""
    in_group = (table["ita"].map(ita_group) == table["tone_group"]).mean() if len(table) else float("nan")
    labels = multilabel_columns(table)
    out: dict[str, Any] = {"n_images": int(len(table)), "task": "multilabel" if labels else "single"}
    if labels:
        present = table[labels].astype(int)
        out["per_class"] = {c: int(present[c].sum()) for c in labels}
        out["strength_mean"] = {c: float(table.loc[present[c] == 1, f"{c}_strength"].mean()) for c in labels}
        out["conditions_per_face"] = {int(k): int(v) for k, v in present.sum(axis=1).value_counts().sort_index().items()}
    else:
        out["per_class"] = {k: int(v) for k, v in table["label"].value_counts().sort_index().items()}
        out["strength_mean"] = {k: float(v) for k, v in table.groupby("label")["strength"].mean().items()}
    out.update({
        "tone_groups": {k: int(v) for k, v in table["tone_group"].value_counts().sort_index().items()},
        "ita_in_group_fraction": float(in_group),
        "layouts": {k: int(v) for k, v in table["layout"].value_counts().items()},
    })
    return out


def describe_synthetic(table: pd.DataFrame) -> pd.DataFrame:
    """Per class (single-label: strength, lesion count, ITA) or per condition (multi-label: faces, share,
    strength where present, faces with it per tone group) summary statistics of a generated dataset."""
    labels = multilabel_columns(table)
    if not labels:
        return table.groupby("label")[["strength", "count", "ita"]].describe().round(2)
    rows = {}
    for c in labels:
        on = table[table[c].astype(int) == 1]
        rows[c] = {"faces": len(on), "share": len(on) / max(len(table), 1),
                   "strength_mean": on[f"{c}_strength"].mean(), "strength_min": on[f"{c}_strength"].min(),
                   "strength_max": on[f"{c}_strength"].max(),
                   **{f"faces_{g}": int((on["tone_group"] == g).sum()) for g in TONE_GROUPS}}
    return pd.DataFrame(rows).T.round(3)
