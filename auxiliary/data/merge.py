"""Merging reviewed feedback into a new version of the training split, never touching the old one.

:func:`merge_feedback` (``python -m auxiliary feedback merge --split DIR --feedback DIR``) adds the
images of a feedback folder (:mod:`auxiliary.data.feedback`) to the *training* split only, never to
validation or test, and never an image whose bytes are already in any split; it writes a new split
version (``<split>-v2``, then ``-v3``...) with a ``merge_report.json`` and leaves the old version
untouched. The report names every entry of the feedback folder it did not merge, with the reason; the
same merge is never written twice, and an existing ``--out`` is never merged into silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.files import atomic_copy, check_output_dir, read_csv, sha256_file, write_csv_atomic
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.progress import progress_bar
from auxiliary.data.feedback import (
    FEEDBACK_SUBDIR,
    HASH_CHARS,
    MERGE_REPORT,
    FeedbackError,
    feedback_listing,
    image_ext,
    read_provenance,
)
from auxiliary.data.labels import SPLIT_TASKS
from auxiliary.data.readers import load_split, split_task


# ============================================================================ merge
def _split_hashes(tables: dict[str, pd.DataFrame], progress: bool = False) -> tuple[dict[str, str], int]:
    seen: dict[str, str] = {}
    missing = 0
    total = sum(len(t) for t in tables.values())
    with progress_bar(total=total, desc="hash split images", unit="img", disable=not progress) as bar:
        for name, t in tables.items():
            for p in t["path"]:
                try:
                    if not os.path.isfile(p):  # gone, or a FIFO or device now: never opened
                        raise FileNotFoundError(p)
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
    """A split list's cells as text, as they were before it was written (:func:`auxiliary.base.files.read_csv`), so
    that writing them again neutralises each cell once."""
    if not path.is_file():
        return pd.DataFrame(columns=["path", "label"])
    try:
        return read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=["path", "label"])


def _rebased(raw: pd.DataFrame, old_dir: Path, new_dir: Path) -> pd.DataFrame:
    """The rows of a split CSV unchanged, with relative paths re-expressed from ``new_dir``."""
    out = raw.copy()
    if old_dir.resolve() != new_dir.resolve():
        out["path"] = [v if os.path.isabs(v) else os.path.relpath(os.path.normpath(old_dir / v), new_dir)
                       for v in out["path"]]
    return out


def _split_fingerprint(base: Path) -> str:
    """Hash of a split folder's lists (classes.json, train/val/test.csv): what a merge was made from."""
    h = hashlib.sha256()
    for name in ("classes.json", "train.csv", "val.csv", "test.csv"):
        f = base / name
        h.update(f"{name}={sha256_file(f) if f.is_file() else '-'};".encode())
    return h.hexdigest()


def _merge_key(base: Path, fingerprint: str, added: list[dict[str, Any]]) -> str:
    """The identity of a merge: this split (path and lists) plus the images added, each with its label."""
    pairs = sorted((d["sha256"], d["label"]) for d in added)
    return hashlib.sha256(json.dumps([str(base.resolve()), fingerprint, pairs]).encode()).hexdigest()


def _read_report(folder: Path) -> dict[str, Any] | None:
    """The merge report of a complete merged version, else None."""
    rep_file = folder / MERGE_REPORT
    if not (rep_file.is_file() and (folder / "train.csv").is_file() and (folder / "classes.json").is_file()):
        return None
    try:
        old = json.loads(rep_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return old if isinstance(old, dict) else None


def _same_merge(old: dict[str, Any] | None, report: dict[str, Any]) -> bool:
    if not old:
        return False
    if old.get("merge_key"):
        return old["merge_key"] == report["merge_key"]
    # a report written before merge keys: same split folder, same images
    return old.get("base_split") == report["base_split"] and old.get("added_sha256") == report["added_sha256"]


def _reused(report: dict[str, Any], folder: Path, old: dict[str, Any]) -> dict[str, Any]:
    """``report`` (this run's listing) pointing at the earlier version that holds the same merge."""
    out = dict(report)
    out.update(out_dir=str(folder.resolve()), version=folder.name, reused=True)
    for k in ("counts_after", "val_test_unchanged", "time"):
        if k in old:
            out[k] = old[k]
    return out


def _find_same_merge(base: Path, report: dict[str, Any]) -> tuple[Path, dict[str, Any]] | None:
    """A folder beside ``base`` (any name: ``<split>-vN`` or an earlier ``--out`` there) holding this merge."""
    try:
        siblings = sorted(base.parent.iterdir(), key=lambda p: p.name)
    except OSError:
        return None
    for cand in siblings:
        if cand.name.startswith(".") or not cand.is_dir() or cand.resolve() == base.resolve():
            continue
        old = _read_report(cand)
        if _same_merge(old, report):
            return cand, old
    return None


def _check_out_path(out: Path, base: Path, fdir: Path) -> None:
    """``--out`` is not a file, not the split or the feedback folder, not inside or around either."""
    check_output_dir(out, inputs=(base, fdir))
    for what, given in (("the split", base), ("the feedback folder", fdir)):
        if given.resolve().is_relative_to(out.resolve()):
            raise FeedbackError(f"--out {out} contains {what} {given}: choose a new folder for the merged split")


def _check_out(out: Path, base: Path, fdir: Path, tables: dict[str, pd.DataFrame], report: dict[str, Any],
               overwrite: bool) -> tuple[dict[str, Any] | None, bool]:
    """What to do with an explicit ``--out``: ``(earlier report, False)`` when it already holds this
    merge, ``(None, replace)`` to write it; a one-line :class:`FeedbackError` when it may not be used."""
    target = out.resolve()
    if not out.is_dir() or not any(out.iterdir()):
        return None, False
    old = _read_report(out)
    if _same_merge(old, report):
        return old, False
    if not overwrite:
        held = "another merge" if old is not None else "other files"
        raise FeedbackError(f"--out {out} already exists and is not empty (it holds {held}): choose another --out, "
                            "or pass --overwrite to replace an earlier merge there")
    if old is None:
        raise FeedbackError(f"--out {out} is not a merged split version (no {MERGE_REPORT}); --overwrite replaces "
                            "only an earlier merge: choose another --out")
    for s, t in tables.items():
        used = next((p for p in t["path"] if Path(p).resolve().is_relative_to(target)), None)
        if used is not None:
            raise FeedbackError(f"--out {out} holds images that {s}.csv of {base} uses ({used}): replacing it would "
                                "lose them; choose another --out")
    return None, True


def merge_feedback(
    split_dir: str | Path,
    feedback_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Add the images of ``feedback_dir/<class>/`` to the training split of ``split_dir`` as a new version.
    A multi-label split reads ``feedback_dir/<label set>/`` instead (``acne+wrinkles``, ``none``:
    :mod:`auxiliary.data.labels`); the new rows get one 0/1 column per label.

    Rules: only classes of the split; unreadable files are dropped; an image whose bytes are already in
    train, val or test is dropped; the same bytes under two labels are dropped (conflict). A symbolic
    link to an image elsewhere is merged like any other image (its target's bytes are copied; the link
    and its target are left as they are). Entries that are not feedback images (files in sub-folders
    of a class folder, hidden files, broken links...) are ``skipped``, each with its reason in the report.
    The images are copied into ``NEW/feedback/<class>/``; ``val.csv`` and ``test.csv`` are carried over
    row for row. The new version is written to a temporary folder and renamed into place (a crash
    leaves no half version), and ``split_dir`` is never modified.

    The same merge (this split folder with the same lists, the same images under the same labels; its
    ``merge_key``) is never written twice: without ``out_dir``, a folder beside the split that holds it
    (``<split>-vN`` or an earlier ``--out`` there) is returned with ``reused=True``; an ``out_dir`` that
    holds it is returned the same way. An ``out_dir`` that exists and holds anything else is refused
    (:class:`FeedbackError`) unless ``overwrite``, which replaces only an earlier merged version.
    Returns the merge report (also in ``NEW/merge_report.json``); ``report["out_dir"]`` is None when
    there was nothing to add.
    """
    base = Path(split_dir).expanduser()
    fdir = Path(feedback_dir).expanduser()
    if not (base / "classes.json").is_file():
        raise FeedbackError(f"{base} is not a split folder (no classes.json)")
    if not fdir.is_dir():
        raise FeedbackError(f"feedback folder not found: {fdir}")
    out_given = Path(out_dir).expanduser() if out_dir is not None else None
    if out_given is not None:
        _check_out_path(out_given, base, fdir)
    tables, classes = load_split(base)
    kind = SPLIT_TASKS[split_task(base)]  # what a folder name says: a class, or a label set (acne+wrinkles, none)
    split_sha, missing = _split_hashes(tables, progress=progress)
    listing, left_out = feedback_listing(fdir)
    decisions: list[dict[str, Any]] = []
    by_sha: dict[str, list[int]] = {}
    for _, r in listing.iterrows():
        rec = {"file": r["file"], "label": r["label"], "sha256": "", "status": "", "reason": "", "link": r["link"]}
        shown = kind.folder(r["label"], classes)
        if shown is None:
            rec.update(status="dropped", reason=kind.unknown_folder.format(name=r["label"], classes=", ".join(classes)))
        else:
            rec["_shown"], rec["_fields"] = shown
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
    n_images = len(decisions)
    decisions += [{"file": e["file"], "label": "", "sha256": "", "status": "skipped", "reason": e["reason"], "link": ""}
                  for e in left_out]
    added = [d for d in decisions if d["status"] == "added"]
    added_sha = sorted(d["sha256"] for d in added)
    fingerprint = _split_fingerprint(base)
    report: dict[str, Any] = {
        "base_split": str(base.resolve()),
        "base_sha256": fingerprint,
        "feedback_dir": str(fdir.resolve()),
        "classes": classes,
        "n_feedback_files": n_images,
        "added": len(added),
        "added_per_class": {c: sum(c in d["_shown"] for d in added) for c in classes},
        "dropped": sum(d["status"] == "dropped" for d in decisions),
        "dropped_reasons": _reason_counts(decisions),
        "skipped": len(left_out),
        "skipped_reasons": _reason_counts(decisions, "skipped"),
        "decisions": [{k: v for k, v in d.items() if not k.startswith("_")} for d in decisions],
        "added_sha256": added_sha,
        "merge_key": _merge_key(base, fingerprint, added),
        "split_images_missing": missing,
        "counts_before": {s: len(t) for s, t in tables.items()},
        "out_dir": None,
        "reused": False,
    }
    if not added:
        report["message"] = "nothing to add: every feedback image is already in the split, dropped, or none was filed"
        return report
    replace = False
    if out_given is None:
        found = _find_same_merge(base, report)  # the same merge done before: return that version
        if found is not None:
            return _reused(report, *found)
        out = next_version_dir(base)
    else:
        out = out_given
        old, replace = _check_out(out, base, fdir, tables, report, overwrite)
        if old is not None:
            return _reused(report, out, old)
        found = _find_same_merge(base, report)  # written as asked, and said
        if found is not None and found[0].resolve() != out.resolve():
            report["same_merge_also_at"] = str(found[0].resolve())
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
                **d["_fields"],  # the label text, and a label set's 0/1 columns
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
        report["replaced"] = replace
        report["counts_after"] = {"train": len(train_new), **{s: len(tables[s]) for s in ("val", "test")}}
        report["time"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        (tmp / MERGE_REPORT).write_text(json.dumps(report, indent=2), encoding="utf-8")
        if replace:  # --overwrite of an earlier merge: swap folders, then drop the old one
            old_dir = out.parent / f".{out.name}.replaced-{os.getpid()}"
            shutil.rmtree(old_dir, ignore_errors=True)
            os.rename(out, old_dir)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old_dir, out)
                raise
            shutil.rmtree(old_dir, ignore_errors=True)
        else:
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


def _reason_counts(decisions: list[dict[str, Any]], status: str = "dropped") -> dict[str, int]:
    out: dict[str, int] = {}
    for d in decisions:
        if d["status"] == status:
            key = re.sub(r" \(.*", "", d["reason"]).split(":")[0]
            out[key] = out.get(key, 0) + 1
    return out
