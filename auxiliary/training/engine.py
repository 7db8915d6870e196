"""The Fabric engine a run trains on, and the checks of a training config before anything starts.

Fabric takes ``accelerator``, ``devices``, ``strategy`` and ``precision`` from the config, so the same
loop runs on this CPU, one GPU, several GPUs (DDP) and several nodes (``fabric run`` / ``torchrun``).

``accelerator: auto`` follows the one device rule (``device``: CUDA, then MPS, then CPU) and
``precision: auto`` the precision rule, both in :mod:`auxiliary.training.acceleration`.

:func:`resolve_task` decides whether a run is single- or multi-label (refusing a loss or task that does not fit
the data), :func:`run_loss` the loss it trains with and :func:`run_monitor` the metric it watches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning_fabric import Fabric

from auxiliary.config import TRAIN_TASKS, TrainConfig
from auxiliary.errors import TrainError
from auxiliary.training.acceleration import resolve_accelerator, resolve_precision
from auxiliary.training.losses import LOSSES
from auxiliary.training.multilabel_losses import MULTILABEL_LOSSES

MONITORS: tuple[str, ...] = ("val_balanced_acc", "val_macro_f1", "val_acc", "val_loss", "train_loss", "train_acc")
#: What a multi-label run may watch (the first is its default).
MULTILABEL_MONITORS: tuple[str, ...] = ("val_macro_auroc", "val_micro_auroc", "val_macro_f1", "val_hamming_loss",
                                        "val_subset_accuracy", "val_loss", "train_loss", "train_acc")


def parse_devices(devices: Any) -> int | str | list[int]:
    s = str(devices).strip().lower()
    if s in ("auto", "-1"):
        return s if s == "auto" else -1
    if "," in s or s.startswith("["):
        return [int(v) for v in s.strip("[] ").split(",") if v.strip()]
    try:
        return int(s)
    except ValueError:
        raise TrainError(f"devices must be a count, a list like 0,1 or auto; got {devices!r}") from None


def make_fabric(tcfg: TrainConfig, callbacks: Sequence[Any] = (), loggers: Sequence[Any] = ()) -> Any:
    """A ``lightning_fabric.Fabric`` from the config's accelerator, devices, strategy and precision.

    ``callbacks``: objects whose ``on_run_end(run_dir, history, val_predictions, classes)`` Fabric
    calls on rank 0 when a run has finished (the steps layer passes one that saves the run's figures).
    ``loggers``: Fabric loggers (:func:`auxiliary.training.tracking.run_loggers`)."""
    accelerator, devices = resolve_accelerator(tcfg)
    precision = resolve_precision(tcfg.precision, accelerator)
    try:
        fabric = Fabric(
            accelerator=accelerator,
            devices=parse_devices(devices),
            num_nodes=int(tcfg.num_nodes),
            strategy=tcfg.strategy,
            precision=precision,  # type: ignore[arg-type]
            callbacks=list(callbacks),
            loggers=list(loggers),
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
    if tcfg.loss not in LOSSES + MULTILABEL_LOSSES:
        problems.append(f"unknown loss {tcfg.loss!r} (choose from: {', '.join(LOSSES + MULTILABEL_LOSSES)})")
    monitors = tuple(dict.fromkeys(MONITORS + MULTILABEL_MONITORS))
    if tcfg.monitor not in monitors:
        problems.append(f"unknown monitor {tcfg.monitor!r} (choose from: {', '.join(monitors)})")
    if tcfg.task not in TRAIN_TASKS:
        problems.append(f"unknown task {tcfg.task!r} (choose from: {', '.join(TRAIN_TASKS)})")
    if not 0 <= tcfg.label_smoothing < 1:
        problems.append(f"label_smoothing must be in [0, 1) (got {tcfg.label_smoothing})")
    if not 0 <= tcfg.ema_decay < 1:
        problems.append(f"ema_decay must be in [0, 1) (got {tcfg.ema_decay}; 0 = off, e.g. 0.998)")
    if problems:
        raise TrainError("; ".join(problems))


def resolve_task(tcfg: TrainConfig, data_task: str | None = None) -> str:
    """``single`` or ``multilabel``: what a run trains, from ``tcfg.task`` and the split's task (``data_task``,
    :func:`auxiliary.data.readers.split_task`; ``None`` for ready loaders: then ``auto`` follows the loss).
    A task, or a loss, that does not fit the data is refused with one line."""
    loss_task = "multilabel" if tcfg.loss in MULTILABEL_LOSSES else "single"
    task = tcfg.task if tcfg.task != "auto" else (data_task or loss_task)
    if data_task is not None and task != data_task:
        raise TrainError(f"task {tcfg.task} does not fit this split: its classes.json says {data_task} "
                         "(use --task auto, or split the dataset again)")
    if task == "multilabel" and loss_task != "multilabel" and tcfg.loss != TrainConfig.loss:
        raise TrainError(f"loss {tcfg.loss} is single-label but the data is multi-label (one sigmoid per label): "
                         f"use --loss {', '.join(MULTILABEL_LOSSES[:-1])} or {MULTILABEL_LOSSES[-1]}")
    if task == "single" and loss_task != "single":
        raise TrainError(f"loss {tcfg.loss} is multi-label but the data has one class per image: "
                         f"use --loss {', '.join(LOSSES[:-1])} or {LOSSES[-1]}")
    return task


def run_loss(tcfg: TrainConfig, task: str) -> str:
    """The loss a run of ``task`` trains with: ``tcfg.loss``, except that a multi-label run left at the
    single-label default (ce) trains with bce (as :func:`run_monitor` does for the monitor), so that
    ``TASK = "multilabel"`` alone is enough in the notebooks; another single-label loss is refused by
    :func:`resolve_task`."""
    return "bce" if task == "multilabel" and tcfg.loss == TrainConfig.loss else tcfg.loss


def run_monitor(tcfg: TrainConfig, task: str) -> str:
    """The metric a run of ``task`` watches: ``tcfg.monitor``, except that a multi-label run left at the
    single-label default (val_balanced_acc) watches val_macro_auroc; one that fits no metric of the task is refused."""
    if task == "multilabel":
        monitor = MULTILABEL_MONITORS[0] if tcfg.monitor == TrainConfig.monitor else tcfg.monitor
        allowed = MULTILABEL_MONITORS
    else:
        monitor, allowed = tcfg.monitor, MONITORS
    if monitor not in allowed:
        kind = "multi-label" if task == "multilabel" else "single-label"
        raise TrainError(f"monitor {tcfg.monitor} is not a metric of a {kind} run (choose from: {', '.join(allowed)})")
    return monitor


def monitor_mode(monitor: str) -> str:
    """``min`` for losses, ``max`` for everything else."""
    return "min" if monitor.endswith("loss") else "max"
