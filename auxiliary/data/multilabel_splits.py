"""Multi-label splits and sampling: iterative stratification of whole groups, label- and tone-balanced weights.

:func:`multilabel_group_split` is the iterative stratification of Sechidis, Tsoumakas and
Vlahavas (2011, "On the stratification of multi-label data"), adapted to groups (lesion,
patient, face...): a group is assigned whole, so no group is ever in two splits.

1. Each split ``j`` wants ``r_j * n`` rows and ``r_j * n_l`` positives of each label ``l``
   (``r`` = train, val, test fractions; a split with fraction 0 gets nothing).
2. While some unassigned group holds a positive: take the label with the **fewest** positives
   left (ties: the first label), and place every unassigned group holding it, groups with the
   most positives of that label first (ties in a seeded random order), into the split that
   still wants the most of that label (ties: the split that wants the most rows, then a seeded
   random choice). The wants of every split are updated with the group's rows and positives.
3. Groups without any label go, largest first, to the split that wants the most rows.

:func:`multilabel_group_split` counts "no label" as one more label, so the share of images
without any condition is stratified too (step 3 then has nothing left).

The same table and seed always give the same split. :func:`label_shares` gives the prevalence
of each label per split, to check the result.

:func:`label_balance_weights` gives per-row sampling weights for a ``WeightedRandomSampler``
(rule in its docstring; ``auxiliary.data.balance`` does the single-label case), and
:func:`multilabel_sample_weights` those of each ``data.balance`` mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from auxiliary.data.balance import BALANCE_MODES, sample_weights, tone_column
from auxiliary.data.formats import SPLITS
from auxiliary.data.multilabel import label_matrix
from auxiliary.data.report import DatasetError
from auxiliary.data.splits import SplitError, resolve_group_col


# ----------------------------------------------------------------------------------- splitting
def _group_ids(table: pd.DataFrame, group_col: str) -> np.ndarray:
    raw = table[group_col].astype(str).to_numpy(dtype=object)
    empty = np.isin(raw, ["", "nan", "None", "<NA>"])
    return np.where(empty, table["path"].astype(str).to_numpy(dtype=object) if "path" in table
                    else np.arange(len(table)).astype(str).astype(object), raw)


def iterative_group_assignment(
    Y: np.ndarray, groups: np.ndarray, fractions: Sequence[float], seed: int = 0
) -> np.ndarray:
    """Split index (0..k-1) of each row of ``Y`` (n, L) 0/1, whole groups at a time (see the module docstring)."""
    Y = np.asarray(Y, dtype=np.int64)
    r = np.asarray(fractions, dtype=np.float64)
    if Y.ndim != 2 or len(Y) != len(groups):
        raise SplitError(f"labels of shape {Y.shape} do not fit {len(groups)} group values")
    if (r < 0).any() or r.sum() <= 0:
        raise SplitError(f"split fractions must be non-negative with a positive sum, got {r.tolist()}")
    r = r / r.sum()
    rng = np.random.default_rng(int(seed))
    names, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    G = len(names)
    counts = np.zeros((G, Y.shape[1]), dtype=np.int64)
    np.add.at(counts, inverse, Y)
    sizes = np.bincount(inverse, minlength=G).astype(np.float64)
    tiebreak = rng.permutation(G)  # seeded random order among otherwise equal groups
    want_rows = r * len(Y)
    want_lab = r[:, None] * Y.sum(axis=0)[None, :].astype(np.float64)
    allowed = r > 0
    split_of = np.full(G, -1, dtype=np.int64)

    def choose(score: np.ndarray) -> int:
        cand = np.flatnonzero(allowed)
        for key in (score, want_rows):
            best = key[cand].max()
            cand = cand[key[cand] >= best - 1e-9]
            if len(cand) == 1:
                return int(cand[0])
        return int(rng.choice(cand))

    def place(gi: int, j: int) -> None:
        split_of[gi] = j
        want_rows[j] -= sizes[gi]
        want_lab[j] -= counts[gi]

    while True:
        left = counts[split_of < 0].sum(axis=0)
        if not left.any():
            break
        lab = int(np.flatnonzero(left == left[left > 0].min())[0])
        todo = np.flatnonzero((split_of < 0) & (counts[:, lab] > 0))
        todo = todo[np.lexsort((tiebreak[todo], -counts[todo, lab]))]
        for gi in todo:
            place(int(gi), choose(want_lab[:, lab]))
    rest = np.flatnonzero(split_of < 0)
    for gi in rest[np.lexsort((tiebreak[rest], -sizes[rest]))]:
        place(int(gi), choose(want_rows))
    return split_of[inverse]


def multilabel_group_split(
    table: pd.DataFrame,
    labels: Sequence[str],
    val: float = 0.2,
    test: float = 0.1,
    group_col: str | None = None,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """``{"train", "val", "test"}`` tables of a multi-label table, every label keeping its share, no group shared.

    ``val``/``test`` are fractions of the rows (whole groups, so approximately); train gets the
    rest. ``group_col``: default ``lesion_id`` when present, else ``group``; an empty group value
    is the row's own group. Oversampled rows (``is_augmented``) follow their group into train, or
    are dropped when it is elsewhere.
    """
    for name, v in (("val", val), ("test", test)):
        if not 0 <= float(v) <= 1:
            raise SplitError(f"{name} fraction must be between 0 and 1, got {v}")
    if float(val) + float(test) > 1 + 1e-9:
        raise SplitError(f"val + test fractions exceed 1 ({val} + {test})")
    if table is None or len(table) == 0:
        raise SplitError("cannot split an empty table")
    gcol = resolve_group_col(table, group_col)
    Y = label_matrix(table, list(labels))
    groups = _group_ids(table, gcol)
    aug = table["is_augmented"].astype(bool).to_numpy() if "is_augmented" in table else np.zeros(len(table), bool)
    orig = np.flatnonzero(~aug)
    fractions = (max(0.0, 1 - float(val) - float(test)), float(val), float(test))
    out = np.full(len(table), -1, dtype=np.int64)
    if len(orig):
        Yx = np.concatenate([Y, (Y.sum(axis=1) == 0)[:, None]], axis=1)  # "no label" stratified too
        out[orig] = iterative_group_assignment(Yx[orig], groups[orig], fractions, seed)
    train_groups = set(groups[out == 0].tolist())
    for i in np.flatnonzero(aug):
        out[i] = 0 if groups[i] in train_groups else -1
    return {s: table.loc[out == j].reset_index(drop=True) for j, s in enumerate(SPLITS)}


def label_shares(splits: dict[str, pd.DataFrame], labels: Sequence[str]) -> pd.DataFrame:
    """Prevalence of each label (rows, plus ``no label`` and ``rows``) in each split (columns)."""
    data = {}
    for s, df in splits.items():
        Y = label_matrix(df, list(labels)).astype(np.float64)
        col = list(Y.mean(axis=0)) if len(Y) else [np.nan] * len(labels)
        col.append(float((Y.sum(axis=1) == 0).mean()) if len(Y) else np.nan)
        col.append(float(len(df)))
        data[s] = col
    return pd.DataFrame(data, index=[*map(str, labels), "no label", "rows"])


# ----------------------------------------------------------------------------------- sampling weights
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


def multilabel_sample_weights(table: pd.DataFrame, labels: Sequence[str], balance: str) -> np.ndarray | None:
    """Per-row sampling weights (sum 1) of ``data.balance`` for a multi-label table, ``None`` for ``none``
    (plain shuffling): ``class`` evens out labels (:func:`label_balance_weights`), ``tone`` tone groups
    (as for single-label data), ``both`` labels within evenly drawn tone groups."""
    mode = str(balance).strip().lower()
    if mode not in BALANCE_MODES:
        raise DatasetError(f"unknown balance mode {balance!r} (choose from: {', '.join(BALANCE_MODES)})")
    if mode == "none":
        return None
    if mode == "tone":
        return sample_weights(table, "tone")
    return label_balance_weights(table, labels, "auto" if mode == "both" else None)


def expected_shares(table: pd.DataFrame, labels: Sequence[str], weights: np.ndarray) -> pd.Series:
    """Share of draws holding each label (and ``no label``) when rows are sampled with ``weights``."""
    Y = label_matrix(table, list(labels)).astype(np.float64)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    vals = list(w @ Y) + [float(w @ (Y.sum(axis=1) == 0))]
    return pd.Series(vals, index=[*map(str, labels), "no label"], name="share")


def multilabel_balanced_counts(table: pd.DataFrame, labels: Sequence[str], balance: str) -> pd.Series:
    """Expected images showing each label (and ``no label``) in one epoch of ``len(table)`` draws under
    ``balance`` (the multi-label counterpart of :func:`auxiliary.data.balance.balanced_counts`)."""
    if len(table) == 0:
        return pd.Series(0.0, index=[*map(str, labels), "no label"], name="draws")
    w = multilabel_sample_weights(table, labels, balance)
    w = np.full(len(table), 1.0 / len(table)) if w is None else w
    return (expected_shares(table, labels, w) * len(table)).rename("draws")
