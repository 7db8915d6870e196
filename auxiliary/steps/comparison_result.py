"""The result of a comparison (:func:`auxiliary.steps.compare.compare_runs`): its tidy table, wide views, headline numbers, models, files.

:class:`Comparison` holds the long table (levels :data:`~auxiliary.evaluation.comparison_table.LEVELS`,
or :data:`~auxiliary.evaluation.comparison_table.MULTILABEL_LEVELS` for multi-label runs), the
predictions of every model, what each run was (checkpoint, ONNX file, devices) and the worst group of
each gap; :meth:`Comparison.wide` reads it as model x metric and :meth:`Comparison.save` writes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from auxiliary.base.files import label_slug, write_text_atomic
from auxiliary.evaluation.comparison_table import SIZE_METRICS, SPEED_METRICS, CompareError, multilabel_wide
from auxiliary.models.checkpoint import load_checkpoint
from auxiliary.steps.comparison_multilabel import MULTILABEL_KEY_METRICS


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

    @property
    def multilabel(self) -> bool:
        """True for a comparison of multi-label models (the table has a ``label`` level)."""
        return "label" in self.table.index.names

    def wide(self, group: str = "all", label: str | None = None) -> pd.DataFrame:
        """model x metric for one group (e.g. ``"all"``, ``"class:acne"``, ``"gap:tone_group"``); multi-label:
        of one ``label``, or the headline (:func:`auxiliary.evaluation.comparison_table.multilabel_wide`)."""
        if self.multilabel:
            return multilabel_wide(self.table, group, label)
        return self.table.xs(group, level="group")["value"].unstack("metric").droplevel("split")

    def best_model(self, metric: str | None = None) -> str:
        """The model (not a +tta variant) with the highest ``metric`` on the whole split (default
        balanced_accuracy, macro_auroc for multi-label models)."""
        metric = metric or ("macro_auroc" if self.multilabel else "balanced_accuracy")
        s = self.wide()[metric].drop([m for m in self.models if m.endswith("+tta")], errors="ignore")
        if s.dropna().empty:
            return self.models[0]
        return str(s.astype(float).idxmax())

    def key_results(self, metrics: Sequence[str] | None = None) -> dict:
        """The headline numbers per model (for :func:`auxiliary.faces.notebook.finish` and reports); default metrics
        balanced_accuracy, macro_f1, macro_auroc, ece (multi-label: ``MULTILABEL_KEY_METRICS``)."""
        metrics = metrics or (MULTILABEL_KEY_METRICS if self.multilabel else
                              ("balanced_accuracy", "macro_f1", "macro_auroc", "ece"))
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
            self._models[base] = load_checkpoint(self.runs[base]["ckpt"], device=self.runs[base]["device"])
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
        write_text_atomic(csv, flat.to_csv(index=False))
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
            write_text_atomic(p, pred.to_csv(index=False))
            written[f"predictions:{label}"] = p
        return written
