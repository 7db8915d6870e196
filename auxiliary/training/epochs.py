"""One pass over a loader on Lightning Fabric: :func:`train_epoch` runs one training epoch (accumulation, clipping, EMA),
:func:`validate` one evaluation pass.

What counts as a right answer in training and the metrics of an evaluation pass are the run's task's
(:meth:`auxiliary.tasks.Task.correct`, :meth:`~auxiliary.tasks.Task.pass_metrics`); without one, the task is
the one whose targets the batches hold (:func:`auxiliary.tasks.task_of_targets`: (B, L) targets are multi-label).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from auxiliary.base.progress import progress_bar
from auxiliary.data.loaders import ShardedSampler, gather_order
from auxiliary.models.factory import set_backbone_eval
from auxiliary.tasks import Task, task_of_targets


# ====================================================================================== loop
def _split_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    if isinstance(batch, dict):
        return batch["x"], batch["y"], batch.get("meta")
    x, y = batch[0], batch[1]
    return x, y, batch[2] if len(batch) > 2 else None


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", model)  # _FabricModule.module -> the original module
    return getattr(inner, "_orig_mod", inner)  # torch.compile


def sync_buffers(fabric: Any, model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics: each rank updated its own with its last
    batches), so that all ranks evaluate, and rank 0 saves, the same model. One process: nothing to do."""
    if getattr(fabric, "world_size", 1) <= 1 or not torch.distributed.is_initialized():
        return
    for buf in _unwrap(model).buffers():
        torch.distributed.broadcast(buf.data, src=0)


def _sharded(loader: Any) -> ShardedSampler | None:
    sampler = getattr(getattr(loader, "_dataloader", loader), "sampler", None)
    return sampler if isinstance(sampler, ShardedSampler) and sampler.num_replicas > 1 else None


def _gather(fabric: Any, sampler: ShardedSampler, *arrays: np.ndarray) -> list[np.ndarray]:
    """Every rank's share of an evaluation pass, on every rank, in the order one process would see."""
    n = len(sampler.sampler)
    out = []
    for a in arrays:
        local = torch.from_numpy(np.ascontiguousarray(a)).to(fabric.device)
        parts = [torch.empty_like(local) for _ in range(sampler.num_replicas)]
        torch.distributed.all_gather(parts, local)  # equal lengths: the sampler pads every share
        out.append(gather_order([p.cpu().numpy() for p in parts], n))
    return out


def train_epoch(
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
    mix: Any = None,
    progress: bool = True,
    desc: str = "train",
    task: Task | None = None,
) -> dict[str, float]:
    """One training epoch. ``step`` counts optimizer steps of the phase (the schedule's input);
    ``ema`` (a ``timm.utils.ModelEmaV3`` of the unwrapped model) is updated after each optimizer step;
    ``mix`` (the run's Mixup/CutMix, :func:`auxiliary.training.mixing.batch_mix`) mixes each batch, whose loss is then
    ``mix.criterion`` on the mixed targets (the training accuracy still counts the images' own labels).
    Returns loss, acc, images, seconds, images_per_second, the new ``step`` and the last ``lr``."""
    model.train()
    if frozen_backbone:
        set_backbone_eval(_unwrap(model))
    n_batches = len(loader)  # type: ignore[arg-type]
    accumulate = max(1, int(accumulate))
    dev = getattr(fabric, "device", torch.device("cpu"))
    raw_model = _unwrap(model)
    total_loss = torch.zeros((), dtype=torch.float32, device=dev)  # on the device: no sync per step on a GPU
    correct = torch.zeros((), dtype=torch.float32, device=dev)
    seen = 0
    lr = optimizer.param_groups[0]["lr"]
    t0 = time.perf_counter()
    bar = progress_bar(loader, total=n_batches, desc=desc, leave=False, disable=not progress, unit="batch")
    optimizer.zero_grad(set_to_none=True)
    for i, batch in enumerate(bar):
        x, y, _ = _split_batch(batch)
        if channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        boundary = (i + 1) % accumulate == 0 or (i + 1) == n_batches
        x, target = mix(x, y) if mix is not None else (x, y)
        with fabric.no_backward_sync(model, enabled=not boundary):
            logits = model(x)
            loss = (mix.criterion if mix is not None else criterion)(logits, target)
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
        correct += (task or task_of_targets(y)).correct(logits.detach(), y)
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
    task: Task | None = None,
) -> dict[str, Any]:
    """One evaluation pass: loss, acc, balanced_acc, macro_f1, macro_auroc plus ``logits``,
    ``labels`` and ``index`` (row positions from the loader's meta, else 0..N-1), in loader order.
    Multi-label targets (B, L): ``labels`` is the (N, L) int 0/1 matrix and the metrics are the task's
    (:meth:`auxiliary.tasks.Task.pass_metrics`); ``n_classes`` is then the number of labels.

    With several processes and a loader of :func:`auxiliary.data.loaders.shard_loader`, each rank
    evaluates its share (with rank 0's BatchNorm statistics, :func:`sync_buffers`) and every rank gets
    all of them back in the single-process order: the metrics are those of the whole set, on every rank."""
    sync_buffers(fabric, model)
    model.eval()
    logits_all, labels_all, index_all = [], [], []
    for batch in progress_bar(loader, desc=desc, leave=False, disable=not progress, unit="batch"):
        x, y, meta = _split_batch(batch)
        if channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x).float()
        logits_all.append(logits.cpu())
        labels_all.append(y.cpu())
        idx = meta.get("index") if isinstance(meta, dict) else None
        index_all.append(torch.as_tensor(idx).cpu() if idx is not None else torch.full((int(y.shape[0]),), -1))
    logits_np = torch.cat(logits_all).numpy() if logits_all else np.zeros((0, n_classes or 0), dtype=np.float32)
    labels_np = (torch.cat(labels_all).numpy().round().astype(int) if labels_all
                 else np.zeros(0, dtype=int))
    index_np = torch.cat(index_all).numpy().astype(int) if index_all else np.zeros(0, dtype=int)
    sharded = _sharded(loader)
    if sharded is not None:
        logits_np, labels_np, index_np = _gather(fabric, sharded, logits_np, labels_np, index_np)
    n = len(labels_np)
    if len(index_np) and (index_np < 0).any():
        index_np = np.arange(len(labels_np))
    task = task or task_of_targets(labels_np)
    out: dict[str, Any] = task.pass_metrics(labels_np, logits_np)
    out["loss"] = float("nan")
    if n and criterion is not None:  # the mean over the whole set (also when it was evaluated in shares)
        dev = getattr(fabric, "device", torch.device("cpu"))
        target = task.target_tensor(labels_np).to(dev)
        out["loss"] = float(criterion(torch.from_numpy(logits_np).to(dev), target))
    out.update(logits=logits_np, labels=labels_np, index=index_np, images=n)
    return out
