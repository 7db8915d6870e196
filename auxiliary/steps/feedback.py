"""The feedback round of notebook 06 (``python -m auxiliary feedback``): review queue, corrections, retraining.

* :func:`feedback` is the step: ``file`` one reviewed image (:func:`auxiliary.data.feedback.file_image`: a copy
  named by its content hash under ``feedback_dir/<label>/``, with a provenance record), or ``merge`` a feedback
  folder (:func:`auxiliary.data.merge.merge_feedback`: the feedback images go to a new version of the *training*
  split only, ``<split>-v2``..., the old version is left untouched).
* :func:`review_queue` lists the images worth a look (``low_confidence`` ones and, when the true
  labels are known, the mistakes), most informative first; :class:`auxiliary.viz.widgets.ReviewPanel` is the
  ipywidgets panel where one click files an image, :func:`simulate_review` the reviewer of the notebook's
  simulated round. What differs between tasks (the order, what a mistake is, the folder an image is filed
  under) is the sorting model's task's (:mod:`auxiliary.tasks`).
* The notebook's round: :func:`new_synthetic_batch` (an inbox of fresh images with known labels),
  :func:`sort_quality`, :func:`retrain_after_merge` and :func:`evaluate_split` (before/after).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import atomic_copy, read_csv, sha256_file, write_csv_atomic
from auxiliary.base.layout import data_dir, resolve_path, runs_dir, split_dir
from auxiliary.base.progress import progress_bar
from auxiliary.data.feedback import FeedbackError, check_image_file, file_image
from auxiliary.data.merge import merge_feedback
from auxiliary.data.readers import load_split
from auxiliary.inference.active import STRATEGIES, model_embeddings, select_for_review
from auxiliary.inference.predictor import Predictor
from auxiliary.inference.sim2real import halves, read_real
from auxiliary.models.checkpoint import read_checkpoint
from auxiliary.steps.split import ensure_splits
from auxiliary.steps.train import ensure_run
from auxiliary.synth.dataset import generate_dataset, multilabel_columns
from auxiliary.synth.samplers import IMAGES_PER_UNIT
from auxiliary.tasks import Task, task_named
from auxiliary.training.records import record_step
from auxiliary.training.runs import trained_checkpoint


# ============================================================================ the step
def feedback(cfg: Any, action: str, *, image: str | Path | None = None, label: str | None = None,
             split: str | Path | None = None, feedback_dir: str | Path | None = None, out: str | Path | None = None,
             guess: str | None = None, reviewer: str = "reviewer", overwrite: bool = False,
             progress: bool = True) -> dict[str, Any]:
    """The ``feedback`` step (``python -m auxiliary feedback``, notebook 06): ``action`` ``file`` copies one
    reviewed ``image`` under ``feedback_dir/<label>/`` (the label checked against ``split``'s classes, else the
    configured split's, else the configured trained checkpoint's); ``merge`` adds ``feedback_dir`` to a new
    version of ``split``'s training list (:func:`auxiliary.data.merge.merge_feedback`) and records the step for
    the trackers. ``feedback_dir`` defaults to ``sort.feedback_dir``, ``split`` to the configured dataset's split.
    Returns ``{"action": "file", "file": ...}`` or the merge report (with ``split``)."""
    fdir = Path(feedback_dir).expanduser() if feedback_dir else resolve_path(cfg.sort.feedback_dir)
    if action == "file":
        if not image or not label:
            raise FeedbackError("feedback file needs an IMAGE and --label CLASS")
        check_image_file(Path(image).expanduser())  # the image's own problem first (missing, not an image, a FIFO)
        classes, origin = known_classes(cfg, split, label)
        if str(label).strip() not in classes:
            raise FeedbackError(f"--label {label!r} is not a class of {origin}: use one of {', '.join(classes)}")
        dest = file_image(Path(image).expanduser(), label, fdir, source=str(Path(image).resolve()),
                          model_guess=guess, probs=None, reviewer=reviewer, classes=classes)
        return {"action": "file", "image": str(image), "label": label, "file": dest}
    if action != "merge":
        raise FeedbackError(f"unknown feedback action {action!r} (choose merge or file)")
    base = Path(split).expanduser() if split else configured_split(cfg)
    if base is None:
        raise FeedbackError("no split for this configuration: pass --split DIR, or make one with `python -m auxiliary split`")
    rep = merge_feedback(base, fdir, Path(out).expanduser() if out else None, progress=progress, overwrite=overwrite)
    if rep["out_dir"] is not None and not rep.get("reused"):
        record_step(cfg, "feedback", rep["out_dir"], split_dir=rep["out_dir"], tags={"source_split": base},
                    metrics={"added": rep["added"], "dropped": rep["dropped"], "feedback_files": rep["n_feedback_files"]})
    return {"action": "merge", "split": base, **rep}


def known_classes(cfg: Any, split: str | Path | None = None, label: str | None = None) -> tuple[list[str], str]:
    """The labels ``feedback file`` accepts and where they come from: ``split``'s classes, else the
    configured split's, else the configured trained checkpoint's; a one-line error when there is none."""
    if split:
        folder = Path(split).expanduser()
        return load_split(folder)[1], f"the split {folder}"
    folder = configured_split(cfg)
    if folder is not None and (folder / "classes.json").is_file():
        return load_split(folder)[1], f"the split {folder}"
    ckpt = None
    if runs_dir(create=False).is_dir():  # (looked up without creating runs/)
        try:
            ckpt = trained_checkpoint(cfg)
        except AuxiliaryError:
            ckpt = None
    if ckpt is not None:
        return [str(c) for c in read_checkpoint(ckpt)["classes"]], f"the checkpoint {ckpt}"
    raise FeedbackError(f"cannot check --label {label!r}: no split {'at ' + str(folder) + ' ' if folder else ''}and "
                        "no trained model for this configuration; pass --split DIR (the split the feedback will be "
                        "merged into)")


def configured_split(cfg: Any) -> Path | None:
    """The configured dataset's split folder, or None when there is no data folder at all (found
    without creating one: a command that fails leaves nothing behind)."""
    return split_dir(cfg) if data_dir(create=False).is_dir() else None


# ============================================================================ review
def review_queue(predictions: pd.DataFrame, truth: pd.DataFrame | Mapping[str, str] | None = None,
                 task: Task | str = "single",
                 classes: Sequence[str] | None = None, *, order: str = "margin", include_mistakes: bool = True,
                 out_dir: str | Path | None = None) -> pd.DataFrame:
    """Images of a sort worth a reviewer's look, most informative first (``task.review_queue``: the
    ``low_confidence`` ones and, with ``truth``, the mistakes).

    ``predictions`` is ``OUT/predictions.csv`` of a sort, ``task`` the sorting model's task (or its name) and
    ``classes`` its classes or labels (default: the ``prob_`` columns); ``truth``: a table with ``source`` and
    the true ``label`` (and, multi-label, one 0/1 column per label), e.g. a simulated reviewer's, or a
    ``{source: label}`` dict of one class per image. Adds ``image``: the sorted copy (the first, for an image in
    several label folders) when ``out_dir`` is given, else the source."""
    task = task if isinstance(task, Task) else task_named(task)
    if isinstance(truth, Mapping):
        truth = pd.DataFrame({"source": [str(k) for k in truth], "label": [str(v) for v in truth.values()]})
    df = task.review_queue(predictions, truth, _classes(predictions, classes), order=order,
                           include_mistakes=include_mistakes)
    base = Path(out_dir) if out_dir is not None else None
    first = [str(d).split("|")[0] for d in df["destination"]]
    df["image"] = [str(base / d) if base is not None and d else s for s, d in zip(df["source"], first)]
    return df


def review_batch(predictor: Predictor, predictions: pd.DataFrame, k: int, strategy: str = STRATEGIES[0], *,
                 seed: int = 0, out_dir: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """The ``k`` sorted photos a reviewer should label first, so that ``k`` corrections teach the model the most
    (:func:`auxiliary.inference.active.select_for_review`: ``uncertainty+diversity`` by default, ``uncertainty``,
    ``diversity`` or ``random``); ``predictor`` is the sorting model (its task says how unsure it is of each photo,
    its own features how alike two photos are). Rows of ``predictions`` (a sort's ``predictions.csv``) in the order
    to review, with ``uncertainty``, ``rank``, ``why`` (the strategy) and ``image`` (as :func:`review_queue`)."""
    df = predictions[predictions["decision"] != "rejected"].reset_index(drop=True)
    probs = df[[f"prob_{c}" for c in predictor.classes]].to_numpy(dtype=float)
    doubt = predictor.task.uncertainty(probs, predictor.info, predictor.classes) if len(df) else probs[:, 0]
    emb = (model_embeddings(predictor, df["source"].astype(str).tolist(), progress=progress)
           if strategy in ("diversity", "uncertainty+diversity") and len(df) else None)
    picks = select_for_review(doubt, k, strategy, emb, seed=seed)
    out = df.iloc[picks].assign(uncertainty=doubt[picks], why=strategy).reset_index(drop=True)
    out["rank"] = range(1, len(out) + 1)
    base = Path(out_dir) if out_dir is not None else None
    first = [str(d).split("|")[0] for d in out["destination"]]
    out["image"] = [str(base / d) if base is not None and d else s for s, d in zip(out["source"], first)]
    return out


def simulate_review(queue: pd.DataFrame, feedback_dir: str | Path, task: Task | str = "single",
                    classes: Sequence[str] | None = None, *, reviewer: str = "simulated",
                    progress: bool = False) -> pd.DataFrame:
    """File every queued image whose truth is known as a reviewer would (``task.review_filing``: its class, or its
    label set's folder such as ``acne+wrinkles``), via :func:`auxiliary.data.feedback.file_image`; one row per
    filed image (``source``, ``label``, ``model_guess``, ``file``, ``why``)."""
    task = task if isinstance(task, Task) else task_named(task)
    names = _classes(queue, classes)
    rows = []
    for _, r in progress_bar(queue.iterrows(), total=len(queue), desc="review", disable=not progress):
        filing = task.review_filing(r, names)
        if filing is None:
            continue
        label, guess, probs = filing
        dest = file_image(r["source"], label, feedback_dir, source=r["source"], model_guess=guess, probs=probs,
                          reviewer=reviewer, classes=names)
        rows.append({"source": r["source"], "label": label, "model_guess": guess, "file": str(dest),
                     "why": r.get("why", "")})
    return pd.DataFrame(rows, columns=["source", "label", "model_guess", "file", "why"])


def sort_quality(predictions: pd.DataFrame, truth: pd.DataFrame, task: Task | str = "single",
                 classes: Sequence[str] | None = None) -> dict[str, Any]:
    """How a sort did against known labels (``task.sort_quality``): accuracy (or per-label F1 and exact match) of
    the images sorted into folders and of all readable ones, and how many mistakes ``low_confidence/`` caught."""
    task = task if isinstance(task, Task) else task_named(task)
    return task.sort_quality(predictions, truth, _classes(predictions, classes))


def _classes(predictions: pd.DataFrame, classes: Sequence[str] | None) -> list[str]:
    return [str(c) for c in classes] if classes is not None else [c[5:] for c in predictions.columns
                                                                   if str(c).startswith("prob_")]


# ============================================================================ the notebook's round
def round_dir(cfg: Any, ckpt: str | Path, real: str | Path | None = None) -> Path:
    """Working folder of notebook 06's feedback round for ``cfg`` and the checkpoint's bytes (and, on real photos,
    for the folder ``real``: a round on other photos gets a folder of its own)."""
    name = f"round-{cfg.profile}-{sha256_file(ckpt)[:8]}"
    if real is not None:
        name += "-real-" + hashlib.sha256(str(Path(real).expanduser().resolve()).encode()).hexdigest()[:8]
    return runs_dir() / "06_sorting_feedback" / name


def new_synthetic_batch(cfg: Any, out_dir: str | Path, n: int | None = None, *, seed_offset: int = 1000,
                        add_broken: bool = True, progress: bool = True) -> tuple[Path, pd.DataFrame]:
    """``n`` fresh synthetic images (another seed than the training set) copied flat into ``out_dir/inbox``
    with neutral names, as new photos would arrive; returns ``(inbox, truth)`` where ``truth`` maps
    each inbox file (``source``) to its true ``label`` (also written to ``out_dir/truth.csv``); with
    ``cfg.synth.task`` multilabel, ``n`` faces and one 0/1 column per label as well.
    ``add_broken`` also drops a text file named ``broken_upload.jpg`` in the inbox, as real inboxes
    have them (sorting must list it in ``rejected.csv``)."""

    n = int(n if n is not None else cfg.sort.n_new)
    if n < 1:
        raise FeedbackError(f"n_new must be at least 1, got {n}")
    out = Path(out_dir)
    gen = out / "generated"
    scfg = replace(cfg.synth, seed=int(cfg.synth.seed) + int(seed_offset),
                   n_per_class=max(1, math.ceil(n / IMAGES_PER_UNIT[cfg.synth.task])))
    if (gen / "metadata.csv").is_file():
        meta = read_csv(gen / "metadata.csv")
    else:
        meta = generate_dataset(scfg, gen, overwrite=gen.exists(), progress=progress)
    meta = meta.copy()
    meta["path"] = [str(p) if os.path.isabs(str(p)) else str(gen / str(p)) for p in meta["path"]]
    meta = meta.sample(frac=1.0, random_state=int(scfg.seed)).head(n).reset_index(drop=True)
    inbox = out / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, r in meta.iterrows():
        src = Path(r["path"])
        dest = inbox / f"new_{i:04d}{src.suffix.lower() or '.png'}"
        if not dest.is_file():
            atomic_copy(src, dest)
        rows.append({"source": str(dest.resolve()), "label": str(r["label"]), "generated": str(src),
                     **{lab: int(r[lab]) for lab in multilabel_columns(meta)}})
    if add_broken and not (inbox / "broken_upload.jpg").exists():
        (inbox / "broken_upload.jpg").write_text("an upload that was interrupted: not an image\n", encoding="utf-8")
    truth = pd.DataFrame(rows)
    write_csv_atomic(out / "truth.csv", truth)
    return inbox, truth


def new_batch(cfg: Any, out_dir: str | Path, n: int | None = None, *, real: str | Path | None = None,
              label_map: str | None = None, seed: int = 0, progress: bool = True) -> tuple[Path, pd.DataFrame, Path]:
    """Notebook 06's new photos: ``(inbox, truth, held_back)``. Without ``real``, :func:`new_synthetic_batch` and
    the split folder as ``held_back`` (its test list judges the round). With ``real`` (a folder of real photos in class folders, labels renamed
    by ``label_map``), one stratified half of it (:func:`auxiliary.inference.sim2real.halves`, ``seed``) copied
    flat into ``out_dir/inbox`` with neutral names (the photos to sort: the model never sees their labels; the
    simulated reviewer reads ``truth``), the other half listed in ``out_dir/held_back.csv``, the judge of the
    round, which no model trains on."""
    out = Path(out_dir)
    if real is None:
        inbox, truth = new_synthetic_batch(cfg, out, n, progress=progress)
        return inbox, truth, ensure_splits(cfg, progress=progress)
    photos = read_real(real, label_map, None, progress=progress)
    pool, test = halves(photos, seed=seed)
    inbox = out / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, r in pool.reset_index(drop=True).iterrows():
        src = Path(r["path"])
        dest = inbox / f"photo_{i:04d}{src.suffix.lower()}"
        if not dest.is_file():
            atomic_copy(src, dest)
        rows.append({"source": str(dest.resolve()), "label": str(r["label"]), "original": str(src)})
    truth = pd.DataFrame(rows, columns=["source", "label", "original"])
    write_csv_atomic(out / "truth.csv", truth)
    held_back = out / "held_back.csv"
    write_csv_atomic(held_back, test[["path", "label"]])
    return inbox, truth, held_back


def review(predictions: pd.DataFrame, truth: pd.DataFrame | None, task: Task | str, classes: Sequence[str], *,
           k: int | None = None, predictor: Predictor | None = None, order: str = "margin",
           strategy: str = STRATEGIES[0], out_dir: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Notebook 06's review queue: without ``k``, every ``low_confidence`` image and, with ``truth``, every mistake
    (:func:`review_queue`, by ``order``); with ``k``, the ``k`` photos a reviewer should label first
    (:func:`review_batch` with the sorting ``predictor``, by ``strategy``), the truth of each in ``label`` when
    ``truth`` is known (the simulated reviewer's answers)."""
    if k is None:
        return review_queue(predictions, truth, task, classes, order=order, out_dir=out_dir)
    if predictor is None:
        raise FeedbackError("choosing k photos to review needs the sorting model (predictor=...)")
    queue = review_batch(predictor, predictions, k, strategy, out_dir=out_dir, progress=progress)
    if truth is not None:
        known = truth.set_index(truth["source"].astype(str))
        queue["label"] = [str(known["label"].get(str(s), "")) for s in queue["source"]]
        for col in [c for c in truth.columns if c in classes]:  # multi-label truth: its 0/1 columns
            queue[f"true_{col}"] = [known[col].get(str(s)) for s in queue["source"]]
    return queue


def retrain_after_merge(cfg: Any, merge: dict[str, Any], before_run: str | Path, *, start: str | Path | None = None,
                        epochs: int = 3, progress: bool = True) -> Path:
    """The run trained with ``cfg`` on the merged split (``runs/<model>-<profile>-<version>``); the
    ``before_run`` itself when the merge added nothing (same data, same model). With ``start`` (a checkpoint, e.g.
    the adapted model that sorted the photos), that model fine-tuned on the merged split for ``epochs`` (every
    layer) instead of a training from the start; either way the corrected real photos are drawn
    ``data.real_weight`` times as often as a synthetic image of their class."""
    if not merge.get("out_dir"):
        return Path(before_run)
    if start is not None:
        tcfg = replace(cfg.train, pretrained=str(start), freeze_epochs=0, max_epochs=int(epochs), patience=0)
        cfg = replace(cfg, train=tcfg)
    return retrain(cfg, merge["out_dir"], f"{cfg.train.model}-{cfg.profile}-{Path(merge['out_dir']).name}",
                   progress=progress)


def evaluate_split(ckpt: str | Path, split_dir: str | Path, split: str = "test", *, batch: int = 32,
                   progress: bool = False) -> dict[str, float]:
    """Summary metrics of a checkpoint on one split's list (``split_dir`` a split folder), or on a list file
    (``split_dir`` a CSV of ``path, label``: notebook 06's held-back real photos)."""
    if Path(split_dir).is_file():
        table = read_csv(split_dir, keep_default_na=False, dtype={"label": str})
        pred = Predictor.from_checkpoint(ckpt)
        probs, _errors = pred.predict_paths(list(table["path"]), batch_size=batch, progress=progress)
        return {**pred.task.split_metrics(table, probs, pred.classes, pred.info), "n": int(len(table))}
    return _evaluate_split_list(ckpt, split_dir, split, batch=batch, progress=progress)


def _evaluate_split_list(ckpt: str | Path, split_dir: str | Path, split: str, *, batch: int,
                         progress: bool) -> dict[str, float]:
    """Summary metrics of a checkpoint on one split, as its task measures them (:meth:`auxiliary.tasks.Task.split_metrics`:
    accuracy, balanced accuracy, macro-F1, AUROC, ECE, log-loss; of a multi-label checkpoint, per-label AUROC, F1 at
    its thresholds, subset accuracy, Hamming loss), and ``n``, the rows of the split."""
    tables, _classes = load_split(split_dir)
    table = tables[split]
    pred = Predictor.from_checkpoint(ckpt)
    probs, _errors = pred.predict_paths(list(table["path"]), batch_size=batch, progress=progress)
    out = pred.task.split_metrics(table, probs, pred.classes, pred.info)
    out["n"] = int(len(table))
    return out


def retrain(cfg: Any, split_dir: str | Path, name: str, *, progress: bool = True) -> Path:
    """Train ``cfg`` on ``split_dir`` into ``runs/<name>`` (:func:`auxiliary.steps.train.ensure_run`:
    reused when it was trained with these settings on this split, resumed after a crash)."""
    return ensure_run(cfg, name, progress=progress, split_dir=split_dir)
