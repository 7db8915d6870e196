"""Sim-to-real: how well synthetic images stand in for real photos (notebook 01, ``benchmarks/bench_sim2real.py``).

Not a step: it composes the reading of labelled photos (:mod:`auxiliary.inference.labelled`), image embeddings
(:mod:`auxiliary.inference.embeddings`) and metrics (:mod:`auxiliary.evaluation`) for the notebook and the
benchmark, which call it directly.

* :func:`read_real` reads a folder of real photos (class folders, any layout ``auxiliary.data`` reads)
  with a label map onto the synthetic classes (``clear=none,rosacea=erythema``).
* :func:`domain_gap` embeds synthetic and real images with the offline ImageNet backbone and gives
  the kernel inception distance per class (:mod:`auxiliary.evaluation.domain_gap`).
* :func:`real_scores` turns a model's predictions on the real photos into per-class recall,
  balanced accuracy and macro AUROC (the figures a user judges a synthetic-trained model by).
* :func:`halves` splits a real table in two stratified halves: one to train the real reference
  recipe on, one held out for both models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.evaluation.domain_gap import kid_by_class
from auxiliary.evaluation.metrics import per_class_metrics, summary_metrics
from auxiliary.inference.embeddings import embed_images, embedding_model
from auxiliary.inference.labelled import load_eval_table


def read_real(real_dir: str | Path, label_map: str | dict[str, str] | None = None,
              classes: list[str] | None = None, progress: bool = False) -> pd.DataFrame:
    """The real photos of ``real_dir`` as a sample table (path, label) with labels renamed by
    ``label_map``; with ``classes``, rows whose label is not one of them are dropped (counted in
    ``attrs["notes"]``)."""
    table, notes = load_eval_table(real_dir, label_map, progress=progress)
    if classes is not None:
        keep = table["label"].astype(str).isin(classes)
        if (~keep).any():
            other = sorted(set(table.loc[~keep, "label"].astype(str)))
            notes.append(f"{int((~keep).sum())} real images with labels outside the model's classes left out: {other}")
        table = table[keep].reset_index(drop=True)
    table.attrs["notes"] = notes
    return table


def halves(table: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two disjoint halves of ``table``, stratified by label (first half gets the odd one)."""
    rng = np.random.default_rng(seed)
    a_idx, b_idx = [], []
    for _, idx in table.groupby(table["label"].astype(str)).groups.items():
        idx = np.array(sorted(idx))
        rng.shuffle(idx)
        k = (len(idx) + 1) // 2
        a_idx += list(idx[:k])
        b_idx += list(idx[k:])
    return table.loc[sorted(a_idx)].reset_index(drop=True), table.loc[sorted(b_idx)].reset_index(drop=True)


def sample_per_class(table: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows per label, drawn without replacement."""
    plain = pd.DataFrame(table)  # without attrs (pandas compares them when concatenating)
    plain.attrs = {}
    parts = [g.sample(min(n, len(g)), random_state=seed) for _, g in plain.groupby(plain["label"].astype(str))]
    return pd.concat(parts).reset_index(drop=True) if parts else table.iloc[:0]


def domain_gap(synthetic: pd.DataFrame, real: pd.DataFrame, classes: list[str], *, per_class: int = 200,
               img_size: int = 224, subset_size: int = 100, seed: int = 0,
               progress: bool = False) -> pd.DataFrame:
    """KID between synthetic and real images, per class and over all, on offline ImageNet features.

    Both tables need ``path`` and ``label``; at most ``per_class`` images per class of each side
    are embedded. Returns a table indexed by class with ``kid``, ``kid_std``, ``n_synthetic``, ``n_real``.
    """
    syn = sample_per_class(synthetic, per_class, seed)
    rea = sample_per_class(real, per_class, seed)
    model = embedding_model()
    fs = embed_images(list(syn["path"]), model=model, img_size=img_size, progress=progress)
    fr = embed_images(list(rea["path"]), model=model, img_size=img_size, progress=progress)
    gaps = kid_by_class(fs, syn["label"].to_numpy(), fr, rea["label"].to_numpy(), classes,
                        subset_size=subset_size, seed=seed)
    rows = []
    for c, v in gaps.items():
        n_s = int((syn["label"].astype(str) == c).sum()) if c != "all" else len(syn)
        n_r = int((rea["label"].astype(str) == c).sum()) if c != "all" else len(rea)
        rows.append({"class": c, "kid": v[0] if v else np.nan, "kid_std": v[1] if v else np.nan,
                     "n_synthetic": n_s, "n_real": n_r})
    return pd.DataFrame(rows).set_index("class")


def real_scores(predictions: pd.DataFrame, classes: list[str]) -> dict[str, Any]:
    """Figures of a model on real photos from a predictions table (``label`` + ``prob_<class>`` columns):
    ``recall_<class>``, ``balanced_accuracy``, ``macro_auroc``, ``accuracy``, ``n`` and the confusion counts."""
    probs = predictions[[f"prob_{c}" for c in classes]].to_numpy(float)
    y = np.array([classes.index(str(v)) for v in predictions["label"]])
    summ = summary_metrics(y, probs, classes)
    per = per_class_metrics(y, probs, classes)
    out: dict[str, Any] = {f"recall_{c}": float(per.loc[c, "recall"]) for c in classes}
    out.update({"balanced_accuracy": summ["balanced_accuracy"], "macro_auroc": summ["macro_auroc"],
                "accuracy": summ["accuracy"], "n": int(len(y))})
    pred = probs.argmax(axis=1)
    out["confusion"] = {classes[t]: {classes[p]: int(((y == t) & (pred == p)).sum()) for p in range(len(classes))}
                        for t in sorted(set(y.tolist()))}
    return out
