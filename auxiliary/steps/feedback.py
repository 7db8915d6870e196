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

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from auxiliary.base.files import atomic_copy, sha256_file
from auxiliary.base.layout import runs_dir
from auxiliary.data.feedback import FeedbackError, file_image
from auxiliary.data.multilabel import label_matrix
from auxiliary.data.readers import load_split
from auxiliary.evaluation.arrays import labels_to_index
from auxiliary.evaluation.metrics import summary_metrics
from auxiliary.evaluation.multilabel import multilabel_summary
from auxiliary.inference.predictor import Predictor
from auxiliary.steps.train import ensure_run
from auxiliary.synth.dataset import generate_dataset, multilabel_columns


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
    """Train ``cfg`` on ``split_dir`` into ``runs/<name>`` (:func:`auxiliary.steps.train.ensure_run`:
    reused when it was trained with these settings on this split, resumed after a crash)."""
    return ensure_run(cfg, name, progress=progress, split_dir=split_dir)
