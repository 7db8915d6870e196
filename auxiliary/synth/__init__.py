"""Simulating skin conditions on clean skin and on a user's face photos, across skin tones (notebook 01).

Modules, one job each:

- ``acne``, ``erythema``: the simulators, pure functions with explicit parameters (``add_acne``, ``add_erythema``).
- ``hyperpigmentation``, ``wrinkles``: the multi-label conditions' simulators (melasma, lentigines, post-inflammatory
  marks; forehead lines, crow's feet, nasolabial folds, fine lines), same shape, each with its own sampler
  (``HyperpigmentationSampler``, ``WrinklesSampler``).
- ``samplers``: ``AcneSampler`` / ``ErythemaSampler`` draw those parameters from ranges with their own
  generator; the camera model; all images of one subject (``render_subject``).
- ``lesion``: what every simulator returns (``SimResult``, ``Lesion``) and the range helpers they share.
- ``skin``: the skin canvas of a known tone (CIELAB, ITA) and its texture; ``procedural``: the default
  canvases (a flat patch or a stylised face); ``noise``: the noise and point patterns both use.
- ``skinmask``: where the skin is in a user's own face photo; ``photo``: views of that photo (face, half face,
  close-up) as canvases, with its scale and light direction.
- ``chromophores``: skin colour as absorbed light: the haemoglobin (redness) and melanin the simulators add.
- ``dataset``: a whole synthetic dataset folder (class folders + ``metadata.csv``), previews;
  ``multilabel_dataset``: the multi-label one (several conditions per face, one 0/1 column per label);
  ``folders``: what both share (settings' checks, output-folder rules, input photos, worker pool).

Public names used by the notebooks: ``generate_dataset``, ``read_synthetic_metadata``, ``synthetic_summary``,
``tone_row``, ``preview``, ``render_on``, ``add_acne``, ``add_erythema``, ``AcneSampler``, ``ErythemaSampler``,
``render_skin``, ``load_photo``.
"""

from auxiliary.synth.acne import add_acne, simulate_acne
from auxiliary.synth.dataset import (
    SynthError,
    describe_synthetic,
    generate_dataset,
    multilabel_columns,
    preview,
    read_synthetic_metadata,
    render_on,
    synthetic_summary,
    tone_row,
)
from auxiliary.synth.erythema import add_erythema, simulate_erythema
from auxiliary.synth.lesion import Lesion, SimResult
from auxiliary.synth.multilabel_dataset import generate_multilabel_dataset
from auxiliary.synth.photo import load_photo
from auxiliary.synth.procedural import render_skin
from auxiliary.synth.samplers import AcneSampler, ErythemaSampler, render_subject
from auxiliary.synth.skin import SkinCanvas
from auxiliary.synth.skinmask import skin_mask

__all__ = [
    "AcneSampler",
    "add_acne",
    "add_erythema",
    "ErythemaSampler",
    "generate_dataset",
    "generate_multilabel_dataset",
    "Lesion",
    "load_photo",
    "preview",
    "describe_synthetic",
    "multilabel_columns",
    "read_synthetic_metadata",
    "render_on",
    "render_skin",
    "render_subject",
    "SimResult",
    "simulate_acne",
    "simulate_erythema",
    "skin_mask",
    "SkinCanvas",
    "SynthError",
    "synthetic_summary",
    "tone_row",
]
