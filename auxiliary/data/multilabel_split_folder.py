"""A multi-label split folder: :func:`make_multilabel_splits` writes train/val/test lists of whole groups with
every label keeping its share (:func:`auxiliary.data.multilabel_splits.multilabel_group_split`).

The folder is the single-label one of :mod:`auxiliary.data.splits` (same lists, ``split_report.json``,
``duplicates.csv``, the same leakage and duplicate checks) with three differences: ``classes.json`` is
``{"classes": [labels in order], "task": "multilabel"}``; every list has one int 0/1 column per label
beside ``label`` (the present labels joined by ``|``, or ``none``); the report counts positives per label
(``counts``), rows without a label (``no_label``) and the prevalence of each label per split
(``label_shares``). Byte-identical files are put in one group first, as for single-label splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.data.duplicates import NEAR_THRESHOLD
from auxiliary.data.formats import SPLITS
from auxiliary.data.multilabel import check_label_names, label_matrix
from auxiliary.data.multilabel_splits import label_shares, multilabel_group_split
from auxiliary.data.readers import finish_table
from auxiliary.data.splits import (
    SplitError,
    cross_split_duplicates,
    duplicates_report,
    existing_split_outputs,
    leakage,
    merge_exact_duplicates,
    resolve_group_col,
    write_split_folder,
)

#: Temporary column holding the split groups (the group column with byte-identical files merged).
_GROUPS = "__split_group__"


def _assign(tbl: pd.DataFrame, labels: list[str], val: float, test: float, gcol: str, seed: int
            ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    raw = tbl[gcol].astype(str).to_numpy(dtype=object)
    empty = np.isin(raw, ["", "nan", "None", "<NA>"])
    groups = np.where(empty, tbl["path"].astype(str).to_numpy(dtype=object), raw)
    groups, merged = merge_exact_duplicates(tbl, groups)
    parts = multilabel_group_split(tbl.assign(**{_GROUPS: groups}), labels, val=val, test=test,
                                   group_col=_GROUPS, seed=seed)
    kept_aug = sum(int(df["is_augmented"].sum()) for df in parts.values())
    info = {"merged_exact_duplicate_groups": merged, "augmented_dropped": int(tbl["is_augmented"].sum()) - kept_aug}
    return {s: df.drop(columns=[_GROUPS]) for s, df in parts.items()}, info


def make_multilabel_splits(
    table: pd.DataFrame,
    labels: Sequence[str],
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
    """Split a multi-label ``table`` (one 0/1 column per label) into ``out_dir`` (see the module docstring).

    Arguments as :func:`auxiliary.data.splits.make_splits`: ``use_existing`` (default: when the table has
    a ``split`` column, e.g. a MedMNIST file) keeps the dataset's own split. Returns the three tables.
    """
    out = Path(out_dir)
    if table is None or len(table) == 0:
        raise SplitError("cannot split an empty table")
    names = check_label_names(labels)
    existing = existing_split_outputs(out) if out.is_dir() else []
    if existing and not overwrite:
        raise SplitError(f"{out} already holds a split ({', '.join(existing)}); pass overwrite=True / --overwrite")
    tbl = finish_table(table)
    for lab in names:
        tbl[lab] = label_matrix(tbl, [lab])[:, 0]
    notes: list[str] = []
    gcol = resolve_group_col(tbl, group_col)
    has_split = "split" in tbl and tbl["split"].astype(str).isin(SPLITS).any()
    keep_own = has_split if use_existing is None else bool(use_existing and has_split)
    if keep_own:
        assigned = tbl["split"].astype(str).map(lambda s: s if s in SPLITS else "")
        aug = tbl["is_augmented"].to_numpy() & (assigned != "train").to_numpy()
        tbl = tbl.loc[~aug].drop(columns=["split"])
        result = {s: tbl.loc[(assigned[~aug] == s).to_numpy()].reset_index(drop=True) for s in SPLITS}
        info = {"merged_exact_duplicate_groups": 0, "augmented_dropped": int(aug.sum())}
        notes.append("kept the dataset's own split (fractions ignored; pass use_existing=False / --resplit to redo it)")
    else:
        result, info = _assign(tbl.drop(columns=["split"], errors="ignore"), names, val, test, gcol, seed)
        if info["merged_exact_duplicate_groups"]:
            notes.append(f"{info['merged_exact_duplicate_groups']} byte-identical files were grouped with their twin")
    if info["augmented_dropped"]:
        notes.append(f"{info['augmented_dropped']} oversampled rows dropped: their source is not in train")
    leak = leakage(result, gcol)
    if leak["count"]:
        notes.append(f"{leak['count']} {gcol} values are shared between splits (the dataset's own split leaks)")
    dups = cross_split_duplicates(result, duplicate_threshold, check_duplicates, progress)
    counts = {s: {lab: int(df[lab].sum()) for lab in names} for s, df in result.items()}
    for s, df in result.items():
        missing = [lab for lab in names if counts[s][lab] == 0]
        if len(df) and missing:
            notes.append(f"{s} has no image showing: {', '.join(missing)}")
    shares = label_shares(result, names)
    report = {
        "n_rows": int(sum(len(df) for df in result.values())),
        "fractions": {"val": float(val), "test": float(test)},
        "seed": int(seed),
        "group_col": gcol,
        "used_existing_split": bool(keep_own),
        "task": "multilabel",
        "classes": names,
        "sizes": {s: int(len(df)) for s, df in result.items()},
        "groups": {s: int(df[gcol].nunique()) if len(df) else 0 for s, df in result.items()},
        "counts": counts,
        "no_label": {s: int((df[names].sum(axis=1) == 0).sum()) for s, df in result.items()},
        "label_shares": {s: {k: (None if pd.isna(v) else float(v)) for k, v in shares[s].drop("rows").items()}
                         for s in shares.columns},
        "augmented_rows": {s: int(df["is_augmented"].sum()) for s, df in result.items()},
        "leakage": int(leak["count"]),
        "leakage_examples": leak["examples"],
        "duplicates": duplicates_report(dups, out, check_duplicates, duplicate_threshold),
        "merged_exact_duplicate_groups": int(info["merged_exact_duplicate_groups"]),
        "augmented_dropped": int(info["augmented_dropped"]),
        "notes": notes,
    }
    write_split_folder(out, result, report, dups, {"classes": names, "task": "multilabel"}, overwrite)
    return result
