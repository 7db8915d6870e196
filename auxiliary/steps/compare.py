"""Notebook 05 and ``python -m auxiliary compare``: trained models evaluated side by side into one tidy table.

:func:`compare` is the one step both call: ``python -m auxiliary compare --runs runs/A runs/B ... --data SPLIT.csv
--out DIR`` and notebook 05 (``compare(cfg, runs, test_csv, out)``). It evaluates every run on the data, writes the
table, the predictions and the error galleries of each model under ``DIR`` (the figures are
:mod:`auxiliary.viz.plots_comparison`), and, for the ONNX rows, each run's export beside its checkpoint
(``runs/A/best.onnx``, reused while it matches the checkpoint) or under ``--onnx-dir``, never to a file shared by
runs. It returns a :class:`Comparison`, the table and what its figures need. What a model's rows are is its
checkpoint's task's (:meth:`auxiliary.tasks.task.Task.comparison_rows`): runs of different tasks are not compared
in one table (refused in one line).

The comparison is ONE long pandas DataFrame with a four-level MultiIndex and a ``value``
column::

    model            split  group                   metric             value
    resnet18 (04)    test   all                     balanced_accuracy  0.93
    resnet18 (04)    test   class:acne              recall             0.97
    resnet18 (04)    test   tone_group:dark         macro_f1           0.88
    resnet18 (04)    test   gap:tone_group          balanced_accuracy  0.06
    resnet18 (04)    test   all                     onnx_ms_per_image_b1  1.9

* ``group="all"``: :func:`auxiliary.evaluation.metrics.summary_metrics` (accuracy, balanced_accuracy,
  macro_f1, macro_auroc, ece, log_loss), ``n_images``, ``n_unreadable``, ``temperature``, the
  model size (``parameters``, ``checkpoint_mb``, ``onnx_mb``; MB = 10^6 bytes) and speed
  (``torch_ms_per_image_b1``, ``torch_images_per_s_b32``, ``onnx_ms_per_image_b1``,
  ``onnx_images_per_s_b32``: median of ``cfg.eval.speed_repeats`` timed repeats after a
  warm-up, same thread count for both backends; on the device of ``cfg.eval.device``, which
  :attr:`Comparison.runs` records per model as ``torch_device`` and ``onnx_device``).
* ``group="class:<name>"``: :func:`auxiliary.evaluation.metrics.per_class_metrics` (precision, recall,
  f1, support, auroc, average_precision).
* ``group="<fairness_col>:<g>"`` (``tone_group:dark``...): :func:`auxiliary.evaluation.fairness.group_metrics`
  (support, flagged_small as 0/1, accuracy, balanced_accuracy, macro_f1, macro_auroc, ece, log_loss).
* ``group="gap:<fairness_col>"``, ``"ratio:..."``, ``"min:..."``, ``"max:..."``:
  :func:`auxiliary.evaluation.fairness.gaps` across the groups that are not flagged as too small
  (the worst group of each metric is in :attr:`Comparison.worst_groups`).

Multi-label runs (checkpoint task ``multilabel``) give a five-level table with a ``label`` level (a label,
``macro``, ``micro`` or ``all``; :data:`auxiliary.evaluation.comparison_table.MULTILABEL_LEVELS`, rows from
:func:`auxiliary.evaluation.comparison_table.multilabel_metric_rows`): probabilities are the checkpoint's per-label
sigmoids at its own temperatures, decisions its own per-label thresholds (0.5 where it records none)::

    model   split  group                          label     metric               value
    A       test   all                            acne      auroc                0.91
    A       test   all                            macro     f1                   0.74
    A       test   all                            micro     f1                   0.77
    A       test   all                            all       subset_accuracy      0.52
    A       test   tone_group:dark                wrinkles  f1                   0.70
    A       test   gap:tone_group                 macro     f1                   0.08
    A       test   dark-intermediate:tone_group   macro     f1_group_thresholds  -0.02
    A       test   all                            all       onnx_ms_per_image_b1 1.9

Their predictions hold ``prob_`` and ``pred_`` per label; the error galleries, which rank single-label mistakes,
are not drawn for them (notebook 05 shows Grad-CAM per label instead).

With ``cfg.eval.tta`` each model also appears as ``"<model>+tta"`` (flip test-time augmentation:
all metrics and size rows; no speed rows, TTA costs four forward passes). Slice it with
``table.xs("all", level="group")``, ``table.loc[pd.IndexSlice[:, :, "all", "balanced_accuracy"], :]``,
``table["value"].unstack("metric")`` or ``table.groupby(level="model")``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from auxiliary.base.config import Config
from auxiliary.base.config_overrides import apply_overrides
from auxiliary.base.devices import device_label
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import (
    check_output_dir,
    label_slug,
    read_csv,
    sha256_file,
    write_csv_atomic,
    write_text_atomic,
)
from auxiliary.base.layout import resolve_path, run_dir, runs_dir
from auxiliary.data.readers import read_table
from auxiliary.evaluation.comparison_table import (
    LEVELS,
    MULTILABEL_LEVELS,
    SIZE_METRICS,
    SPEED_METRICS,
    CompareError,
    to_frame,
)
from auxiliary.inference.labelled import split_list
from auxiliary.inference.measurements import predict_plain_and_tta, size_rows, speed_rows
from auxiliary.inference.predictor import Predictor
from auxiliary.models import export
from auxiliary.models.checkpoint import Checkpoint
from auxiliary.models.onnx_model import default_onnx_path, onnx_session, session_device
from auxiliary.steps.select import latest_runs, selected_model
from auxiliary.steps.train import ensure_run
from auxiliary.tasks.task import Task
from auxiliary.training.records import record_step
from auxiliary.training.runs import run_name, same_settings
from auxiliary.viz.plots_comparison import GALLERIES, NO_GALLERIES


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

    Notebook 03's runs are those of its latest recorded selection (:func:`auxiliary.steps.select.latest_runs`, under
    ``runs/select-<profile>/``, labelled ``"<model> (03)"``);
    notebook 04's run is :func:`auxiliary.steps.train.ensure_run` for the selected model
    (``"<model> (04)"``): reused only when its recorded settings match ``cfg``, else trained here
    (or, with ``train_missing=False``, left out with a message).
    """
    runs: dict[str, Path] = {}
    # Only the runs of the latest recorded selection: runs/select-<profile>/ may also hold runs
    # made with earlier settings.
    for name, run in sorted(latest_runs(cfg).items()):
        runs[f"{name} (03)"] = run
    model = selected_model(cfg)
    cfg04 = apply_overrides(cfg, {"train.model": model}) if model != cfg.train.model else cfg
    run04 = run_dir(cfg04, run_name(cfg04))
    if train_missing:
        run04 = ensure_run(cfg04, progress=progress)
    if (run04 / "best.pt").is_file() and same_settings(run04, cfg04):
        runs[f"{model} (04)"] = run04
    elif (run04 / "best.pt").is_file():
        print(f"not comparing {run04}: it was trained with other settings than {cfg.profile}'s (train it with notebook 04)")
    if not runs:
        raise CompareError(f"no trained model found under {runs_dir()} for profile {cfg.profile}")
    return runs


def onnx_path_for(run: str | Path, onnx_dir: str | Path | None = None) -> Path:
    """Where a run's ONNX export goes, keyed by its checkpoint, never by the architecture's name.

    Default: beside the checkpoint (``runs/NAME/best.onnx``), the file that sorting and evaluation
    with the ONNX backend use too. With ``onnx_dir``: ``<onnx_dir>/<run>-<first 12 hex digits of the
    checkpoint's SHA-256>.onnx`` (``runs/select-demo/resnet18`` -> ``select-demo-resnet18-0123456789ab.onnx``),
    so two checkpoints never share a file.
    """
    ckpt = _ckpt_of(run)
    if onnx_dir is None:
        return default_onnx_path(ckpt)
    try:
        stem = "-".join(ckpt.parent.resolve().relative_to(runs_dir().resolve()).parts)
    except ValueError:
        stem = ckpt.parent.name
    return Path(onnx_dir) / f"{label_slug(stem)}-{sha256_file(ckpt)[:12]}.onnx"


def load_table(data: str | Path, split: str | None = None) -> tuple[pd.DataFrame, str]:
    """The sample table to evaluate on and the split's name.

    ``data``: a split CSV (``.../test.csv``), or a split folder (then ``split``, default test), read as ``evaluate``
    reads it (:func:`auxiliary.inference.labelled.split_list`).
    """
    csv, name = split_list(data, split, CompareError)
    table = read_table(csv)
    if len(table) == 0:
        raise CompareError(f"{csv} lists no images")
    return table.reset_index(drop=True), name


# ----------------------------------------------------------------------------- the result
@dataclass
class Comparison:
    """What :func:`compare` returns: the tidy ``table`` (levels of its ``task``), the ``predictions`` of every model,
    what each run was (checkpoint, ONNX file, devices), the worst group of each gap, the files written and notes."""

    table: pd.DataFrame
    predictions: dict[str, pd.DataFrame]
    runs: dict[str, dict[str, Any]]
    worst_groups: pd.DataFrame
    split: str
    fairness_col: str
    task: Task
    conf: float = 0.6
    written: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _models: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def models(self) -> list[str]:
        return list(self.table.index.get_level_values("model").unique())

    def wide(self, group: str = "all", label: str | None = None) -> pd.DataFrame:
        """model x metric for one group (e.g. ``"all"``, ``"class:acne"``, ``"gap:tone_group"``), as the task reads
        its table (:meth:`~auxiliary.tasks.task.Task.comparison_wide`: of one ``label``, or the headline)."""
        return self.task.comparison_wide(self.table, group, label)

    def best_model(self, metric: str | None = None) -> str:
        """The model (not a +tta variant) with the highest ``metric`` on the whole split (default: the task's first
        headline metric, balanced_accuracy or macro_auroc)."""
        metric = metric or self.task.comparison_metrics[0]
        s = self.wide()[metric].drop([m for m in self.models if m.endswith("+tta")], errors="ignore")
        if s.dropna().empty:
            return self.models[0]
        return str(s.astype(float).idxmax())

    def key_results(self, metrics: Sequence[str] | None = None) -> dict:
        """The headline numbers per model (for :func:`auxiliary.faces.notebook.finish` and reports); default metrics
        the task's :attr:`~auxiliary.tasks.task.Task.comparison_metrics`, with their gaps across groups."""
        metrics = metrics or self.task.comparison_metrics
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
        base = label[: -len("+tta")] if label.endswith("+tta") else label
        if base not in self._models:
            if base not in self.runs:
                raise CompareError(f"no model {label!r} in this comparison (models: {', '.join(self.runs)})")
            ckpt = Checkpoint.open(self.runs[base]["ckpt"])
            self._models[base] = (ckpt.model(self.runs[base]["device"]), ckpt.info)
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
        write_csv_atomic(csv, flat)  # model labels and class names such as "=1+1" show as text in a spreadsheet
        payload = {
            "levels": list(self.table.index.names),
            "split": self.split,
            "fairness_col": self.fairness_col,
            "conf": self.conf,
            "runs": {k: {kk: str(vv) if isinstance(vv, Path) else vv for kk, vv in v.items()} for k, v in self.runs.items()},
            "worst_groups": json.loads(self.worst_groups.to_json(orient="records")),
            "rows": json.loads(flat.to_json(orient="records")),
        }
        js = out / "comparison.json"
        write_text_atomic(js, json.dumps(payload, indent=1))
        written = {"csv": csv, "json": js}
        for label, pred in self.predictions.items():
            p = out / "predictions" / f"{label_slug(label)}.csv"
            write_csv_atomic(p, pred)
            written[f"predictions:{label}"] = p
        return written


def load_comparison(path: str | Path) -> pd.DataFrame:
    """Read a saved ``comparison.csv`` back into the MultiIndex DataFrame (names as they were before
    :func:`auxiliary.base.files.write_csv_atomic` kept a spreadsheet from running them)."""
    df = read_csv(path, dtype={"model": str, "split": str, "group": str, "label": str, "metric": str})
    return df.set_index(list(MULTILABEL_LEVELS if "label" in df.columns else LEVELS)).sort_index()


# ----------------------------------------------------------------------------- the step
def _check_same_task(tasks: dict[str, Task]) -> None:
    """Refuse a comparison mixing runs of different tasks (``tasks``: run label -> task)."""
    names = {t.name for t in tasks.values()}
    if len(names) > 1:
        by = {n: [k for k, t in tasks.items() if t.name == n] for n in sorted(names)}
        raise CompareError("cannot compare single-label and multi-label runs in one table: "
                           + "; ".join(f"{n}: {', '.join(runs)}" for n, runs in by.items()))


def _measure(labelled: dict[str, Path], table: pd.DataFrame, split_name: str, data: Path, cfg: Config, *,
             onnx_dir: Path | None, export_onnx: bool, measure_speed: bool, tta: bool, overwrite: bool,
             progress: bool) -> Comparison:
    """Every run evaluated on ``table``: the tidy rows, predictions and run records of a :class:`Comparison`."""
    ev = cfg.eval
    fcol = ev.fairness_col
    groups = None
    if fcol in table.columns:
        groups = table[fcol].astype(object).where(table[fcol].notna(), "unknown").astype(str).tolist()
    else:
        warnings.warn(f"no column {fcol!r} in {data}: fairness rows left out", stacklevel=3)
    rows: list[dict[str, Any]] = []
    worst_parts: list[pd.DataFrame] = []
    preds: dict[str, pd.DataFrame] = {}
    infos: dict[str, dict[str, Any]] = {}
    models_cache: dict[str, Any] = {}
    tasks: dict[str, Task] = {}
    opened: dict[str, tuple[Checkpoint, Predictor, Any]] = {}
    for label, run in labelled.items():  # every run checked first: a refusal comes before any export or prediction
        ckpt = Checkpoint.open(_ckpt_of(run))
        predictor = Predictor.from_checkpoint(ckpt, device=ev.device)
        tasks[label] = predictor.task
        _check_same_task(tasks)
        try:
            opened[label] = (ckpt, predictor, predictor.task.truths(table, predictor.classes))
        except AuxiliaryError as exc:
            raise CompareError(f"{label}: {exc}") from None
    for label, run in labelled.items():
        ckpt, predictor, truths = opened[label]
        task, classes = predictor.task, predictor.classes
        onnx_path, sess = None, None
        if export_onnx:
            onnx_path = export.ensure_onnx(ckpt, onnx_path_for(ckpt.path, onnx_dir),
                                           replace_stale=onnx_dir is None or overwrite, device=predictor.device)
            sess = onnx_session(onnx_path, device=predictor.device)
        infos[label] = {
            "run": str(Path(run)), "ckpt": str(ckpt.path), "onnx": str(onnx_path) if onnx_path else None,
            "model_name": predictor.name, "classes": list(classes), "img_size": predictor.img_size,
            "mean": list(predictor.mean), "std": list(predictor.std),
            "temperature": float(predictor.info.get("temperature", 1.0)), "device": predictor.device,
            "torch_device": device_label(predictor.device),
            "onnx_device": session_device(sess) if sess is not None else None,
        }
        models_cache[label] = (predictor.model, predictor.info)
        plain, flipped = predict_plain_and_tta(predictor, list(table["path"]), tta=tta, progress=progress)
        for name, probs in [(label, plain)] + ([(f"{label}+tta", flipped)] if tta else []):
            r, worst = task.comparison_rows(name, split_name, truths, probs, classes, predictor.info, groups, fcol, ev)
            rows += r
            preds[name] = task.comparison_predictions(table, truths, probs, classes, predictor.info, fcol)
            worst_parts.append(worst)
            rows += size_rows(name, split_name, predictor.model, ckpt.path, onnx_path)
        if measure_speed:
            rows += speed_rows(label, split_name, predictor.model, sess, predictor.img_size, ev.speed_repeats)
    worst_all = pd.concat([w for w in worst_parts if len(w)], ignore_index=True) if any(len(w) for w in worst_parts) \
        else pd.DataFrame(columns=["model", "split", "metric", "worst_group", "best_group", "excluded"])
    return Comparison(table=to_frame(rows), predictions=preds, runs=infos, worst_groups=worst_all, split=split_name,
                      fairness_col=fcol, task=next(iter(tasks.values())), conf=float(cfg.sort.conf),
                      _models=models_cache)


def write_galleries(cmp: Comparison, out: Path, gallery_size: int) -> dict[str, Path]:
    """The error galleries of every model (not the +tta variants), as its task has them
    (:data:`auxiliary.viz.plots_comparison.GALLERIES`): ``gallery_<kind>_<model>.png``; a task without any says why
    in ``cmp.notes``."""
    written: dict[str, Path] = {}
    kinds = GALLERIES[cmp.task.name]
    if not kinds:
        cmp.notes.append(NO_GALLERIES[cmp.task.name])
    for label in [m for m in cmp.predictions if not m.endswith("+tta")]:
        for kind, draw in kinds.items():
            fig = draw(cmp, label, gallery_size)
            path = out / f"gallery_{kind}_{label_slug(label)}.png"
            fig.savefig(path, dpi=120, bbox_inches="tight")
            plt.close(fig)
            written[f"gallery:{kind}:{label}"] = path
    return written


def compare(
    cfg: Config,
    runs: Mapping[str, str | Path] | Sequence[str | Path],
    data: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    onnx_dir: str | Path | None = None,
    export_onnx: bool = True,
    measure_speed: bool = True,
    tta: bool | None = None,
    galleries: bool = True,
    overwrite: bool = False,
    progress: bool = True,
) -> Comparison:
    """The ``compare`` step: evaluate every run on ``data`` (a split CSV, or a split folder and its ``split``,
    default test), build the tidy comparison table (module docstring), write it with the predictions and (unless
    ``galleries=False``) the error galleries under ``out``, and record the step for the trackers.

    ``runs``: label -> run folder (or a list of run folders or checkpoints, labelled by name). Unless
    ``export_onnx=False``, each checkpoint's ONNX export (:func:`onnx_path_for`: beside the checkpoint, or under
    ``onnx_dir``) is reused when it matches the checkpoint (:func:`auxiliary.models.export.onnx_mismatch`), else
    exported with a parity check; a file that does not match is replaced beside the checkpoint, under ``onnx_dir``
    only with ``overwrite``. An existing comparison in ``out`` is replaced only with ``overwrite``. ``tta``
    defaults to ``cfg.eval.tta``. Returns the :class:`Comparison` (``written``: the files, ``notes``).
    """
    labelled = dict(runs) if isinstance(runs, Mapping) else run_labels([resolve_path(r) for r in runs])
    if not labelled:
        raise CompareError("no runs to compare")
    data = Path(resolve_path(data))
    dest = check_output_dir(resolve_path(out), inputs=(data,))
    if (dest / "comparison.csv").exists() and not overwrite:
        raise CompareError(f"{dest / 'comparison.csv'} exists; pass --overwrite to replace it")
    table, split_name = load_table(data, split)
    cmp = _measure(labelled, table, split_name, data, cfg, onnx_dir=Path(resolve_path(onnx_dir)) if onnx_dir else None,
                   export_onnx=export_onnx, measure_speed=measure_speed,
                   tta=cfg.eval.tta if tta is None else bool(tta), overwrite=overwrite, progress=progress)
    cmp.written = cmp.save(dest, overwrite=overwrite)
    if galleries:
        cmp.written.update(write_galleries(cmp, dest, cfg.eval.gallery_size))
    record_step(cfg, "compare", dest, tables={"wide": cmp.wide()}, tags={"models": ",".join(cmp.models)},
                split_dir=data.parent)
    return cmp
