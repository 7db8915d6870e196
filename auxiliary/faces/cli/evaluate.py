"""``python -m auxiliary evaluate``: its flags and its call into :mod:`auxiliary.steps.evaluate`."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from auxiliary.base.bounds import MAX_BATCH
from auxiliary.base.config import Config
from auxiliary.base.layout import resolve_path
from auxiliary.evaluation.report import EvaluationError
from auxiliary.faces.cli import flags as arguments
from auxiliary.steps.evaluate import (
    evaluate_checkpoint,
)
from auxiliary.steps.evaluate_multilabel import print_multilabel_results
from auxiliary.training.records import record_step


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, metavar="BEST.pt", help="checkpoint to evaluate (runs/NAME/best.pt)")
    parser.add_argument("--data", required=True, metavar="SPLIT.csv|DIR",
                        help="split list to evaluate on (e.g. test.csv), or any dataset the data step reads "
                             "(class folders, a CSV list, HAM10000)")
    parser.add_argument("--label-map", default=None, metavar="OLD=NEW,...",
                        help="rename the data's labels to the model's classes, e.g. rosacea=erythema,clear=none "
                             "(multi-label model: rename the data's 0/1 label columns)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the JSON/CSV/PNG results")
    parser.add_argument("--val", default=None, metavar="VAL.csv",
                        help="validation list: fit the temperature and the per-group thresholds on it "
                             "(multi-label model: one temperature per label, per-label and per (group, label) thresholds)")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx", "auto"], help="inference backend")
    parser.add_argument("--batch-size", type=arguments.batch_size, default=32,
                        help=f"inference batch size (1 to {MAX_BATCH})")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _fmt(v: Any) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    ckpt = resolve_path(args.ckpt)
    data_csv = resolve_path(args.data)
    val_csv = resolve_path(args.val) if args.val else None
    if not Path(ckpt).is_file():
        raise EvaluationError(f"file not found: {ckpt}")
    for p in [data_csv] + ([val_csv] if val_csv else []):
        if not Path(p).exists():
            raise EvaluationError(f"data not found: {p}")
    res = evaluate_checkpoint(
        ckpt, data_csv, args.out, cfg.eval, val_csv=val_csv, backend=args.backend, batch_size=args.batch_size,
        overwrite=args.overwrite, progress=not args.quiet, label_map=args.label_map,
    )
    s = res["summary"]
    if res["info"].get("task") == "multilabel":
        print_multilabel_results(res, args.out)
        record_step(cfg, "evaluate", args.out, metrics=s, tags={"model_arch": res["info"]["model"], "checkpoint": ckpt},
                    split_dir=Path(data_csv).parent)
        return 0
    print(f"{res['info']['model']} on {data_csv} (n={res['info']['n']}, temperature {res['temperature']:.3f} "
          f"{res['temperature_source']})")
    print("  " + ", ".join(f"{k} {_fmt(v)}" for k, v in s.items()))
    hr = res.get("high_recall")
    if hr:
        print(f"  recall >= {hr['target_recall']:g} for {'+'.join(hr['positive_classes'])}: threshold "
              f"{_fmt(hr['threshold'])}, precision {_fmt(hr['precision'])} ({hr['note']})")
    if "gaps" in res:
        g = res["gaps"]
        for m in ("balanced_accuracy", "macro_auroc"):
            if m in g.index:
                print(f"  {m} gap across {cfg.eval.fairness_col}: {_fmt(g.loc[m, 'gap'])} (worst {g.loc[m, 'worst_group']})")
    for note in res["notes"]:
        print(f"  note: {note}")
    print(f"results: {Path(args.out)}")
    record_step(cfg, "evaluate", args.out, metrics=s, tags={"model_arch": res["info"]["model"], "checkpoint": ckpt},
                split_dir=data_csv if Path(data_csv).is_dir() else Path(data_csv).parent)
    return 0

