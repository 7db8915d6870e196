"""Leakage-free train/val/test lists of a sample table, written to a split folder, with leakage and duplicate checks.

Rows are assigned grouped and stratified by :mod:`auxiliary.data.stratification` (by class, or by label for a
table with several labels per image), so no group is ever shared between two splits. After splitting,
:func:`check_splits` counts leaked groups and lists exact and near-duplicate images that still sit in different
splits (e.g. two photos of one lesion without a lesion id), found by perceptual hashes in
:mod:`auxiliary.data.duplicates`.

Writing a split (:func:`make_splits`) only writes CSV/JSON files in ``out_dir``; images are never
touched. A split of a table with several labels per image (``labels``) is the same folder with three
differences: ``classes.json`` is ``{"classes": [labels in order], "task": "multilabel"}``; every list keeps one
int 0/1 column per label beside ``label`` (the present labels joined by ``|``, or ``none``); the report counts
positives per label (``counts``), rows without a label (``no_label``) and the prevalence of each label per split
(``label_shares``). The command line's ``split`` step and the split folder of a config are
:mod:`auxiliary.steps.split`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.files import write_csv_atomic, write_json_atomic
from auxiliary.data.duplicates import NEAR_THRESHOLD, find_duplicates
from auxiliary.data.formats import SPLITS
from auxiliary.data.labels import (
    LABEL_SET_TASK,
    NO_LABEL_ROW,
    check_label_names,
    label_matrix,
    label_outcomes,
)
from auxiliary.data.readers import finish_table, load_split, write_table
from auxiliary.data.stratification import SplitError, assign_splits, resolve_group_col


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


def split_summary(splits: dict[str, pd.DataFrame], classes: Sequence[str]) -> pd.DataFrame:
    """Table of images per class (rows) and split (columns), with totals, group counts and oversampled rows. A
    split with several labels per image (every table has a 0/1 column per class) counts the images showing each
    label, plus ``no label`` (:func:`auxiliary.data.labels.label_outcomes`)."""
    out = pd.DataFrame({s: label_outcomes(df, classes).sum() for s, df in splits.items()}).fillna(0).astype(int)
    out.loc["total"] = [len(df) for df in splits.values()]
    out.loc["groups"] = [df["group"].nunique() if "group" in df else 0 for df in splits.values()]
    out.loc["oversampled"] = [int(df["is_augmented"].astype(bool).sum()) if "is_augmented" in df else 0
                              for df in splits.values()]
    return out


def label_shares(splits: dict[str, pd.DataFrame], classes: Sequence[str]) -> pd.DataFrame:
    """Share of the images showing each class or label (rows, plus ``no label`` for label sets, and ``rows``) in
    each split (columns): the prevalence that a split with several labels per image keeps for every label."""
    data = {}
    index: list[str] = []
    for s, df in splits.items():
        shown = label_outcomes(df, classes)
        index = [*map(str, shown.columns), "rows"]
        data[s] = [*(shown.mean() if len(df) else [np.nan] * shown.shape[1]), float(len(df))]
    return pd.DataFrame(data, index=index)


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
    labels: Sequence[str] | None = None,
    use_existing: bool | None = None,
    duplicate_threshold: int = NEAR_THRESHOLD,
    check_duplicates: bool = True,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """Split ``table`` into train/val/test and write ``out_dir/{train,val,test}.csv``,
    ``classes.json`` and ``split_report.json`` (counts, leakage, duplicates).

    ``val``/``test`` are fractions of the samples (grouped, so approximately); train gets the
    rest (:func:`auxiliary.data.stratification.assign_splits`). ``labels``: the 0/1 label columns of a table
    with several labels per image (see the module docstring for what its folder records). ``use_existing``
    (default: when the table has a ``split`` column, e.g. train/val folders or a MedMNIST file) keeps the
    dataset's own split instead. Refuses to replace an existing split unless ``overwrite``. Returns
    ``{"train": df, "val": df, "test": df}``.
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
    names = None if labels is None else check_label_names(labels)
    for lab in names or []:
        tbl[lab] = label_matrix(tbl, [lab])[:, 0]
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
        assigned, info = assign_splits(tbl, val=val, test=test, group_col=gcol, seed=seed, labels=names)
        if info["merged_exact_duplicate_groups"]:
            notes.append(f"{info['merged_exact_duplicate_groups']} byte-identical files were grouped with their twin")
    if info["augmented_dropped"]:
        notes.append(f"{info['augmented_dropped']} oversampled rows dropped: their source is not in train")
    tbl = tbl.drop(columns=["split"], errors="ignore")
    result = {s: tbl.loc[assigned == s].reset_index(drop=True) for s in SPLITS}
    classes = names or sorted(tbl.loc[~tbl["is_augmented"], "label"].astype(str).unique().tolist())
    # checks
    leak = leakage(result, gcol)
    if leak["count"]:
        notes.append(f"{leak['count']} {gcol} values are shared between splits (the dataset's own split leaks)")
    dups = cross_split_duplicates(result, duplicate_threshold, check_duplicates, progress)
    shown = {s: label_outcomes(df, classes) for s, df in result.items()}
    counts = {s: {c: int(o[c].sum()) for c in classes} for s, o in shown.items()}
    for s, df in result.items():
        missing = [c for c in classes if counts[s][c] == 0]
        if len(df) and missing:
            notes.append(f"{s} has no image of: {', '.join(missing)}")
    report = {
        "n_rows": int(len(tbl)),
        "fractions": {"val": float(val), "test": float(test)},
        "seed": int(seed),
        "group_col": gcol,
        "used_existing_split": bool(keep_own),
        **({"task": LABEL_SET_TASK} if names else {}),
        "classes": classes,
        "sizes": {s: int(len(df)) for s, df in result.items()},
        "groups": {s: int(df[gcol].nunique()) if len(df) else 0 for s, df in result.items()},
        "counts": counts,
        **(label_set_report(result, classes) if names else {}),
        "augmented_rows": {s: int(df["is_augmented"].sum()) for s, df in result.items()},
        "leakage": int(leak["count"]),
        "leakage_examples": leak["examples"],
        "duplicates": duplicates_report(dups, out, check_duplicates, duplicate_threshold),
        "merged_exact_duplicate_groups": int(info["merged_exact_duplicate_groups"]),
        "augmented_dropped": int(info["augmented_dropped"]),
        "notes": notes,
    }
    doc = {"classes": classes, **({"task": LABEL_SET_TASK} if names else {})}
    write_split_folder(out, result, report, dups, doc, overwrite)
    return result


def label_set_report(result: dict[str, pd.DataFrame], labels: Sequence[str]) -> dict[str, Any]:
    """What ``split_report.json`` adds for several labels per image: rows without a label (``no_label``) and the
    prevalence of each label per split (``label_shares``)."""
    shares = label_shares(result, labels)
    return {
        "no_label": {s: int(label_outcomes(df, labels)[NO_LABEL_ROW].sum()) for s, df in result.items()},
        "label_shares": {s: {k: (None if pd.isna(v) else float(v)) for k, v in shares[s].drop("rows").items()}
                         for s in shares.columns},
    }


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
    write_json_atomic(out / "split_report.json", report)
    if len(dups):
        write_csv_atomic(out / "duplicates.csv", dups.assign(path_a=[os.path.relpath(p, out) for p in dups["path_a"]],
                                                             path_b=[os.path.relpath(p, out) for p in dups["path_b"]]))
    else:
        (out / "duplicates.csv").unlink(missing_ok=True)
    write_json_atomic(out / "classes.json", classes_doc)


def read_report(split_dir: str | Path) -> dict[str, Any]:
    """The ``split_report.json`` of a split folder."""
    f = Path(split_dir) / "split_report.json"
    if not f.is_file():
        raise SplitError(f"no split_report.json in {split_dir}")
    return json.loads(f.read_text(encoding="utf-8"))
