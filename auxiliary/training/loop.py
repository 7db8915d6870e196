"""The whole training run on Lightning Fabric: :func:`fit` (from a split folder) and :func:`fit_loaders`
(on ready loaders), in Fabric's own split with :func:`auxiliary.training.epochs.train_epoch` (one epoch) and
:func:`auxiliary.training.epochs.validate` (one evaluation pass).

Schedule, as in the original course project: phase ``head`` trains only the classifier head at
``lr_head`` for ``freeze_epochs`` with the backbone frozen (weights *and* BatchNorm statistics,
the backbone runs in eval mode); phase ``finetune`` trains everything at ``lr_ft``. Each phase
has a fresh AdamW (no weight decay on biases and norms), a linear warm-up of ``warmup_epochs``
then cosine decay to 1 % of its learning rate. Gradient accumulation (``accumulate``, with
``fabric.no_backward_sync``), gradient-norm clipping, label smoothing, class-weighted cross
entropy or focal loss, the balanced sampler of :func:`auxiliary.data.loaders.build_loader`,
the device, precision, ``channels_last`` and ``torch.compile`` of :mod:`auxiliary.training.acceleration`.
Validation metrics come from :func:`auxiliary.evaluation.metrics.summary_metrics`.

The model's preprocessing (:func:`auxiliary.models.factory.model_preprocessing`: timm's interpolation and
normalisation on the whole image for pretrained weights, the square area resize from scratch; a checkpoint's own) is decided once when :func:`fit` builds the
model: the validation and test loaders apply it, and ``best.pt`` records it, so that the epoch and the temperature are
chosen on the pixels every later prediction sees. Training augmentation keeps its square resize.

The run's task (:func:`auxiliary.tasks.choose_task`: the split's ``classes.json`` task, or ``train.task``) is chosen
once and owns what differs between tasks: the loss and its weights, the metrics of each epoch and the monitor's
default, what ``best.pt`` records besides the weights (a temperature; per-label temperatures and thresholds),
the predictions tables and the test metrics (:mod:`auxiliary.tasks`).

Several processes (``strategy: ddp``, or launched by ``fabric run`` / ``torchrun``): each rank trains on a
disjoint share of every epoch's sampler order and evaluates its share of validation and test, gathered
back in order so that every rank computes the metrics of the whole set (and takes the same early-stopping
decision); only rank 0 writes (``best.pt``, ``last.pt``, ``logs/``, predictions, ``summary.json``).

Early stopping watches ``monitor`` (default ``val_balanced_acc``) in the last phase with
``patience`` epochs; the head phase always runs its ``freeze_epochs``.

Reproducibility: every epoch reseeds Python, NumPy, torch, the loader's sampler and the
augmentation pipeline from ``seed`` and the epoch number, so a run is deterministic on CPU, and
a run resumed from ``last.pt`` (``resume=True``) continues the same schedule and ends with the same
weights as an uninterrupted one (exactly with ``num_workers=0``; persistent loader workers keep
their own augmentation streams). What a run folder holds: :mod:`auxiliary.training.runs`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auxiliary.base.config import Config, save
from auxiliary.base.errors import TrainError
from auxiliary.base.files import jsonable, write_csv_atomic, write_json_atomic
from auxiliary.data.balance import with_real_weight
from auxiliary.data.loaders import build_loader, shard_loader
from auxiliary.data.readers import load_split, split_task
from auxiliary.models.checkpoint import load_checkpoint
from auxiliary.models.factory import create_model, model_preprocessing, set_backbone_trainable
from auxiliary.models.preprocess import Preprocessing
from auxiliary.tasks import Task, choose_task
from auxiliary.training.acceleration import Hardware, hardware
from auxiliary.training.engine import check_config, check_engine, make_fabric, monitor_mode, parse_devices
from auxiliary.training.epochs import train_epoch, validate
from auxiliary.training.mixing import batch_mix
from auxiliary.training.optimization import WarmupCosine, make_ema, make_optimizer, phase_of, phase_plan
from auxiliary.training.runs import (
    load_last,
    prepare_run_dir,
    read_predictions,
    refuse_existing,
    run_summary,
    save_best,
    save_last,
    training_source,
)
from auxiliary.training.seeding import epoch_seed, reseed_loader, seed_all, set_rng_state
from auxiliary.training.tracking import log_abort, log_end, log_epoch, log_start, run_loggers


def fit(
    cfg: Config,
    split_dir: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train ``cfg.train.model`` on the split folder ``split_dir`` into the run folder ``out_dir``.

    Reads the split with :func:`auxiliary.data.readers.load_split`, builds loaders with
    :func:`auxiliary.data.loaders.build_loader` (augmentation and balanced sampler for train), and runs
    :func:`fit_loaders`. ``callbacks`` are Fabric callbacks whose ``on_run_end`` is called on rank 0
    when the run has finished (see :func:`auxiliary.training.engine.make_fabric`; the steps pass
    :class:`auxiliary.viz.plots_training.RunFigures`, which saves ``logs/*.png``) and ``on_epoch_end(row, history,
    max_epochs, monitor)`` after each epoch's row is logged; one whose ``stop_requested`` is then true ends the run
    after that epoch as if it were the last (``best.pt``, the test metrics, ``summary.json`` with ``stopped_by_user``;
    notebook 04's :class:`auxiliary.viz.panels_training.TrainingMonitor`). Returns the summary (also written to
    ``summary.json``).
    """
    tcfg = cfg.train
    check_config(tcfg)
    check_engine(tcfg)  # before the loaders build their image caches
    out = Path(out_dir)
    refuse_existing(out, resume, overwrite)
    tables, classes = load_split(split_dir)
    task = choose_task(tcfg, split_task(split_dir))  # a loss or monitor the task has not is refused here
    for name in ("train", "val"):
        if len(tables[name]) == 0:
            raise TrainError(f"the {name} split of {split_dir} is empty: training needs train and val samples")
    seed_all(tcfg.seed)
    model = create_model(tcfg.model, len(classes), pretrained=tcfg.pretrained)
    spec = model_preprocessing(model, tcfg.img_size, tcfg.pretrained, tcfg.model,  # decided once, kept in best.pt
                               tcfg.color_constancy)
    common = dict(img_size=spec.img_size, mean=spec.mean, std=spec.std, data_cfg=cfg.data, seed=tcfg.seed)
    n_train = len(tables["train"])
    devices = parse_devices(tcfg.devices)
    world = (len(devices) if isinstance(devices, list) else (devices if isinstance(devices, int) and devices > 0 else 1)
             ) * int(tcfg.num_nodes)
    train_loader = build_loader(  # drop_last: a last batch of one sample breaks BatchNorm
        tables["train"], targets=task.targets(tables["train"], classes), train=True, batch_size=tcfg.batch,
        weights=with_real_weight(tables["train"], task.sample_weights(tables["train"], classes, cfg.data.balance),
                                 cfg.data.real_weight),
        drop_last=n_train > tcfg.batch * world, progress=progress, geometry=spec.geometry(), **common,
    )
    val_loader = build_loader(tables["val"], targets=task.targets(tables["val"], classes), train=False,
                              batch_size=tcfg.batch, progress=progress, geometry=spec.geometry(), **common)
    test_loader = None
    if len(tables["test"]):
        test_loader = build_loader(tables["test"], targets=task.targets(tables["test"], classes), train=False,
                                   batch_size=tcfg.batch, progress=progress, geometry=spec.geometry(), **common)
    return fit_loaders(
        cfg, classes, train_loader, val_loader, out, model=model, test_loader=test_loader,
        val_table=tables["val"], test_table=tables["test"], train_table=tables["train"], task=task, preprocessing=spec,
        resume=resume, overwrite=overwrite, progress=progress, split_dir=split_dir,
        callbacks=callbacks,
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
    train_table: Any = None,
    task: Task | str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    preprocessing: Preprocessing | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    split_dir: str | Path | None = None,
    stop_after_epochs: int | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """The whole run on ready loaders (any iterables of ``(x, y[, meta])`` with a length).

    ``model`` defaults to ``auxiliary.models.factory.create_model(cfg.train.model, len(classes),
    cfg.train.pretrained)``.
    ``stop_after_epochs`` simulates an interruption after that many epochs of this call (tests).
    ``train_table``: the training rows, whose class or label shares weigh the loss (``weighted_ce``, ``focal``,
    ``logit_adjusted``, a multi-label ``pos_weight``); without it those losses train unweighted where they can.
    ``task``: the data's task (a :class:`~auxiliary.tasks.Task` or its name, checked against ``cfg.train``);
    ``None``: from ``cfg.train.task``, ``auto`` then following the loss.
    ``callbacks``: see :func:`fit`.
    ``preprocessing``: what the evaluation loaders apply, recorded in ``best.pt``
    (:class:`~auxiliary.models.preprocess.Preprocessing`); default the model's
    (:func:`~auxiliary.models.factory.model_preprocessing` of ``cfg.train``), with ``mean``/``std`` when given.
    """
    threads = int(cfg.train.threads)
    old_threads = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    loggers = run_loggers(cfg, out_dir)  # csv always; tensorboard / mlflow as cfg.track.tracking asks
    try:
        return _fit_loaders(
            cfg, classes, train_loader, val_loader, out_dir, model=model, test_loader=test_loader,
            val_table=val_table, test_table=test_table, train_table=train_table, task=task, mean=mean, std=std,
            preprocessing=preprocessing, resume=resume, overwrite=overwrite, progress=progress, split_dir=split_dir,
            stop_after_epochs=stop_after_epochs, callbacks=callbacks, loggers=loggers,
        )
    except BaseException as exc:
        log_abort(loggers, "killed" if isinstance(exc, KeyboardInterrupt) else "failed")
        raise
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
    train_table: Any,
    task: Task | str | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    preprocessing: Preprocessing | None,
    resume: bool,
    overwrite: bool,
    progress: bool,
    split_dir: str | Path | None,
    stop_after_epochs: int | None,
    callbacks: Sequence[Any] = (),
    loggers: Sequence[Any] = (),
) -> dict[str, Any]:
    t_start = time.perf_counter()
    tcfg = cfg.train
    check_config(tcfg)
    task = choose_task(tcfg, task.name if isinstance(task, Task) else task)
    monitor = task.monitor(tcfg)
    tcfg = replace(tcfg, loss=task.loss_name(tcfg))  # the criterion's loss; cfg (config.yaml, reuse) keeps the user's
    classes = list(classes)
    last_path = Path(out_dir) / "last.pt"  # read, and every setting checked, before anything is written
    state = load_last(last_path, tcfg, classes) if resume and last_path.is_file() else None
    if state is not None and state.get("finished") and (Path(out_dir) / "summary.json").is_file():
        return json.loads((Path(out_dir) / "summary.json").read_text(encoding="utf-8"))
    fabric = make_fabric(tcfg, callbacks, loggers)
    out = prepare_run_dir(out_dir, resume=resume, overwrite=overwrite)
    best_path = out / "best.pt"
    seed_all(tcfg.seed)
    if model is None:
        model = create_model(tcfg.model, len(classes), pretrained=tcfg.pretrained)
    if preprocessing is None:
        preprocessing = model_preprocessing(model, tcfg.img_size, tcfg.pretrained, tcfg.model, tcfg.color_constancy)
        preprocessing = replace(preprocessing, mean=tuple(mean or preprocessing.mean),
                                std=tuple(std or preprocessing.std))
    mean, std = preprocessing.mean, preprocessing.std
    hw = hardware(fabric, tcfg)
    fabric.print(f"training on {hw}")
    raw = model = hw.prepare(model)
    if state is not None:
        raw.load_state_dict(state["model"])
    if fabric.is_global_zero:
        save(cfg, out / "config.yaml")

    criterion = task.criterion(tcfg, train_table, classes, cfg.data.balance)
    plain_criterion = criterion
    world, rank = fabric.world_size, fabric.global_rank  # several processes: disjoint shares (data.loaders)
    train_loader_f = fabric.setup_dataloaders(shard_loader(train_loader, world, rank, drop_last=True),
                                              use_distributed_sampler=False, move_to_device=True)
    val_loader_f = fabric.setup_dataloaders(shard_loader(val_loader, world, rank, drop_last=False),
                                            use_distributed_sampler=False, move_to_device=True)
    criterion = criterion.to(fabric.device)
    mix = batch_mix(task, tcfg, len(classes), criterion)  # Mixup/CutMix of training batches (None: off)

    plan = phase_plan(tcfg)
    n_batches = len(train_loader_f)
    if n_batches == 0:
        raise TrainError("the training loader yields no batch (fewer samples than one batch with drop_last?)")
    steps_per_epoch = math.ceil(n_batches / max(1, tcfg.accumulate))
    mode = monitor_mode(monitor)
    history: list[dict[str, Any]] = list(state["history"]) if state else []
    start_epoch = int(state["epoch"]) if state else 0
    best_value = float(state["best_value"]) if state else (-math.inf if mode == "max" else math.inf)
    best_epoch = int(state["best_epoch"]) if state else -1
    bad_epochs = int(state["bad_epochs"]) if state else 0
    stopped_early = bool(state.get("stopped_early", False)) if state else False
    stopped_by_user = False
    finished = bool(state.get("finished", False)) if state else False
    phase_step = int(state["phase_step"]) if state else 0
    saved_phase = str(state["phase"]) if state else None
    if state is not None and "rng" in state:
        set_rng_state(state["rng"])
    if state is not None:
        fabric.print(f"resuming {out} at epoch {start_epoch + 1}/{tcfg.max_epochs}")
    log_start(fabric, cfg, history, classes, split_dir)

    current_phase: str | None = None
    fmodel = optimizer = schedule = None
    ema: Any = None
    epochs_this_call = 0
    epoch = start_epoch
    while not finished and epoch < tcfg.max_epochs:
        phase, p_start, p_end = phase_of(plan, epoch)
        if phase != current_phase:
            set_backbone_trainable(raw, phase != "head")
            forward_model: nn.Module = hw.forward_model(raw, fabric.print)
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
        tr = train_epoch(
            fabric, fmodel, optimizer, train_loader_f, criterion, lr_fn=schedule, step=phase_step,
            accumulate=tcfg.accumulate, grad_clip=tcfg.grad_clip, channels_last=hw.channels_last,
            frozen_backbone=phase == "head", ema=ema, mix=mix, progress=progress,
            desc=f"epoch {epoch + 1}/{tcfg.max_epochs} [{phase}]", task=task,
        )
        phase_step = tr["step"]
        if ema is None:
            va = validate(fabric, fmodel, val_loader_f, plain_criterion.to(fabric.device), n_classes=len(classes),
                          channels_last=hw.channels_last, progress=progress, desc="validate", task=task)
        else:  # the averaged weights are the ones validated, kept as best.pt and tested
            with fabric.autocast():
                va = validate(fabric, ema.module, val_loader_f, plain_criterion.to(fabric.device),
                              n_classes=len(classes), channels_last=hw.channels_last, progress=progress,
                              desc="validate (EMA)", task=task)
        seconds = time.perf_counter() - t0
        row = task.epoch_row(epoch + 1, phase, tr, va, seconds)
        history.append(row)
        value = float(row[monitor])
        improved = (value > best_value) if mode == "max" else (value < best_value)
        if math.isnan(value):
            improved = False
        if improved:
            best_value, best_epoch, bad_epochs = value, epoch + 1, 0
            if fabric.is_global_zero:
                save_best(best_path, out, raw if ema is None else ema.module, tcfg, cfg, classes, preprocessing, va,
                          row, val_table, task, training_source(train_table))
        else:
            bad_epochs += 1
        in_last_phase = phase == plan[-1][0]
        fabric.print(task.epoch_line(row, tcfg.max_epochs, improved))
        epoch += 1
        if in_last_phase and tcfg.patience > 0 and bad_epochs >= tcfg.patience and epoch < tcfg.max_epochs:
            stopped_early = True
            fabric.print(f"early stopping: {monitor} did not improve for {bad_epochs} epochs")
        finished = stopped_early or epoch >= tcfg.max_epochs
        log_epoch(fabric, row)  # logs/metrics.csv, and TensorBoard / MLflow when asked for
        if _epoch_end(fabric, callbacks, row=row, history=history, max_epochs=tcfg.max_epochs, monitor=monitor) \
                and not finished:  # a callback asked to stop: this epoch is the last, the run ends as usual
            stopped_by_user = finished = True
            fabric.print(f"stopped by the user after epoch {epoch}: finishing the run with its best epoch")
        save_last(fabric, last_path, raw, optimizer, tcfg, cfg, classes, epoch=epoch, phase=phase,
                   phase_step=phase_step, schedule=schedule, best_value=best_value, best_epoch=best_epoch,
                   bad_epochs=bad_epochs, history=history, finished=finished, stopped_early=stopped_early,
                   img_size=tcfg.img_size, mean=mean, std=std, ema=ema)
        epochs_this_call += 1
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs and not finished:
            return {"interrupted": True, "epochs_run": epoch}

    # ------------------------------------------------------------------ final: test, summary, callbacks (figures)
    summary = _finalize(fabric, out, cfg, classes, history, best_epoch, best_value, stopped_early, test_loader,
                        test_table, val_table, split_dir, t_start, hw, task, monitor, stopped_by_user)
    return summary


def _finalize(fabric: Any, out: Path, cfg: Config, classes: list[str], history: list[dict[str, Any]],
              best_epoch: int, best_value: float, stopped_early: bool, test_loader: Any, test_table: Any,
              val_table: Any, split_dir: Any, t_start: float, hw: Hardware, task: Task, monitor: str,
              stopped_by_user: bool = False) -> dict[str, Any]:
    best_path = out / "best.pt"
    if not best_path.is_file():
        raise TrainError(f"no best checkpoint in {out}: every validation value of {monitor} was NaN")
    best_model, info = load_checkpoint(best_path)
    temperature = float(info.get("temperature", 1.0))
    test: dict[str, Any] | None = None
    if test_loader is not None and len(test_loader):
        fm = fabric.setup_module(hw.prepare(best_model))
        tl = fabric.setup_dataloaders(shard_loader(test_loader, fabric.world_size, fabric.global_rank, drop_last=False),
                                      use_distributed_sampler=False)
        te = validate(fabric, fm, tl, None, n_classes=len(classes), channels_last=hw.channels_last,
                      progress=False, desc="test", task=task)
        probs = task.probabilities(te["logits"], info)
        test = {**task.test_metrics(te["labels"], probs, classes, info), "images": int(te["images"])}
        if fabric.is_global_zero:
            write_csv_atomic(out / "test_predictions.csv",
                             task.predictions_frame(probs, te["labels"], te["index"], classes, info, test_table))
    val_pred = read_predictions(out / "val_predictions.csv", classes)
    val_auroc = task.predictions_auroc(val_pred, classes)
    summary = run_summary(out, cfg, classes, history, best_epoch=best_epoch, best_value=best_value,
                          stopped_early=stopped_early, test=test, val_auroc=val_auroc, temperature=temperature,
                          split_dir=split_dir, seconds_this_call=time.perf_counter() - t_start,
                          device=str(fabric.device), world_size=int(fabric.world_size), task=task.name,
                          monitor=monitor)
    summary.update(task.summary_fields(history, best_epoch, test, info), stopped_by_user=stopped_by_user)
    summary.update(hw.record())  # the resolved precision, device name, channels_last, compiled or not
    if fabric.is_global_zero:
        fabric.call("on_run_end", run_dir=out, history=history, val_predictions=val_pred, classes=classes)
        write_json_atomic(out / "summary.json", summary)
        log_end(fabric, out, cfg, summary, classes,
                        {"val": val_pred, "test": read_predictions(out / "test_predictions.csv", classes)})
    fabric.barrier()
    return jsonable(summary)


def _epoch_end(fabric: Any, callbacks: Sequence[Any], **state: Any) -> bool:
    """The per-epoch hook: rank 0 calls every callback's ``on_epoch_end(row, history, max_epochs, monitor)`` (a
    notebook's live monitor draws its curves there); then whether a callback asks the run to stop after this epoch
    (its ``stop_requested``), rank 0's answer broadcast so that every process stops at the same epoch."""
    if fabric.is_global_zero:
        fabric.call("on_epoch_end", **state)
    asked = fabric.is_global_zero and any(bool(getattr(c, "stop_requested", False)) for c in callbacks)
    return bool(fabric.broadcast(asked, src=0))
