"""Model selection on an equal budget (notebook 03, ``python -m auxiliary select``).

Every architecture of ``cfg.train.select_models`` is trained by :func:`auxiliary.train.fit` on the
same split, with the same seed, image size, batch and schedule, for ``cfg.train.select_epochs``
epochs. From each run's validation predictions (temperature-calibrated, ``val_predictions.csv``)
we compute balanced accuracy, macro AUROC, ECE, macro-F1 and log loss with
:mod:`auxiliary.metrics`; ``summary.json`` gives the training time and speed; parameters are
counted on the architecture and inference speed is timed on the best checkpoint. The winner by
``cfg.train.select_metric`` is written to :func:`auxiliary.pipeline.selection_file`, where
notebook 04 reads its default model.

Runs live in ``runs/select-<profile>/<model>-<hash>``, the hash covering every setting that
changes what a run learns (train and data sections, the split's content), so re-running skips
models already trained with the same settings, resumes interrupted ones and never mixes
profiles.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import config as config_mod
from . import metrics, paths
from .config import Config
from .errors import AuxiliaryError


class SelectionError(AuxiliaryError):
    """Model selection cannot run or produced nothing usable (one line)."""


#: select_metric spelling -> table column, and whether higher is better.
METRIC_COLUMNS: dict[str, tuple[str, bool]] = {
    "val_balanced_acc": ("val_balanced_acc", True),
    "val_macro_auroc": ("val_macro_auroc", True),
    "val_macro_f1": ("val_macro_f1", True),
    "val_acc": ("val_acc", True),
    "val_ece": ("val_ece", False),
    "val_log_loss": ("val_log_loss", False),
    "params": ("params", False),
    "train_seconds": ("train_seconds", False),
    "train_img_per_s": ("train_img_per_s", True),
    "infer_img_per_s": ("infer_img_per_s", True),
}
#: Other accepted spellings of the selection metric.
METRIC_ALIASES: dict[str, str] = {
    "balanced_acc": "val_balanced_acc",
    "balanced_accuracy": "val_balanced_acc",
    "val_balanced_accuracy": "val_balanced_acc",
    "macro_auroc": "val_macro_auroc",
    "auroc": "val_macro_auroc",
    "val_auroc": "val_macro_auroc",
    "macro_f1": "val_macro_f1",
    "accuracy": "val_acc",
    "acc": "val_acc",
    "val_accuracy": "val_acc",
    "ece": "val_ece",
    "log_loss": "val_log_loss",
    "val_loss": "val_log_loss",
    "parameters": "params",
    "training_time": "train_seconds",
    "images_per_second": "train_img_per_s",
}
TABLE_COLUMNS = (
    "model", "val_balanced_acc", "val_macro_auroc", "val_ece", "val_macro_f1", "val_acc", "val_log_loss",
    "params", "train_seconds", "train_img_per_s", "infer_img_per_s", "epochs", "n_val", "reused", "run_dir", "error",
)


def metric_column(name: str) -> tuple[str, bool]:
    """``(table column, higher_is_better)`` of a selection metric name; one-line error when unknown."""
    key = str(name).strip().lower().replace("-", "_")
    key = METRIC_ALIASES.get(key, key)
    if key not in METRIC_COLUMNS:
        raise SelectionError(
            f"unknown select_metric {name!r} (choose from: {', '.join(METRIC_COLUMNS)})"
        )
    return METRIC_COLUMNS[key]


# ----------------------------------------------------------------------------- configs and folders
def model_config(cfg: Config, model: str) -> Config:
    """The config one candidate is trained with: ``model`` and ``max_epochs = select_epochs``.

    Frozen-backbone epochs: none when ``pretrained`` is false (a random backbone is not worth
    freezing: the whole budget trains everything), else at most ``select_epochs - 1`` so that every
    candidate gets at least one fine-tuning epoch when the budget allows it."""
    from .models import parse_pretrained

    t = cfg.train
    epochs = int(t.select_epochs)
    if parse_pretrained(t.pretrained) is False:
        freeze = 0
    else:
        freeze = min(int(t.freeze_epochs), epochs - 1) if epochs > 1 else int(t.freeze_epochs)
    return replace(cfg, train=replace(t, model=str(model), max_epochs=epochs, freeze_epochs=max(freeze, 0)))


def split_fingerprint(split_dir: str | Path) -> str:
    """Hash of a split's lists (classes.json, train.csv, val.csv): the same data gives the same key."""
    d = Path(split_dir)
    h = hashlib.sha1()
    for name in ("classes.json", "train.csv", "val.csv"):
        f = d / name
        h.update(name.encode())
        h.update(f.read_bytes() if f.is_file() else b"-")
    return h.hexdigest()[:12]


#: Settings that do not change what a run learns (speed/placement only).
_IGNORED = ("threads", "devices", "accelerator", "strategy", "compile", "num_workers", "cache")


def run_key(cfg_model: Config, split_dir: str | Path) -> str:
    """:func:`config.section_hash` of the learning-relevant train settings, the data settings and the split."""
    tcfg = cfg_model.train
    reset = {f: getattr(config_mod.TrainConfig(), f) for f in ("select_models", "select_epochs", "select_metric")}
    reset.update({f: getattr(config_mod.TrainConfig(), f) for f in _IGNORED if hasattr(tcfg, f)})
    data_items = {k: v for k, v in vars(cfg_model.data).items() if k not in _IGNORED}
    return config_mod.section_hash(
        replace(tcfg, **reset), {"__data__": json.dumps(data_items, sort_keys=True, default=str),
                                 "__split__": split_fingerprint(split_dir)}
    )


def default_out_root(cfg: Config) -> Path:
    """``runs/select-<profile>``."""
    return paths.runs_dir() / f"select-{cfg.profile}"


def candidate_dir(cfg: Config, model: str, split_dir: str | Path, out_root: str | Path | None = None) -> Path:
    """Run folder of one candidate: ``<out_root>/<model>-<hash>``."""
    root = Path(out_root) if out_root else default_out_root(cfg)
    return root / f"{model}-{run_key(model_config(cfg, model), split_dir)}"


def _ok(table: pd.DataFrame) -> pd.Series:
    """Rows without an error (the error column may come back from CSV as all-NaN floats)."""
    if "error" not in table:
        return pd.Series(True, index=table.index)
    err = table["error"].astype(object)
    return err.isna() | (err.astype(str).str.strip() == "")


def _finished(run: Path) -> bool:
    return all((run / f).is_file() for f in ("best.pt", "summary.json", "val_predictions.csv"))


# ----------------------------------------------------------------------------- measurements
def load_val_predictions(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray, list[str], pd.DataFrame]:
    """``(y, probs, classes, table)`` from a run's ``val_predictions.csv`` (prob_<class> columns + label)."""
    f = Path(run_dir) / "val_predictions.csv"
    if not f.is_file():
        raise SelectionError(f"no validation predictions in {run_dir} (val_predictions.csv missing)")
    df = pd.read_csv(f, keep_default_na=False, dtype={"label": str, "path": str, "pred": str, "tone_group": str})
    prob_cols = [c for c in df.columns if c.startswith("prob_")]
    if not prob_cols or "label" not in df.columns:
        raise SelectionError(f"{f} has no prob_<class> and label columns")
    classes = [c[len("prob_"):] for c in prob_cols]
    y = metrics.labels_to_index(list(df["label"]), classes, unknown="minus_one")
    probs = df[prob_cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    return y, probs, classes, df


def count_parameters(model_name: str, num_classes: int) -> int:
    """Parameters of ``model_name`` with a ``num_classes`` head (no weights loaded)."""
    from . import models

    return int(models.count_parameters(models.create_model(model_name, num_classes=num_classes, pretrained=False)))


def inference_speed(ckpt: str | Path, batch: int = 16, repeats: int = 3) -> float:
    """Images per second of the checkpoint's model on random input (median of ``repeats`` timed batches)."""
    from .infer import Predictor

    pred = Predictor.from_checkpoint(ckpt)
    x = np.random.default_rng(0).normal(size=(batch, 3, pred.img_size, pred.img_size)).astype(np.float32)
    pred.logits(x[:2])  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        pred.logits(x)
        times.append(time.perf_counter() - t0)
    return float(batch / np.median(times))


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


ROW_FILE = "selection_row.json"


def measure_run(run_dir: str | Path, model: str, n_bins: int = 15, speed_repeats: int = 3) -> dict[str, Any]:
    """One table row from a finished run folder (cached in ``selection_row.json`` beside the run's summary)."""
    run = Path(run_dir)
    cache = run / ROW_FILE
    if cache.is_file() and cache.stat().st_mtime >= (run / "summary.json").stat().st_mtime:
        try:
            saved = json.loads(cache.read_text(encoding="utf-8"))
            if saved.get("ece_bins") == n_bins and saved["row"].get("model") == model:
                row = dict(saved["row"])
                row["run_dir"] = str(run)
                return {k: (math.nan if v is None else v) for k, v in row.items()}
        except (ValueError, KeyError, TypeError):
            pass
    row = _measure(run, model, n_bins, speed_repeats)
    from .results import _clean

    tmp = cache.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"ece_bins": n_bins, "row": _clean(row)}), encoding="utf-8")
    tmp.replace(cache)
    return row


def _measure(run: Path, model: str, n_bins: int, speed_repeats: int) -> dict[str, Any]:
    y, probs, classes, _ = load_val_predictions(run)
    m = metrics.summary_metrics(y, probs, classes, n_bins=n_bins)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return {
        "model": model,
        "val_balanced_acc": m["balanced_accuracy"],
        "val_macro_auroc": m["macro_auroc"],
        "val_ece": m["ece"],
        "val_macro_f1": m["macro_f1"],
        "val_acc": m["accuracy"],
        "val_log_loss": m["log_loss"],
        "params": count_parameters(model, len(classes)),
        "train_seconds": _num(summary.get("seconds_training", summary.get("train_seconds"))),
        "train_img_per_s": _num(summary.get("images_per_second")),
        "infer_img_per_s": inference_speed(run / "best.pt", repeats=speed_repeats),
        "epochs": int(summary.get("epochs_run", summary.get("max_epochs", 0)) or 0),
        "n_val": int((y >= 0).sum()),
        "run_dir": str(run),
        "error": "",
    }


# ----------------------------------------------------------------------------- selection
def pick_winner(table: pd.DataFrame, metric: str) -> tuple[str, float]:
    """``(model, value)`` best by ``metric``; ties broken by macro AUROC, then fewer parameters."""
    col, higher = metric_column(metric)
    ok = table[table[col].notna() & _ok(table)] if col in table else table.iloc[0:0]
    if ok.empty:
        raise SelectionError(f"no model has a value for {col}: nothing to select")
    keys = [col] + [c for c in ("val_macro_auroc", "params") if c in ok and c != col]
    asc = [not higher] + [c == "params" for c in keys[1:]]
    best = ok.sort_values(keys, ascending=asc, na_position="last", kind="stable").iloc[0]
    return str(best["model"]), float(best[col])


def run_selection(
    cfg: Config, split_dir: str | Path, out_root: str | Path | None = None, *, progress: bool = True
) -> pd.DataFrame:
    """Train every model of ``cfg.train.select_models`` on an equal budget, tabulate, pick and record the winner.

    Returns the table (one row per model, columns :data:`TABLE_COLUMNS`, ``table.attrs["winner"]``
    and ``["metric"]``) and writes ``selection.csv`` under ``out_root`` and the winner JSON to
    :func:`auxiliary.pipeline.selection_file`. A model already trained with the same settings
    is reused (``reused`` = True); an interrupted one is resumed. A model that fails (e.g. an
    architecture that does not accept the image size) gets its error in the table and the
    others go on; if every model fails, :class:`SelectionError`.
    """
    from . import pipeline, train

    models_ = [str(m) for m in cfg.train.select_models]
    if not models_:
        raise SelectionError("select_models is empty: name at least one timm architecture")
    if len(set(models_)) != len(models_):
        raise SelectionError(f"select_models lists a model twice: {models_}")
    if cfg.train.select_epochs < 1:
        raise SelectionError(f"select_epochs must be at least 1 (got {cfg.train.select_epochs})")
    col, _ = metric_column(cfg.train.select_metric)  # fail before any training
    import timm

    unknown = [m for m in models_ if not timm.is_model(m)]
    if unknown:
        raise SelectionError(f"unknown timm model(s) in select_models: {', '.join(unknown)}")
    split = Path(split_dir)
    if not (split / "classes.json").is_file():
        raise SelectionError(f"{split} is not a split folder (no classes.json); make one with `python -m auxiliary split`")
    root = Path(out_root) if out_root else default_out_root(cfg)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, name in enumerate(models_, 1):
        cfg_m = model_config(cfg, name)
        run = candidate_dir(cfg, name, split, root)
        reused = _finished(run)
        label = f"[{i}/{len(models_)}] {name}"
        try:
            if reused:
                print(f"{label}: reusing {run} (same settings)")
            else:
                resume = (run / "last.pt").is_file()
                started = any((run / f).exists() for f in train.RUN_MARKERS) if hasattr(train, "RUN_MARKERS") else run.exists()
                print(f"{label}: {'resuming' if resume else 'training'} {cfg_m.train.max_epochs} epoch(s) into {run}", flush=True)
                train.fit(cfg_m, split, run, resume=resume, overwrite=started and not resume, progress=progress)
            row = measure_run(run, name, n_bins=cfg.eval.ece_bins, speed_repeats=cfg.eval.speed_repeats)
        except AuxiliaryError as exc:
            print(f"{label}: failed: {exc}")
            row = {"model": name, "run_dir": str(run), "error": str(exc).splitlines()[0][:300]}
        except (RuntimeError, ValueError, AssertionError) as exc:  # an architecture that cannot run these settings
            print(f"{label}: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            row = {"model": name, "run_dir": str(run), "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
        row["reused"] = bool(reused)
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=list(TABLE_COLUMNS))
    table["error"] = table["error"].astype(object).where(table["error"].notna(), "")
    if not _ok(table).any():
        raise SelectionError("every model failed: " + "; ".join(f"{m}: {e}" for m, e in zip(table["model"], table["error"])))
    winner, value = pick_winner(table, cfg.train.select_metric)
    table.attrs.update(winner=winner, metric=col, value=value)
    table.to_csv(root / "selection.csv", index=False)
    write_selection(cfg, table, winner, col, value, split)
    print(f"winner by {col}: {winner} ({value:.4f}) -> {pipeline.selection_file(cfg)}")
    return table


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    from .results import _clean

    return _clean(table.to_dict(orient="records"))


def write_selection(cfg: Config, table: pd.DataFrame, winner: str, metric: str, value: float, split_dir: Any) -> Path:
    """Write ``{"model", "metric", "value", "table", ...}`` to :func:`pipeline.selection_file` (atomically)."""
    from . import pipeline

    out = pipeline.selection_file(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": winner,
        "metric": metric,
        "value": value,
        "profile": cfg.profile,
        "select_epochs": int(cfg.train.select_epochs),
        "split_dir": str(split_dir),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "table": _records(table),
    }
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    tmp.replace(out)
    return out


def read_selection(cfg: Config) -> dict[str, Any]:
    """The recorded selection of this profile (winner, metric, value, table) or an error saying how to make it."""
    from . import pipeline

    f = pipeline.selection_file(cfg)
    if not f.is_file():
        raise SelectionError(f"no model selection recorded at {f}; run notebook 03 or `python -m auxiliary select`")
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except ValueError:
        raise SelectionError(f"{f} is not valid JSON; run the selection again") from None


def latest_runs(cfg: Config) -> dict[str, Path]:
    """Model -> run folder of the most recent selection of this profile (runs with an error or a missing
    ``best.pt`` left out). ``runs/select-<profile>/`` may also hold runs made with earlier settings;
    these are the ones the recorded table describes. Empty when no selection is recorded."""
    try:
        sel = read_selection(cfg)
    except SelectionError:
        return {}
    out: dict[str, Path] = {}
    for row in sel.get("table", []):
        run = row.get("run_dir")
        if run and not row.get("error") and (Path(run) / "best.pt").is_file():
            out[str(row["model"])] = Path(run)
    return out


def winner_run(table: pd.DataFrame) -> Path:
    """Run folder of the winner of a :func:`run_selection` table."""
    winner = table.attrs.get("winner")
    if winner is None:
        winner = pick_winner(table, "val_balanced_acc")[0]
    return Path(table.loc[table["model"] == winner, "run_dir"].iloc[0])


# ----------------------------------------------------------------------------- plots
def plot_selection(
    table: pd.DataFrame, metrics_to_plot: tuple[str, ...] = ("val_balanced_acc", "val_macro_auroc", "val_ece"),
    ax: Any = None, title: str | None = None,
) -> Any:
    """Seaborn grouped bars of validation metrics per model (winner marked with a star)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ok = table[_ok(table)]
    long = ok.melt(id_vars="model", value_vars=[m for m in metrics_to_plot if m in ok], var_name="metric")
    long["metric"] = long["metric"].str.replace("val_", "", regex=False)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(ok) + 2), 4))
    else:
        fig = ax.figure
    sns.barplot(data=long, x="model", y="value", hue="metric", ax=ax)
    for cont in ax.containers:
        ax.bar_label(cont, fmt="%.2f", fontsize="x-small", padding=1)
    winner = table.attrs.get("winner")
    if winner is not None:
        ax.set_xticks(ax.get_xticks(), [f"{t.get_text()} *" if t.get_text() == winner else t.get_text()
                                        for t in ax.get_xticklabels()])
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("")
    ax.set_ylabel("validation value (ECE: lower is better)")
    metric = table.attrs.get("metric", "")
    ax.set_title(title or f"Model selection on an equal budget (* winner by {metric})")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    plt.setp(ax.get_xticklabels(), rotation=15, ha="right")
    return fig


def plot_tradeoff(table: pd.DataFrame, metric: str = "val_balanced_acc", ax: Any = None, title: str | None = None) -> Any:
    """Seaborn scatter of a metric against training time; marker size = parameters."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    col, _ = metric_column(metric)
    ok = table[_ok(table) & table[col].notna()].copy()
    ok["params (M)"] = ok["params"] / 1e6
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    sns.scatterplot(data=ok, x="train_seconds", y=col, size="params (M)", hue="model", sizes=(60, 400), ax=ax, legend="brief")
    for _, r in ok.iterrows():
        ax.annotate(r["model"], (r["train_seconds"], r[col]), textcoords="offset points", xytext=(6, 4), fontsize="small")
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(col)
    ax.set_title(title or f"{col} against training time")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ----------------------------------------------------------------------------- CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default=None, metavar="DIR",
                        help="split folder (default: the one notebook 02 makes for the configured dataset)")
    parser.add_argument("--out", default=None, metavar="DIR", help="folder of the candidate runs (default runs/select-<profile>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    from . import pipeline

    split = paths.resolve_path(args.split) if args.split else pipeline.ensure_splits(cfg, progress=not args.quiet)
    table = run_selection(cfg, split, args.out, progress=not args.quiet)
    root = Path(args.out) if args.out else default_out_root(cfg)
    fig = plot_selection(table)
    fig.savefig(root / "selection.png", dpi=150, bbox_inches="tight")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        cols = ["model", "val_balanced_acc", "val_macro_auroc", "val_ece", "params", "train_seconds",
                "train_img_per_s", "infer_img_per_s", "reused"]
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"table: {root / 'selection.csv'}; chart: {root / 'selection.png'}; winner: {table.attrs['winner']}")
    return 0
