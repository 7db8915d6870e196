"""Which split each row goes to: a grouped, stratified train/val/test assignment of a sample table.

No group (``lesion_id``, patient, or any ``group_col``; an empty group value is the row's own group) is ever
shared between two splits, and files that are byte-identical are put in one group first
(:func:`merge_exact_duplicates`). Oversampled rows (``is_augmented``) follow their group into train, or are
dropped when it is elsewhere. :func:`assign_splits` does it for both kinds of tables:

* **one class per image** (``label``): stratified by label with scikit-learn's
  :class:`~sklearn.model_selection.StratifiedGroupKFold`: a fraction ``f`` is taken as ``k`` of ``n`` folds with
  ``k/n`` closest to ``f`` (``n`` <= 20), test first, then validation from the rest;
* **several labels per image** (``labels``: one 0/1 column each): the iterative stratification of Sechidis,
  Tsoumakas and Vlahavas (2011, "On the stratification of multi-label data"), adapted to groups
  (:func:`iterative_group_assignment`), with "no label" counted as one more label so that the share of images
  without any condition is stratified too.

The same table and seed always give the same assignment.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, StratifiedKFold

from auxiliary.base.errors import AuxiliaryError
from auxiliary.data.formats import SPLITS
from auxiliary.data.labels import label_matrix

_MAX_FOLDS = 20


class SplitError(AuxiliaryError):
    """A split cannot be made or written (bad fractions, existing output, missing column...)."""


# ----------------------------------------------------------------------------------- one class per image
def _fold_plan(frac: float, n_groups: int) -> tuple[int, int]:
    """(k, n): take k of n folds, k/n closest to ``frac`` (smallest n on ties)."""
    best = (1, 2)
    best_err = float("inf")
    for n in range(2, max(2, min(_MAX_FOLDS, n_groups)) + 1):
        for k in range(1, n):
            err = abs(k / n - frac)
            if err < best_err - 1e-12:
                best, best_err = (k, n), err
    return best


def _take(labels: np.ndarray, groups: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """Boolean mask of a grouped, stratified ``frac`` of the rows."""
    n = len(labels)
    if frac <= 1e-9 or n == 0:
        return np.zeros(n, dtype=bool)
    if frac >= 1 - 1e-9:
        return np.ones(n, dtype=bool)
    n_groups = len(set(groups.tolist()))
    if n_groups < 2:
        return np.full(n, frac >= 0.5)
    largest_class = int(np.unique(labels, return_counts=True)[1].max())
    if min(n_groups, largest_class) < 2:  # too few to stratify: a plain grouped shuffle split
        gss = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=int(seed))
        held = next(gss.split(np.zeros(n), labels, groups))[1]
        mask = np.zeros(n, dtype=bool)
        mask[held] = True
        return mask
    k, n_splits = _fold_plan(frac, min(n_groups, largest_class))
    splitter: Any = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=int(seed))
    if n_groups == n:  # one row per group: the same split, without the per-group search (much faster)
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=int(seed))
    mask = np.zeros(n, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has fewer members than n_splits"
        for i, (_, held) in enumerate(splitter.split(np.zeros(n), labels, groups)):
            if i >= k:
                break
            mask[held] = True
    return mask


def merge_exact_duplicates(table: pd.DataFrame, groups: np.ndarray) -> tuple[np.ndarray, int]:
    """Give byte-identical files (same md5) one group, so they cannot land in two splits."""
    if "md5" not in table or table["md5"].isna().all():
        return groups, 0
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.get(a, a) != a:
            parent[a] = parent.get(parent[a], parent[a])
            a = parent[a]
        return a

    merged = 0
    md5 = table["md5"].astype(str).to_numpy()
    first_group: dict[str, str] = {}
    for g, h in zip(groups, md5):
        if h in ("", "nan", "None"):
            continue
        if h in first_group:
            ra, rb = find(first_group[h]), find(g)
            if ra != rb:
                parent[rb] = ra
                merged += 1
        else:
            first_group[h] = g
    return np.asarray([find(g) for g in groups], dtype=object), merged


def resolve_group_col(table: pd.DataFrame, group_col: str | None) -> str:
    """``group_col``, else ``lesion_id`` when present, else ``group``."""
    if group_col:
        if group_col not in table:
            raise SplitError(f"group column {group_col!r} not in the table "
                             f"(columns: {', '.join(map(str, table.columns))})")
        return group_col
    return "lesion_id" if "lesion_id" in table else "group"


def group_ids(table: pd.DataFrame, group_col: str) -> np.ndarray:
    """The group of each row: its ``group_col`` value, or the row's own path when that is empty."""
    raw = table[group_col].astype(str).to_numpy(dtype=object)
    empty = np.isin(raw, ["", "nan", "None", "<NA>"])
    own = table["path"].astype(str).to_numpy(dtype=object) if "path" in table else np.arange(len(table)).astype(str)
    return np.where(empty, own, raw)


def assign_splits(
    table: pd.DataFrame, val: float = 0.2, test: float = 0.1, group_col: str | None = None, seed: int = 0,
    *, labels: Sequence[str] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Split name per row (augmented rows follow their group into train, or ``""`` = dropped).

    ``val``/``test`` are fractions of the rows (whole groups, so approximately); train gets the rest.
    ``labels``: the 0/1 label columns of a table with several labels per image (iterative stratification);
    without them the rows are stratified by ``label``. ``info``: the group column, how many groups byte-identical
    files merged, how many oversampled rows were dropped, and each row's group.
    """
    for name, v in (("val", val), ("test", test)):
        if not 0 <= float(v) <= 1:
            raise SplitError(f"{name} fraction must be between 0 and 1, got {v}")
    if float(val) + float(test) > 1 + 1e-9:
        raise SplitError(f"val + test fractions exceed 1 ({val} + {test})")
    if table is None or len(table) == 0:
        raise SplitError("cannot split an empty table")
    gcol = resolve_group_col(table, group_col)
    groups, merged = merge_exact_duplicates(table, group_ids(table, gcol))
    aug = table["is_augmented"].astype(bool).to_numpy() if "is_augmented" in table else np.zeros(len(table), bool)
    orig = np.flatnonzero(~aug)
    out = np.full(len(table), "", dtype=object)
    if labels is None:
        out[orig] = _stratified(table["label"].astype(str).to_numpy()[orig], groups[orig], float(val), float(test),
                                seed)
    elif len(orig):
        Y = label_matrix(table, list(labels))
        Yx = np.concatenate([Y, (Y.sum(axis=1) == 0)[:, None]], axis=1)  # "no label" stratified too
        fractions = (max(0.0, 1 - float(val) - float(test)), float(val), float(test))
        out[orig] = np.asarray(SPLITS, dtype=object)[iterative_group_assignment(Yx[orig], groups[orig], fractions,
                                                                                 seed)]
    train_groups = set(groups[out == "train"].tolist())
    aug_idx = np.flatnonzero(aug)
    kept_aug = np.asarray([groups[i] in train_groups for i in aug_idx], dtype=bool)
    out[aug_idx[kept_aug]] = "train"
    info = {"group_col": gcol, "merged_exact_duplicate_groups": merged,
            "augmented_dropped": int((~kept_aug).sum()), "groups": groups}
    return out, info


def _stratified(labels: np.ndarray, groups: np.ndarray, val: float, test: float, seed: int) -> np.ndarray:
    """Split names of rows of one class each: a grouped, stratified test fraction, then val from the rest."""
    out = np.full(len(labels), "train", dtype=object)
    is_test = _take(labels, groups, test, seed)
    out[is_test] = "test"
    rest = np.flatnonzero(~is_test)
    rel_val = val / (1 - test) if test < 1 else 0.0
    is_val = _take(labels[rest], groups[rest], min(1.0, rel_val), seed + 1)
    out[rest[is_val]] = "val"
    return out


# ----------------------------------------------------------------------------------- several labels per image
def iterative_group_assignment(
    Y: np.ndarray, groups: np.ndarray, fractions: Sequence[float], seed: int = 0
) -> np.ndarray:
    """Split index (0..k-1) of each row of ``Y`` (n, L) 0/1, whole groups at a time.

    1. Each split ``j`` wants ``r_j * n`` rows and ``r_j * n_l`` positives of each label ``l``
       (``r`` = the fractions; a split with fraction 0 gets nothing).
    2. While some unassigned group holds a positive: take the label with the **fewest** positives
       left (ties: the first label), and place every unassigned group holding it, groups with the
       most positives of that label first (ties in a seeded random order), into the split that
       still wants the most of that label (ties: the split that wants the most rows, then a seeded
       random choice). The wants of every split are updated with the group's rows and positives.
    3. Groups without any label go, largest first, to the split that wants the most rows.
    """
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
