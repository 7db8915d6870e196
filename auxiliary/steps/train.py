"""Notebook 04 and ``python -m auxiliary train``: a training run for a config, reused only when its recorded settings match.

The split's task (``classes.json``) decides what the run trains (:func:`auxiliary.tasks.choose_task`) and which
figures its run folder gets (:data:`auxiliary.viz.plots_training.RUN_FIGURES`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from auxiliary.base.config import Config
from auxiliary.base.errors import TrainError
from auxiliary.base.files import check_output_dir
from auxiliary.base.layout import data_dir, resolve_path, run_dir, runs_dir, selection_file, split_dir
from auxiliary.data.readers import split_task
from auxiliary.steps.sort import sort
from auxiliary.steps.split import data_task, ensure_splits
from auxiliary.tasks import choose_task
from auxiliary.training.engine import check_config, check_engine
from auxiliary.training.loop import fit
from auxiliary.training.records import run_callbacks
from auxiliary.training.runs import (
    RUN_MARKERS,
    refuse_existing,
    run_name,
    same_settings,
    secondary_rank,
    with_model,
)
from auxiliary.viz.plots_training import RunFigures


def train(cfg: Config, data: str | Path | None = None, out: str | Path | None = None, *, resume: bool = False,
          overwrite: bool = False, from_selection: bool = False, progress: bool = True,
          callbacks: Sequence[Any] = (), classify_images: str | Path | None = None,
          classify_out: str | Path | None = None) -> dict[str, Any]:
    """The ``train`` step (``python -m auxiliary train``, notebook 04 through :func:`ensure_run`): train
    ``cfg.train.model`` (or, with ``from_selection``, the winner ``select`` recorded for this split) on ``data``
    (a split folder, or any dataset the data step reads, split with ``cfg.data``; default: the configured
    dataset) into the run folder ``out`` (default ``runs/<model>-<profile>``).

    Every setting is checked before anything is written (the synthetic default, a split, an image cache, a run
    folder): the engine (devices, strategy, precision); an existing run is refused unless ``resume`` or
    ``overwrite``; a loss, monitor or task that does not fit the data, or a missing selection, is refused in one
    line. ``callbacks``: more Fabric callbacks for the run (notebook 04's live monitor, see :func:`train_run`).
    ``classify_images`` / ``classify_out`` (both or neither, the original course scripts' ``--classify_images``):
    when training ends, the folder is sorted with the run's ``best.pt`` into ``classify_out``
    (:func:`auxiliary.steps.sort.sort`; its summary under ``classified``).
    Returns the run's summary (``summary.json``, with ``run_dir``); the other processes of a multi-process run get
    theirs too."""
    check_config(cfg.train)
    check_engine(cfg.train)
    if (classify_images is None) != (classify_out is None):
        raise TrainError("--classify-images and --classify-out go together: the folder to sort and where to sort it")
    if classify_images is not None:
        if not Path(classify_images).expanduser().is_dir():
            raise TrainError(f"--classify-images {classify_images}: not a folder of images")
        check_output_dir(resolve_path(classify_out), inputs=(classify_images, data), option="--classify-out")
    data_cfg = with_data(cfg, data)
    if from_selection:
        cfg = with_model(cfg, selection_winner(cfg, planned_split(data_cfg, data)))
    out_dir = check_output_dir(resolve_path(out), inputs=(data,)) if out else runs_dir(create=False) / run_name(cfg)
    refuse_existing(out_dir, resume, overwrite)
    if resume and not (out_dir / "last.pt").is_file():
        raise TrainError(f"nothing to resume in {out_dir} (no last.pt)")
    choose_task(cfg.train, planned_task(data_cfg, data))  # a loss, monitor or task that does not fit: nothing made
    split = resolve_split(cfg, data, progress=progress)
    choose_task(cfg.train, split_task(split))  # what the split turned out to be
    if not secondary_rank():  # the other processes of a multi-process run re-run this command
        print(f"training {cfg.train.model} on {split} -> {out_dir}")
    summary = train_run(cfg, split, out_dir, resume=resume, overwrite=overwrite, progress=progress,
                        callbacks=callbacks)
    if classify_images is not None and not secondary_rank():
        res = sort(cfg, out_dir / "best.pt", classify_images, classify_out, progress=progress)
        summary = {**summary, "classified": {"out_dir": str(res.out_dir), **{k: res.summary[k] for k in (
            "n_inputs", "counts", "accounted_for_all")}}}
    return summary


def has_split_lists(path: Path) -> bool:
    """A split folder ``train`` can read as it is: its ``train.csv`` and ``classes.json``."""
    return (path / "train.csv").is_file() and (path / "classes.json").is_file()


def with_data(cfg: Config, data: str | Path | None) -> Config:
    """``cfg`` for the data ``train`` reads: ``cfg`` itself for the configured dataset or a split folder, else
    ``cfg`` with ``data.data`` set to the dataset ``data`` (split with ``cfg.data``'s settings). Nothing is made."""
    if not data:
        return cfg
    d = resolve_path(data)
    if has_split_lists(d):
        return cfg
    if not d.exists():
        raise TrainError(f"--data {data}: not found ({d})")
    return replace(cfg, data=replace(cfg.data, data=str(d)))


def planned_split(cfg: Config, data: str | Path | None) -> Path | None:
    """The split folder ``train`` would read, without making it: ``data`` when it is a split folder, else the split
    of ``cfg``'s dataset under ``data/splits/`` (``None`` while there is no ``data/`` folder: no split is there)."""
    if data and has_split_lists(resolve_path(data)):
        return resolve_path(data)
    return split_dir(cfg) if data_dir(create=False).is_dir() else None


def planned_task(cfg: Config, data: str | Path | None) -> str:
    """The task of the split ``train`` would read (:func:`planned_split`), or of the data it would split
    (:func:`auxiliary.steps.split.data_task`), told without making anything."""
    split = planned_split(cfg, data)
    return split_task(split) if split is not None and has_split_lists(split) else data_task(cfg)


def resolve_split(cfg: Config, data: str | Path | None, progress: bool = True) -> Path:
    """A split folder for ``data``: the folder itself when it is one, else the dataset split with
    ``cfg.data`` settings into ``data/splits/`` (re-used when it exists)."""
    data_cfg = with_data(cfg, data)
    return resolve_path(data) if data and data_cfg is cfg else ensure_splits(data_cfg, progress=progress)


def ensure_run(cfg: Config, name: str | None = None, progress: bool = True,
               split_dir: str | Path | None = None, callbacks: Sequence[Any] = ()) -> Path:
    """The run folder of ``cfg`` (``runs/<name or run_name(cfg)>``) with a finished run: reused when it was
    made with the same settings (and, when ``split_dir`` is given, on that split), resumed when
    interrupted, otherwise trained (an existing run with other settings is replaced, with a message
    saying so). ``split_dir`` defaults to the configured dataset's split (:func:`ensure_splits`). ``callbacks``
    join the run's Fabric callbacks when it trains (notebook 04's
    :class:`auxiliary.viz.panels_training.TrainingMonitor`).

    This is the one rule every notebook and step uses to reuse a trained run."""
    out = run_dir(cfg, name or run_name(cfg))
    same = same_settings(out, cfg)
    if same and (out / "summary.json").is_file() and (out / "best.pt").is_file():
        trained_on = json.loads((out / "summary.json").read_text(encoding="utf-8")).get("split_dir")
        if split_dir is None or trained_on is None or Path(trained_on) == Path(split_dir):
            print(f"reusing the finished run {out} (same settings)")
            return out
        same = False
    resume = same and (out / "last.pt").is_file()
    exists = any((out / n).exists() for n in RUN_MARKERS)
    if exists and not resume:
        print(f"{out} holds a run with other settings: training again in its place")
    train(cfg, split_dir, out, resume=resume, overwrite=exists and not resume, progress=progress, callbacks=callbacks)
    return out


def train_run(cfg: Config, split_dir: str | Path, out_dir: str | Path, *, callbacks: Sequence[Any] = (),
              **kwargs: Any) -> dict[str, Any]:
    """:func:`auxiliary.training.loop.fit` plus the run's figures under ``logs/`` (loss and accuracy
    curves, validation confusion matrix; the loss curve of a multi-label run) and what its trackers need
    (:func:`auxiliary.training.records.run_callbacks`), with ``callbacks`` after them (a live monitor, whose
    ``stop_requested`` ends the run after an epoch): how every step trains. Returns the run's summary."""
    figures = RunFigures(split_task(split_dir))
    return fit(cfg, split_dir, out_dir, callbacks=[figures, *run_callbacks(cfg), *callbacks], **kwargs)


def selection_winner(cfg: Config, split: Path | None) -> str:
    """The model ``select`` recorded for this profile on ``split`` (``train --from-selection``; the DVC pipeline);
    ``None``: a split not made yet, which no selection was made on."""
    f = selection_file(cfg, create=False)
    try:
        sel = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise TrainError(f"--from-selection: no readable model selection at {f}; run `python -m auxiliary select` "
                         "first") from None
    if split is None or Path(str(sel.get("split_dir"))).resolve() != Path(split).resolve() or not sel.get("model"):
        raise TrainError(f"--from-selection: {f} was made on another split ({sel.get('split_dir')}); run "
                         f"`python -m auxiliary select{f' --split {split}' if split else ''}` first")
    return str(sel["model"])
