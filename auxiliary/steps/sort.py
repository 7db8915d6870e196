"""Notebook 06 and ``python -m auxiliary sort``: copy new images into class folders and ``low_confidence/``.

:func:`sort` is the one step both call (the DVC stage ``sort`` too, through the command line): it opens the
checkpoint once (:class:`~auxiliary.models.checkpoint.Checkpoint`: read and hashed once per run), sorts with
:func:`auxiliary.inference.sorter.sort_folder` and records the step for the trackers. Where an image goes is
the checkpoint's task's sort rule: a multi-label checkpoint copies each image into every ``<label>/`` it is
positive for, ``none/`` when it is positive for none, or ``low_confidence/`` when a label's probability is too
close to its threshold (``conf`` sets that band); ``tone_thresholds`` uses the thresholds of each image's
*estimated* tone group instead of the global ones (:class:`~auxiliary.tasks.placement.LabelSort`).

A very large folder in several processes: ``sort ... --shard i/n`` for ``i = 0 .. n-1`` (any machines that
see the folders), then ``sort --input IN --out OUT --merge`` (:mod:`auxiliary.inference.shards`,
:mod:`auxiliary.inference.sort_merge`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from auxiliary.base.config import Config
from auxiliary.base.errors import SortError
from auxiliary.base.layout import resolve_path
from auxiliary.inference.sort_merge import merge_shards
from auxiliary.inference.sort_report import SortResult
from auxiliary.inference.sorter import sort_folder
from auxiliary.models.checkpoint import Checkpoint, procedural_notice
from auxiliary.training.records import record_step
from auxiliary.training.runs import trained_checkpoint


def sort(cfg: Config, ckpt: Checkpoint | str | Path | None, input_dir: str | Path, out: str | Path, *,
         batch: int | None = None, recursive: bool | None = None, calib: str | Path | None = None,
         tta: bool = False, tone_thresholds: bool = False, shard: tuple[int, int] | None = None,
         merge: bool = False, progress: bool = True) -> SortResult:
    """The ``sort`` step: copy every image under ``input_dir`` into ``out`` as ``cfg.sort`` says (``conf``,
    ``coverage``, ``backend``, ``device``; ``batch`` and ``recursive`` default to ``sort_batch`` and
    ``recursive``), with ``ckpt`` (a checkpoint file, or one already opened; default: the run
    :func:`auxiliary.steps.train.ensure_run` would reuse for ``cfg``).

    ``shard=(i, n)`` sorts only shard ``i`` into ``out/shards/<i>-of-<n>/``; ``merge`` gathers the finished
    shards into ``out`` instead (no checkpoint needed). Returns the :class:`SortResult`; its summary's
    ``accounted_for_all`` says whether every input was accounted for (exit code 1 on the command line if not).
    """
    s = cfg.sort
    batch = s.sort_batch if batch is None else batch
    recursive = s.recursive if recursive is None else bool(recursive)
    if merge:
        if shard is not None:
            raise SortError("--merge gathers every shard: leave out --shard")
        res = merge_shards(Path(input_dir).expanduser(), Path(out).expanduser(), recursive=recursive,
                           progress=progress)
    else:
        if not isinstance(ckpt, Checkpoint):  # opened here, once: everything below is handed the Checkpoint
            ckpt = Checkpoint.open(resolve_path(ckpt) if ckpt else trained_checkpoint(cfg))
        notice = procedural_notice(ckpt)  # a folder to sort is the user's photos: one line, never a refusal
        if notice:
            print(notice, file=sys.stderr)
        res = sort_folder(
            ckpt, Path(input_dir).expanduser(), Path(out).expanduser(), conf=s.conf, batch=batch,
            recursive=recursive, coverage=s.coverage, calib=Path(calib).expanduser() if calib else None, tta=tta,
            backend=s.backend, progress=progress, device=s.device, shard=shard, tone_thresholds=tone_thresholds,
        )
    sm = res.summary
    record_step(cfg, "sort", res.out_dir, metrics={**{f"count_{k}": v for k, v in sm["counts"].items()},
                "inputs": sm["n_inputs"]}, tags={"model_arch": sm["model"], "checkpoint": sm.get("checkpoint"),
                                                 "rule": sm["rule"]})
    return res
