"""Leakage-free train/val/test lists of a sample table, written to a split folder, with leakage and duplicate checks.

Splits are stratified by label and grouped (``lesion_id``, patient, or any ``group_col``) with
scikit-learn's :class:`~sklearn.model_selection.StratifiedGroupKFold`: a fraction ``f`` is taken
as ``k`` of ``n`` folds with ``k/n`` closest to ``f`` (``n`` <= 20), so no group is ever shared
between two splits. Files that are byte-identical are put in the same group first. After
splitting, :func:`check_splits` counts leaked groups and lists exact and near-duplicate images
that still sit in different splits (e.g. two photos of one lesion without a lesion id), found by
perceptual hashes in :mod:`auxiliary.data.duplicates`.

Writing a split (:func:`make_splits`) only writes CSV/JSON files in ``out_dir``; images are never
touched. The command line's ``split`` step and the split folder of a config are
:mod:`auxiliary.steps.split`.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, StratifiedKFold

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import write_json_atomic
from auxiliary.data.duplicates import NEAR_THRESHOLD, find_duplicates
from auxiliary.data.formats import SPLITS
from auxiliary.data.readers import finish_table, load_split, write_table

_MAX_FOLDS = 20


class SplitError(AuxiliaryError):
    """A split cannot be made or written (bad fractions, existing output, missing column...)."""


# ----------------------------------------------------------------------------------- splitting
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
            raise SplitError(f"group column {group_col!r} not in the table (columns: {', '.join(map(str, table.columns))})")
        return group_col
    return "lesion_id" if "lesion_id" in table else "group"


def assign_splits(
    table: pd.DataFrame, val: float = 0.2, test: float = 0.1, group_col: str | None = None, seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Split name per row (augmented rows follow their group into train, or ``""`` = dropped)."""
    for name, v in (("val", val), ("test", test)):
        if not 0 <= float(v) <= 1:
            raise SplitError(f"{name} fraction must be between 0 and 1, got {v}")
    if float(val) + float(test) > 1 + 1e-9:
        raise SplitError(f"val + test fractions exceed 1 ({val} + {test})")
    gcol = resolve_group_col(table, group_col)
    raw = table[gcol].astype(str).to_numpy(dtype=object)
    empty = np.isin(raw, ["", "nan", "None", "<NA>"])
    groups = np.where(empty, table["path"].astype(str).to_numpy(dtype=object), raw)
    groups, merged = merge_exact_duplicates(table, groups)
    labels = table["label"].astype(str).to_numpy()
    aug = table["is_augmented"].astype(bool).to_numpy() if "is_augmented" in table else np.zeros(len(table), bool)
    orig = np.flatnonzero(~aug)
    out = np.full(len(table), "", dtype=object)
    is_test = _take(labels[orig], groups[orig], float(test), seed)
    out[orig[is_test]] = "test"
    rest = orig[~is_test]
    rel_val = float(val) / (1 - float(test)) if float(test) < 1 else 0.0
    is_val = _take(labels[rest], groups[rest], min(1.0, rel_val), seed + 1)
    out[rest[is_val]] = "val"
    out[rest[~is_val]] = "train"
    train_groups = set(groups[out == "train"].tolist())
    aug_idx = np.flatnonzero(aug)
    kept_aug = np.asarray([groups[i] in train_groups for i in aug_idx], dtype=bool)
    out[aug_idx[kept_aug]] = "train"
    info = {"group_col": gcol, "merged_exact_duplicate_groups": merged,
            "augmented_dropped": int((~kept_aug).sum()), "groups": groups}
    return out, info


# ----------------------------------------------------------------------------------- checks
def leakage(splits: dict[str, pd.DataFrame], group_col: str = "group") -> dict[str, Any]:
    """Groups found in more than one split: ``{"count": n, "examples": [...], "by_pair": {...}}``."""
    sets = {s: set(df[group_col].astype(str)) for s, df in splits.items() if group_col in df and len(df)}
    shared: set[str] = set()
    by_pair: dict[str, int] = {}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = sets[a] & sets[b]
            by_pair[f"{a}-{b}"] = len(common)
            shared |= common
    return {"count": len(shared), "examples": sorted(shared)[:10], "by_pair": by_pair, "group_col": group_col}


def augmented_outside_train(splits: dict[str, pd.DataFrame]) -> int:
    """Oversampled rows in val or test (must be 0)."""
    return int(sum(df["is_augmented"].astype(bool).sum() for s, df in splits.items()
                   if s != "train" and "is_augmented" in df))


def split_summary(splits: dict[str, pd.DataFrame], classes: list[str]) -> pd.DataFrame:
    """Table of images per class (rows) and split (columns), with totals and group counts. A multi-label split
    (every table has a 0/1 column per class) counts the images showing each label, plus ``no label``."""
    multilabel = all(c in df.columns for df in splits.values() for c in classes)
    if multilabel:
        data = {s: pd.Series([int(pd.to_numeric(df[c]).sum()) for c in classes]
                             + [int((df[list(classes)].apply(pd.to_numeric).sum(axis=1) == 0).sum())],
                             index=[*classes, "no label"]) for s, df in splits.items()}
        out = pd.DataFrame(data).fillna(0).astype(int)
    else:
        data = {s: df["label"].astype(str).value_counts().reindex(classes, fill_value=0) for s, df in splits.items()}
        out = pd.DataFrame(data).reindex(classes).fillna(0).astype(int)
    out.loc["total"] = [len(df) for df in splits.values()] if multilabel else out.sum()
    out.loc["groups"] = [df["group"].nunique() if "group" in df else 0 for df in splits.values()]
    out.loc["oversampled"] = [int(df["is_augmented"].astype(bool).sum()) if "is_augmented" in df else 0
                              for df in splits.values()]
    return out


def check_splits(
    splits: dict[str, pd.DataFrame], group_col: str = "group", threshold: int = NEAR_THRESHOLD, progress: bool = True,
) -> dict[str, Any]:
    """Leakage count, oversampled rows outside train and cross-split duplicates of a split."""
    leak = leakage(splits, group_col)
    dups = find_duplicates(splits, threshold=threshold, progress=progress)
    return {
        "leakage": leak["count"],
        "leakage_detail": leak,
        "augmented_outside_train": augmented_outside_train(splits),
        "duplicates": int(len(dups)),
        "duplicates_exact": int((dups["kind"] == "exact").sum()),
        "duplicates_near": int((dups["kind"] == "near").sum()),
        "duplicate_pairs": dups,
    }


def check_split_dir(split_dir: str | Path, group_col: str | None = None, threshold: int = NEAR_THRESHOLD) -> dict[str, Any]:
    """:func:`check_splits` on a split folder (``group_col`` defaults to the one it was made with)."""
    tables, _ = load_split(split_dir)
    if group_col is None:
        rep = Path(split_dir) / "split_report.json"
        group_col = "group"
        if rep.is_file():
            group_col = json.loads(rep.read_text(encoding="utf-8")).get("group_col", "group")
    if any(group_col not in df for df in tables.values() if len(df)):
        group_col = "group"
    return check_splits(tables, group_col=group_col, threshold=threshold, progress=False)


# ----------------------------------------------------------------------------------- make_splits
def existing_split_outputs(out: Path) -> list[str]:
    names = [f"{s}.csv" for s in SPLITS] + ["classes.json", "split_report.json"]
    return [n for n in names if (out / n).exists()]


def make_splits(
    table: pd.DataFrame,
    out_dir: str | Path,
    val: float = 0.2,
    test: float = 0.1,
    group_col: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    *,
    use_existing: bool | None = None,
    duplicate_threshold: int = NEAR_THRESHOLD,
    check_duplicates: bool = True,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """Split ``table`` into train/val/test and write ``out_dir/{train,val,test}.csv``,
    ``classes.json`` and ``split_report.json`` (counts, leakage, duplicates).

    ``val``/``test`` are fractions of the samples (grouped, so approximately); train gets the
    rest. ``use_existing`` (default: when the table has a ``split`` column, e.g. train/val
    folders or a MedMNIST file) keeps the dataset's own split instead. Refuses to replace an
    existing split unless ``overwrite``. Returns ``{"train": df, "val": df, "test": df}``.
    """
    out = Path(out_dir)
    if table is None or len(table) == 0:
        raise SplitError("cannot split an empty table")
    for col in ("path", "label"):
        if col not in table:
            raise SplitError(f"the table has no {col!r} column")
    existing = existing_split_outputs(out) if out.is_dir() else []
    if existing and not overwrite:
        raise SplitError(f"{out} already holds a split ({', '.join(existing)}); pass overwrite=True / --overwrite")
    tbl = finish_table(table)
    notes: list[str] = []
    has_split = "split" in tbl and tbl["split"].astype(str).isin(SPLITS).any()
    keep_own = has_split if use_existing is None else bool(use_existing and has_split)
    gcol = resolve_group_col(tbl, group_col)
    if keep_own:
        assigned = tbl["split"].astype(str).map(lambda s: s if s in SPLITS else "").to_numpy(dtype=object)
        aug = tbl["is_augmented"].to_numpy()
        dropped_aug = int((aug & (assigned != "train")).sum())
        assigned[aug & (assigned != "train")] = ""
        info = {"group_col": gcol, "merged_exact_duplicate_groups": 0, "augmented_dropped": dropped_aug}
        notes.append("kept the dataset's own split (fractions ignored; pass use_existing=False / --resplit to redo it)")
    else:
        assigned, info = assign_splits(tbl, val=val, test=test, group_col=gcol, seed=seed)
        info.pop("groups")
        if info["merged_exact_duplicate_groups"]:
            notes.append(f"{info['merged_exact_duplicate_groups']} byte-identical files were grouped with their twin")
    if info["augmented_dropped"]:
        notes.append(f"{info['augmented_dropped']} oversampled rows dropped: their source is not in train")
    tbl = tbl.drop(columns=["split"], errors="ignore")
    result = {s: tbl.loc[assigned == s].reset_index(drop=True) for s in SPLITS}
    classes = sorted(tbl.loc[~tbl["is_augmented"], "label"].astype(str).unique().tolist())
    # checks
    leak = leakage(result, gcol)
    if leak["count"]:
        notes.append(f"{leak['count']} {gcol} values are shared between splits (the dataset's own split leaks)")
    dups = cross_split_duplicates(result, duplicate_threshold, check_duplicates, progress)
    for s, df in result.items():
        missing = sorted(set(classes) - set(df["label"].astype(str))) if len(df) else []
        if len(df) and missing:
            notes.append(f"{s} has no image of: {', '.join(missing)}")
    report = {
        "n_rows": int(len(tbl)),
        "fractions": {"val": float(val), "test": float(test)},
        "seed": int(seed),
        "group_col": gcol,
        "used_existing_split": bool(keep_own),
        "classes": classes,
        "sizes": {s: int(len(df)) for s, df in result.items()},
        "groups": {s: int(df[gcol].nunique()) if len(df) else 0 for s, df in result.items()},
        "counts": {s: {c: int((df["label"] == c).sum()) for c in classes} for s, df in result.items()},
        "augmented_rows": {s: int(df["is_augmented"].sum()) for s, df in result.items()},
        "leakage": int(leak["count"]),
        "leakage_examples": leak["examples"],
        "duplicates": duplicates_report(dups, out, check_duplicates, duplicate_threshold),
        "merged_exact_duplicate_groups": int(info["merged_exact_duplicate_groups"]),
        "augmented_dropped": int(info["augmented_dropped"]),
        "notes": notes,
    }
    write_split_folder(out, result, report, dups, {"classes": classes}, overwrite)
    return result


def cross_split_duplicates(result: dict[str, pd.DataFrame], threshold: int, check: bool, progress: bool) -> pd.DataFrame:
    """Exact and near-duplicate image pairs in different splits (an empty frame when ``check`` is off)."""
    if check:
        return find_duplicates(result, threshold=threshold, progress=progress)
    return pd.DataFrame(columns=["split_a", "path_a", "split_b", "path_b", "distance", "kind"])


def duplicates_report(dups: pd.DataFrame, out: Path, checked: bool, threshold: int) -> dict[str, Any]:
    """The ``duplicates`` entry of ``split_report.json`` (paths relative to the split folder, 50 pairs at most)."""
    return {
        "checked": bool(checked),
        "threshold": int(threshold),
        "total": int(len(dups)),
        "exact": int((dups["kind"] == "exact").sum()),
        "near": int((dups["kind"] == "near").sum()),
        "pairs": [
            {k: (os.path.relpath(v, out) if k.startswith("path") else v) for k, v in r.items()}
            for r in dups.head(50).to_dict("records")
        ],
    }


def write_split_folder(out: Path, result: dict[str, pd.DataFrame], report: dict[str, Any], dups: pd.DataFrame,
                       classes_doc: dict[str, Any], overwrite: bool) -> None:
    """Write a split folder: the lists and ``split_report.json`` first, ``duplicates.csv``, then
    ``classes.json`` (``classes_doc``) last: its presence marks a complete split."""
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        (out / "classes.json").unlink(missing_ok=True)
        if (out / "oversampled").is_dir():
            shutil.rmtree(out / "oversampled")  # copies made for the replaced train list
    for s, df in result.items():
        write_table(df, out / f"{s}.csv")
    (out / "split_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if len(dups):
        dups.assign(path_a=[os.path.relpath(p, out) for p in dups["path_a"]],
                    path_b=[os.path.relpath(p, out) for p in dups["path_b"]]).to_csv(out / "duplicates.csv", index=False)
    else:
        (out / "duplicates.csv").unlink(missing_ok=True)
    write_json_atomic(out / "classes.json", classes_doc)


def read_report(split_dir: str | Path) -> dict[str, Any]:
    """The ``split_report.json`` of a split folder."""
    f = Path(split_dir) / "split_report.json"
    if not f.is_file():
        raise SplitError(f"no split_report.json in {split_dir}")
    return json.loads(f.read_text(encoding="utf-8"))
