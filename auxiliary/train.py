"""Fine-tuning a timm model with Lightning Fabric (notebook 04, ``python -m auxiliary train``).

The loop follows Fabric's own split: :func:`train` runs one epoch, :func:`validate` one
evaluation pass, :func:`fit` (and :func:`fit_loaders` under it) the whole run. Fabric takes
``accelerator``, ``devices``, ``strategy`` and ``precision`` from the config, so the same code
runs on this CPU, one GPU, several GPUs (DDP) and several nodes (``fabric run`` / ``torchrun``).

Precision: on CPU the default is ``32-true``. ``bf16-mixed`` on CPU runs through
``torch.autocast("cpu")``: on CPUs without native bfloat16 (no AVX512-BF16 / AMX, like most
laptops and this machine) it is *slower* than float32, and some CPU kernels lose accuracy in
bfloat16 (losses that stall or NaN), so use it on GPUs; ``16-mixed`` needs a GPU.

Schedule, as in the original course project: phase ``head`` trains only the classifier head at
``lr_head`` for ``freeze_epochs`` with the backbone frozen (weights *and* BatchNorm statistics,
the backbone runs in eval mode); phase ``finetune`` trains everything at ``lr_ft``. Each phase
has a fresh AdamW (no weight decay on biases and norms), a linear warm-up of ``warmup_epochs``
then cosine decay to 1 % of its learning rate. Gradient accumulation (``accumulate``, with
``fabric.no_backward_sync``), gradient-norm clipping, label smoothing, class-weighted cross
entropy or focal loss, the balanced sampler of :func:`auxiliary.data.build_loader`,
``channels_last`` and optional ``torch.compile``.

Early stopping watches ``monitor`` (default ``val_balanced_acc``) in the last phase with
``patience`` epochs; the head phase always runs its ``freeze_epochs``.

Reproducibility: every epoch reseeds Python, NumPy, torch, the loader's sampler and the
augmentation pipeline from ``seed`` and the epoch number, so a run is deterministic on CPU, and
a run resumed from ``last.pt`` (``resume=True``) continues the same schedule and ends with the same
weights as an uninterrupted one (exactly with ``num_workers=0``; persistent loader workers keep
their own augmentation streams).

Run folder (``runs/<name>/``)::

    best.pt              weights of the best epoch + model name, classes, img_size, mean/std,
                         temperature fitted on validation logits, config, metrics, versions
    last.pt              resume state: weights, optimizer, schedule, epoch, history, RNG states
    config.yaml          the resolved configuration
    logs/metrics.csv     epoch, phase, lr, train_loss, val_loss, train_acc, val_acc,
                         val_balanced_acc, val_macro_f1, seconds, images_per_second
    logs/loss_curve.png, logs/accuracy_curve.png, logs/confusion_matrix.png  (validation)
    val_predictions.csv  path, label, tone_group, prob_<class>... of the best model (calibrated)
    test_predictions.csv the same on the test split (when it is not empty)
    summary.json         best epoch and metrics, test metrics, epochs run, seconds, speed

Every ``.pt`` file loads with ``torch.load(path, weights_only=True)``: only tensors and Python
literals (RNG states are stored as tensors).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import calibration, models
from . import config as config_mod
from .config import Config, TrainConfig
from .errors import AuxiliaryError

METRIC_COLUMNS: tuple[str, ...] = (
    "epoch",
    "phase",
    "lr",
    "train_loss",
    "val_loss",
    "train_acc",
    "val_acc",
    "val_balanced_acc",
    "val_macro_f1",
    "seconds",
    "images_per_second",
)
MONITORS: tuple[str, ...] = ("val_balanced_acc", "val_macro_f1", "val_acc", "val_loss", "train_loss", "train_acc")
LOSSES: tuple[str, ...] = ("ce", "weighted_ce", "focal", "logit_adjusted")
PRECISIONS: tuple[str, ...] = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")
#: Files and folders of a run that :func:`fit` writes (and ``overwrite`` removes).
RUN_OUTPUTS: tuple[str, ...] = (
    "best.pt",
    "last.pt",
    "summary.json",
    "config.yaml",
    "val_predictions.csv",
    "test_predictions.csv",
    "logs",
)
#: Files whose presence means a folder holds a (possibly interrupted) run.
RUN_MARKERS: tuple[str, ...] = ("best.pt", "last.pt", "summary.json", "logs/metrics.csv")
STATE_FORMAT = 1
MIN_LR_RATIO = 0.01


class TrainError(AuxiliaryError):
    """Training cannot start or continue (bad setting, empty split, mismatching resume state...)."""


class RunExistsError(TrainError):
    """The run folder already holds a run and neither resume nor overwrite was asked for."""


# ====================================================================================== setup
def _parse_devices(devices: Any) -> int | str | list[int]:
    s = str(devices).strip().lower()
    if s in ("auto", "-1"):
        return s if s == "auto" else -1
    if "," in s or s.startswith("["):
        return [int(v) for v in s.strip("[] ").split(",") if v.strip()]
    try:
        return int(s)
    except ValueError:
        raise TrainError(f"devices must be a count, a list like 0,1 or auto; got {devices!r}") from None


def make_fabric(tcfg: TrainConfig) -> Any:
    """A ``lightning_fabric.Fabric`` from the config's accelerator, devices, strategy and precision."""
    from lightning_fabric import Fabric

    if tcfg.precision not in PRECISIONS:
        raise TrainError(f"unknown precision {tcfg.precision!r} (choose from: {', '.join(PRECISIONS)})")
    try:
        fabric = Fabric(
            accelerator=tcfg.accelerator,
            devices=_parse_devices(tcfg.devices),
            strategy=tcfg.strategy,
            precision=tcfg.precision,
        )
    except (ValueError, RuntimeError, TypeError) as exc:
        raise TrainError(f"cannot set up Fabric: {str(exc).splitlines()[0][:240]}") from None
    if fabric.world_size > 1:
        fabric.launch()
    return fabric


def check_config(tcfg: TrainConfig) -> None:
    """Refuse settings that cannot work, with one line each."""
    problems = []
    if tcfg.max_epochs < 1:
        problems.append(f"max_epochs must be at least 1 (got {tcfg.max_epochs})")
    if tcfg.freeze_epochs < 0:
        problems.append(f"freeze_epochs must be >= 0 (got {tcfg.freeze_epochs})")
    if tcfg.batch < 1:
        problems.append(f"batch must be at least 1 (got {tcfg.batch})")
    if tcfg.accumulate < 1:
        problems.append(f"accumulate must be at least 1 (got {tcfg.accumulate})")
    if tcfg.img_size < 16:
        problems.append(f"img_size must be at least 16 (got {tcfg.img_size})")
    if tcfg.lr_head <= 0 or tcfg.lr_ft <= 0:
        problems.append("lr_head and lr_ft must be positive")
    if tcfg.loss not in LOSSES:
        problems.append(f"unknown loss {tcfg.loss!r} (choose from: {', '.join(LOSSES)})")
    if tcfg.monitor not in MONITORS:
        problems.append(f"unknown monitor {tcfg.monitor!r} (choose from: {', '.join(MONITORS)})")
    if not 0 <= tcfg.label_smoothing < 1:
        problems.append(f"label_smoothing must be in [0, 1) (got {tcfg.label_smoothing})")
    if not 0 <= tcfg.ema_decay < 1:
        problems.append(f"ema_decay must be in [0, 1) (got {tcfg.ema_decay}; 0 = off, e.g. 0.998)")
    if problems:
        raise TrainError("; ".join(problems))


def monitor_mode(monitor: str) -> str:
    """``min`` for losses, ``max`` for everything else."""
    return "min" if monitor.endswith("loss") else "max"


def phase_plan(tcfg: TrainConfig) -> list[tuple[str, int, int]]:
    """``[(phase, first_epoch, end_epoch)]``: ``head`` (frozen backbone) then ``finetune``."""
    k = min(max(int(tcfg.freeze_epochs), 0), int(tcfg.max_epochs))
    plan = []
    if k > 0:
        plan.append(("head", 0, k))
    if tcfg.max_epochs > k:
        plan.append(("finetune", k, int(tcfg.max_epochs)))
    return plan


def phase_of(plan: Sequence[tuple[str, int, int]], epoch: int) -> tuple[str, int, int]:
    for p in plan:
        if p[1] <= epoch < p[2]:
            return p
    raise TrainError(f"epoch {epoch} is outside the schedule {plan}")


class WarmupCosine:
    """Learning rate as a pure function of the optimizer step: linear warm-up, then cosine decay.

    ``lr(step)`` for ``step`` in ``[0, total_steps)``; the final value is ``min_ratio * base_lr``.
    Being a function of the step count only, it resumes exactly from a saved step.
    """

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0, min_ratio: float = MIN_LR_RATIO):
        self.base_lr = float(base_lr)
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = int(min(max(0, warmup_steps), self.total_steps - 1))
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        step = min(max(int(step), 0), self.total_steps - 1)
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / (self.warmup_steps + 1)
        span = max(1, self.total_steps - self.warmup_steps - 1)
        progress = (step - self.warmup_steps) / span
        low = self.base_lr * self.min_ratio
        return low + (self.base_lr - low) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    def state_dict(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_ratio": self.min_ratio,
        }


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): cross entropy scaled by ``(1 - p_true) ** gamma``.

    ``weight`` (per-class alpha) and ``label_smoothing`` behave as in ``F.cross_entropy``; the mean
    is taken over the weights of the samples' classes, like weighted cross entropy.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("weight", weight.float() if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        ce = F.cross_entropy(logits, target, reduction="none", label_smoothing=self.label_smoothing)
        p_true = torch.softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        loss = (1.0 - p_true).clamp(min=0).pow(self.gamma) * ce
        if self.weight is not None:
            w = self.weight[target]
            return (loss * w).sum() / w.sum().clamp(min=1e-12)
        return loss.mean()


class LogitAdjustedLoss(nn.Module):
    """Logit-adjusted cross entropy (Menon et al. 2021, "Long-tail learning via logit adjustment").

    Trains on ``logits + tau * log(prior)``, where ``prior`` is the class distribution the model
    sees in training (after any sampler). The network's raw logits then score each class as if
    all were equally frequent: their argmax targets balanced accuracy without oversampling the
    rare images (no change at inference). ``tau = 1`` is the Fisher-consistent choice.
    """

    def __init__(self, prior: torch.Tensor, tau: float = 1.0, label_smoothing: float = 0.0):
        super().__init__()
        p = torch.as_tensor(prior, dtype=torch.float32)
        if p.ndim != 1 or not torch.isfinite(p).all() or (p < 0).any() or float(p.sum()) <= 0:
            raise TrainError(f"logit_adjusted needs a class prior of non-negative counts, got {p.tolist()}")
        p = (p / p.sum()).clamp(min=1e-8)  # an absent class gets a very negative offset, not -inf
        self.register_buffer("offset", float(tau) * p.log())
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float() + self.offset, target, label_smoothing=self.label_smoothing)


def build_criterion(
    tcfg: TrainConfig, class_weights: torch.Tensor | None = None, class_prior: torch.Tensor | None = None
) -> nn.Module:
    """The training loss of ``tcfg.loss``; ``weighted_ce`` and ``focal`` use ``class_weights``,
    ``logit_adjusted`` the class distribution of training batches ``class_prior``."""
    if tcfg.loss not in LOSSES:
        raise TrainError(f"unknown loss {tcfg.loss!r} (choose from: {', '.join(LOSSES)})")
    if tcfg.loss == "logit_adjusted":
        if class_prior is None:
            raise TrainError("loss logit_adjusted needs the class prior of the training batches "
                             "(data.sampled_class_prior of the training table)")
        return LogitAdjustedLoss(class_prior, 1.0, tcfg.label_smoothing)
    weight = None
    if tcfg.loss in ("weighted_ce", "focal") and class_weights is not None:
        weight = torch.as_tensor(class_weights, dtype=torch.float32)
    if tcfg.loss == "focal":
        return FocalLoss(tcfg.focal_gamma, weight, tcfg.label_smoothing)
    if tcfg.loss == "weighted_ce" and weight is None:
        raise TrainError("loss weighted_ce needs class weights (data.class_weights of the training table)")
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=tcfg.label_smoothing)


def make_ema(model: nn.Module, decay: float) -> Any:
    """A ``timm.utils.ModelEmaV3`` of ``model`` (every parameter and buffer averaged, on the model's device)."""
    from timm.utils import ModelEmaV3

    ema = ModelEmaV3(model, decay=float(decay))
    for p in ema.module.parameters():
        p.requires_grad_(False)
    return ema


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases and normalisation weights."""
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0})
              if g["params"]]
    return torch.optim.AdamW(groups, lr=lr)


# ====================================================================================== seeding
def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    seed = int(seed) % (2**31)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + 7919 * (int(epoch) + 1)) % (2**31)


def reseed_loader(loader: Any, seed: int) -> None:
    """Reseed a DataLoader's generators, its sampler's and its dataset's augmentation for one epoch."""
    seed = int(seed) % (2**31)
    loader = getattr(loader, "_dataloader", loader)  # a Fabric-wrapped loader
    objs = [loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)]
    bs = getattr(loader, "batch_sampler", None)
    objs.append(getattr(bs, "sampler", None))
    for obj in objs:
        gen = getattr(obj, "generator", None)
        if isinstance(gen, torch.Generator):
            gen.manual_seed(seed)
        if obj is not None and hasattr(obj, "set_epoch") and not isinstance(obj, torch.utils.data.DataLoader):
            try:
                obj.set_epoch(seed)
            except TypeError:  # pragma: no cover - unusual signature
                pass
    ds = getattr(loader, "dataset", None)
    for holder in (ds, getattr(ds, "dataset", None)):
        if holder is None:
            continue
        for value in list(vars(holder).values()):
            if hasattr(value, "set_random_seed") and callable(value.set_random_seed):
                value.set_random_seed(seed)  # albumentations Compose
        if hasattr(holder, "set_epoch"):
            holder.set_epoch(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states as tensors and literals (``weights_only``-loadable)."""
    py = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_gauss": float(gauss),
        "python_version": int(py[0]),
        "python_state": torch.tensor(py[1], dtype=torch.int64),
        "python_gauss": py[2] if py[2] is None else float(py[2]),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, int(state["numpy_pos"]), int(state["numpy_has_gauss"]),
                         float(state["numpy_gauss"])))
    random.setstate((int(state["python_version"]), tuple(int(v) for v in state["python_state"].tolist()),
                     state["python_gauss"]))


# ====================================================================================== metrics
def classification_metrics(labels: np.ndarray, logits: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1 (scikit-learn) and macro AUROC (one-vs-rest, over the
    classes present with both positives and negatives) of logits or probabilities."""
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    y = np.asarray(labels, dtype=int)
    z = np.asarray(logits, dtype=np.float64)
    if len(y) == 0:
        return {"acc": float("nan"), "balanced_acc": float("nan"), "macro_f1": float("nan"), "macro_auroc": float("nan")}
    pred = z.argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bal = balanced_accuracy_score(y, pred)
        present = sorted(set(y.tolist()) | set(pred.tolist()))
        f1 = f1_score(y, pred, labels=present, average="macro", zero_division=0)
    probs = calibration.softmax(z) if not _is_prob(z) else z
    aucs = []
    for c in range(n_classes):
        pos = y == c
        if 0 < pos.sum() < len(y):
            aucs.append(roc_auc_score(pos.astype(int), probs[:, c]))
    return {
        "acc": float((pred == y).mean()),
        "balanced_acc": float(bal),
        "macro_f1": float(f1),
        "macro_auroc": float(np.mean(aucs)) if aucs else float("nan"),
    }


def _is_prob(z: np.ndarray) -> bool:
    return bool(z.size) and z.min() >= 0 and np.allclose(z.sum(axis=1), 1.0, atol=1e-4)


# ====================================================================================== loop
def _split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    if isinstance(batch, dict):
        return batch["x"], batch["y"], batch.get("meta")
    x, y = batch[0], batch[1]
    return x, y, batch[2] if len(batch) > 2 else None


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", model)  # _FabricModule.module -> the original module
    return getattr(inner, "_orig_mod", inner)  # torch.compile


def train(
    fabric: Any,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: Iterable,
    criterion: nn.Module,
    *,
    lr_fn: Callable[[int], float] | None = None,
    step: int = 0,
    accumulate: int = 1,
    grad_clip: float = 0.0,
    channels_last: bool = False,
    frozen_backbone: bool = False,
    ema: Any = None,
    progress: bool = True,
    desc: str = "train",
) -> dict[str, float]:
    """One training epoch. ``step`` counts optimizer steps of the phase (the schedule's input);
    ``ema`` (a ``timm.utils.ModelEmaV3`` of the unwrapped model) is updated after each optimizer step.
    Returns loss, acc, images, seconds, images_per_second, the new ``step`` and the last ``lr``."""
    from tqdm.auto import tqdm

    model.train()
    if frozen_backbone:
        models.set_backbone_eval(_unwrap(model))
    n_batches = len(loader)  # type: ignore[arg-type]
    accumulate = max(1, int(accumulate))
    dev = getattr(fabric, "device", torch.device("cpu"))
    raw_model = _unwrap(model)
    total_loss = torch.zeros((), dtype=torch.float32, device=dev)  # on the device: no sync per step on a GPU
    correct = torch.zeros((), dtype=torch.float32, device=dev)
    seen = 0
    lr = optimizer.param_groups[0]["lr"]
    t0 = time.perf_counter()
    bar = tqdm(loader, total=n_batches, desc=desc, leave=False, disable=not progress, unit="batch")
    optimizer.zero_grad(set_to_none=True)
    for i, batch in enumerate(bar):
        x, y, _ = _split_batch(batch)
        if channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        boundary = (i + 1) % accumulate == 0 or (i + 1) == n_batches
        with fabric.no_backward_sync(model, enabled=not boundary):
            logits = model(x)
            loss = criterion(logits, y)
            fabric.backward(loss / accumulate)
        if boundary:
            if lr_fn is not None:
                lr = lr_fn(step)
                for g in optimizer.param_groups:
                    g["lr"] = lr
            if grad_clip and grad_clip > 0:
                fabric.clip_gradients(model, optimizer, max_norm=float(grad_clip), error_if_nonfinite=False)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if ema is not None:
                ema.update(raw_model)
        b = int(y.shape[0])
        seen += b
        total_loss += loss.detach().float() * b
        correct += (logits.detach().argmax(1) == y).sum()
        if progress and (i % 5 == 0 or i + 1 == n_batches):
            bar.set_postfix(loss=f"{total_loss.item() / max(seen, 1):.3f}", lr=f"{lr:.2e}")
    bar.close()
    seconds = time.perf_counter() - t0
    stats = torch.stack([total_loss, correct, torch.tensor(float(seen), device=dev)])
    if getattr(fabric, "world_size", 1) > 1:
        stats = fabric.all_reduce(stats, reduce_op="sum")
    loss_sum, corr, n = stats.double().cpu().tolist()
    return {
        "loss": loss_sum / max(n, 1),
        "acc": corr / max(n, 1),
        "images": int(n),
        "seconds": seconds,
        "images_per_second": n / seconds if seconds > 0 else float("nan"),
        "step": int(step),
        "lr": float(lr),
    }


@torch.no_grad()
def validate(
    fabric: Any,
    model: nn.Module,
    loader: Iterable,
    criterion: nn.Module | None = None,
    *,
    n_classes: int | None = None,
    channels_last: bool = False,
    progress: bool = True,
    desc: str = "validate",
) -> dict[str, Any]:
    """One evaluation pass: loss, acc, balanced_acc, macro_f1, macro_auroc plus ``logits``,
    ``labels`` and ``index`` (row positions from the loader's meta, else 0..N-1), in loader order."""
    from tqdm.auto import tqdm

    model.eval()
    logits_all, labels_all, index_all = [], [], []
    loss_sum, n = 0.0, 0
    for batch in tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch"):
        x, y, meta = _split_batch(batch)
        if channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x).float()
        if criterion is not None:
            loss_sum += float(criterion(logits, y)) * int(y.shape[0])
        n += int(y.shape[0])
        logits_all.append(logits.cpu())
        labels_all.append(y.cpu())
        idx = meta.get("index") if isinstance(meta, dict) else None
        index_all.append(torch.as_tensor(idx).cpu() if idx is not None else torch.full((int(y.shape[0]),), -1))
    logits_np = torch.cat(logits_all).numpy() if logits_all else np.zeros((0, n_classes or 0), dtype=np.float32)
    labels_np = torch.cat(labels_all).numpy().astype(int) if labels_all else np.zeros(0, dtype=int)
    index_np = torch.cat(index_all).numpy().astype(int) if index_all else np.zeros(0, dtype=int)
    if len(index_np) and (index_np < 0).any():
        index_np = np.arange(len(labels_np))
    k = int(n_classes or (logits_np.shape[1] if logits_np.ndim == 2 else 0))
    out: dict[str, Any] = classification_metrics(labels_np, logits_np, k)
    out["loss"] = loss_sum / n if n and criterion is not None else float("nan")
    out.update(logits=logits_np, labels=labels_np, index=index_np, images=n)
    return out


# ====================================================================================== run folder
def prepare_run_dir(out_dir: str | Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Create ``out_dir``; refuse one holding a run unless ``resume`` or ``overwrite`` (which deletes
    only this module's outputs, never anything else in the folder)."""
    out = Path(out_dir)
    if _secondary_rank():
        return out
    _refuse_existing(out, resume, overwrite)
    existing = [name for name in RUN_OUTPUTS if (out / name).exists()]
    if existing and overwrite and not resume:
        for name in existing:
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    return out


def _write_csv_atomic(df: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)


def _write_json_atomic(data: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=2), encoding="utf-8")
    tmp.replace(path)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Path):
        return str(v)
    return v


def predictions_frame(
    probs: np.ndarray, labels: np.ndarray, index: np.ndarray, classes: Sequence[str], table: Any = None
) -> Any:
    """``path, label, tone_group, prob_<class>..., pred`` rows in table order (when a table is given)."""
    import pandas as pd

    order = np.argsort(index, kind="stable")
    idx, p, y = index[order], probs[order], labels[order]
    df = pd.DataFrame({"index": idx})
    if table is not None and len(table):
        t = table.reset_index(drop=True).iloc[idx]
        df["path"] = t["path"].astype(str).to_numpy()
        df["label"] = t["label"].astype(str).to_numpy()
        df["tone_group"] = t["tone_group"].astype(str).to_numpy() if "tone_group" in t else "unknown"
    else:
        df["path"] = ""
        df["label"] = [classes[i] for i in y]
        df["tone_group"] = "unknown"
    for j, c in enumerate(classes):
        df[f"prob_{c}"] = p[:, j]
    df["pred"] = [classes[i] for i in p.argmax(axis=1)] if len(p) else []
    return df.drop(columns=["index"])


# ====================================================================================== fit
def with_model(cfg: Config, model: str) -> Config:
    """``cfg`` with ``train.model`` replaced (e.g. by ``pipeline.selected_model(cfg)``)."""
    return replace(cfg, train=replace(cfg.train, model=str(model)))


def run_name(cfg: Config) -> str:
    """Default run name ``<model>-<profile>``: the folder ``pipeline.run_dir(cfg)`` and notebook 05 use.

    The name does not hold the dataset: :func:`ensure_run` retrains in place (saying so) when the
    folder holds a run made with other settings (e.g. ``DATA`` switched to HAM10000)."""
    return f"{cfg.train.model}-{cfg.profile}"


#: Settings that do not change what a run learns (ignored when deciding whether a run can be reused).
_REUSE_IGNORED = ("threads", "devices", "accelerator", "strategy", "compile", "num_workers", "cache")


def _settings(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for sec in ("train", "data") + (("synth",) if str(cfg_dict["data"]["data"]).lower() == "synthetic" else ()):
        out[sec] = {k: v for k, v in cfg_dict[sec].items() if k not in _REUSE_IGNORED and not k.startswith("select_")}
    return out


def same_settings(run_dir: str | Path, cfg: Config) -> bool:
    """Whether the run in ``run_dir`` was made with the same learning-relevant settings as ``cfg``."""
    f = Path(run_dir) / "config.yaml"
    if not f.is_file():
        return False
    try:
        saved = config_mod.to_dict(config_mod.load(f))
    except (AuxiliaryError, ValueError, KeyError, TypeError, OSError):
        return False
    return _settings(saved) == _settings(config_mod.to_dict(cfg))


def ensure_run(cfg: Config, name: str | None = None, progress: bool = True) -> Path:
    """The run folder of ``cfg`` (``runs/<run_name(cfg)>``) with a finished run: reused when it was
    made with the same settings, resumed when interrupted, otherwise trained (an existing run with
    other settings is replaced, with a message saying so)."""
    from . import pipeline

    out = pipeline.run_dir(cfg, name or run_name(cfg))
    same = same_settings(out, cfg)
    if same and (out / "summary.json").is_file() and (out / "best.pt").is_file():
        print(f"reusing the finished run {out} (same settings)")
        return out
    resume = same and (out / "last.pt").is_file()
    exists = any((out / n).exists() for n in RUN_MARKERS)
    if exists and not resume:
        print(f"{out} holds a run with other settings: training again in its place")
    split = pipeline.ensure_splits(cfg, progress=progress)
    fit(cfg, split, out, resume=resume, overwrite=exists and not resume, progress=progress)
    return out


def fit(
    cfg: Config,
    split_dir: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``cfg.train.model`` on the split folder ``split_dir`` into the run folder ``out_dir``.

    Reads the split with :func:`auxiliary.data.load_split`, builds loaders with
    :func:`auxiliary.data.build_loader` (augmentation and balanced sampler for train), and runs
    :func:`fit_loaders`. Returns the summary (also written to ``summary.json``).
    """
    from . import data

    tcfg = cfg.train
    check_config(tcfg)
    out = Path(out_dir)
    _refuse_existing(out, resume, overwrite)
    tables, classes = data.load_split(split_dir)
    for name in ("train", "val"):
        if len(tables[name]) == 0:
            raise TrainError(f"the {name} split of {split_dir} is empty: training needs train and val samples")
    seed_all(tcfg.seed)
    model = models.create_model(tcfg.model, len(classes), pretrained=tcfg.pretrained)
    norm = models.data_config(model)
    common = dict(img_size=tcfg.img_size, mean=norm["mean"], std=norm["std"], data_cfg=cfg.data, seed=tcfg.seed)
    n_train = len(tables["train"])
    devices = _parse_devices(tcfg.devices)
    world = len(devices) if isinstance(devices, list) else (devices if isinstance(devices, int) and devices > 0 else 1)
    train_loader = data.build_loader(  # drop_last: a last batch of one sample breaks BatchNorm
        tables["train"], classes, train=True, batch_size=tcfg.batch, drop_last=n_train > tcfg.batch * world,
        progress=progress, **common,
    )
    val_loader = data.build_loader(tables["val"], classes, train=False, batch_size=tcfg.batch, progress=progress,
                                   **common)
    test_loader = None
    if len(tables["test"]):
        test_loader = data.build_loader(tables["test"], classes, train=False, batch_size=tcfg.batch,
                                        progress=progress, **common)
    weights = data.class_weights(tables["train"], classes) if tcfg.loss in ("weighted_ce", "focal") else None
    prior = (data.sampled_class_prior(tables["train"], classes, cfg.data.balance)
             if tcfg.loss == "logit_adjusted" else None)
    return fit_loaders(
        cfg, classes, train_loader, val_loader, out, model=model, test_loader=test_loader,
        val_table=tables["val"], test_table=tables["test"], class_weights=weights, class_prior=prior,
        mean=norm["mean"],
        std=norm["std"], resume=resume, overwrite=overwrite, progress=progress, split_dir=split_dir,
    )


def _secondary_rank() -> bool:
    """True in the extra processes of a multi-process launch (DDP ranks > 0 re-run the same command)."""
    return any(os.environ.get(k, "0").strip() not in ("", "0") for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def _refuse_existing(out: Path, resume: bool, overwrite: bool) -> None:
    if _secondary_rank():
        return  # rank 0 already checked (and prepared) the run folder
    existing = [name for name in RUN_MARKERS if (out / name).exists()]
    if existing and not (resume or overwrite):
        raise RunExistsError(
            f"run folder {out} already holds a run ({', '.join(existing)}); choose another name, "
            "or pass --resume (continue it) or --overwrite (start again)"
        )


#: Train settings a resumed run must share with the run it continues (others may change).
RESUME_KEYS: tuple[str, ...] = (
    "model", "pretrained", "img_size", "batch", "max_epochs", "freeze_epochs", "lr_head", "lr_ft",
    "weight_decay", "warmup_epochs", "accumulate", "grad_clip", "label_smoothing", "loss", "focal_gamma",
    "monitor", "seed", "ema_decay",
)


def fit_loaders(
    cfg: Config,
    classes: Sequence[str],
    train_loader: Any,
    val_loader: Any,
    out_dir: str | Path,
    *,
    model: nn.Module | None = None,
    test_loader: Any = None,
    val_table: Any = None,
    test_table: Any = None,
    class_weights: torch.Tensor | None = None,
    class_prior: torch.Tensor | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    split_dir: str | Path | None = None,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """The whole run on ready loaders (any iterables of ``(x, y[, meta])`` with a length).

    ``model`` defaults to ``models.create_model(cfg.train.model, len(classes), cfg.train.pretrained)``.
    ``stop_after_epochs`` simulates an interruption after that many epochs of this call (tests).
    ``class_weights`` / ``class_prior``: see :func:`build_criterion`.
    """
    threads = int(cfg.train.threads)
    old_threads = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        return _fit_loaders(
            cfg, classes, train_loader, val_loader, out_dir, model=model, test_loader=test_loader,
            val_table=val_table, test_table=test_table, class_weights=class_weights, class_prior=class_prior,
            mean=mean, std=std,
            resume=resume, overwrite=overwrite, progress=progress, split_dir=split_dir,
            stop_after_epochs=stop_after_epochs,
        )
    finally:
        if threads > 0:
            torch.set_num_threads(old_threads)


def _fit_loaders(
    cfg: Config,
    classes: Sequence[str],
    train_loader: Any,
    val_loader: Any,
    out_dir: str | Path,
    *,
    model: nn.Module | None,
    test_loader: Any,
    val_table: Any,
    test_table: Any,
    class_weights: torch.Tensor | None,
    class_prior: torch.Tensor | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    resume: bool,
    overwrite: bool,
    progress: bool,
    split_dir: str | Path | None,
    stop_after_epochs: int | None,
) -> dict[str, Any]:
    t_start = time.perf_counter()
    tcfg = cfg.train
    check_config(tcfg)
    classes = list(classes)
    out = prepare_run_dir(out_dir, resume=resume, overwrite=overwrite)
    last_path, best_path = out / "last.pt", out / "best.pt"
    state = _load_last(last_path, tcfg, classes) if resume and last_path.is_file() else None
    if state is not None and state.get("finished") and (out / "summary.json").is_file():
        return json.loads((out / "summary.json").read_text(encoding="utf-8"))

    fabric = make_fabric(tcfg)
    seed_all(tcfg.seed)
    if model is None:
        model = models.create_model(tcfg.model, len(classes), pretrained=tcfg.pretrained)
    norm = models.data_config(model)
    mean = tuple(mean or norm["mean"])
    std = tuple(std or norm["std"])
    if tcfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    raw = model
    if state is not None:
        raw.load_state_dict(state["model"])
    if fabric.is_global_zero:
        config_mod.save(cfg, out / "config.yaml")

    criterion = build_criterion(tcfg, class_weights, class_prior)
    plain_criterion = criterion
    train_loader_f = fabric.setup_dataloaders(train_loader, use_distributed_sampler=True, move_to_device=True)
    val_loader_f = fabric.setup_dataloaders(val_loader, use_distributed_sampler=False, move_to_device=True)
    criterion = criterion.to(fabric.device)

    plan = phase_plan(tcfg)
    n_batches = len(train_loader_f)
    if n_batches == 0:
        raise TrainError("the training loader yields no batch (fewer samples than one batch with drop_last?)")
    steps_per_epoch = math.ceil(n_batches / max(1, tcfg.accumulate))
    mode = monitor_mode(tcfg.monitor)
    history: list[dict[str, Any]] = list(state["history"]) if state else []
    start_epoch = int(state["epoch"]) if state else 0
    best_value = float(state["best_value"]) if state else (-math.inf if mode == "max" else math.inf)
    best_epoch = int(state["best_epoch"]) if state else -1
    bad_epochs = int(state["bad_epochs"]) if state else 0
    stopped_early = bool(state.get("stopped_early", False)) if state else False
    finished = bool(state.get("finished", False)) if state else False
    phase_step = int(state["phase_step"]) if state else 0
    saved_phase = str(state["phase"]) if state else None
    if state is not None and "rng" in state:
        set_rng_state(state["rng"])
    if state is not None:
        fabric.print(f"resuming {out} at epoch {start_epoch + 1}/{tcfg.max_epochs}")

    current_phase: str | None = None
    fmodel = optimizer = schedule = None
    ema: Any = None
    epochs_this_call = 0
    epoch = start_epoch
    while not finished and epoch < tcfg.max_epochs:
        phase, p_start, p_end = phase_of(plan, epoch)
        if phase != current_phase:
            models.set_backbone_trainable(raw, phase != "head")
            forward_model: nn.Module = torch.compile(raw) if tcfg.compile else raw
            fmodel = fabric.setup_module(forward_model)
            if ema is None and tcfg.ema_decay > 0:
                ema = make_ema(raw, tcfg.ema_decay)  # after setup_module: the copy lives on the device
                if state is not None and state.get("ema") is not None:
                    ema.module.load_state_dict(state["ema"])
            base_lr = tcfg.lr_head if phase == "head" else tcfg.lr_ft
            optimizer = fabric.setup_optimizers(make_optimizer(raw, base_lr, tcfg.weight_decay))
            schedule = WarmupCosine(base_lr, steps_per_epoch * (p_end - p_start),
                                    round(tcfg.warmup_epochs * steps_per_epoch))
            if state is not None and saved_phase == phase and epoch > p_start:
                optimizer.load_state_dict(state["optimizer"])
            else:
                phase_step = 0
            if phase == plan[-1][0] and epoch == p_start:
                bad_epochs = 0  # patience counts within the last phase
            current_phase = phase
        e_seed = epoch_seed(tcfg.seed, epoch)
        seed_all(e_seed)
        reseed_loader(train_loader_f, e_seed)
        t0 = time.perf_counter()
        tr = train(
            fabric, fmodel, optimizer, train_loader_f, criterion, lr_fn=schedule, step=phase_step,
            accumulate=tcfg.accumulate, grad_clip=tcfg.grad_clip, channels_last=tcfg.channels_last,
            frozen_backbone=phase == "head", ema=ema, progress=progress,
            desc=f"epoch {epoch + 1}/{tcfg.max_epochs} [{phase}]",
        )
        phase_step = tr["step"]
        if ema is None:
            va = validate(fabric, fmodel, val_loader_f, plain_criterion.to(fabric.device), n_classes=len(classes),
                          channels_last=tcfg.channels_last, progress=progress, desc="validate")
        else:  # the averaged weights are the ones validated, kept as best.pt and tested
            with fabric.autocast():
                va = validate(fabric, ema.module, val_loader_f, plain_criterion.to(fabric.device),
                              n_classes=len(classes), channels_last=tcfg.channels_last, progress=progress,
                              desc="validate (EMA)")
        seconds = time.perf_counter() - t0
        row = {
            "epoch": epoch + 1,
            "phase": phase,
            "lr": tr["lr"],
            "train_loss": tr["loss"],
            "val_loss": va["loss"],
            "train_acc": tr["acc"],
            "val_acc": va["acc"],
            "val_balanced_acc": va["balanced_acc"],
            "val_macro_f1": va["macro_f1"],
            "seconds": seconds,
            "images_per_second": tr["images_per_second"],
        }
        history.append(row)
        value = float(row[tcfg.monitor])
        improved = (value > best_value) if mode == "max" else (value < best_value)
        if math.isnan(value):
            improved = False
        if improved:
            best_value, best_epoch, bad_epochs = value, epoch + 1, 0
            if fabric.is_global_zero:
                _save_best(best_path, out, raw if ema is None else ema.module, tcfg, cfg, classes, mean, std, va,
                           row, val_table)
        else:
            bad_epochs += 1
        in_last_phase = phase == plan[-1][0]
        fabric.print(
            f"epoch {epoch + 1}/{tcfg.max_epochs} [{phase}] train loss {tr['loss']:.3f} acc {tr['acc']:.3f} | "
            f"val loss {va['loss']:.3f} bal.acc {va['balanced_acc']:.3f} F1 {va['macro_f1']:.3f} | "
            f"{seconds:.1f} s, {tr['images_per_second']:.0f} img/s" + ("  *best*" if improved else "")
        )
        epoch += 1
        if in_last_phase and tcfg.patience > 0 and bad_epochs >= tcfg.patience and epoch < tcfg.max_epochs:
            stopped_early = True
            fabric.print(f"early stopping: {tcfg.monitor} did not improve for {bad_epochs} epochs")
        finished = stopped_early or epoch >= tcfg.max_epochs
        if fabric.is_global_zero:
            _write_metrics(history, out)
        _save_last(fabric, last_path, raw, optimizer, tcfg, cfg, classes, epoch=epoch, phase=phase,
                   phase_step=phase_step, schedule=schedule, best_value=best_value, best_epoch=best_epoch,
                   bad_epochs=bad_epochs, history=history, finished=finished, stopped_early=stopped_early,
                   img_size=tcfg.img_size, mean=mean, std=std, ema=ema)
        epochs_this_call += 1
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs and not finished:
            return {"interrupted": True, "epochs_run": epoch}

    # ------------------------------------------------------------------ final: test, plots, summary
    summary = _finalize(fabric, out, cfg, classes, history, best_epoch, best_value, stopped_early, test_loader,
                        test_table, val_table, split_dir, t_start)
    return summary


def _load_last(path: Path, tcfg: TrainConfig, classes: list[str]) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise TrainError(f"cannot read the resume state {path}: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(state, dict) or state.get("kind") != "last":
        raise TrainError(f"{path} is not a resume state of this project")
    if list(state.get("classes", [])) != classes:
        raise TrainError(f"cannot resume {path.parent}: its classes {state.get('classes')} differ from {classes}")
    saved = state.get("train", {})
    diffs = [f"{k}: {saved.get(k)!r} -> {getattr(tcfg, k)!r}" for k in RESUME_KEYS
             if k in saved and config_mod.coerce(saved[k], type(getattr(tcfg, k)), k) != getattr(tcfg, k)]
    if diffs:
        raise TrainError(
            f"cannot resume {path.parent} with different settings ({'; '.join(diffs)}); "
            "use the original settings, or --overwrite to start again"
        )
    return state


def _save_last(fabric: Any, path: Path, model: nn.Module, optimizer: Any, tcfg: TrainConfig, cfg: Config,
               classes: list[str], *, epoch: int, phase: str, phase_step: int, schedule: WarmupCosine,
               best_value: float, best_epoch: int, bad_epochs: int, history: list[dict[str, Any]],
               finished: bool, stopped_early: bool, img_size: int, mean: Sequence[float],
               std: Sequence[float], ema: Any = None) -> None:
    state = {
        "format": STATE_FORMAT,
        "kind": "last",
        "model_name": tcfg.model,
        "classes": list(classes),
        "img_size": int(img_size),
        "mean": list(mean),
        "std": list(std),
        "model": model,
        "ema": ema.module if ema is not None else None,
        "optimizer": optimizer,
        "scheduler": {**schedule.state_dict(), "step": int(phase_step), "phase": phase},
        "epoch": int(epoch),
        "phase": phase,
        "phase_step": int(phase_step),
        "best_value": float(best_value),
        "best_epoch": int(best_epoch),
        "bad_epochs": int(bad_epochs),
        "history": [dict(r) for r in history],
        "finished": bool(finished),
        "stopped_early": bool(stopped_early),
        "rng": rng_state(),
        "train": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(tcfg).items()},
        "config": config_mod.to_dict(cfg),
        "versions": models.library_versions(),
    }
    tmp = path.with_name(path.name + ".tmp")
    fabric.save(tmp, state)
    if fabric.is_global_zero:
        tmp.replace(path)
    fabric.barrier()


def _save_best(path: Path, out: Path, model: nn.Module, tcfg: TrainConfig, cfg: Config, classes: list[str],
               mean: Sequence[float], std: Sequence[float], va: dict[str, Any], row: dict[str, Any],
               val_table: Any) -> None:
    temperature = calibration.fit_temperature(va["logits"], va["labels"])
    metrics = {k: v for k, v in row.items() if k != "phase"}
    metrics["val_macro_auroc"] = va["macro_auroc"]
    models.save_checkpoint(
        path, model, model_name=tcfg.model, classes=classes, img_size=tcfg.img_size, mean=tuple(mean),
        std=tuple(std), config=config_mod.to_dict(cfg), metrics=metrics, temperature=temperature,
        extra={"kind": "best", "epoch": int(row["epoch"])},
    )
    probs = calibration.softmax(va["logits"], temperature)
    _write_csv_atomic(predictions_frame(probs, va["labels"], va["index"], classes, val_table),
                      out / "val_predictions.csv")


def _write_metrics(history: list[dict[str, Any]], out: Path) -> None:
    import pandas as pd

    df = pd.DataFrame(history, columns=list(METRIC_COLUMNS))
    _write_csv_atomic(df, out / "logs" / "metrics.csv")


def _finalize(fabric: Any, out: Path, cfg: Config, classes: list[str], history: list[dict[str, Any]],
              best_epoch: int, best_value: float, stopped_early: bool, test_loader: Any, test_table: Any,
              val_table: Any, split_dir: Any, t_start: float) -> dict[str, Any]:
    tcfg = cfg.train
    best_path = out / "best.pt"
    if not best_path.is_file():
        raise TrainError(f"no best checkpoint in {out}: every validation value of {tcfg.monitor} was NaN")
    best_model, info = models.load_checkpoint(best_path)
    temperature = float(info.get("temperature", 1.0))
    test: dict[str, Any] | None = None
    if test_loader is not None and len(test_loader):
        if tcfg.channels_last:
            best_model = best_model.to(memory_format=torch.channels_last)
        fm = fabric.setup_module(best_model)
        tl = fabric.setup_dataloaders(test_loader, use_distributed_sampler=False)
        te = validate(fabric, fm, tl, None, n_classes=len(classes), channels_last=tcfg.channels_last,
                      progress=False, desc="test")
        probs = calibration.softmax(te["logits"], temperature)
        test = {k: te[k] for k in ("acc", "balanced_acc", "macro_f1")}
        test["macro_auroc"] = classification_metrics(te["labels"], probs, len(classes))["macro_auroc"]
        test["images"] = int(te["images"])
        if fabric.is_global_zero:
            _write_csv_atomic(predictions_frame(probs, te["labels"], te["index"], classes, test_table),
                              out / "test_predictions.csv")
    best_row = next((r for r in history if int(r["epoch"]) == best_epoch), {})
    val_pred = _read_predictions(out / "val_predictions.csv", classes)
    val_auroc = float("nan")
    if val_pred is not None and len(val_pred):
        lab = val_pred["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
        val_auroc = classification_metrics(lab, val_pred[[f"prob_{c}" for c in classes]].to_numpy(),
                                           len(classes))["macro_auroc"]
    speeds = [float(r["images_per_second"]) for r in history if r.get("images_per_second")]
    summary = {
        "run_dir": str(out),
        "model": tcfg.model,
        "pretrained": tcfg.pretrained,
        "classes": classes,
        "img_size": tcfg.img_size,
        "split_dir": str(split_dir) if split_dir else None,
        "epochs_run": len(history),
        "max_epochs": tcfg.max_epochs,
        "freeze_epochs": tcfg.freeze_epochs,
        "stopped_early": stopped_early,
        "monitor": tcfg.monitor,
        "best_epoch": best_epoch,
        "best_value": best_value,
        "best_val_balanced_acc": best_row.get("val_balanced_acc"),
        "best_val_macro_f1": best_row.get("val_macro_f1"),
        "best_val_acc": best_row.get("val_acc"),
        "best_val_loss": best_row.get("val_loss"),
        "val_macro_auroc": val_auroc,
        "temperature": temperature,
        "test_balanced_acc": test["balanced_acc"] if test else None,
        "test_macro_f1": test["macro_f1"] if test else None,
        "test_acc": test["acc"] if test else None,
        "test_macro_auroc": test["macro_auroc"] if test else None,
        "test": test,
        "seconds_training": float(sum(float(r["seconds"]) for r in history)),
        "seconds_this_call": time.perf_counter() - t_start,
        "images_per_second": float(np.median(speeds)) if speeds else None,
        "precision": tcfg.precision,
        "accelerator": str(fabric.device),
        "world_size": int(fabric.world_size),
        "versions": models.library_versions(),
        "finished": True,
    }
    if fabric.is_global_zero:
        _write_plots(out, history, val_pred, classes, tcfg.freeze_epochs)
        _write_json_atomic(summary, out / "summary.json")
    fabric.barrier()
    return _jsonable(summary)


def _read_predictions(path: Path, classes: Sequence[str]) -> Any:
    import pandas as pd

    if not path.is_file():
        return None
    return pd.read_csv(path, keep_default_na=False, dtype={"label": str, "pred": str, "path": str})


# ====================================================================================== results & plots
def load_run(run_dir: str | Path) -> dict[str, Any]:
    """A finished run's ``summary`` (dict), ``metrics`` (DataFrame of logs/metrics.csv),
    ``val_predictions`` and ``test_predictions`` (DataFrames or None), ``classes``."""
    import pandas as pd

    run = Path(run_dir)
    if not (run / "summary.json").is_file():
        raise TrainError(f"{run} is not a finished training run (no summary.json)")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    classes = list(summary["classes"])
    metrics = pd.read_csv(run / "logs" / "metrics.csv")
    return {
        "summary": summary,
        "classes": classes,
        "metrics": metrics,
        "val_predictions": _read_predictions(run / "val_predictions.csv", classes),
        "test_predictions": _read_predictions(run / "test_predictions.csv", classes),
        "run_dir": run,
    }


def per_class_recall(predictions: Any, classes: Sequence[str]) -> Any:
    """Recall, support and precision per class from a predictions frame (``label`` and ``prob_*``)."""
    import pandas as pd

    probs = predictions[[f"prob_{c}" for c in classes]].to_numpy()
    pred = np.asarray(classes)[probs.argmax(axis=1)] if len(probs) else np.asarray([], dtype=str)
    label = predictions["label"].astype(str).to_numpy()
    rows = []
    for c in classes:
        pos = label == c
        predicted = pred == c
        rows.append({
            "class": c,
            "support": int(pos.sum()),
            "recall": float((pred[pos] == c).mean()) if pos.any() else float("nan"),
            "precision": float((label[predicted] == c).mean()) if predicted.any() else float("nan"),
        })
    return pd.DataFrame(rows).set_index("class")


def plot_curves(metrics: Any, kind: str = "loss", freeze_epochs: int | None = None, ax: Any = None) -> Any:
    """Training curves from ``logs/metrics.csv``: ``kind="loss"`` (train/val loss) or ``"accuracy"``
    (train/val accuracy, val balanced accuracy and macro-F1). Returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    cols = {"loss": ["train_loss", "val_loss"],
            "accuracy": ["train_acc", "val_acc", "val_balanced_acc", "val_macro_f1"]}.get(kind)
    if cols is None:
        raise ValueError(f"kind must be loss or accuracy, got {kind!r}")
    for c in cols:
        ax.plot(metrics["epoch"], metrics[c], marker="o", label=c)
    if freeze_epochs is None and "phase" in metrics:
        freeze_epochs = int((metrics["phase"] == "head").sum())
    if freeze_epochs and 0 < freeze_epochs < len(metrics):
        ax.axvline(freeze_epochs + 0.5, color="grey", ls="--", lw=1, label="unfreeze")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(kind)
    if kind == "accuracy":
        ax.set_ylim(0, 1.02)
    ax.set_title(f"{kind} per epoch")
    ax.legend(fontsize=8)
    return fig


def plot_confusion(predictions: Any, classes: Sequence[str], normalize: bool = True, title: str = "validation",
                   ax: Any = None) -> Any:
    """Confusion matrix (rows = true class, row-normalised with counts) of a predictions frame."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    if ax is None:
        n = len(classes)
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * n, 1.0 + 0.8 * n))
    else:
        fig = ax.figure
    probs = predictions[[f"prob_{c}" for c in classes]].to_numpy()
    pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
    lookup = {c: i for i, c in enumerate(classes)}
    true = predictions["label"].astype(str).map(lookup).to_numpy()
    cm = confusion_matrix(true, pred, labels=list(range(len(classes))))
    shown = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None) if normalize else cm
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for i in range(len(classes)):
        for j in range(len(classes)):
            txt = f"{shown[i, j]:.2f}\n({cm[i, j]})" if normalize else f"{cm[i, j]}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > (0.5 if normalize else cm.max() / 2) else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.grid(False)
    ax.set_title(f"confusion matrix ({title})")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig


def plot_per_class_recall(recalls: dict[str, Any], ax: Any = None) -> Any:
    """Bar chart of per-class recall; ``recalls`` maps a split name to :func:`per_class_recall` output."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    else:
        fig = ax.figure
    names = list(recalls)
    classes = list(next(iter(recalls.values())).index) if names else []
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        r = recalls[name]["recall"].reindex(classes).to_numpy(dtype=float)
        ax.bar(np.arange(len(classes)) + (k - (len(names) - 1) / 2) * width, np.nan_to_num(r), width, label=name)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.set_title("per-class recall")
    ax.legend(fontsize=8)
    return fig


def _write_plots(out: Path, history: list[dict[str, Any]], val_pred: Any, classes: list[str],
                 freeze_epochs: int) -> None:
    import matplotlib.pyplot as plt
    import pandas as pd

    metrics = pd.DataFrame(history, columns=list(METRIC_COLUMNS))
    for kind, name in (("loss", "loss_curve.png"), ("accuracy", "accuracy_curve.png")):
        fig = plot_curves(metrics, kind)
        fig.savefig(out / "logs" / name, dpi=120, bbox_inches="tight")
        plt.close(fig)
    if val_pred is not None and len(val_pred):
        fig = plot_confusion(val_pred, classes, title="validation, best epoch")
        fig.savefig(out / "logs" / "confusion_matrix.png", dpi=120, bbox_inches="tight")
        plt.close(fig)


# ====================================================================================== CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="a split folder (train.csv, classes.json...) or any dataset auxiliary.data reads "
                             "(then split with the data settings); default: the configured dataset")
    parser.add_argument("--out", default=None, metavar="runs/NAME",
                        help="run folder (default runs/<model>-<profile>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument("--no-progress", "--no_progress", dest="no_progress", action="store_true",
                        help="no progress bars")


def resolve_split(cfg: Config, data_arg: str | None, progress: bool = True) -> Path:
    """A split folder for ``--data``: the folder itself when it is one, else the dataset split with
    ``cfg.data`` settings into ``data/splits/`` (re-used when it exists)."""
    from . import paths, pipeline

    if data_arg:
        d = paths.resolve_path(data_arg)
        if (d / "train.csv").is_file() and (d / "classes.json").is_file():
            return d
        if not d.exists():
            raise TrainError(f"--data {data_arg}: not found ({d})")
        cfg = replace(cfg, data=replace(cfg.data, data=str(d)))
    return pipeline.ensure_splits(cfg, progress=progress)


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    from . import paths, pipeline

    progress = not getattr(args, "no_progress", False)
    out = paths.resolve_path(args.out) if args.out else pipeline.run_dir(cfg)
    _refuse_existing(out, args.resume, args.overwrite)
    if args.resume and not (out / "last.pt").is_file():
        raise TrainError(f"nothing to resume in {out} (no last.pt)")
    split = resolve_split(cfg, args.data, progress=progress)
    print(f"training {cfg.train.model} on {split} -> {out}")
    summary = fit(cfg, split, out, resume=args.resume, overwrite=args.overwrite, progress=progress)
    if _secondary_rank():
        return 0
    print(
        f"done: {summary['epochs_run']} epochs, best {summary['monitor']} {summary['best_value']:.3f} "
        f"at epoch {summary['best_epoch']}"
        + (f"; test balanced accuracy {summary['test_balanced_acc']:.3f}, macro AUROC "
           f"{summary['test_macro_auroc']:.3f}" if summary.get("test_balanced_acc") is not None else "")
    )
    print(f"run folder: {out} (best.pt, logs/, val_predictions.csv, summary.json)")
    return 0
