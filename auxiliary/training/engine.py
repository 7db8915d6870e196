"""The Fabric engine a run trains on, and the checks of a training config before anything starts.

Fabric takes ``accelerator``, ``devices``, ``strategy`` and ``precision`` from the config, so the same
loop runs on this CPU, one GPU, several GPUs (DDP) and several nodes (``fabric run`` / ``torchrun``).

``accelerator: auto`` follows the one device rule (``device``: CUDA, then MPS, then CPU) and
``precision: auto`` the precision rule, both in :mod:`auxiliary.training.acceleration`.

Which task a run trains, its loss and the metric it watches are the task's (:func:`auxiliary.tasks.choose_task`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightning_fabric import Fabric
from lightning_fabric.utilities.exceptions import MisconfigurationException

from auxiliary.base.config import TRAIN_TASKS, TrainConfig
from auxiliary.base.errors import TrainError
from auxiliary.data.augment import COLOR_CONSTANCY
from auxiliary.tasks import ALL_LOSSES, ALL_MONITORS
from auxiliary.training.acceleration import resolve_accelerator, resolve_precision


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
    """A ``lightning_fabric.Fabric`` from the config's accelerator, devices, strategy and precision, launched
    (several processes) when it spans more than one device.

    ``callbacks``: objects whose ``on_run_end(run_dir, history, val_predictions, classes)`` Fabric
    calls on rank 0 when a run has finished (the steps layer passes one that saves the run's figures).
    ``loggers``: Fabric loggers (:func:`auxiliary.training.tracking.run_loggers`)."""
    fabric = _fabric(tcfg, callbacks, loggers)
    if fabric.world_size > 1:
        fabric.launch()
    return fabric


def check_engine(tcfg: TrainConfig) -> None:
    """Refuse, in one line and before anything is written, an accelerator, device count, strategy or precision
    that Fabric cannot set up here (``devices: -1`` on a CPU, ``precision: 8-bit``...): Fabric is built and
    dropped, nothing is launched."""
    _fabric(tcfg)


def _fabric(tcfg: TrainConfig, callbacks: Sequence[Any] = (), loggers: Sequence[Any] = ()) -> Any:
    accelerator, devices = resolve_accelerator(tcfg)
    precision = resolve_precision(tcfg.precision, accelerator)
    try:
        return Fabric(
            accelerator=accelerator,
            devices=parse_devices(devices),
            num_nodes=int(tcfg.num_nodes),
            strategy=tcfg.strategy,
            precision=precision,  # type: ignore[arg-type]
            callbacks=list(callbacks),
            loggers=list(loggers),
        )
    except (ValueError, RuntimeError, TypeError, MisconfigurationException) as exc:
        raise TrainError(f"cannot set up Fabric: {str(exc).splitlines()[0][:240] if str(exc) else type(exc).__name__}"
                         ) from None


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
    if tcfg.loss not in ALL_LOSSES:
        problems.append(f"unknown loss {tcfg.loss!r} (choose from: {', '.join(ALL_LOSSES)})")
    if tcfg.monitor not in ALL_MONITORS:
        problems.append(f"unknown monitor {tcfg.monitor!r} (choose from: {', '.join(ALL_MONITORS)})")
    if tcfg.task not in TRAIN_TASKS:
        problems.append(f"unknown task {tcfg.task!r} (choose from: {', '.join(TRAIN_TASKS)})")
    if not 0 <= tcfg.label_smoothing < 1:
        problems.append(f"label_smoothing must be in [0, 1) (got {tcfg.label_smoothing})")
    if not 0 <= tcfg.ema_decay < 1:
        problems.append(f"ema_decay must be in [0, 1) (got {tcfg.ema_decay}; 0 = off, e.g. 0.998)")
    if str(tcfg.color_constancy).strip().lower().replace("-", "_") not in COLOR_CONSTANCY:
        problems.append(f"unknown color_constancy {tcfg.color_constancy!r} (choose from: {', '.join(COLOR_CONSTANCY)})")
    if (tcfg.mixup > 0 or tcfg.cutmix > 0) and tcfg.batch % 2:
        problems.append(f"mixup/cutmix pair each image with another of its batch: batch must be even (got {tcfg.batch})")
    if problems:
        raise TrainError("; ".join(problems))


def monitor_mode(monitor: str) -> str:
    """``min`` for losses, ``max`` for everything else."""
    return "min" if monitor.endswith("loss") else "max"
