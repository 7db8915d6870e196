"""Balancing by class or label, by tone group or both: sample weights and samplers, class weights, expected draws,
stratified subsets and offline oversampling.

One class per image: :func:`sample_weights` (1 / n(class), 1 / n(tone group), or their product). Several labels
per image: :func:`label_sample_weights` (the label rule of :func:`label_balance_weights`, within evenly drawn
tone groups for ``both``). :func:`expected_draws` counts what either sampler draws per class or label in one
epoch. Offline oversampling copies rows of one class, so it is refused for label sets
(:data:`MULTILABEL_OVERSAMPLING`): copies of one image would raise all of its labels at once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.images import read_image, write_png
from auxiliary.base.progress import progress_bar
from auxiliary.data.augment import augment_image
from auxiliary.data.formats import abspath
from auxiliary.data.labels import SPLIT_TASKS, label_matrix, label_outcomes
from auxiliary.data.readers import finish_table, load_split, split_task, write_table
from auxiliary.data.report import DatasetError

BALANCE_MODES: tuple[str, ...] = ("none", "class", "tone", "both")


# ----------------------------------------------------------------------------------- balancing
def tone_column(table: pd.DataFrame) -> str:
    """``tone_group`` when any row has a known tone, else the estimate ``tone_group_est``."""
    if "tone_group" in table and (table["tone_group"].astype(str) != "unknown").any():
        return "tone_group"
    if "tone_group_est" in table:
        return "tone_group_est"
    return "tone_group"


def sample_weights(table: pd.DataFrame, balance: str) -> np.ndarray:
    """Per-row sampling weights (sum 1) for ``balance``: none, class, tone or both.

    ``class``: 1 / n(class); ``tone``: 1 / n(tone group) (tone_group, or the estimate when no row
    has a label); ``both``: the product of the two, so class and tone marginals are both evened
    out without letting a single rare (class, tone) cell dominate.
    """
    mode = str(balance).strip().lower()
    if mode not in BALANCE_MODES:
        raise DatasetError(f"unknown balance mode {balance!r} (choose from: {', '.join(BALANCE_MODES)})")
    n = len(table)
    if n == 0:
        return np.zeros(0)
    w = np.ones(n, dtype=np.float64)
    if mode in ("class", "both"):
        lab = table["label"].astype(str)
        w /= lab.map(lab.value_counts()).to_numpy(dtype=np.float64)
    if mode in ("tone", "both"):
        tone = table[tone_column(table)].astype(str) if tone_column(table) in table else pd.Series(["unknown"] * n)
        w /= tone.map(tone.value_counts()).to_numpy(dtype=np.float64)
    return w / w.sum()


#: ``origin`` values of training rows that are real photos added to a synthetic training list: corrections merged from
#: a feedback folder, photos self-training pseudo-labelled.
REAL_ORIGINS: tuple[str, ...] = ("feedback", "pseudo")


def with_real_weight(table: pd.DataFrame, weights: np.ndarray | None, real_weight: float) -> np.ndarray | None:
    """The sampler's per-row ``weights`` (``None``: uniform) with every real row (``origin`` in :data:`REAL_ORIGINS`)
    drawn ``real_weight`` times as often, summing to 1; ``weights`` unchanged when the table has no real row."""
    origin = table["origin"].astype(str) if "origin" in table else pd.Series([""] * len(table))
    real = origin.isin(REAL_ORIGINS).to_numpy()
    if not real.any() or float(real_weight) == 1.0:
        return weights
    w = np.ones(len(table)) / max(len(table), 1) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    w[real] *= float(real_weight)
    return w / w.sum()


def balanced_counts(table: pd.DataFrame, balance: str, by: str = "label") -> pd.Series:
    """Expected samples per value of ``by`` in one epoch (len(table) draws) under ``balance``."""
    w = sample_weights(table, balance)
    return pd.Series(w * len(table), index=table.index).groupby(table[by].astype(str).to_numpy()).sum()


def sampled_class_prior(table: pd.DataFrame, classes: Sequence[str], balance: str) -> torch.Tensor:
    """Share of each of ``classes`` in the training batches under ``balance`` (sums to 1; 0 for an absent class)."""
    counts = balanced_counts(table, balance) if len(table) else pd.Series(dtype=float)
    p = torch.tensor([float(counts.get(c, 0.0)) for c in classes], dtype=torch.float32)
    return p / p.sum() if float(p.sum()) > 0 else p


def make_sampler(table: pd.DataFrame, balance: str, seed: int = 0, num_samples: int | None = None):
    """``WeightedRandomSampler`` for ``balance`` (``None`` for ``none``: plain shuffling)."""
    if str(balance).strip().lower() == "none":
        sample_weights(table, "none")  # validates
        return None
    return weighted_sampler(sample_weights(table, balance), seed, num_samples)


def weighted_sampler(weights: Any, seed: int = 0, num_samples: int | None = None):
    """A seeded ``WeightedRandomSampler`` drawing ``num_samples`` (default: as many as weights) with replacement."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64), dtype=torch.double)
    return torch.utils.data.WeightedRandomSampler(w, num_samples=num_samples or len(w), replacement=True, generator=g)


def class_weights(table: pd.DataFrame, classes: Sequence[str]) -> torch.Tensor:
    """Loss weights n / (k * n_c) per class (scikit-learn's "balanced"); 0 for a class absent from ``table``."""
    counts = table["label"].astype(str).value_counts()
    n, k = len(table), len(classes)
    w = [n / (k * counts[c]) if counts.get(c, 0) > 0 else 0.0 for c in classes]
    return torch.tensor(w, dtype=torch.float32)


def stratified_subset(table: pd.DataFrame, fraction: float, seed: int = 0) -> np.ndarray:
    """Row positions of a stratified ``fraction`` of ``table`` (every class keeps at least one row)."""
    n = len(table)
    if not 0 < fraction <= 1:
        raise DatasetError(f"fraction must be in (0, 1], got {fraction}")
    if fraction >= 1 or n == 0:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    labels = table["label"].astype(str).to_numpy()
    for lab in sorted(set(labels)):
        pos = np.flatnonzero(labels == lab)
        k = max(1, int(round(fraction * len(pos))))
        keep += rng.choice(pos, size=k, replace=False).tolist()
    return np.sort(np.asarray(keep, dtype=np.int64))


# ----------------------------------------------------------------------------------- several labels per image
def _label_weights(Y: np.ndarray) -> np.ndarray:
    """Per row: the largest 1/n(label) over its labels, "no label" counted as one more label."""
    ext = np.concatenate([Y, (Y.sum(axis=1) == 0)[:, None].astype(np.int64)], axis=1)
    n = ext.sum(axis=0).astype(np.float64)
    inv = np.where(n > 0, 1.0 / np.maximum(n, 1.0), 0.0)
    return (ext * inv[None, :]).max(axis=1)


def label_balance_weights(
    table: pd.DataFrame, labels: Sequence[str], tone_col: str | None = None
) -> np.ndarray:
    """Per-row sampling weights (sum 1) that even out labels and, with ``tone_col``, tone groups.

    Label rule: "no label" counts as one more label; a row weighs the **largest** 1/n(label)
    among its labels, so each row is drawn as often as its rarest label asks. Every label (and
    "no label") then gets at least 1/(L+1) of the draws, with L labels present: its rows alone
    bring it weight >= n(label) * 1/n(label) = 1, out of a total of at most L+1. A label that
    co-occurs with rarer ones gets more than its share through them.

    Tone rule (``tone_col``: a column name, or ``"auto"`` for ``tone_group`` when known else the
    estimate ``tone_group_est``): the label weights are computed within each tone group and each
    group is scaled to the same total, so every tone group gets 1/T of the draws (T groups) and,
    inside it, the label rule above holds.
    """
    n = len(table)
    if n == 0:
        return np.zeros(0)
    Y = label_matrix(table, list(labels))
    if tone_col is None:
        w = _label_weights(Y)
        return w / w.sum()
    col = tone_column(table) if tone_col == "auto" else tone_col
    if col not in table:
        raise DatasetError(f"tone column {col!r} not in the table (columns: {', '.join(map(str, table.columns))})")
    tone = table[col].astype(str).to_numpy()
    w = np.zeros(n, dtype=np.float64)
    for t in np.unique(tone):
        m = tone == t
        wt = _label_weights(Y[m])
        w[m] = wt / wt.sum()
    return w / w.sum()


def label_sample_weights(table: pd.DataFrame, labels: Sequence[str], balance: str) -> np.ndarray | None:
    """Per-row sampling weights (sum 1) of ``data.balance`` for a table with several labels per image, ``None`` for
    ``none`` (plain shuffling): ``class`` evens out labels (:func:`label_balance_weights`), ``tone`` tone groups
    (as for single-label data), ``both`` labels within evenly drawn tone groups."""
    mode = str(balance).strip().lower()
    if mode not in BALANCE_MODES:
        raise DatasetError(f"unknown balance mode {balance!r} (choose from: {', '.join(BALANCE_MODES)})")
    if mode == "none":
        return None
    if mode == "tone":
        return sample_weights(table, "tone")
    return label_balance_weights(table, labels, "auto" if mode == "both" else None)


def expected_shares(table: pd.DataFrame, classes: Sequence[str], weights: np.ndarray | None) -> pd.Series:
    """Share of the draws showing each class or label (and ``no label`` for label sets,
    :func:`auxiliary.data.labels.label_outcomes`) when rows are sampled with ``weights`` (``None``: uniformly)."""
    shown = label_outcomes(table, classes).astype(np.float64)
    w = np.ones(len(table)) if weights is None else np.asarray(weights, dtype=np.float64)
    return pd.Series(w / w.sum() @ shown.to_numpy(), index=shown.columns, name="share")


def expected_draws(table: pd.DataFrame, classes: Sequence[str], weights: np.ndarray | None) -> pd.Series:
    """Expected images showing each class or label (and ``no label`` for label sets) in one epoch of
    ``len(table)`` draws with per-row ``weights`` (``None``: plain shuffling, every row once)."""
    if len(table) == 0:
        return pd.Series(0.0, index=label_outcomes(table, classes).columns, name="draws")
    return (expected_shares(table, classes, weights) * len(table)).rename("draws")


# ----------------------------------------------------------------------------------- oversampling
class OversampleError(AuxiliaryError):
    """Offline oversampling refused (already done without overwrite, bad target...)."""


#: Why offline oversampling refuses a multi-label split (copies of one image add all of its labels at once).
MULTILABEL_OVERSAMPLING = ("offline oversampling (data.oversample_to, --oversample-to) is for single-label data: "
                           "copies of a multi-label image raise all of its labels at once; leave it at 0 and use "
                           "data.balance class or both (label-balanced sampling)")


def check_oversampling(label_columns: bool, target: int) -> None:
    """Refuse offline oversampling (``target`` > 0) of data whose rows hold label columns (several labels per
    image), in one line, before anything is written."""
    if label_columns and int(target) > 0:
        raise OversampleError(MULTILABEL_OVERSAMPLING)


def oversample(
    split_dir: str | Path,
    target: int,
    *,
    preset: str = "geometric",
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Write augmented copies of train images of classes below ``target`` until each has ``target``.

    Copies go to ``split_dir/oversampled/<class>/`` as PNG, rows are appended to ``train.csv``
    with ``is_augmented=True``, ``source_path`` and the source's ``group`` (so they stay in train
    with their original). Val and test are never touched. Returns the new train table.
    """

    d = Path(split_dir)
    check_oversampling(SPLIT_TASKS[split_task(d)].label_columns, target)
    tables, classes = load_split(d)
    train = tables["train"]
    if int(target) <= 0:
        raise OversampleError(f"oversampling target must be a positive count, got {target}")
    if train["is_augmented"].any():
        if not overwrite:
            raise OversampleError(f"{d}/train.csv already has {int(train['is_augmented'].sum())} oversampled rows "
                                  "(pass overwrite=True / --overwrite to redo them)")
        train = train.loc[~train["is_augmented"]].reset_index(drop=True)
    out_root = d / "oversampled"
    if out_root.exists():
        shutil.rmtree(out_root)
    rng = np.random.default_rng(seed)
    new_rows: list[dict[str, Any]] = []
    plan = {c: int(target) - int((train["label"] == c).sum()) for c in classes}
    plan = {c: k for c, k in plan.items() if k > 0 and (train["label"] == c).any()}
    total = sum(plan.values())
    with progress_bar(total=total, desc="oversampling", disable=not progress or total == 0, leave=False) as bar:
        for c, k in plan.items():
            src = train.loc[train["label"] == c]
            picks = rng.choice(len(src), size=k, replace=True)
            for j, pos in enumerate(picks):
                row = src.iloc[int(pos)].to_dict()
                rgb = read_image(row["path"])
                aug = augment_image(rgb, preset, seed=int(rng.integers(0, 2**31 - 1)))
                out = out_root / c / f"{Path(row['path']).stem}_aug{j:05d}.png"
                write_png(out, aug)
                row.update(path=abspath(out), is_augmented=True, source_path=row["path"])
                for col in ("md5", "phash", "dhash", "height", "width"):
                    row.pop(col, None)
                new_rows.append(row)
                bar.update(1)
    new_train = pd.concat([train, pd.DataFrame(new_rows)], ignore_index=True) if new_rows else train
    new_train = finish_table(new_train)
    write_table(new_train, d / "train.csv")
    rep_file = d / "split_report.json"
    if rep_file.is_file():
        rep = json.loads(rep_file.read_text(encoding="utf-8"))
        rep["oversampled"] = {"target": int(target), "preset": preset, "added": plan, "total_added": total}
        rep.setdefault("counts", {}).setdefault("train", {})
        rep["counts"]["train_with_oversampled"] = {
            str(k): int(v) for k, v in new_train["label"].value_counts().sort_index().items()
        }
        rep_file.write_text(json.dumps(rep, indent=2), encoding="utf-8")
    return new_train


def ensure_oversampled(split_dir: str | Path, data_cfg: Any, progress: bool = True) -> Path:
    """Apply ``data_cfg.oversample_to`` to a split folder once (no-op when 0 or already done
    with that target); returns the folder. Used by :func:`auxiliary.steps.split.ensure_splits`."""
    d = Path(split_dir)
    target = int(getattr(data_cfg, "oversample_to", 0) or 0)
    if target <= 0:
        return d
    rep_file = d / "split_report.json"
    done = None
    if rep_file.is_file():
        try:
            done = json.loads(rep_file.read_text(encoding="utf-8")).get("oversampled", {}).get("target")
        except ValueError:
            done = None
    if done != target:
        preset = getattr(data_cfg, "augment", "geometric")
        oversample(d, target, preset=preset if preset != "none" else "geometric",
                   seed=int(getattr(data_cfg, "seed", 0)), overwrite=True, progress=progress)
    return d
