"""Tasks: what differs between one class per image and several labels per image, chosen once and passed down.

- ``task``: the :class:`Task` every task implements (losses, monitors, metrics, calibration, decisions,
  predictions tables, summary fields, sort placement);
- ``single``: one class per image (softmax, one temperature, argmax); ``multilabel``: several labels per image
  (one sigmoid per label, per-label temperatures and thresholds);
- ``losses``: the training criteria of both, by name;
- ``placement``: where a sort puts each image, the sort rule of each task (``Task.sort_rule``);
- ``review``: after a sort, how it did against known labels, the review queue and what a reviewer files.

:func:`task_named` gives the task of a name (``classes.json``'s ``task``, a checkpoint's, ``train.task``);
:func:`choose_task` decides the task of a training run from ``train.task``, its loss and the split.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auxiliary.base.config import TRAIN_TASKS, TrainConfig
from auxiliary.base.errors import AuxiliaryError, TrainError
from auxiliary.data.readers import split_task
from auxiliary.tasks.multilabel import MultiLabel
from auxiliary.tasks.single import SingleLabel
from auxiliary.tasks.task import Task

#: Every task, by name; a new task is one more entry.
TASKS: dict[str, Task] = {t.name: t for t in (SingleLabel(), MultiLabel())}
#: Every loss name any task accepts.
ALL_LOSSES: tuple[str, ...] = tuple(loss for t in TASKS.values() for loss in t.losses)
#: Every metric a run of any task may watch.
ALL_MONITORS: tuple[str, ...] = tuple(dict.fromkeys(m for t in TASKS.values() for m in t.monitors))


def task_named(name: str | None) -> Task:
    """The task called ``name`` (``None`` or empty: single-label, what checkpoints without a ``task`` entry are)."""
    key = str(name or SingleLabel.name)
    if key not in TASKS:
        raise AuxiliaryError(f"unknown task {key!r} (choose from: {', '.join(TASKS)})")
    return TASKS[key]


def task_of(info: Mapping[str, Any]) -> Task:
    """The task of a checkpoint's (or a run summary's) entries."""
    return task_named(info.get("task"))


def task_of_split(split_dir: str | Path) -> Task:
    """The task of a split folder (its ``classes.json``)."""
    return task_named(split_task(split_dir))


def task_of_targets(labels: Any) -> Task:
    """The task whose targets look like ``labels``: a (N, L) matrix is multi-label, a vector single-label."""
    return TASKS[MultiLabel.name] if getattr(labels, "ndim", 1) == 2 else TASKS[SingleLabel.name]


def choose_task(tcfg: TrainConfig, data_task: str | None = None) -> Task:
    """The task of a training run, from ``tcfg.task`` and the split's task (``data_task``; ``None`` for ready
    loaders: then ``auto`` follows the loss). A task, or a loss, that does not fit the data is refused in one line."""
    if tcfg.task not in TRAIN_TASKS:
        raise TrainError(f"unknown task {tcfg.task!r} (choose from: {', '.join(TRAIN_TASKS)})")
    by_loss = next((t for t in TASKS.values() if tcfg.loss in t.losses), TASKS[SingleLabel.name])
    name = tcfg.task if tcfg.task != "auto" else (data_task or by_loss.name)
    if data_task is not None and name != data_task:
        raise TrainError(f"task {tcfg.task} does not fit this split: its classes.json says {data_task} "
                         "(use --task auto, or split the dataset again)")
    task = task_named(name)
    if by_loss is not task and tcfg.loss in by_loss.losses and tcfg.loss != TrainConfig.loss:
        raise TrainError(f"loss {tcfg.loss} is {by_loss.title} but {task.data_phrase}: use --loss "
                         f"{', '.join(task.losses[:-1])} or {task.losses[-1]}")
    task.loss_name(tcfg)  # an unknown loss is refused here
    task.monitor(tcfg)  # so is a monitor
    return task


__all__ = ["ALL_LOSSES", "ALL_MONITORS", "TASKS", "Task", "choose_task", "task_named", "task_of", "task_of_split",
           "task_of_targets"]
