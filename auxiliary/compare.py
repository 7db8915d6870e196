"""Comparing trained models side by side: one tidy table, error galleries, Grad-CAM (notebook 05).

``python -m auxiliary compare --runs runs/A runs/B ... --data SPLIT.csv --out DIR``

The comparison is ONE long pandas DataFrame with a four-level MultiIndex and a ``value``
column::

    model            split  group                   metric             value
    resnet18 (04)    test   all                     balanced_accuracy  0.93
    resnet18 (04)    test   class:acne              recall             0.97
    resnet18 (04)    test   tone_group:dark         macro_f1           0.88
    resnet18 (04)    test   gap:tone_group          balanced_accuracy  0.06
    resnet18 (04)    test   all                     onnx_ms_per_image_b1  1.9

* ``group="all"``: :func:`auxiliary.metrics.summary_metrics` (accuracy, balanced_accuracy,
  macro_f1, macro_auroc, ece, log_loss), ``n_images``, ``n_unreadable``, ``temperature``, the
  model size (``parameters``, ``checkpoint_mb``, ``onnx_mb``; MB = 10^6 bytes) and speed
  (``torch_ms_per_image_b1``, ``torch_images_per_s_b32``, ``onnx_ms_per_image_b1``,
  ``onnx_images_per_s_b32``: median of ``cfg.eval.speed_repeats`` timed repeats after a
  warm-up, same thread count for both backends).
* ``group="class:<name>"``: :func:`auxiliary.metrics.per_class_metrics` (precision, recall,
  f1, support, auroc, average_precision).
* ``group="<fairness_col>:<g>"`` (``tone_group:dark``...): :func:`auxiliary.fairness.group_metrics`
  (support, flagged_small as 0/1, accuracy, balanced_accuracy, macro_f1, macro_auroc, ece, log_loss).
* ``group="gap:<fairness_col>"``, ``"ratio:..."``, ``"min:..."``, ``"max:..."``:
  :func:`auxiliary.fairness.gaps` across the groups that are not flagged as too small
  (the worst group of each metric is in :attr:`Comparison.worst_groups`).

With ``cfg.eval.tta`` each model also appears as ``"<model>+tta"`` (flip test-time augmentation:
all metrics and size rows; no speed rows, TTA costs four forward passes). Slice it with
``table.xs("all", level="group")``, ``table.loc[pd.IndexSlice[:, :, "all", "balanced_accuracy"], :]``,
``table["value"].unstack("metric")`` or ``table.groupby(level="model")``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import AuxiliaryError

LEVELS = ("model", "split", "group", "metric")
SIZE_METRICS = ("parameters", "checkpoint_mb", "onnx_mb")
SPEED_METRICS = ("torch_ms_per_image_b1", "torch_images_per_s_b32", "onnx_ms_per_image_b1", "onnx_images_per_s_b32")
GAP_STATS = ("gap", "ratio", "min", "max")


class CompareError(AuxiliaryError, ValueError):
    """Bad runs or data given to the comparison (missing checkpoint, labels the models do not know...)."""


# ----------------------------------------------------------------------------- runs and data
def safe_name(text: str) -> str:
    """A file-name-safe version of a label (``resnet18 (04)`` -> ``resnet18_04``)."""
    s = re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).strip("._")
    return s or "model"


def _ckpt_of(run: str | Path) -> Path:
    p = Path(run)
    ckpt = p if p.is_file() else p / "best.pt"
    if not ckpt.is_file():
        raise CompareError(f"no checkpoint in {p} (expected {ckpt}); train it first or pass a runs/NAME folder")
    return ckpt


def run_labels(runs: Sequence[str | Path]) -> dict[str, Path]:
    """Label each run folder by its name (by its parent/name when two share a name)."""
    ckpts = [_ckpt_of(r) for r in runs]
    names = [c.parent.name for c in ckpts]
    out: dict[str, Path] = {}
    for ckpt, name in zip(ckpts, names):
        label = name if names.count(name) == 1 else f"{ckpt.parent.parent.name}/{name}"
        out[label] = ckpt.parent
    return out


def find_runs(cfg: Any, train_missing: bool = True, progress: bool = True) -> dict[str, Path]:
    """The models of notebooks 03 and 04 for ``cfg.profile``: label -> run folder.

    Notebook 03's runs are those of its latest recorded selection (``select.latest_runs``, under
    ``runs/select-<profile>/``, labelled ``"<model> (03)"``);
    notebook 04's run is :func:`auxiliary.pipeline.run_dir` for the selected model
    (``"<model> (04)"``), trained here with :func:`auxiliary.pipeline.ensure_trained` when missing.
    """
    from . import config as config_mod
    from . import paths, pipeline, select

    runs: dict[str, Path] = {}
    # Only the runs of the latest recorded selection: runs/select-<profile>/ may also hold runs
    # made with earlier settings.
    for name, run in sorted(select.latest_runs(cfg).items()):
        runs[f"{name} (03)"] = run
    model = pipeline.selected_model(cfg)
    cfg04 = config_mod.apply_overrides(cfg, {"train.model": model}) if model != cfg.train.model else cfg
    run04 = pipeline.run_dir(cfg04)
    if not (run04 / "best.pt").is_file() and train_missing:
        run04 = pipeline.ensure_trained(cfg04, progress=progress)
    if (run04 / "best.pt").is_file():
        runs[f"{model} (04)"] = run04
    if not runs:
        raise CompareError(f"no trained model found under {paths.runs_dir()} for profile {cfg.profile}")
    return runs


def onnx_path_for(run: str | Path, onnx_dir: str | Path | None = None) -> Path:
    """``models/<run>.onnx`` for a run folder (``runs/select-demo/resnet18`` -> ``select-demo-resnet18.onnx``)."""
    from . import paths

    ckpt = _ckpt_of(run)
    try:
        stem = "-".join(ckpt.parent.resolve().relative_to(paths.runs_dir().resolve()).parts)
    except ValueError:
        stem = ckpt.parent.name
    return Path(onnx_dir or paths.models_dir()) / f"{safe_name(stem)}.onnx"


def load_table(data: str | Path, split: str | None = None) -> tuple[pd.DataFrame, str]:
    """The sample table to evaluate on and the split's name.

    ``data``: a split CSV (``.../test.csv``), or a split folder (then ``split``, default test).
    """
    from . import data as data_mod

    p = Path(data)
    if p.is_dir():
        name = split or "test"
        csv = p / f"{name}.csv"
        if not csv.is_file():
            raise CompareError(f"{p} has no {name}.csv (a split folder has train/val/test.csv)")
    else:
        csv = p
        name = split or p.stem
    table = data_mod.read_table(csv)
    if len(table) == 0:
        raise CompareError(f"{csv} lists no images")
    return table.reset_index(drop=True), name


# ----------------------------------------------------------------------------- rows
def _row(rows: list[dict[str, Any]], model: str, split: str, group: str, metric: str, value: Any) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    rows.append({"model": model, "split": split, "group": group, "metric": metric, "value": v})


def metric_rows(
    model: str,
    split: str,
    y: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    groups: Sequence[Any] | None,
    fairness_col: str,
    min_group_size: int,
    n_bins: int = 15,
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Tidy rows of summary, per-class, per-group and gap metrics; plus the gaps' worst groups."""
    from . import fairness, metrics

    rows: list[dict[str, Any]] = []
    keep = np.all(np.isfinite(probs), axis=1)
    _row(rows, model, split, "all", "n_images", int(keep.sum()))
    _row(rows, model, split, "all", "n_unreadable", int((~keep).sum()))
    for k, v in metrics.summary_metrics(y[keep], probs[keep], classes, n_bins=n_bins).items():
        _row(rows, model, split, "all", k, v)
    per = metrics.per_class_metrics(y[keep], probs[keep], classes)
    for cls, r in per.iterrows():
        for k, v in r.items():
            _row(rows, model, split, f"class:{cls}", str(k), v)
    worst = pd.DataFrame(columns=["model", "split", "metric", "worst_group", "best_group", "excluded"])
    if groups is not None:
        g = np.asarray(pd.Series(list(groups), dtype="object"), dtype=object)[keep]
        gm = fairness.group_metrics(y[keep], probs[keep], classes, g, min_group_size=min_group_size, n_bins=n_bins)
        for grp, r in gm.iterrows():
            for k, v in r.items():
                _row(rows, model, split, f"{fairness_col}:{grp}", str(k), float(v))
        gp = fairness.gaps(gm)
        for metric, r in gp.iterrows():
            for stat in GAP_STATS:
                _row(rows, model, split, f"{stat}:{fairness_col}", str(metric), r[stat])
        worst = pd.DataFrame(
            {
                "model": model,
                "split": split,
                "metric": gp.index.astype(str),
                "worst_group": gp["worst_group"].to_numpy(),
                "best_group": gp["best_group"].to_numpy(),
                "excluded": gp["excluded"].to_numpy(),
            }
        )
    return rows, worst


def size_rows(model_label: str, split: str, model: Any, ckpt: Path, onnx_path: Path | None) -> list[dict[str, Any]]:
    """Parameters and MB on disk (10^6 bytes) of the checkpoint and the ONNX file."""
    from .models import count_parameters

    rows: list[dict[str, Any]] = []
    _row(rows, model_label, split, "all", "parameters", count_parameters(model))
    _row(rows, model_label, split, "all", "checkpoint_mb", ckpt.stat().st_size / 1e6)
    _row(rows, model_label, split, "all", "onnx_mb", onnx_path.stat().st_size / 1e6 if onnx_path else math.nan)
    return rows


def speed_rows(
    model_label: str, split: str, model: Any, sess: Any, img_size: int, repeats: int
) -> list[dict[str, Any]]:
    """ms/image at batch 1 and images/s at batch 32, PyTorch eager and ONNX Runtime (median of repeats)."""
    from . import export

    rows: list[dict[str, Any]] = []
    backends = [("torch", export.torch_logits_fn(model))]
    if sess is not None:
        backends.append(("onnx", export.onnx_logits_fn(sess)))
    for name, fn in backends:
        b1 = export.speed(fn, img_size, 1, repeats=repeats)
        b32 = export.speed(fn, img_size, 32, repeats=repeats)
        _row(rows, model_label, split, "all", f"{name}_ms_per_image_b1", b1["ms_per_image"])
        _row(rows, model_label, split, "all", f"{name}_images_per_s_b32", b32["images_per_s"])
    if sess is None:
        _row(rows, model_label, split, "all", "onnx_ms_per_image_b1", math.nan)
        _row(rows, model_label, split, "all", "onnx_images_per_s_b32", math.nan)
    return rows


def predict_plain_and_tta(
    predictor: Any, paths_: Sequence[str], tta: bool = False, batch_size: int = 32, progress: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Calibrated probabilities without and (if ``tta``) with flip TTA, reading each image once.

    Same numbers as ``predictor.predict_paths(paths, tta=False/True)``; unreadable images get NaN rows.
    """
    from tqdm.auto import tqdm

    from .calibration import softmax
    from .imageio import ImageReadError, read_image
    from .infer import batched, preprocess, tta_views

    n, c = len(paths_), len(predictor.classes)
    plain = np.full((n, c), np.nan)
    flipped = np.full((n, c), np.nan) if tta else None
    bar = tqdm(total=n, desc=f"predict {predictor.name}", unit="img", disable=not progress)
    for chunk in batched(range(n), batch_size):
        ok, arrays = [], []
        for i in chunk:
            try:
                arrays.append(preprocess(read_image(paths_[i]), predictor.img_size, predictor.mean, predictor.std))
                ok.append(i)
            except ImageReadError:
                pass
        if arrays:
            batch = np.stack(arrays)
            views = tta_views(batch) if tta else [batch]
            probs = [softmax(predictor.logits(np.ascontiguousarray(v)), predictor.temperature) for v in views]
            plain[ok] = probs[0]
            if tta:
                flipped[ok] = np.mean(probs, axis=0)
        bar.update(len(chunk))
    bar.close()
    return plain, flipped


def to_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy rows -> the comparison DataFrame (MultiIndex model, split, group, metric; column value), sorted."""
    df = pd.DataFrame(list(rows), columns=[*LEVELS, "value"])
    df["value"] = df["value"].astype(float)
    return df.set_index(list(LEVELS)).sort_index()


def prediction_table(
    table: pd.DataFrame, probs: np.ndarray, classes: Sequence[str], fairness_col: str | None = None
) -> pd.DataFrame:
    """One row per image: path, label, group column, pred, conf (top probability), correct, prob_<class>..."""
    out = pd.DataFrame({"path": table["path"].astype(str).to_numpy(), "label": table["label"].astype(str).to_numpy()})
    if fairness_col and fairness_col in table.columns:
        out[fairness_col] = table[fairness_col].to_numpy()
    ok = np.all(np.isfinite(probs), axis=1)
    idx = np.where(ok, np.nan_to_num(probs, nan=-1.0).argmax(axis=1), -1)
    out["pred"] = [classes[i] if i >= 0 else "" for i in idx]
    out["conf"] = np.where(ok, np.nan_to_num(probs, nan=0.0).max(axis=1), np.nan)
    out["correct"] = ok & (out["pred"] == out["label"]).to_numpy()
    for k, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, k]
    return out


# ----------------------------------------------------------------------------- the comparison
@dataclass
class Comparison:
    """Result of :func:`compare_runs`: the tidy ``table`` plus what the galleries need."""

    table: pd.DataFrame
    predictions: dict[str, pd.DataFrame]
    runs: dict[str, dict[str, Any]]
    worst_groups: pd.DataFrame
    split: str
    fairness_col: str
    conf: float = 0.6
    _models: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def models(self) -> list[str]:
        return list(self.table.index.get_level_values("model").unique())

    def wide(self, group: str = "all") -> pd.DataFrame:
        """model x metric for one group (e.g. ``"all"``, ``"class:acne"``, ``"gap:tone_group"``)."""
        return self.table.xs(group, level="group")["value"].unstack("metric").droplevel("split")

    def best_model(self, metric: str = "balanced_accuracy") -> str:
        """The model (not a +tta variant) with the highest ``metric`` on the whole split."""
        s = self.wide()[metric].drop([m for m in self.models if m.endswith("+tta")], errors="ignore")
        if s.dropna().empty:
            return self.models[0]
        return str(s.astype(float).idxmax())

    def key_results(self, metrics: Sequence[str] = ("balanced_accuracy", "macro_f1", "macro_auroc", "ece")) -> dict:
        """The headline numbers per model (for ``notebook.finish`` and reports)."""
        wide = self.wide()
        gaps = self.wide(f"gap:{self.fairness_col}") if any(
            g == f"gap:{self.fairness_col}" for g in self.table.index.get_level_values("group")) else None
        out: dict[str, Any] = {}
        for m in wide.index:
            row = {k: float(wide.loc[m, k]) for k in (*metrics, *SIZE_METRICS, *SPEED_METRICS, "n_images")
                   if k in wide.columns and pd.notna(wide.loc[m, k])}
            if gaps is not None and m in gaps.index:
                row.update({f"{k}_gap": float(gaps.loc[m, k]) for k in metrics if k in gaps.columns
                            and pd.notna(gaps.loc[m, k])})
            out[str(m)] = row
        return out

    def torch_model(self, label: str) -> tuple[Any, dict[str, Any]]:
        """The PyTorch model (and checkpoint info) of a compared run (for Grad-CAM)."""
        from .models import load_checkpoint

        base = label[: -len("+tta")] if label.endswith("+tta") else label
        if base not in self._models:
            if base not in self.runs:
                raise CompareError(f"no model {label!r} in this comparison (models: {', '.join(self.runs)})")
            self._models[base] = load_checkpoint(self.runs[base]["ckpt"])
        return self._models[base]

    def save(self, out_dir: str | Path, overwrite: bool = False) -> dict[str, Path]:
        """Write ``comparison.csv`` (tidy), ``comparison.json`` (rows + runs + worst groups) and
        ``predictions/<model>.csv``; refuses to replace an existing comparison unless ``overwrite``."""
        out = Path(out_dir)
        csv = out / "comparison.csv"
        if csv.exists() and not overwrite:
            raise CompareError(f"{csv} exists; pass --overwrite (overwrite=True) to replace it")
        (out / "predictions").mkdir(parents=True, exist_ok=True)
        flat = self.table.reset_index()
        _atomic_text(csv, flat.to_csv(index=False))
        payload = {
            "levels": list(LEVELS),
            "split": self.split,
            "fairness_col": self.fairness_col,
            "conf": self.conf,
            "runs": {k: {kk: str(vv) if isinstance(vv, Path) else vv for kk, vv in v.items()} for k, v in self.runs.items()},
            "worst_groups": json.loads(self.worst_groups.to_json(orient="records")),
            "rows": json.loads(flat.to_json(orient="records")),
        }
        js = out / "comparison.json"
        _atomic_text(js, json.dumps(payload, indent=1))
        written = {"csv": csv, "json": js}
        for label, pred in self.predictions.items():
            p = out / "predictions" / f"{safe_name(label)}.csv"
            _atomic_text(p, pred.to_csv(index=False))
            written[f"predictions:{label}"] = p
        return written


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def load_comparison(path: str | Path) -> pd.DataFrame:
    """Read a saved ``comparison.csv`` back into the MultiIndex DataFrame."""
    df = pd.read_csv(path, dtype={"model": str, "split": str, "group": str, "metric": str})
    return df.set_index(list(LEVELS)).sort_index()


def compare_runs(
    runs: Mapping[str, str | Path] | Sequence[str | Path],
    data: str | Path,
    cfg: Any,
    *,
    split: str | None = None,
    onnx_dir: str | Path | None = None,
    export_onnx: bool = True,
    measure_speed: bool = True,
    tta: bool | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Comparison:
    """Evaluate every run on ``data`` and build the tidy comparison table (see the module docstring).

    ``runs``: label -> run folder (or a list of run folders, labelled by name). Each checkpoint
    is exported to ``onnx_dir/<run>.onnx`` (default ``models/``) with a parity check, unless
    ``export_onnx=False``. ``tta`` defaults to ``cfg.eval.tta``.
    """
    from . import export, paths
    from .infer import Predictor
    from .metrics import labels_to_index

    labelled = dict(runs) if isinstance(runs, Mapping) else run_labels(runs)
    if not labelled:
        raise CompareError("no runs to compare")
    table, split_name = load_table(data, split)
    ev = cfg.eval
    tta = ev.tta if tta is None else bool(tta)
    fcol = ev.fairness_col
    groups = None
    if fcol in table.columns:
        groups = table[fcol].astype(object).where(table[fcol].notna(), "unknown").astype(str).tolist()
    else:
        warnings.warn(f"no column {fcol!r} in {data}: fairness rows left out", stacklevel=2)
    onnx_root = Path(onnx_dir) if onnx_dir else paths.models_dir()
    rows: list[dict[str, Any]] = []
    worst_parts: list[pd.DataFrame] = []
    preds: dict[str, pd.DataFrame] = {}
    infos: dict[str, dict[str, Any]] = {}
    models_cache: dict[str, Any] = {}
    for label, run in labelled.items():
        ckpt = _ckpt_of(run)
        predictor = Predictor.from_checkpoint(ckpt, backend="torch")
        classes = predictor.classes
        try:
            y = labels_to_index(table["label"].astype(str).tolist(), classes)
        except AuxiliaryError as exc:
            raise CompareError(f"{label}: {exc}") from None
        onnx_path, sess = None, None
        if export_onnx:
            res = export.export_onnx(ckpt, onnx_path_for(ckpt, onnx_root), overwrite=overwrite)
            onnx_path = res.path
            sess = export.session(onnx_path)
        infos[label] = {
            "run": str(Path(run)),
            "ckpt": str(ckpt),
            "onnx": str(onnx_path) if onnx_path else None,
            "model_name": predictor.name,
            "classes": list(classes),
            "img_size": predictor.img_size,
            "mean": list(predictor.mean),
            "std": list(predictor.std),
            "temperature": predictor.temperature,
        }
        models_cache[label] = (predictor.model, predictor.info)
        plain, flipped = predict_plain_and_tta(predictor, list(table["path"]), tta=tta, progress=progress)
        variants = [(label, plain)] + ([(f"{label}+tta", flipped)] if tta else [])
        for name, probs in variants:
            r, worst = metric_rows(name, split_name, y, probs, classes, groups, fcol, ev.min_group_size, ev.ece_bins)
            rows += r
            _row(rows, name, split_name, "all", "temperature", predictor.temperature)
            worst_parts.append(worst)
            rows += size_rows(name, split_name, predictor.model, ckpt, onnx_path)
            preds[name] = prediction_table(table, probs, classes, fcol)
        if measure_speed:
            rows += speed_rows(label, split_name, predictor.model, sess, predictor.img_size, ev.speed_repeats)
    worst_all = pd.concat([w for w in worst_parts if len(w)], ignore_index=True) if any(len(w) for w in worst_parts) \
        else pd.DataFrame(columns=["model", "split", "metric", "worst_group", "best_group", "excluded"])
    return Comparison(
        table=to_frame(rows), predictions=preds, runs=infos, worst_groups=worst_all, split=split_name,
        fairness_col=fcol, conf=float(cfg.sort.conf), _models=models_cache,
    )


# ----------------------------------------------------------------------------- error analysis
def _per_class_top(df: pd.DataFrame, n: int, ascending: bool, by: str = "label") -> pd.DataFrame:
    if df.empty:
        return df
    df = df.sort_values("conf", ascending=ascending, kind="stable")
    return df.groupby(by, sort=True, group_keys=False).head(n)


def most_confident_mistakes(pred: pd.DataFrame, n: int = 8, per_class: bool = True) -> pd.DataFrame:
    """Wrong predictions with the highest confidence (``n`` per true class, or ``n`` overall)."""
    wrong = pred[(~pred["correct"]) & pred["conf"].notna()]
    if per_class:
        return _per_class_top(wrong, n, ascending=False)
    return wrong.sort_values("conf", ascending=False, kind="stable").head(n)


def low_confidence(pred: pd.DataFrame, conf: float = 0.6, n: int = 8, per_class: bool = True) -> pd.DataFrame:
    """The ``low_confidence`` band: top probability below ``conf`` (the sorting threshold),
    least confident first (``n`` per true class, or ``n`` overall)."""
    band = pred[pred["conf"] < conf]
    if per_class:
        return _per_class_top(band, n, ascending=True)
    return band.sort_values("conf", ascending=True, kind="stable").head(n)


def plot_gallery(
    rows: pd.DataFrame,
    title: str | None = None,
    n_cols: int | None = None,
    gradcam: tuple[Any, int, Sequence[float], Sequence[float]] | None = None,
    per_class: bool = True,
    ax: Any = None,
) -> Any:
    """Images of a prediction table (e.g. :func:`most_confident_mistakes`), captioned
    ``true -> predicted (p)``; one line per true class when ``per_class``. With
    ``gradcam=(model, img_size, mean, std)`` each image is shown beside the Grad-CAM
    of its predicted class. Returns the figure."""
    from . import explain
    from .imageio import ImageReadError, read_image

    items: list[tuple[np.ndarray | None, str, str]] = []
    if per_class and len(rows):
        width = int(rows.groupby("label").size().max())
        for _cls, grp in rows.groupby("label", sort=True):
            for _, r in grp.iterrows():
                items.append((None, str(r["path"]), f"{r['label']} -> {r['pred']} ({r['conf']:.2f})"))
            items += [(np.full((8, 8, 3), 255, np.uint8), "", "")] * (width - len(grp))
        n_cols = width
    else:
        for _, r in rows.iterrows():
            items.append((None, str(r["path"]), f"{r['label']} -> {r['pred']} ({r['conf']:.2f})"))
    images, titles, todo = [], [], []
    for arr, path, cap in items:
        if arr is None:
            try:
                arr = read_image(path)
                todo.append(len(images))
            except ImageReadError:
                arr, cap = np.full((8, 8, 3), 200, np.uint8), f"unreadable: {Path(path).name}"
        images.append(arr)
        titles.append(cap)
    if gradcam is not None and todo:
        model, img_size, mean, std = gradcam  # Grad-CAM of each image's predicted class
        cams = explain.gradcam_batch(model, [images[i] for i in todo], img_size, mean, std)
        for i, cam in zip(todo, cams):
            im = images[i]
            sep = np.full((im.shape[0], max(2, im.shape[1] // 40), 3), 255, np.uint8)
            images[i] = np.concatenate([im, sep, explain.overlay(im, cam)], axis=1)
        for i in range(len(images)):
            if i not in todo:  # keep blank padding tiles the same width as image pairs
                im = images[i]
                images[i] = np.concatenate([im, im], axis=1)
    return explain.montage(images, titles, n_cols=n_cols or 4, tile_h=120, ax=ax, title=title)


def plot_error_gallery(
    cmp: Comparison,
    model: str | None = None,
    kind: str = "mistakes",
    n: int | None = None,
    gradcam: bool = True,
    ax: Any = None,
    gallery_size: int = 8,
) -> Any:
    """Gallery of ``kind`` = ``"mistakes"`` (most confident) or ``"low_confidence"`` (top p < cmp.conf)
    for one model (default: the best), per true class, with Grad-CAM beside each image."""
    model = model or cmp.best_model()
    if model not in cmp.predictions:
        raise CompareError(f"no predictions for {model!r} (models: {', '.join(cmp.predictions)})")
    pred = cmp.predictions[model]
    n_classes = max(1, pred["label"].nunique())
    n = n or max(2, math.ceil(gallery_size / n_classes))
    if kind == "mistakes":
        rows = most_confident_mistakes(pred, n=n)
        title = f"{model}: most confident mistakes per true class (true -> predicted (p))"
    elif kind in ("low_confidence", "low"):
        rows = low_confidence(pred, conf=cmp.conf, n=n)
        title = f"{model}: low-confidence band (top p < {cmp.conf:g}) per true class"
    else:
        raise CompareError(f"unknown gallery kind {kind!r} (mistakes or low_confidence)")
    cam = None
    if gradcam and len(rows):
        torch_model, info = cmp.torch_model(model)
        cam = (torch_model, info["img_size"], info["mean"], info["std"])
    if rows.empty:
        title += ": none"
    return plot_gallery(rows, title=title, gradcam=cam, ax=ax)


def sample_rows(pred: pd.DataFrame, n: int = 8, seed: int = 0) -> pd.DataFrame:
    """``n`` images spread over the true classes (round robin), reproducibly."""
    per = max(1, math.ceil(n / max(1, pred["label"].nunique())))
    shuffled = pred.sample(frac=1.0, random_state=seed)
    return shuffled.groupby("label", sort=True).head(per).sort_values("label", kind="stable").head(n)


def plot_gradcam_comparison(cmp: Comparison, n: int = 4, models: Sequence[str] | None = None, ax: Any = None) -> Any:
    """The same ``n`` test images explained by every model (one line per model), Grad-CAM of
    each model's predicted class; returns the figure."""
    from . import explain
    from .imageio import read_image

    models = [m for m in (models or cmp.models) if not m.endswith("+tta")]
    base = cmp.predictions[models[0]]
    picked = sample_rows(base, n)
    images = [read_image(p) for p in picked["path"]]
    tiles, titles = [], []
    for m in models:
        torch_model, info = cmp.torch_model(m)
        cams = explain.gradcam_batch(torch_model, images, info["img_size"], info["mean"], info["std"])
        pred = cmp.predictions[m].set_index("path").loc[picked["path"]]
        for im, cam, (_, r) in zip(images, cams, pred.iterrows()):
            tiles.append(explain.overlay(im, cam))
            titles.append(f"{m}\n{r['pred']} {r['conf']:.2f} (true {r['label']})")
    return explain.montage(tiles, titles, n_cols=len(images), tile_h=150, ax=ax,
                           title="Grad-CAM of the predicted class, same images for every model")


# ----------------------------------------------------------------------------- charts
def _ax(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_tradeoff(
    table: pd.DataFrame,
    metric: str = "balanced_accuracy",
    speed: str = "torch_ms_per_image_b1",
    size: str = "parameters",
    ax: Any = None,
) -> Any:
    """Seaborn scatter: speed (x) vs ``metric`` (y), marker size = ``size``; one point per model
    (``+tta`` variants have no speed rows and are left out)."""
    import seaborn as sns

    wide = table.xs("all", level="group")["value"].unstack("metric").reset_index()
    wide = wide[~wide["model"].str.endswith("+tta")]
    fig, ax = _ax(ax, (6.5, 4.5))
    if size == "parameters" and size in wide.columns:
        wide["parameters (M)"] = wide[size] / 1e6
        size = "parameters (M)"
    sns.scatterplot(data=wide, x=speed, y=metric, hue="model", size=size if size in wide.columns else None,
                    sizes=(60, 400), ax=ax, legend="brief")
    for _, r in wide.iterrows():
        if np.isfinite(r.get(speed, np.nan)) and np.isfinite(r.get(metric, np.nan)):
            ax.annotate(str(r["model"]), (r[speed], r[metric]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_title(f"{metric} vs speed (marker size: {size})", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def _drop_tta(df: pd.DataFrame, include_tta: bool) -> pd.DataFrame:
    return df if include_tta else df[~df["model"].str.endswith("+tta")]


def plot_per_class(table: pd.DataFrame, metric: str = "recall", include_tta: bool = False, ax: Any = None) -> Any:
    """Seaborn bars of a per-class metric (default recall), one bar per model within each class."""
    import seaborn as sns

    df = _drop_tta(table.reset_index(), include_tta)
    df = df[df["group"].str.startswith("class:") & (df["metric"] == metric)].copy()
    df["class"] = df["group"].str.slice(len("class:"))
    fig, ax = _ax(ax, (7, 4))
    sns.barplot(data=df, x="class", y="value", hue="model", ax=ax)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"per-class {metric}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def plot_fairness(table: pd.DataFrame, metric: str = "balanced_accuracy", fairness_col: str = "tone_group",
                  include_tta: bool = False, ax: Any = None) -> Any:
    """Seaborn bars of ``metric`` per group of ``fairness_col`` (groups in tone order), one bar per model;
    groups flagged as too small are marked with ``*``."""
    import seaborn as sns

    from .fairness import group_order

    df = _drop_tta(table.reset_index(), include_tta)
    prefix = f"{fairness_col}:"
    sub = df[df["group"].str.startswith(prefix)].copy()
    sub["grp"] = sub["group"].str.slice(len(prefix))
    small = set(sub[(sub["metric"] == "flagged_small") & (sub["value"] > 0)]["grp"])
    sub = sub[sub["metric"] == metric]
    order = group_order(sub["grp"].unique())
    sub["grp"] = [f"{g}*" if g in small else g for g in sub["grp"]]
    order = [f"{g}*" if g in small else g for g in order]
    fig, ax = _ax(ax, (8, 4))
    sns.barplot(data=sub, x="grp", y="value", hue="model", order=order, ax=ax)
    ax.set_xlabel(fairness_col + ("  (* = fewer samples than min_group_size)" if small else ""))
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {fairness_col}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


def plot_gaps(table: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1", "ece"),
              fairness_col: str = "tone_group", stat: str = "gap", include_tta: bool = False, ax: Any = None) -> Any:
    """Seaborn bars of the fairness gap (max - min across groups) per metric, one bar per model."""
    import seaborn as sns

    df = _drop_tta(table.reset_index(), include_tta)
    sub = df[(df["group"] == f"{stat}:{fairness_col}") & df["metric"].isin(list(metrics))]
    fig, ax = _ax(ax, (7, 4))
    sns.barplot(data=sub, x="metric", y="value", hue="model", order=[m for m in metrics if m in set(sub["metric"])],
                ax=ax)
    ax.set_ylabel(f"{stat} across {fairness_col} groups")
    ax.set_title(f"fairness {stat} by {fairness_col} (small groups excluded)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return fig


# ----------------------------------------------------------------------------- CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", nargs="+", required=True, metavar="RUN",
                        help="run folders (runs/NAME with best.pt) or checkpoint files to compare")
    parser.add_argument("--data", required=True,
                        help="split CSV to evaluate on (e.g. data/splits/.../test.csv) or a split folder (uses test.csv)")
    parser.add_argument("--out", required=True, help="output folder for comparison.csv/json, predictions and galleries")
    parser.add_argument("--split", default=None, help="split name in the table (default: the CSV's name)")
    parser.add_argument("--onnx-dir", default=None, help="where ONNX exports go (default models/)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX export and its speed rows")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurements")
    parser.add_argument("--no-galleries", action="store_true", help="skip the error-gallery figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing comparison / ONNX files")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import paths

    runs = [paths.resolve_path(r) for r in args.runs]
    out = paths.resolve_path(args.out)
    if (out / "comparison.csv").exists() and not args.overwrite:
        raise CompareError(f"{out / 'comparison.csv'} exists; pass --overwrite to replace it")
    cmp = compare_runs(
        runs, paths.resolve_path(args.data), cfg, split=args.split,
        onnx_dir=paths.resolve_path(args.onnx_dir) if args.onnx_dir else None,
        export_onnx=not args.no_onnx, measure_speed=not args.no_speed, overwrite=args.overwrite,
    )
    written = cmp.save(out, overwrite=args.overwrite)
    if not args.no_galleries:
        for label in cmp.predictions:
            if label.endswith("+tta"):
                continue
            for kind in ("mistakes", "low_confidence"):
                fig = plot_error_gallery(cmp, label, kind, gallery_size=cfg.eval.gallery_size)
                fig.savefig(out / f"gallery_{kind}_{safe_name(label)}.png", dpi=120, bbox_inches="tight")
                plt.close(fig)
    cols = [c for c in ("balanced_accuracy", "macro_f1", "macro_auroc", "ece", "parameters",
                        "torch_ms_per_image_b1", "onnx_ms_per_image_b1") if c in cmp.wide().columns]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(cmp.wide()[cols].round(4).to_string())
    print(f"\nwrote {written['csv']} ({len(cmp.table)} rows), {written['json']} and predictions/ in {out}")
    return 0


__all__ = [
    "Comparison", "CompareError", "compare_runs", "find_runs", "load_comparison", "load_table", "metric_rows",
    "onnx_path_for",
    "most_confident_mistakes", "low_confidence", "plot_error_gallery", "plot_fairness", "plot_gallery", "plot_gaps",
    "plot_gradcam_comparison", "plot_per_class", "plot_tradeoff", "prediction_table", "to_frame",
]
