"""Notebook 04 and ``python -m auxiliary train``: a training run for a config, reused only when its recorded settings match.

A multi-label split (``classes.json`` task ``multilabel``) trains one sigmoid per label (``--loss bce``,
``asymmetric`` or ``focal_bce``; :mod:`auxiliary.training.multilabel_run`); its run folder gets the loss curve
(:class:`LossCurve`) instead of the single-label accuracy curves and confusion matrix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from auxiliary.base.config import Config
from auxiliary.base.errors import TrainError
from auxiliary.base.layout import run_dir, selection_file
from auxiliary.data.readers import split_task
from auxiliary.steps.split import ensure_splits
from auxiliary.training.loop import fit
from auxiliary.training.records import run_callbacks
from auxiliary.training.runs import (
    RUN_MARKERS,
    run_name,
    same_settings,
)
from auxiliary.viz.plots_training import RunFigures, plot_curves


def ensure_run(cfg: Config, name: str | None = None, progress: bool = True,
               split_dir: str | Path | None = None) -> Path:
    """The run folder of ``cfg`` (``runs/<name or run_name(cfg)>``) with a finished run: reused when it was
    made with the same settings (and, when ``split_dir`` is given, on that split), resumed when
    interrupted, otherwise trained (an existing run with other settings is replaced, with a message
    saying so). ``split_dir`` defaults to the configured dataset's split (:func:`ensure_splits`).

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
    split = Path(split_dir) if split_dir is not None else ensure_splits(cfg, progress=progress)
    train_run(cfg, split, out, resume=resume, overwrite=exists and not resume, progress=progress)
    return out


def trained_checkpoint(cfg: Config, name: str | None = None) -> Path:
    """``best.pt`` of the run :func:`ensure_run` would reuse for ``cfg``, without training; a one-line
    error saying what to do when there is none or it was trained with other settings."""
    out = run_dir(cfg, name or run_name(cfg))
    if not (out / "best.pt").is_file():
        raise TrainError(f"no trained run at {out}: train it with `python -m auxiliary train --profile "
                         f"{cfg.profile}` (or notebook 04), or pass --ckpt")
    if not same_settings(out, cfg):
        raise TrainError(f"{out} was trained with other settings than these: train it again with `python -m "
                         f"auxiliary train --profile {cfg.profile} --overwrite`, or pass --ckpt")
    return out / "best.pt"


class LossCurve:
    """A Fabric callback for multi-label runs: ``logs/loss_curve.png`` (the accuracy curves and the confusion
    matrix of :class:`~auxiliary.viz.plots_training.RunFigures` are single-label figures)."""

    def on_run_end(self, run_dir: Path, history: list[dict[str, Any]], val_predictions: Any,
                   classes: Any) -> None:
        fig = plot_curves(pd.DataFrame(history), "loss")
        fig.savefig(Path(run_dir) / "logs" / "loss_curve.png", dpi=120, bbox_inches="tight")
        plt.close(fig)


def train_run(cfg: Config, split_dir: str | Path, out_dir: str | Path, **kwargs: Any) -> dict[str, Any]:
    """:func:`auxiliary.training.loop.fit` plus the run's figures under ``logs/`` (loss and accuracy
    curves, validation confusion matrix; the loss curve of a multi-label run) and what its trackers need
    (:func:`auxiliary.training.records.run_callbacks`): how every step trains. Returns the run's summary."""
    figures = LossCurve() if split_task(split_dir) == "multilabel" else RunFigures()
    return fit(cfg, split_dir, out_dir, callbacks=[figures, *run_callbacks(cfg)], **kwargs)


def selection_winner(cfg: Config, split: Path) -> str:
    """The model ``select`` recorded for this profile on ``split`` (``train --from-selection``; the DVC pipeline)."""
    f = selection_file(cfg, create=False)
    try:
        sel = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise TrainError(f"--from-selection: no readable model selection at {f}; run `python -m auxiliary select` "
                         "first") from None
    if Path(str(sel.get("split_dir"))).resolve() != Path(split).resolve() or not sel.get("model"):
        raise TrainError(f"--from-selection: {f} was made on another split ({sel.get('split_dir')}); run "
                         f"`python -m auxiliary select --split {split}` first")
    return str(sel["model"])
