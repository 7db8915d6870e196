"""The feedback round of notebook 06 (``python -m auxiliary feedback``): review queue, corrections, retraining.

* :func:`review_queue` lists the images worth a look (``low_confidence`` ones and, when the true
  labels are known, the mistakes), most informative first (smallest top-2 margin, or highest
  entropy); :class:`auxiliary.viz.widgets.ReviewPanel` is the ipywidgets panel where one click files
  an image, :func:`simulate_review` the reviewer of the notebook's simulated round.
* Filing an image (``feedback file IMAGE --label CLASS``) is :func:`auxiliary.data.feedback.file_image`:
  a copy named by its content hash under ``feedback_dir/<label>/``, with a provenance record.
* ``feedback merge --split DIR --feedback DIR`` is :func:`auxiliary.data.merge.merge_feedback`: the
  feedback images go to a new version of the *training* split only (``<split>-v2``...), the old
  version is left untouched.
* The notebook's round: :func:`new_synthetic_batch` (an inbox of fresh images with known labels),
  :func:`sort_quality`, :func:`retrain_after_merge` and :func:`evaluate_split` (before/after).
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from auxiliary.data.feedback import FeedbackError, file_image
from auxiliary.data.merge import merge_feedback
from auxiliary.data.multilabel import label_matrix
from auxiliary.data.readers import load_split
from auxiliary.errors import AuxiliaryError
from auxiliary.evaluation.arrays import labels_to_index
from auxiliary.evaluation.metrics import summary_metrics
from auxiliary.evaluation.multilabel import multilabel_summary
from auxiliary.files import atomic_copy, sha256_file
from auxiliary.images import read_image
from auxiliary.inference.predictor import Predictor
from auxiliary.layout import data_dir, resolve_path, runs_dir, split_dir
from auxiliary.steps.finetuning import ensure_run, trained_checkpoint
from auxiliary.steps.records import record_step
from auxiliary.synth.dataset import generate_dataset, multilabel_columns
from auxiliary.training.checkpoints import read_checkpoint


# ============================================================================ review
def _entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-12, 1.0)
    return -(q * np.log(q)).sum(axis=1)


def review_queue(
    predictions: pd.DataFrame,
    truth: pd.DataFrame | dict | None = None,
    *,
    order: str = "margin",
    include_mistakes: bool = True,
    out_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Images to review, most informative first.

    ``predictions`` is ``OUT/predictions.csv`` (:func:`auxiliary.inference.sorter.read_sort_predictions`). Every
    ``low_confidence`` image is in the queue; with ``truth`` (a table with ``source`` and ``label``
    columns or a ``{source: label}`` dict, e.g. a simulated reviewer) the confident mistakes are too.
    ``order``: ``margin`` (smallest gap between the top two probabilities first) or ``entropy``
    (highest first). Columns added: ``label`` (true, when known), ``mistake``, ``why``, ``margin``,
    ``entropy``, ``rank``, ``image`` (the sorted copy when ``out_dir`` is given, else the source).
    """
    if order not in ("margin", "entropy"):
        raise FeedbackError(f"review order must be margin or entropy, got {order!r}")
    df = predictions[predictions["decision"] != "rejected"].copy()
    prob_cols = [c for c in df.columns if c.startswith("prob_")]
    p = df[prob_cols].to_numpy(dtype=np.float64)
    top2 = -np.sort(-p, axis=1)[:, :2] if len(df) else np.zeros((0, 2))
    df["margin"] = top2[:, 0] - (top2[:, 1] if p.shape[1] > 1 else 0.0)
    df["entropy"] = _entropy(p) if len(df) else []
    if truth is not None:
        mapping = dict(truth) if isinstance(truth, dict) else dict(zip(truth["source"].astype(str), truth["label"]))
        df["label"] = [mapping.get(str(s), "") for s in df["source"]]
        df["mistake"] = (df["label"] != "") & (df["label"] != df["predicted"])
    else:
        df["label"] = ""
        df["mistake"] = False
    low = df["decision"] == "low_confidence"
    keep = low | (df["mistake"] & include_mistakes)
    df = df[keep].copy()
    df["why"] = np.where(low[keep] & df["mistake"], "low confidence + mistake",
                         np.where(low[keep], "low confidence", "mistake"))
    df = df.sort_values(["margin", "source"] if order == "margin" else ["entropy", "source"],
                        ascending=[order == "margin", True], kind="mergesort").reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    base = Path(out_dir) if out_dir is not None else None
    df["image"] = [str(base / d) if base is not None and d else s for s, d in zip(df["source"], df["destination"])]
    return df


def simulate_review(queue: pd.DataFrame, feedback_dir: str | Path, *, label_col: str = "label",
                    reviewer: str = "simulated", progress: bool = False) -> pd.DataFrame:
    """File every queued image under its known true label (what a reviewer would do), via :func:`auxiliary.data.feedback.file_image`."""
    prob_cols = [c for c in queue.columns if c.startswith("prob_")]
    rows = []
    for _, r in tqdm(queue.iterrows(), total=len(queue), desc="review", disable=not progress):
        lab = str(r[label_col])
        if not lab:
            continue
        dest = file_image(r["source"], lab, feedback_dir, source=r["source"], model_guess=r["predicted"],
                          probs={c[5:]: r[c] for c in prob_cols}, reviewer=reviewer)
        rows.append({"source": r["source"], "label": lab, "model_guess": r["predicted"], "file": str(dest),
                     "why": r.get("why", "")})
    return pd.DataFrame(rows, columns=["source", "label", "model_guess", "file", "why"])


# ============================================================================ the notebook's round
def round_dir(cfg: Any, ckpt: str | Path) -> Path:
    """Working folder of notebook 06's simulated feedback round for ``cfg`` and the checkpoint's bytes."""
    return runs_dir() / "06_sorting_feedback" / f"round-{cfg.profile}-{sha256_file(ckpt)[:8]}"


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
    multilabel = cfg.synth.task == "multilabel"  # one face per image: n faces, not n / 3 per class
    scfg = replace(cfg.synth, seed=int(cfg.synth.seed) + int(seed_offset),
                   n_per_class=n if multilabel else max(1, math.ceil(n / 3)))
    if (gen / "metadata.csv").is_file():
        meta = pd.read_csv(gen / "metadata.csv")
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
                     **({lab: int(r[lab]) for lab in multilabel_columns(meta)} if multilabel else {})})
    if add_broken and not (inbox / "broken_upload.jpg").exists():
        (inbox / "broken_upload.jpg").write_text("an upload that was interrupted: not an image\n", encoding="utf-8")
    truth = pd.DataFrame(rows)
    truth.to_csv(out / "truth.csv", index=False)
    return inbox, truth


def sort_quality(predictions: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """How the sort did against known labels: accuracy of the images sorted into class folders,
    of all readable images, and how many mistakes the low-confidence folder caught."""
    lab = dict(zip(truth["source"].astype(str), truth["label"].astype(str)))
    df = predictions[predictions["decision"] != "rejected"].copy()
    df["label"] = [lab.get(str(s), "") for s in df["source"]]
    df = df[df["label"] != ""]
    correct = df["predicted"] == df["label"]
    sorted_ = df["decision"] == "sorted"
    low = df["decision"] == "low_confidence"
    return {
        "n_labelled": int(len(df)),
        "accuracy_all": float(correct.mean()) if len(df) else math.nan,
        "n_sorted": int(sorted_.sum()),
        "accuracy_sorted": float(correct[sorted_].mean()) if sorted_.any() else math.nan,
        "n_low_confidence": int(low.sum()),
        "mistakes_total": int((~correct).sum()),
        "mistakes_in_class_folders": int((~correct & sorted_).sum()),
        "mistakes_caught_by_low_confidence": int((~correct & low).sum()),
    }


def retrain_after_merge(cfg: Any, merge: dict[str, Any], before_run: str | Path, *, progress: bool = True) -> Path:
    """The run trained with ``cfg`` on the merged split (``runs/<model>-<profile>-<version>``); the
    ``before_run`` itself when the merge added nothing (same data, same model)."""
    if not merge.get("out_dir"):
        return Path(before_run)
    return retrain(cfg, merge["out_dir"], f"{cfg.train.model}-{cfg.profile}-{Path(merge['out_dir']).name}",
                   progress=progress)


def evaluate_split(ckpt: str | Path, split_dir: str | Path, split: str = "test", *, batch: int = 32,
                   progress: bool = False) -> dict[str, float]:
    """Summary metrics (accuracy, balanced accuracy, macro-F1, AUROC, ECE, log-loss) of a checkpoint on one split;
    of a multi-label checkpoint, :func:`auxiliary.evaluation.multilabel.multilabel_summary` at its thresholds."""
    tables, _classes = load_split(split_dir)
    table = tables[split]
    pred = Predictor.from_checkpoint(ckpt)
    probs, _errors = pred.predict_paths(list(table["path"]), batch_size=batch, progress=progress)
    if pred.multilabel:  # macro/micro AUROC, F1 at the checkpoint's thresholds, subset accuracy, Hamming loss
        out = multilabel_summary(label_matrix(table, pred.classes), probs, pred.classes, pred.threshold_rows(len(table)))
        out["n"] = int(len(table))
        return out
    y = labels_to_index(list(table["label"]), pred.classes, unknown="minus_one")
    out = summary_metrics(y, probs, pred.classes)
    out["n"] = int(len(table))
    return out


def retrain(cfg: Any, split_dir: str | Path, name: str, *, progress: bool = True) -> Path:
    """Train ``cfg`` on ``split_dir`` into ``runs/<name>`` (:func:`auxiliary.steps.finetuning.ensure_run`:
    reused when it was trained with these settings on this split, resumed after a crash)."""
    return ensure_run(cfg, name, progress=progress, split_dir=split_dir)


# ============================================================================ CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["merge", "file"],
                        help="merge: feedback into a new training split version; file: file one reviewed image")
    parser.add_argument("image", nargs="?", help="(file) the image to file")
    parser.add_argument("--split", default=None,
                        help="split folder: merge: the one to extend; file: its classes are the labels allowed "
                             "(default: the configured dataset's split)")
    parser.add_argument("--feedback", default=None, help="feedback folder of <class>/ sub-folders (default: --feedback-dir)")
    parser.add_argument("--out", default=None, help="(merge) new split folder (default: <split>-v2, or the next free version)")
    parser.add_argument("--label", default=None, help="(file) the reviewer's label")
    parser.add_argument("--guess", default=None, help="(file) the model's guess, for the provenance record")
    parser.add_argument("--reviewer", default="reviewer", help="(file) who reviewed")
    parser.add_argument("--overwrite", action="store_true",
                        help="(merge) replace an earlier merge that --out holds (never another kind of folder)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _known_classes(args: argparse.Namespace, cfg: Any) -> tuple[list[str], str]:
    """The labels ``feedback file`` accepts and where they come from: ``--split``'s classes, else the
    configured split's, else the configured trained checkpoint's; a one-line error when there is none."""
    if args.split:
        split = Path(args.split).expanduser()
        return load_split(split)[1], f"the split {split}"
    split = _configured_split(cfg)
    if split is not None and (split / "classes.json").is_file():
        return load_split(split)[1], f"the split {split}"
    ckpt = None
    if runs_dir(create=False).is_dir():  # (looked up without creating runs/)
        try:
            ckpt = trained_checkpoint(cfg)
        except AuxiliaryError:
            ckpt = None
    if ckpt is not None:
        return [str(c) for c in read_checkpoint(ckpt)["classes"]], f"the checkpoint {ckpt}"
    raise FeedbackError(f"cannot check --label {args.label!r}: no split {'at ' + str(split) + ' ' if split else ''}and "
                        "no trained model for this configuration; pass --split DIR (the split the feedback will be "
                        "merged into)")


def _configured_split(cfg: Any) -> Path | None:
    """The configured dataset's split folder, or None when there is no data folder at all (found
    without creating one: a command that fails leaves nothing behind)."""
    return split_dir(cfg) if data_dir(create=False).is_dir() else None


def _print_merge(rep: dict[str, Any], split: Path) -> None:
    """The merge in one line, plus one line naming what was skipped (if anything)."""
    if rep["out_dir"] is None:
        print(f"{rep['message']} ({rep['n_feedback_files']} feedback files, dropped: {rep['dropped_reasons'] or 'none'})")
    elif rep.get("reused"):
        print(f"already merged as {rep['out_dir']}: +{rep['added']} training images {rep['added_per_class']}; "
              f"nothing written (the same feedback was merged into the same split{' at ' + rep['time'] if rep.get('time') else ''})")
    else:
        verb = "replaced" if rep.get("replaced") else "wrote"
        also = f"; the same merge is also in {rep['same_merge_also_at']}" if rep.get("same_merge_also_at") else ""
        print(f"{verb} {rep['out_dir']}: +{rep['added']} training images {rep['added_per_class']}; "
              f"dropped {rep['dropped']} {rep['dropped_reasons'] or ''}; val/test unchanged; {split} kept as it was{also}")
    skipped = [d for d in rep["decisions"] if d["status"] == "skipped"]
    if skipped:
        shown = ", ".join(d["file"] for d in skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        why = "; ".join(f"{k}: {v}" for k, v in rep["skipped_reasons"].items())
        where = "" if rep["out_dir"] is None or rep.get("reused") else f"; all listed in {rep['out_dir']}/merge_report.json"
        print(f"skipped {len(skipped)} {'entry' if len(skipped) == 1 else 'entries'} of the feedback folder, not merged "
              f"({why}): {shown}{where}")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    fdir = Path(args.feedback).expanduser() if args.feedback else resolve_path(cfg.sort.feedback_dir)
    if args.action == "file":
        if not args.image or not args.label:
            raise FeedbackError("feedback file needs an IMAGE and --label CLASS")
        read_image(Path(args.image).expanduser())  # the image's own problem first (missing, not an image)
        classes, origin = _known_classes(args, cfg)
        if str(args.label).strip() not in classes:
            raise FeedbackError(f"--label {args.label!r} is not a class of {origin}: use one of {', '.join(classes)}")
        dest = file_image(Path(args.image).expanduser(), args.label, fdir, source=str(Path(args.image).resolve()),
                          model_guess=args.guess, probs=None, reviewer=args.reviewer, classes=classes)
        print(f"filed {args.image} as {args.label}: {dest}")
        return 0
    split = Path(args.split).expanduser() if args.split else _configured_split(cfg)
    if split is None:
        raise FeedbackError("no split for this configuration: pass --split DIR, or make one with `python -m auxiliary split`")
    rep = merge_feedback(split, fdir, Path(args.out).expanduser() if args.out else None, progress=not args.quiet,
                         overwrite=args.overwrite)
    _print_merge(rep, split)
    if rep["out_dir"] is not None and not rep.get("reused"):
        record_step(cfg, "feedback", rep["out_dir"], split_dir=rep["out_dir"], tags={"source_split": split},
                    metrics={"added": rep["added"], "dropped": rep["dropped"], "feedback_files": rep["n_feedback_files"]})
    return 0
