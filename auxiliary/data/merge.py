"""Merging reviewed feedback into a new version of the training split, never touching the old one.

:func:`merge_feedback` (``python -m auxiliary feedback merge --split DIR --feedback DIR``) adds the
images of a feedback folder (:mod:`auxiliary.data.feedback`) to the *training* split only, never to
validation or test, and never an image whose bytes are already in any split; it writes a new split
version (``<split>-v2``, then ``-v3``...) with a ``merge_report.json`` and leaves the old version
untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from auxiliary.data.feedback import (
    FEEDBACK_SUBDIR,
    HASH_CHARS,
    MERGE_REPORT,
    FeedbackError,
    feedback_images,
    image_ext,
    read_provenance,
)
from auxiliary.data.readers import load_split
from auxiliary.files import atomic_copy, sha256_file, write_csv_atomic
from auxiliary.images import ImageReadError, read_image


# ============================================================================ merge
def _split_hashes(tables: dict[str, pd.DataFrame], progress: bool = False) -> tuple[dict[str, str], int]:

    seen: dict[str, str] = {}
    missing = 0
    total = sum(len(t) for t in tables.values())
    with tqdm(total=total, desc="hash split images", unit="img", disable=not progress) as bar:
        for name, t in tables.items():
            for p in t["path"]:
                try:
                    seen.setdefault(sha256_file(p), name)
                except OSError:
                    missing += 1
                bar.update(1)
    return seen, missing


def _version_name(split_dir: Path) -> tuple[str, int]:
    m = re.fullmatch(r"(.+)-v(\d+)", split_dir.name)
    return (m.group(1), int(m.group(2))) if m else (split_dir.name, 1)


def next_version_dir(split_dir: str | Path) -> Path:
    """``<split>-v2`` beside ``split_dir`` (or the next free ``-vN`` above every existing version)."""
    d = Path(split_dir)
    stem, n = _version_name(d)
    taken = [int(m.group(1)) for p in d.parent.glob(f"{glob_escape(stem)}-v*")
             if (m := re.fullmatch(re.escape(stem) + r"-v(\d+)", p.name))]
    return d.parent / f"{stem}-v{max([n, *taken]) + 1}"


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _raw_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=["path", "label"])
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=["path", "label"])


def _rebased(raw: pd.DataFrame, old_dir: Path, new_dir: Path) -> pd.DataFrame:
    """The rows of a split CSV unchanged, with relative paths re-expressed from ``new_dir``."""
    out = raw.copy()
    if old_dir.resolve() != new_dir.resolve():
        out["path"] = [v if os.path.isabs(v) else os.path.relpath(os.path.normpath(old_dir / v), new_dir)
                       for v in out["path"]]
    return out


def merge_feedback(
    split_dir: str | Path,
    feedback_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Add the images of ``feedback_dir/<class>/`` to the training split of ``split_dir`` as a new version.

    Rules: only classes of the split; unreadable files are dropped; an image whose bytes are already in
    train, val or test is dropped; the same bytes under two labels are dropped (conflict). The images
    are copied into ``NEW/feedback/<class>/``; ``val.csv`` and ``test.csv`` are carried over row for row.
    The new version is written to a temporary folder and renamed into place (a crash leaves no half
    version), and ``split_dir`` is never modified. Merging the same feedback into the same split again
    returns the existing version instead of writing another. Returns the merge report (also in
    ``NEW/merge_report.json``); ``report["out_dir"]`` is None when there was nothing to add.
    """
    base = Path(split_dir).expanduser()
    fdir = Path(feedback_dir).expanduser()
    if not (base / "classes.json").is_file():
        raise FeedbackError(f"{base} is not a split folder (no classes.json)")
    if not fdir.is_dir():
        raise FeedbackError(f"feedback folder not found: {fdir}")
    tables, classes = load_split(base)
    split_sha, missing = _split_hashes(tables, progress=progress)
    listing = feedback_images(fdir)
    decisions: list[dict[str, Any]] = []
    by_sha: dict[str, list[int]] = {}
    for _, r in listing.iterrows():
        rec = {"file": Path(r["path"]).relative_to(fdir.resolve()).as_posix(), "label": r["label"], "sha256": "",
               "status": "", "reason": ""}
        if r["label"] not in classes:
            rec.update(status="dropped", reason=f"unknown class {r['label']!r} (classes: {', '.join(classes)})")
        else:
            try:
                read_image(r["path"])
                rec["sha256"] = sha256_file(r["path"])
            except (ImageReadError, OSError) as exc:
                rec.update(status="dropped", reason=f"unreadable: {getattr(exc, 'reason', exc)}")
        if not rec["status"]:
            where = split_sha.get(rec["sha256"])
            if where is not None:
                rec.update(status="dropped", reason=f"already in {where}")
            else:
                by_sha.setdefault(rec["sha256"], []).append(len(decisions))
        rec["_path"] = r["path"]
        decisions.append(rec)
    for _sha, idxs in by_sha.items():
        labels = {decisions[i]["label"] for i in idxs}
        if len(labels) > 1:
            for i in idxs:
                decisions[i].update(status="dropped", reason=f"conflicting labels {sorted(labels)}")
            continue
        decisions[idxs[0]]["status"] = "added"
        for i in idxs[1:]:
            decisions[i].update(status="dropped", reason="duplicate of another feedback image")
    added = [d for d in decisions if d["status"] == "added"]
    added_sha = sorted(d["sha256"] for d in added)
    report: dict[str, Any] = {
        "base_split": str(base.resolve()),
        "feedback_dir": str(fdir.resolve()),
        "classes": classes,
        "n_feedback_files": len(decisions),
        "added": len(added),
        "added_per_class": {c: sum(d["label"] == c for d in added) for c in classes},
        "dropped": len(decisions) - len(added),
        "dropped_reasons": _reason_counts(decisions),
        "decisions": [{k: v for k, v in d.items() if not k.startswith("_")} for d in decisions],
        "added_sha256": added_sha,
        "split_images_missing": missing,
        "counts_before": {s: len(t) for s, t in tables.items()},
        "out_dir": None,
        "reused": False,
    }
    if not added:
        report["message"] = "nothing to add: every feedback image is already in the split, dropped, or none was filed"
        return report
    # the same merge done before: return that version
    stem, _n = _version_name(base)
    for cand in sorted(base.parent.glob(f"{glob_escape(stem)}-v*")):
        rep_file = cand / MERGE_REPORT
        if cand.is_dir() and rep_file.is_file() and cand.resolve() != base.resolve():
            try:
                old = json.loads(rep_file.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if old.get("base_split") == report["base_split"] and old.get("added_sha256") == added_sha:
                old["reused"] = True
                return old
    if out_dir is None:
        out = next_version_dir(base)
    else:
        out = Path(out_dir).expanduser()
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise FeedbackError(f"{out} already exists and is not empty; merged splits never overwrite (omit --out)")
        if out.resolve() == base.resolve():
            raise FeedbackError("--out must be a new folder, not the split itself")
    for stale in out.parent.glob(f".{glob_escape(out.name)}.partial-*"):  # an earlier crash
        shutil.rmtree(stale, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        prov = read_provenance(fdir)
        last_prov = {r["sha256"]: r for _, r in prov.iterrows()} if len(prov) else {}
        new_rows = []
        for d in added:
            src = Path(d["_path"])
            rel = Path(FEEDBACK_SUBDIR) / d["label"] / f"{d['sha256'][:HASH_CHARS]}{image_ext(src)}"
            atomic_copy(src, tmp / rel)
            pv = last_prov.get(d["sha256"], {})
            new_rows.append({
                "path": rel.as_posix(), "label": d["label"], "group": f"feedback-{d['sha256'][:12]}",
                "tone_group": "unknown", "ita": "", "is_augmented": "False", "origin": "feedback",
                "sha256": d["sha256"], "feedback_source": pv.get("source", ""), "model_guess": pv.get("model_guess", ""),
                "reviewer": pv.get("reviewer", ""), "filed": pv.get("time", ""),
            })
        train_raw = _rebased(_raw_csv(base / "train.csv"), base, out)
        if len(train_raw) and "origin" not in train_raw.columns:
            train_raw["origin"] = "split"
        new_df = pd.DataFrame(new_rows)
        cols = list(train_raw.columns) + [c for c in new_df.columns if c not in train_raw.columns]
        train_new = pd.concat([train_raw.reindex(columns=cols), new_df.reindex(columns=cols)], ignore_index=True)
        train_new = train_new.fillna("")
        write_csv_atomic(tmp / "train.csv", train_new)
        for s in ("val", "test"):
            if (base / f"{s}.csv").is_file():
                if base.parent.resolve() == out.parent.resolve():
                    shutil.copyfile(base / f"{s}.csv", tmp / f"{s}.csv")  # same depth: byte-identical
                else:
                    write_csv_atomic(tmp / f"{s}.csv", _rebased(_raw_csv(base / f"{s}.csv"), base, out))
        for extra in ("classes.json", "split_report.json"):
            if (base / extra).is_file():
                shutil.copyfile(base / extra, tmp / extra)
        report["out_dir"] = str(out.resolve())
        report["version"] = out.name
        report["counts_after"] = {"train": len(train_new), **{s: len(tables[s]) for s in ("val", "test")}}
        report["time"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        (tmp / MERGE_REPORT).write_text(json.dumps(report, indent=2), encoding="utf-8")
        if out.exists():
            out.rmdir()  # an empty folder given as --out
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # the contract check: val/test identical (same absolute paths and labels), old split untouched
    new_tables, _ = load_split(out)
    report["val_test_unchanged"] = all(
        list(new_tables[s]["path"]) == list(tables[s]["path"]) and list(new_tables[s]["label"]) == list(tables[s]["label"])
        for s in ("val", "test"))
    (out / MERGE_REPORT).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def _reason_counts(decisions: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in decisions:
        if d["status"] == "dropped":
            key = re.sub(r" \(.*", "", d["reason"]).split(":")[0]
            out[key] = out.get(key, 0) + 1
    return out
