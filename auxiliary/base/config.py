"""What can be configured: one frozen dataclass per step (every field documented) and the named profiles.

Sections: ``synth`` (notebook 01), ``data`` (02), ``train`` (03-04), ``eval`` (03, 05), ``sort`` (06),
``track`` (experiment tracking, every step).
Profiles: ``smoke`` (tests and CI: seconds per notebook), ``demo`` (the README run) and ``full``
(a user with a GPU). How a profile, a YAML file and single fields combine is :mod:`auxiliary.base.config_overrides`;
the command line's flags are built from these dataclasses in :mod:`auxiliary.faces.cli.flags`.
Saving a resolved config (:func:`save`, :func:`to_dict`) and fingerprinting a section
(:func:`section_hash`) are here too.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import textwrap
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from auxiliary.base.bounds import (
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_IMAGES_PER_CLASS,
    MAX_SEED,
    MAX_THREADS,
    MAX_WORKERS,
    bounded,
)
from auxiliary.base.errors import AuxiliaryError


class ConfigError(AuxiliaryError, ValueError):
    """A configuration problem described in one line (bad key, bad value, unknown profile...)."""


def cli_flag(name: str) -> str:
    """The command-line flag of a config field: ``max_epochs`` -> ``--max-epochs``."""
    return "--" + name.replace("_", "-")


#: ``device`` values (train, eval, sort; ``--device``): auto = CUDA, then MPS, then CPU (auxiliary.base.devices).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
CHANNELS_LAST: tuple[str, ...] = ("auto", "true", "false")  # auto: on a GPU only
#: ``synth.task`` values (``simulate --task``): one label per image, or several conditions per face.
SYNTH_TASKS: tuple[str, ...] = ("single", "multilabel")
#: ``train.task`` values (``train --task``): auto follows the split folder's ``classes.json``.
TRAIN_TASKS: tuple[str, ...] = ("auto", "single", "multilabel")


@dataclass(frozen=True)
class SynthConfig:
    """Synthetic data generation (notebook 01, ``python -m auxiliary simulate``)."""

    task: str = "single"
    """single (one image per class: acne, erythema, none) or multilabel (one image per face, each of acne, erythema, hyperpigmentation and wrinkles drawn independently with its prevalence)."""
    n_per_class: int = bounded(300, at_least=1, at_most=MAX_IMAGES_PER_CLASS)
    """Images generated per class (acne, erythema, none), 1 to 100000; with task multilabel, the number of faces (``--n``); with input photos, at least one per usable photo."""
    prevalence: tuple[float, ...] = bounded((0.35, 0.25, 0.35, 0.3), at_least=0, at_most=1)
    """Task multilabel: probability (0-1) that a face shows acne, erythema, hyperpigmentation, wrinkles (four values, or one for all)."""
    size: int = bounded(256, at_least=32, at_most=1024)
    """Side of the generated square images, in pixels (32 to 1024)."""
    acne_count: tuple[int, int] = bounded((6, 40), at_least=0, at_most=500)
    """Range (min, max) of acne lesions per image (0 to 500); one value fixes the count."""
    acne_strength: tuple[float, float] = bounded((0.25, 1.0), at_least=0, at_most=1)
    """Range of acne strength (0-1) drawn per image; weak cases are genuinely hard."""
    erythema_strength: tuple[float, float] = bounded((0.25, 1.0), at_least=0, at_most=1)
    """Range of erythema strength (0-1) drawn per image."""
    acne_size_mm: tuple[float, float] = bounded((1.0, 5.0), at_least=0.1, at_most=20)
    """Range of papule/pustule diameters in mm, 0.1 to 20 (comedones, marks and nodules scale from it)."""
    erythema_extent: tuple[float, float] = bounded((0.5, 1.0), at_least=0, at_most=1)
    """Range of the extent (0-1) of the red area over cheeks, nose, chin and forehead."""
    telangiectasia: float = bounded(0.5, at_least=0, at_most=1)
    """Probability that an erythema image also shows fine dilated vessels (telangiectasia)."""
    face_layout: float = bounded(0.5, at_least=0, at_most=1)
    """Probability that a procedural image uses a face-like layout (cheeks, nose, forehead)."""
    input_dir: str | None = None
    """Folder of the user's own clean face photos to simulate on, instead of procedural skin."""
    zoom: tuple[float, float] = bounded((0.5, 30.0), at_least=0.25, at_most=40)
    """Photo mode: range (0.25 to 40) of how much closer than a frame-filling face a view is: below 1 a portrait with hair and background, 1-2 the face, 2-4 half a face, 4 and more a close-up of a few cm of skin."""
    full_face: float = bounded(0.5, at_least=0, at_most=1)
    """Photo mode: probability that a view is the whole face, its zoom log-uniform from zoom's min to 1.2 (the others: log-uniform from 2 to zoom's max)."""
    eye_bar: float = bounded(0.15, at_least=0, at_most=1)
    """Photo mode: probability that a whole-face view hides the eyes behind a bar, as clinical photos do (any class)."""
    seed: int = bounded(0, at_least=0, at_most=MAX_SEED)
    """Random seed (0 to 2147483647): the same seed gives the same bytes."""
    workers: int = bounded(1, at_least=1, at_most=MAX_WORKERS)
    """Worker processes used for generation (1 to 128)."""


@dataclass(frozen=True)
class DataConfig:
    """Reading datasets, splits, balancing and augmentation (notebook 02, ``split``)."""

    data: str = "synthetic"
    """Dataset source: ``synthetic`` (generated by notebook 01) or a path (class folders, CSV, HAM10000, ISIC, .npz)."""
    format: str = "auto"
    """Dataset format: auto, folders, csv, ham10000, isic2018, medmnist, synthetic. Multi-label data (a simulate --task multilabel folder, a CSV with 0/1 label columns or a labels column like acne|wrinkles, a multi-label MedMNIST .npz) is detected with auto, csv, medmnist or synthetic."""
    val: float = bounded(0.2, at_least=0, at_most=1)
    """Fraction of samples (by group) in the validation split (0 to 1; val + test at most 1)."""
    test: float = bounded(0.1, at_least=0, at_most=1)
    """Fraction of samples (by group) in the test split (0 to 1; val + test at most 1)."""
    group_col: str | None = None
    """Column whose values may not be shared across splits (default: lesion_id when present, else group)."""
    seed: int = bounded(0, at_least=0, at_most=MAX_SEED)
    """Random seed for splitting, sampling and augmentation (0 to 2147483647)."""
    fraction: float = bounded(1.0, above=0, at_most=1)
    """Stratified portion of each split actually used (above 0, at most 1; for quick experiments)."""
    augment: str = "geometric"
    """Augmentation preset for training: geometric, color, tone_preserving, strong (self-training: stronger colour, blur, noise, JPEG and cut-outs), none."""
    balance: str = "class"
    """Online balancing by WeightedRandomSampler: none, class, tone, both. Multi-label data: class evens out labels (each image drawn as often as its rarest label asks), tone evens out tone groups, both does both."""
    real_weight: float = bounded(1.0, at_least=1, at_most=1000)
    """How much more often training draws a row a reviewer corrected (a feedback row of a merged split: ``origin`` feedback) or that self-training pseudo-labelled (``origin`` pseudo) than another image of its class (1 to 1000; 1 = as often). For corrected real photos merged into a synthetic list, e.g. 10: 30 corrections among 1,260 synthetic images are then about a fifth of each epoch (what benchmarks/bench_adapt.py uses)."""
    oversample_to: int = bounded(0, at_least=0, at_most=MAX_IMAGES_PER_CLASS)
    """Offline oversampling target count per class in train (0 = off; at most 100000 images written per class); single-label data only (refused for multi-label data)."""
    drop_bad: bool = True
    """Drop missing, unreadable, duplicate or unlabelled rows (reported) instead of failing."""
    cache: bool = True
    """Decode and resize images once into a memory-mapped uint8 cache."""
    num_workers: int = bounded(0, at_least=0, at_most=MAX_WORKERS)
    """DataLoader worker processes (0 = in the main process; at most 128)."""


@dataclass(frozen=True)
class TrainConfig:
    """Model and fine-tuning with Lightning Fabric (notebooks 03-04, ``train``, ``select``)."""

    model: str = "resnet18"
    """timm model name (any name ``timm.list_models()`` knows)."""
    pretrained: str = "false"
    """false, true (timm hub, needs internet; offline ImageNet weights for tf_efficientnet_lite0/1/2), offline (those offline weights where the model has them, else from scratch: sweeps never download) or a path to a weights file."""
    img_size: int = bounded(224, at_least=16, at_most=1024)
    """Side of the square network input, in pixels (16 to 1024). 224 by default: on a whole face a 2 mm papule then spans 3 px (smaller inputs lose the lesions)."""
    color_constancy: str = "none"
    """Colour constancy in the model's preprocessing: none, or shades_of_gray (each channel divided by its p = 6 norm mean, as if every image were lit by the same grey light; for dermoscopy from several cameras). Recorded in the checkpoint and applied by every step that predicts; it moves the apparent skin tone, so leave it off for tone-fairness experiments."""
    batch: int = bounded(32, at_least=1, at_most=MAX_BATCH)
    """Batch size per device (1 to 4096: a larger batch exhausts memory)."""
    max_epochs: int = bounded(10, at_least=1, at_most=MAX_EPOCHS)
    """Maximum number of epochs (both phases together; 1 to 1000)."""
    freeze_epochs: int = bounded(2, at_least=0, at_most=MAX_EPOCHS)
    """Epochs with the backbone frozen, training only the head at lr_head (0 = none; at most 1000)."""
    lr_head: float = bounded(1e-3, above=0, at_most=1)
    """Learning rate while the backbone is frozen (above 0, at most 1)."""
    lr_ft: float = bounded(3e-4, above=0, at_most=1)
    """Learning rate once everything is unfrozen (above 0, at most 1)."""
    weight_decay: float = bounded(0.05, at_least=0, at_most=1)
    """AdamW weight decay (0 to 1)."""
    warmup_epochs: float = bounded(0.5, at_least=0, at_most=MAX_EPOCHS)
    """Linear warm-up length at the start of each phase, in epochs (0 = none); cosine decay after."""
    accumulate: int = bounded(1, at_least=1, at_most=1024)
    """Gradient accumulation steps (1 to 1024)."""
    grad_clip: float = bounded(1.0, at_least=0)
    """Gradient norm clipping (0 = off)."""
    label_smoothing: float = bounded(0.05, at_least=0, below=1)
    """Label smoothing of the cross entropy (at least 0, below 1)."""
    mixup: float = bounded(0.0, at_least=0, at_most=10)
    """Mixup between the images of a training batch (timm's ``Mixup``): the Beta(alpha, alpha) of the mixing weight (0 = off; 0.2 is usual; at most 10). Trains on soft targets: single-label runs with loss ce, multi-label runs with bce. Needs an even batch."""
    cutmix: float = bounded(0.0, at_least=0, at_most=10)
    """CutMix between the images of a training batch (timm): the Beta(alpha, alpha) of the pasted box's area (0 = off; 1.0 is usual; at most 10). With mixup also on, each batch uses one of the two, half each."""
    loss: str = "ce"
    """Loss: ce, weighted_ce (class-weighted), focal, or logit_adjusted (cross entropy on logits + log of the training class prior: balanced decisions without oversampling; pair with data.balance none). Multi-label data (one sigmoid per label, each with a pos_weight from the label shares the training batches see): bce, asymmetric (Ridnik et al. 2021) or focal_bce."""
    task: str = "auto"
    """single (one class per image, softmax) or multilabel (several labels per image, one sigmoid each); auto (default) follows the split folder's classes.json. A single-label loss on multi-label data, or the reverse, is refused. On the command line ``train --task`` sets this field only (a bare ``task`` key in --set or YAML also sets synth.task)."""
    focal_gamma: float = bounded(2.0, at_least=0, at_most=10)
    """Focusing parameter gamma of the focal loss (0 = cross entropy; at most 10); class weights apply as in weighted_ce."""
    ema_decay: float = bounded(0.0, at_least=0, below=1)
    """Exponential moving average of the weights (timm's ModelEmaV3), updated after every optimizer step with this decay (0 = off; 0.998 averages over the last ~500 steps). When on, validation, best.pt and the test use the averaged weights."""
    patience: int = bounded(4, at_least=0, at_most=MAX_EPOCHS)
    """Early stopping patience in epochs without improvement of ``monitor`` (0 = no early stopping)."""
    monitor: str = "val_balanced_acc"
    """Validation metric watched by early stopping and best checkpoint. Multi-label runs watch val_macro_auroc when this is left at val_balanced_acc (others: val_micro_auroc, val_macro_f1, val_hamming_loss, val_subset_accuracy, val_loss)."""
    device: str = "auto"
    """Where training and everything after it runs: auto (CUDA, then MPS, then CPU), cpu, cuda, mps."""
    accelerator: str = "auto"
    """Fabric accelerator of training: auto (follow ``device``), cpu, cuda, mps."""
    devices: str = "1"
    """Fabric devices per node: a count, a list like 0,1, or auto."""
    num_nodes: int = bounded(1, at_least=1, at_most=4096)
    """Machines of a multi-node run (1 to 4096), launched by torchrun, SLURM's srun or fabric run (README)."""
    strategy: str = "auto"
    """Fabric strategy: auto, ddp, ..."""
    precision: str = "auto"
    """Fabric precision: auto (32-true on CPU and MPS; on CUDA bf16-mixed where the GPU supports bfloat16, else 16-mixed), 32-true, bf16-mixed, 16-mixed."""
    channels_last: str = "auto"
    """channels_last memory format: auto (on a GPU only), true, false (on this CPU it cost 10% at 64 px and gained 9% at 128 px)."""
    compile: bool = False
    """Wrap the model in torch.compile (falls back to eager, with a one-line note, where it cannot compile)."""
    threads: int = bounded(0, at_least=0, at_most=MAX_THREADS)
    """CPU threads of PyTorch during training (0 = PyTorch's default; 1 is faster on a CPU shared with other jobs; at most 1024)."""
    seed: int = bounded(0, at_least=0, at_most=MAX_SEED)
    """Random seed of initialisation and data order (0 to 2147483647)."""
    select_models: tuple[str, ...] = ("resnet18", "tf_efficientnet_lite0", "mobilenetv3_large_100", "convnext_atto")
    """Architectures compared by model selection (notebook 03)."""
    select_epochs: int = bounded(3, at_least=1, at_most=MAX_EPOCHS)
    """Epoch budget per architecture in model selection (1 to 1000)."""
    select_metric: str = "val_balanced_acc"
    """Metric that picks the winner of model selection: val_balanced_acc, val_macro_auroc, val_macro_f1, val_acc, val_ece, val_log_loss, params, train_seconds, infer_img_per_s."""


@dataclass(frozen=True)
class EvalConfig:
    """Metrics, fairness, comparison, explainability (notebooks 03 and 05, ``evaluate``, ``compare``)."""

    positive_classes: tuple[str, ...] = ("acne",)
    """Classes counted as positive for the high-recall operating point (e.g. mel,bcc,akiec)."""
    target_recall: float = bounded(0.999, above=0, at_most=1)
    """Recall the high-recall operating point must reach (above 0, at most 1)."""
    n_bootstrap: int = bounded(200, at_least=0, at_most=100_000)
    """Bootstrap resamples for confidence intervals (0 = no intervals; at most 100000)."""
    ece_bins: int = bounded(15, at_least=1, at_most=1000)
    """Bins of the expected calibration error and reliability diagram (1 to 1000)."""
    fairness_col: str = "tone_group"
    """Column that defines groups for fairness (tone_group, tone_group_est, sex, ...)."""
    min_group_size: int = bounded(20, at_least=0)
    """Groups with fewer samples are flagged as too small (0 = flag none)."""
    threshold_objective: str = "f1"
    """How per-group decision thresholds are chosen on validation: f1 (maximum F1) or recall (reach target_recall)."""
    tta: bool = False
    """Also report test-time augmentation (flips) beside plain inference."""
    speed_repeats: int = bounded(5, at_least=1, at_most=1000)
    """Timed repeats (after warm-up) for speed measurements (1 to 1000); the median is reported."""
    gallery_size: int = bounded(8, at_least=1, at_most=100)
    """Images per gallery (most confident mistakes, low-confidence band, Grad-CAM; 1 to 100)."""
    device: str = "auto"
    """Where evaluation, comparison, TTA, Grad-CAM, speed timings and the export's parity check run: auto (CUDA, then MPS, then CPU), cpu, cuda, mps."""


@dataclass(frozen=True)
class SortConfig:
    """Sorting new images and the feedback loop (notebook 06, ``sort``, ``feedback``, ``serve``)."""

    conf: float = bounded(0.6, at_least=0, at_most=1)
    """Calibrated top probability (0 to 1) below which an image goes to low_confidence/. Multi-label: an image goes there when a label's probability lies within 2*conf-1 of the way from its threshold to 0 or 1."""
    sort_batch: int = bounded(16, at_least=1, at_most=MAX_BATCH)
    """Batch size of sorting inference (1 to 4096)."""
    recursive: bool = False
    """Also sort images in sub-folders of the input."""
    coverage: float | None = bounded(None, above=0, below=1)
    """If set (e.g. 0.9; above 0, below 1), use conformal prediction sets at this coverage instead of conf."""
    backend: str = "auto"
    """Inference backend: auto (the faster), torch or onnx."""
    feedback_dir: str = "data/feedback"
    """Folder collecting reviewed images as feedback_dir/<class>/ with provenance records."""
    n_new: int = bounded(60, at_least=1, at_most=MAX_IMAGES_PER_CLASS)
    """Fresh synthetic images sorted in notebook 06's feedback round (1 to 100000)."""
    review_order: str = "margin"
    """Review queue order: margin (smallest gap between the top two probabilities first) or entropy (highest first)."""
    device: str = "auto"
    """Where sorting and the web demo run the model: auto (CUDA, then MPS, then CPU), cpu, cuda, mps."""


#: Experiment trackers: csv is always on (``logs/metrics.csv``); the others need the ``tracking`` extra.
TRACKERS: tuple[str, ...] = ("csv", "tensorboard", "mlflow")


@dataclass(frozen=True)
class TrackConfig:
    """Experiment tracking of every step (``--tracking``; README "Tracking and reproducing")."""

    tracking: tuple[str, ...] = ("csv",)
    """Trackers, comma-separated: csv (always on), tensorboard, mlflow (both: pip install -e '.[tracking]')."""
    tracking_uri: str | None = None
    """MLflow tracking URI (default: the local store runs/mlruns/mlflow.db, no server; e.g. http://host:5000)."""
    experiment: str | None = None
    """MLflow experiment the runs of every step go to (default: auxiliary-<profile>)."""


SECTIONS: dict[str, type] = {
    "synth": SynthConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "sort": SortConfig,
    "track": TrackConfig,
}


@dataclass(frozen=True)
class Config:
    """The whole resolved configuration: a profile name plus one section per step."""

    profile: str = "demo"
    synth: SynthConfig = field(default_factory=SynthConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sort: SortConfig = field(default_factory=SortConfig)
    track: TrackConfig = field(default_factory=TrackConfig)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def save(self, path: str | Path) -> Path:
        return save(self, path)


#: Other spellings accepted for a field (the original course scripts' flags, common synonyms).
ALIASES: dict[str, str] = {
    "epochs": "max_epochs",
    "batch_size": "batch",
    "image_size": "img_size",
    "n": "n_per_class",
}


def field_docs(cls: type) -> dict[str, str]:
    """Map each field of a dataclass to the docstring written below it in the source."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # pragma: no cover - source not available (frozen app)
        return {}
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant):
                if isinstance(nxt.value.value, str):
                    docs[node.target.id] = nxt.value.value.strip()
    return docs


def all_keys() -> dict[str, list[str]]:
    """Bare field name -> list of sections having it."""
    out: dict[str, list[str]] = {}
    for sec, cls in SECTIONS.items():
        for f in fields(cls):
            out.setdefault(f.name, []).append(sec)
    return out


def field_type(cls: type, name: str) -> Any:
    return get_type_hints(cls)[name]


def plain_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def to_dict(cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"profile": cfg.profile}
    for sec in SECTIONS:
        out[sec] = {k: plain_value(v) for k, v in dataclasses.asdict(getattr(cfg, sec)).items()}
    return out


def save(cfg: Config, path: str | Path) -> Path:
    """Save the resolved config as YAML (``.yaml``/``.yml``) or JSON beside an output."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = to_dict(cfg)
    if p.suffix in (".yaml", ".yml"):
        p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    else:
        p.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return p


def section_hash(section: Any, extra: dict[str, Any] | None = None) -> str:
    """Short stable hash of a config section (plus extras), for output folder names and re-run skipping."""
    payload = {k: plain_value(v) for k, v in dataclasses.asdict(section).items()}
    if extra:
        payload.update(extra)
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:8]
