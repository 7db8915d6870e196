"""The feedback loop of notebook 06: review, file corrections, merge them into a new training split.

* :func:`file_image` copies (never moves) a reviewed image into ``feedback_dir/<label>/``, named by
  its content hash, and appends a provenance record (original path, model's guess, reviewer's
  label, time, sha256) to ``feedback_dir/provenance.csv``. Filing the same bytes again changes
  nothing; filing them under another label moves the feedback copy (the reviewer changed their mind).
* :func:`review_queue` lists the images worth a look (``low_confidence`` ones and, when the true
  labels are known, the mistakes), most informative first (smallest top-2 margin, or highest
  entropy); :class:`ReviewPanel` is the ipywidgets panel where one click files an image.
* :func:`merge_feedback` (``python -m auxiliary feedback merge --split DIR --feedback DIR``) adds the
  feedback images to the *training* split only, never to validation or test, and never an image
  whose bytes are already in any split; it writes a new split version (``<split>-v2``, then ``-v3``...)
  with a ``merge_report.json`` and leaves the old version untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import AuxiliaryError
from .imageio import IMAGE_EXTENSIONS, ImageReadError, read_image
from .sorting import atomic_copy, safe_name, sha256_file

PROVENANCE = "provenance.csv"
PROVENANCE_COLUMNS = ("time", "sha256", "file", "label", "previous_label", "model_guess", "source", "reviewer",
                      "probs", "action")
MERGE_REPORT = "merge_report.json"
FEEDBACK_SUBDIR = "feedback"
HASH_CHARS = 20

_LOCK = threading.RLock()


class FeedbackError(AuxiliaryError):
    """A feedback problem the user can fix (bad label, missing folder, nothing to merge...)."""


# ============================================================================ filing
def _check_label(label: str) -> str:
    lab = str(label).strip()
    if not lab or safe_name(lab, default="") != lab:
        raise FeedbackError(f"label {label!r} cannot be a folder name (no slashes, leading dots or dashes)")
    return lab


def _png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise FeedbackError(f"image array must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FeedbackError(f"image array must be (H, W, 3) RGB, got shape {arr.shape}")
    buf = io.BytesIO()  # same encoder settings as imageio.write_png: same array -> same bytes
    Image.fromarray(np.ascontiguousarray(arr[..., :3])).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _image_ext(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return ".jpg" if ext == ".jpeg" else ext
    from PIL import Image

    try:
        with Image.open(path) as im:
            fmt = (im.format or "png").lower()
    except Exception:  # noqa: BLE001 - read_image already accepted it
        fmt = "png"
    return {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}")


def _existing_copies(feedback_dir: Path, sha: str) -> list[Path]:
    if not feedback_dir.is_dir():
        return []
    return sorted(p for p in feedback_dir.glob(f"*/{sha[:HASH_CHARS]}.*")
                  if p.is_file() and not p.name.endswith(".part") and not p.parent.name.startswith("."))


def _append_provenance(feedback_dir: Path, row: dict[str, Any]) -> None:
    path = feedback_dir / PROVENANCE
    new = not path.is_file() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(PROVENANCE_COLUMNS))
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in PROVENANCE_COLUMNS})
        fh.flush()
        with contextlib.suppress(OSError):
            os.fsync(fh.fileno())


def file_image(
    image: str | Path | np.ndarray,
    label: str,
    feedback_dir: str | Path,
    *,
    source: str,
    model_guess: str | None,
    probs: dict | None,
    reviewer: str = "reviewer",
) -> Path:
    """Copy ``image`` (a file, or an RGB array written as PNG) to ``feedback_dir/<label>/<sha256[:20]>.<ext>``
    and record its provenance in ``feedback_dir/provenance.csv``. Returns the feedback copy's path.

    Idempotent by content hash: the same bytes filed again under the same label change nothing;
    under another label the copy moves to the new label folder (recorded as ``relabel``).
    The original image is never modified or moved.
    """
    lab = _check_label(label)
    fdir = Path(feedback_dir).expanduser()
    if fdir.exists() and not fdir.is_dir():
        raise FeedbackError(f"feedback folder is a file: {fdir}")
    if isinstance(image, np.ndarray):
        data = _png_bytes(image)
        sha = hashlib.sha256(data).hexdigest()
        ext = ".png"
        src_path = None
    else:
        src_path = Path(image).expanduser()
        read_image(src_path)  # raises ImageReadError (one line) for anything that is not an image
        sha = sha256_file(src_path)
        ext = _image_ext(src_path)
        data = None
    with _LOCK:
        existing = _existing_copies(fdir, sha)
        same = [p for p in existing if p.parent.name == lab]
        if same:
            return same[0]
        dest = fdir / lab / f"{sha[:HASH_CHARS]}{ext}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src_path is not None:
            with contextlib.suppress(FileExistsError):
                atomic_copy(src_path, dest)
        else:
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        for old in existing:  # the reviewer changed their mind: one label per image
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        clean = {str(k): round(float(v), 6) for k, v in (probs or {}).items()}
        _append_provenance(fdir, {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sha256": sha,
            "file": dest.relative_to(fdir).as_posix(),
            "label": lab,
            "previous_label": ",".join(sorted({p.parent.name for p in existing})),
            "model_guess": "" if model_guess is None else str(model_guess),
            "source": str(source),
            "reviewer": str(reviewer),
            "probs": json.dumps(clean) if clean else "",
            "action": "relabel" if existing else "filed",
        })
    return dest


def read_provenance(feedback_dir: str | Path) -> pd.DataFrame:
    """``provenance.csv`` (one row per filing; the last row of a sha256 is its current label)."""
    path = Path(feedback_dir) / PROVENANCE
    if not path.is_file():
        return pd.DataFrame(columns=list(PROVENANCE_COLUMNS))
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def feedback_images(feedback_dir: str | Path) -> pd.DataFrame:
    """The files in ``feedback_dir/<label>/`` (path, label, name); hidden files and folders are ignored."""
    root = Path(feedback_dir)
    rows = []
    if root.is_dir():
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for f in sorted(d.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    rows.append({"path": str(f.resolve()), "label": d.name, "name": f.name})
    return pd.DataFrame(rows, columns=["path", "label", "name"])


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

    ``predictions`` is ``OUT/predictions.csv`` (:func:`auxiliary.sorting.read_predictions`). Every
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
    """File every queued image under its known true label (what a reviewer would do), via :func:`file_image`."""
    from tqdm.auto import tqdm

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


def _thumbnail_png(path: str | Path, size: int) -> bytes:
    import cv2

    try:
        rgb = read_image(path)
    except ImageReadError:
        rgb = np.full((size, size, 3), 200, np.uint8)
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return bytes(buf) if ok else b""


class ReviewPanel:
    """ipywidgets review panel: the image, its probabilities, one button per class (files the image
    under that class with :func:`file_image`), skip and back. Construction needs no front end
    (works under papermill); ``panel.widget`` is the widget to display."""

    def __init__(self, queue: pd.DataFrame, classes: Sequence[str], feedback_dir: str | Path, *,
                 reviewer: str = "reviewer", thumb: int = 224, show_truth: bool = False):
        import ipywidgets as w

        self.queue = queue.reset_index(drop=True)
        self.classes = list(classes)
        self.feedback_dir = Path(feedback_dir)
        self.reviewer = reviewer
        self.thumb = int(thumb)
        self.show_truth = show_truth
        self.pos = 0
        self.filed: dict[int, Path] = {}
        self.image = w.Image(format="png", width=self.thumb, height=self.thumb)
        self.info = w.HTML()
        self.status = w.HTML()
        self.class_buttons = []
        for c in self.classes:
            b = w.Button(description=c, button_style="success", tooltip=f"file this image under {c}")
            b.on_click(self._make_handler(c))
            self.class_buttons.append(b)
        self.skip_button = w.Button(description="skip", tooltip="next image without filing")
        self.skip_button.on_click(lambda _b: self.go(self.pos + 1))
        self.back_button = w.Button(description="back", tooltip="previous image")
        self.back_button.on_click(lambda _b: self.go(self.pos - 1))
        self.widget = w.VBox([
            w.HBox([self.image, self.info]),
            w.HBox([w.HTML("<b>True class:</b>&nbsp;"), *self.class_buttons, self.skip_button, self.back_button]),
            self.status,
        ])
        self._render()

    def _make_handler(self, label: str):
        def handler(_button: Any) -> None:
            self.file_current(label)

        return handler

    @property
    def current(self) -> pd.Series | None:
        return self.queue.iloc[self.pos] if 0 <= self.pos < len(self.queue) else None

    def go(self, pos: int) -> None:
        self.pos = int(min(max(pos, 0), len(self.queue)))
        self._render()

    def file_current(self, label: str) -> Path | None:
        """File the image shown under ``label`` and move to the next one."""
        row = self.current
        if row is None:
            return None
        probs = {c: float(row[f"prob_{c}"]) for c in self.classes if f"prob_{c}" in row}
        dest = file_image(row["source"], label, self.feedback_dir, source=row["source"],
                          model_guess=row.get("predicted"), probs=probs, reviewer=self.reviewer)
        self.filed[self.pos] = dest
        self.status.value = f"filed <code>{Path(row['source']).name}</code> under <b>{label}</b>"
        self.go(self.pos + 1)
        return dest

    def _render(self) -> None:
        n = len(self.queue)
        row = self.current
        if row is None:
            self.image.value = b""
            self.info.value = (f"<h4>Review done</h4><p>{len(self.filed)} of {n} images filed into "
                               f"<code>{self.feedback_dir}</code>.</p>")
            for b in self.class_buttons:
                b.disabled = True
            return
        for b in self.class_buttons:
            b.disabled = False
        self.image.value = _thumbnail_png(row.get("image", row["source"]), self.thumb)
        bars = "".join(
            f"<tr><td>{c}</td><td><div style='background:#4c72b0;height:10px;width:{max(1, int(150 * float(row[f'prob_{c}'])))}px'>"
            f"</div></td><td>{float(row[f'prob_{c}']):.2f}</td></tr>"
            for c in self.classes if f"prob_{c}" in row
        )
        truth = f"<br>known label: <b>{row['label']}</b>" if self.show_truth and row.get("label") else ""
        self.info.value = (
            f"<p><b>{self.pos + 1} / {n}</b> &middot; {row.get('why', '')} &middot; margin {float(row['margin']):.2f}</p>"
            f"<p><code>{Path(row['source']).name}</code><br>model: <b>{row['predicted']}</b>{truth}</p>"
            f"<table>{bars}</table>"
        )

    def _ipython_display_(self) -> None:  # pragma: no cover - needs IPython
        from IPython.display import display

        display(self.widget)


# ============================================================================ merge
def _split_hashes(tables: dict[str, pd.DataFrame], progress: bool = False) -> tuple[dict[str, str], int]:
    from tqdm.auto import tqdm

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


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False)


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
    from . import data

    base = Path(split_dir).expanduser()
    fdir = Path(feedback_dir).expanduser()
    if not (base / "classes.json").is_file():
        raise FeedbackError(f"{base} is not a split folder (no classes.json)")
    if not fdir.is_dir():
        raise FeedbackError(f"feedback folder not found: {fdir}")
    tables, classes = data.load_split(base)
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
            rel = Path(FEEDBACK_SUBDIR) / d["label"] / f"{d['sha256'][:HASH_CHARS]}{_image_ext(src)}"
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
        _write_csv(train_new, tmp / "train.csv")
        for s in ("val", "test"):
            if (base / f"{s}.csv").is_file():
                if base.parent.resolve() == out.parent.resolve():
                    shutil.copyfile(base / f"{s}.csv", tmp / f"{s}.csv")  # same depth: byte-identical
                else:
                    _write_csv(_rebased(_raw_csv(base / f"{s}.csv"), base, out), tmp / f"{s}.csv")
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
    new_tables, _ = data.load_split(out)
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


# ============================================================================ the notebook's round
def round_dir(cfg: Any, ckpt: str | Path) -> Path:
    """Working folder of notebook 06's simulated feedback round for ``cfg`` and the checkpoint's bytes."""
    from . import paths

    return paths.runs_dir() / "06_sorting_feedback" / f"round-{cfg.profile}-{sha256_file(ckpt)[:8]}"


def new_synthetic_batch(cfg: Any, out_dir: str | Path, n: int | None = None, *, seed_offset: int = 1000,
                        add_broken: bool = True, progress: bool = True) -> tuple[Path, pd.DataFrame]:
    """``n`` fresh synthetic images (another seed than the training set) copied flat into ``out_dir/inbox``
    with neutral names, as new photos would arrive; returns ``(inbox, truth)`` where ``truth`` maps
    each inbox file (``source``) to its true ``label`` (also written to ``out_dir/truth.csv``).
    ``add_broken`` also drops a text file named ``broken_upload.jpg`` in the inbox, as real inboxes
    have them (sorting must list it in ``rejected.csv``)."""
    from dataclasses import replace

    from . import synth

    n = int(n if n is not None else cfg.sort.n_new)
    if n < 1:
        raise FeedbackError(f"n_new must be at least 1, got {n}")
    out = Path(out_dir)
    gen = out / "generated"
    scfg = replace(cfg.synth, seed=int(cfg.synth.seed) + int(seed_offset), n_per_class=max(1, math.ceil(n / 3)))
    if (gen / "metadata.csv").is_file():
        meta = pd.read_csv(gen / "metadata.csv")
    else:
        meta = synth.generate_dataset(scfg, gen, overwrite=gen.exists(), progress=progress)
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
        rows.append({"source": str(dest.resolve()), "label": str(r["label"]), "generated": str(src)})
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
    """Summary metrics (accuracy, balanced accuracy, macro-F1, AUROC, ECE, log-loss) of a checkpoint on one split."""
    from . import data, metrics
    from .infer import Predictor

    tables, _classes = data.load_split(split_dir)
    table = tables[split]
    pred = Predictor.from_checkpoint(ckpt, backend="torch")
    probs, _errors = pred.predict_paths(list(table["path"]), batch_size=batch, progress=progress)
    y = metrics.labels_to_index(list(table["label"]), pred.classes, unknown="minus_one")
    out = metrics.summary_metrics(y, probs, pred.classes)
    out["n"] = int(len(table))
    return out


def retrain(cfg: Any, split_dir: str | Path, name: str, *, progress: bool = True) -> Path:
    """Train ``cfg`` on ``split_dir`` into ``runs/<name>`` (kept when its ``best.pt`` exists; resumed after a crash)."""
    from . import pipeline, train

    run = pipeline.run_dir(cfg, name)
    if (run / "best.pt").is_file():
        return run
    train.fit(cfg, split_dir, run, resume=(run / "last.pt").is_file(), progress=progress)
    return run


# ============================================================================ plots
def plot_before_after(before: dict[str, float], after: dict[str, float],
                      keys: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1"), ax: Any = None,
                      title: str | None = None) -> Any:
    """Grouped bars of test metrics before and after the feedback round."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
    else:
        fig = ax.figure
    x = np.arange(len(keys))
    b = ax.bar(x - 0.2, [before.get(k, np.nan) for k in keys], 0.4, label="before", color="#8c8c8c")
    a = ax.bar(x + 0.2, [after.get(k, np.nan) for k in keys], 0.4, label="after feedback", color="#4c72b0")
    ax.bar_label(b, fmt="%.2f", fontsize=8)
    ax.bar_label(a, fmt="%.2f", fontsize=8)
    ax.set_xticks(x, [k.replace("_", " ") for k in keys])
    ax.set_ylim(0, 1.2)
    ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    ax.set_title(title or "Untouched test split: before vs after the feedback round", fontsize=10)
    fig.tight_layout()
    return fig


def plot_queue(queue: pd.DataFrame, n: int = 8, size: int = 96, ax: Any = None, title: str | None = None) -> Any:
    """The first ``n`` images of a review queue with the model's guess, top probability and (if known) the truth."""
    import matplotlib.pyplot as plt

    q = queue.head(n)
    cols = max(1, min(len(q), 8))
    rows = max(1, math.ceil(len(q) / cols))
    if ax is None:
        fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
        axes = list(axes.ravel())
    else:
        fig, axes = ax.figure, [ax]
    for i, a in enumerate(axes):
        a.axis("off")
        if i >= len(q) or (ax is not None and i > 0):
            continue
        r = q.iloc[i]
        try:
            img = read_image(r.get("image", r["source"]))
        except ImageReadError:
            continue
        a.imshow(img)
        truth = f"\ntrue {r['label']}" if r.get("label") else ""
        a.set_title(f"{r['predicted']} {r['top_prob']:.2f}{truth}", fontsize=7,
                    color="#c44e52" if r.get("mistake") else "black")
    fig.suptitle(title or f"Review queue (first {len(q)} of {len(queue)}, most informative first)", fontsize=9)
    fig.tight_layout()
    return fig


# ============================================================================ CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["merge", "file"],
                        help="merge: feedback into a new training split version; file: file one reviewed image")
    parser.add_argument("image", nargs="?", help="(file) the image to file")
    parser.add_argument("--split", default=None, help="(merge) split folder (default: the configured dataset's split)")
    parser.add_argument("--feedback", default=None, help="feedback folder of <class>/ sub-folders (default: --feedback-dir)")
    parser.add_argument("--out", default=None, help="(merge) new split folder (default: <split>-v2, or the next free version)")
    parser.add_argument("--label", default=None, help="(file) the reviewer's label")
    parser.add_argument("--guess", default=None, help="(file) the model's guess, for the provenance record")
    parser.add_argument("--reviewer", default="reviewer", help="(file) who reviewed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    from . import paths, pipeline

    fdir = Path(args.feedback).expanduser() if args.feedback else paths.resolve_path(cfg.sort.feedback_dir)
    if args.action == "file":
        if not args.image or not args.label:
            raise FeedbackError("feedback file needs an IMAGE and --label CLASS")
        dest = file_image(Path(args.image).expanduser(), args.label, fdir, source=str(Path(args.image).resolve()),
                          model_guess=args.guess, probs=None, reviewer=args.reviewer)
        print(f"filed {args.image} as {args.label}: {dest}")
        return 0
    split = Path(args.split).expanduser() if args.split else pipeline.split_dir(cfg)
    rep = merge_feedback(split, fdir, Path(args.out).expanduser() if args.out else None, progress=not args.quiet)
    if rep["out_dir"] is None:
        print(f"{rep['message']} ({rep['n_feedback_files']} feedback files, dropped: {rep['dropped_reasons'] or 'none'})")
        return 0
    verb = "already merged as" if rep.get("reused") else "wrote"
    print(f"{verb} {rep['out_dir']}: +{rep['added']} training images {rep['added_per_class']}; "
          f"dropped {rep['dropped']} {rep['dropped_reasons'] or ''}; val/test unchanged; {split} kept as it was")
    return 0
