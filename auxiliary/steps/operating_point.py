"""``python -m auxiliary operating-point --ckpt RUN/best.pt --min-recall mel=0.7 --out RUN_OP``: a decision rule stored
in the checkpoint, fitted without a validation split and without a single test row.

A model trained on train + validation (the HAM10000 CPU recipe) has no held-out rows left to choose a threshold on.
This step makes them by k-fold: the rows of the run's split's ``train`` and ``val`` lists are cut into ``folds``
folds (stratified by class, whole groups - lesions, subjects - in one fold); for each fold the run's own recipe (its
recorded ``config.yaml``) trains a model on the other folds, and that model's **last**-epoch weights (the averaged
ones with ``ema_decay``; nothing is chosen on the held-out fold) predict the held-out fold (with flip TTA when
``eval.tta``). Every train + validation row then has an out-of-fold probability. On those, one temperature is
fitted (it replaces the checkpoint's: a train + validation run fitted its own on rows it had trained on, which
makes it too sure), then :func:`auxiliary.evaluation.prior_shift.fit_prior_shift` fits one log-prior shift per
class: the highest balanced accuracy with each class of ``min_recall`` at or above its recall. The ``test`` list is
never read.

Writes under ``out``:

    best.pt                  the source checkpoint with an ``operating_point`` entry (shift, floors, out-of-fold
                             figures) and the out-of-fold temperature: ``evaluate``, ``sort``, ``predict`` and
                             ``serve`` decide with it
    oof_predictions.csv      path, label, fold, prob_<class>... (temperature 1) of every train + validation row
    operating_point.json     the fitted shift, its out-of-fold recalls, and a k-fold check of the fit itself
    summary.json, config.yaml the source run's, with the ``operating_point`` record
    folds/fold_<i>/          each fold's split lists and training run (a re-run resumes an unfinished one)

The source checkpoint and its run folder are read, never changed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from auxiliary.base.config import Config, save
from auxiliary.base.config_overrides import from_dict
from auxiliary.base.devices import resolve_device
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import check_output_dir, read_csv, write_csv_atomic, write_json_atomic
from auxiliary.base.layout import resolve_path
from auxiliary.data.readers import load_split
from auxiliary.evaluation.arrays import MetricsInputError
from auxiliary.evaluation.calibration import apply_temperature, fit_temperature_probs
from auxiliary.evaluation.prior_shift import fit_prior_shift, kfold_prior_shift
from auxiliary.inference.predictor import Predictor
from auxiliary.models.checkpoint import Checkpoint, save_with_entries
from auxiliary.models.factory import architecture
from auxiliary.models.pretrained import read_weights_file
from auxiliary.steps.train import train_run
from auxiliary.training.runs import recorded_split


class OperatingPointError(AuxiliaryError):
    """``operating-point`` cannot run with these inputs or settings."""


def fold_rows(tables: Mapping[str, pd.DataFrame], folds: int, seed: int) -> pd.DataFrame:
    """The ``train`` and ``val`` rows (never ``test``; each path once) with a ``fold`` column: stratified by ``label``, each
    ``group`` (a lesion, a subject, a source photo) in one fold (scikit-learn's ``StratifiedGroupKFold``)."""
    # a train + validation recipe's split lists the validation rows in both: each row once
    rows = pd.concat([tables["train"], tables["val"]], ignore_index=True).drop_duplicates("path", ignore_index=True)
    if len(rows) < folds:
        raise OperatingPointError(f"{len(rows)} train + validation rows cannot make {folds} folds")
    groups = rows["group"].astype(str) if "group" in rows else pd.Series(rows.index.astype(str))
    n_groups = groups.nunique()
    if n_groups < folds:
        raise OperatingPointError(f"{n_groups} groups in train + validation cannot make {folds} folds")
    rows["fold"] = -1
    cut = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for i, (_, held) in enumerate(cut.split(rows, rows["label"].astype(str), groups)):
        rows.loc[rows.index[held], "fold"] = i
    return rows


def fold_split(rows: pd.DataFrame, i: int, source: Path, out: Path) -> Path:
    """``out``: a split whose training list is every fold but ``i`` and whose validation list is fold ``i`` (no test
    list)."""
    out.mkdir(parents=True, exist_ok=True)
    keep = rows.drop(columns=["fold"])
    write_csv_atomic(out / "train.csv", keep[rows["fold"] != i])
    write_csv_atomic(out / "val.csv", keep[rows["fold"] == i])
    shutil.copyfile(source / "classes.json", out / "classes.json")
    return out


def last_weights_predictor(run: Path, device: str) -> Predictor:
    """The fold run's last-epoch weights (its EMA average when it kept one) with its ``best.pt``'s entries
    (preprocessing, classes) and temperature 1: nothing of it is chosen on the held-out fold."""
    best = Checkpoint.open(run / "best.pt")
    state = read_weights_file(run / "last.pt", what="resume state", error=OperatingPointError,
                              hint=f"train the fold again (remove {run})")
    weights = state.get("ema") if state.get("ema") is not None else state["model"]
    model = architecture(best.info["model_name"], len(best.classes))
    model.load_state_dict(weights)
    return Predictor(model.to(device).eval(), {**best.info, "temperature": 1.0}, best.task, device=device)


def kfold_predictions(cfg: Config, rows: pd.DataFrame, classes: list[str], split_dir: Path, out_dir: Path, *,
                      progress: bool) -> pd.DataFrame:
    """Train the recipe ``cfg`` on every fold but one, predict the one (``rows``' ``fold`` column): ``path, label,
    fold, prob_<class>...`` at temperature 1. A fold whose run finished is reused; an unfinished one resumes."""
    folds = int(rows["fold"].max()) + 1
    device = resolve_device("auto")
    parts = []
    for i in range(folds):
        run = out_dir / "folds" / f"fold_{i}"
        sdir = fold_split(rows, i, split_dir, run / "split")
        if not (run / "summary.json").is_file():
            print(f"fold {i + 1}/{folds}: training on {int((rows['fold'] != i).sum())} rows, "
                  f"holding out {int((rows['fold'] == i).sum())}", flush=True)
            train_run(cfg, sdir, run / "run", resume=(run / "run" / "last.pt").is_file(), progress=progress)
            (run / "summary.json").write_text((run / "run" / "summary.json").read_text(encoding="utf-8"),
                                              encoding="utf-8")
        held = rows[rows["fold"] == i]
        pred = last_weights_predictor(run / "run", device)
        probs, errors = pred.predict_paths(list(held["path"].astype(str)), tta=bool(cfg.eval.tta), progress=progress)
        if errors:
            raise OperatingPointError(f"{len(errors)} held-out images unreadable, e.g. {next(iter(errors.values()))}")
        part = pd.DataFrame({"path": held["path"].astype(str).to_numpy(), "label": held["label"].astype(str).to_numpy(),
                             "fold": i})
        for j, c in enumerate(classes):
            part[f"prob_{c}"] = probs[:, j]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def read_oof(path: str | Path, classes: list[str], test: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold predictions written by an earlier ``operating-point`` of the same recipe (another seed's run):
    refused in one line when its columns are not those of ``classes`` or when it holds a row of the ``test`` list."""
    p = Path(path).expanduser()
    try:
        oof = read_csv(p, keep_default_na=False, dtype={"label": str, "path": str})
    except (OSError, ValueError) as exc:
        raise OperatingPointError(f"--oof {path}: cannot read it ({str(exc).splitlines()[0][:120] if str(exc) else exc})"
                                  ) from None
    missing = [c for c in ("path", "label", *(f"prob_{k}" for k in classes)) if c not in oof.columns]
    if missing:
        raise OperatingPointError(f"--oof {path} has no column {', '.join(missing[:3])}: not the out-of-fold "
                                  f"predictions of a model of the classes {', '.join(classes)}")
    leaked = set(map(_key, oof["path"])) & set(map(_key, test["path"])) if len(test) else set()
    if leaked:
        raise OperatingPointError(f"--oof {path} holds {len(leaked)} rows of the test list (e.g. {sorted(leaked)[0]}): "
                                  "an operating point is never fitted on test rows")
    unknown = sorted(set(oof["label"]) - set(classes))
    if unknown:
        raise OperatingPointError(f"--oof {path} has labels {unknown[:3]} that are not classes of the checkpoint")
    return oof


def _key(path: Any) -> str:
    return str(Path(str(path)).resolve())


def operating_point(ckpt: str | Path | Checkpoint, out: str | Path, *, min_recall: Mapping[str, float],
                    folds: int = 3, split: str | Path | None = None, seed: int = 0, oof: str | Path | None = None,
                    overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """The ``operating-point`` step (see the module docstring); returns the ``operating_point`` record. ``oof``: fit
    on the out-of-fold predictions of an earlier fit of the same recipe instead of training the folds again (the
    k-fold is made once per recipe, then every seed's checkpoint gets the shift)."""
    if not 2 <= int(folds) <= 20:
        raise OperatingPointError(f"--folds must be 2 to 20, got {folds}")
    checkpoint = Checkpoint.of(ckpt)
    if not checkpoint.task.one_class_per_image:
        raise OperatingPointError(f"{checkpoint.path} is a {checkpoint.task.title} model: its per-label thresholds "
                                  "are its operating point (fitted by train)")
    unknown = [c for c in min_recall if c not in checkpoint.classes]
    if unknown:
        raise OperatingPointError(f"--min-recall names {unknown}, not classes of {checkpoint.path} "
                                  f"({', '.join(checkpoint.classes)})")
    split_dir = recorded_split(checkpoint.path.parent, split)
    if split_dir is None:
        raise OperatingPointError(f"no split recorded in {checkpoint.path.parent}/summary.json: pass --split DIR")
    run_cfg = checkpoint.path.parent / "config.yaml"
    if not checkpoint.info.get("config"):
        raise OperatingPointError(f"{checkpoint.path} records no training settings: the folds cannot repeat its recipe "
                                  "(use a best.pt written by python -m auxiliary train)")
    cfg: Config = from_dict(checkpoint.info["config"])
    out_dir = check_output_dir(resolve_path(out), inputs=(checkpoint.path.parent, split_dir, oof))
    if (out_dir / "best.pt").exists() and not overwrite:
        raise OperatingPointError(f"{out_dir} already holds a fitted operating point; choose another --out, or pass "
                                  "--overwrite to fit it again (finished folds are reused)")
    tables, classes = load_split(split_dir)
    if list(classes) != checkpoint.classes:
        raise OperatingPointError(f"the split {split_dir} has classes {classes}, the checkpoint {checkpoint.classes}")
    source = f"out-of-fold predictions of {folds} models on the train + validation rows of {split_dir}"
    if oof is not None:
        given = oof
        oof = read_oof(given, classes, tables["test"])
        folds = int(pd.to_numeric(oof["fold"], errors="coerce").max()) + 1 if "fold" in oof else 0
        source = f"the out-of-fold predictions of {given} ({folds} folds of the same recipe)"
    else:
        oof = kfold_predictions(cfg, fold_rows(tables, int(folds), seed), classes, split_dir, out_dir,
                                progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(out_dir / "oof_predictions.csv", oof)
    y = oof["label"].map({c: k for k, c in enumerate(classes)}).to_numpy()
    raw = oof[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    try:
        temperature = float(fit_temperature_probs(y, raw))
        p = apply_temperature(raw, temperature, from_probs=True)
        fit = fit_prior_shift(y, p, classes, dict(min_recall))
        check = kfold_prior_shift(y, p, classes, dict(min_recall), folds=5, seed=seed)
    except MetricsInputError as exc:
        raise OperatingPointError(str(exc)) from None
    record = {**fit, "folds": int(folds), "fitted_on": f"{source} (test never read)", "split_dir": str(split_dir),
              "argmax": {"recall": _argmax_recall(y, p, classes)}, "kfold_check": check, "temperature": temperature,
              "source_temperature": float(checkpoint.info.get("temperature", 1.0)),
              "source": str(checkpoint.path), "source_sha256": checkpoint.sha256}
    write_json_atomic(out_dir / "operating_point.json", record)
    save_with_entries(out_dir / "best.pt", checkpoint, {"operating_point": record, "temperature": temperature})
    summary = _source_summary(checkpoint.path.parent)
    write_json_atomic(out_dir / "summary.json", {**summary, "run_dir": str(out_dir), "operating_point": record})
    if run_cfg.is_file():
        shutil.copyfile(run_cfg, out_dir / "config.yaml")
    else:
        save(cfg, out_dir / "config.yaml")
    return record


def _argmax_recall(y: np.ndarray, p: np.ndarray, classes: list[str]) -> dict[str, float]:
    dec = p.argmax(axis=1)
    return {c: round(float(np.mean(dec[y == k] == k)), 4) for k, c in enumerate(classes) if np.any(y == k)}


def _source_summary(run: Path) -> dict[str, Any]:
    try:
        return json.loads((run / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
