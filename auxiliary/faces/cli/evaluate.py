"""``python -m auxiliary evaluate``: its flags, one call into :func:`auxiliary.steps.evaluate.evaluate`, and what it prints.

What the console shows of an evaluation depends on what its task measures (:data:`REPORT_LINES`, one entry per
task): the headline metrics, the high-recall operating point and the gaps of one class per image; the per-label
table, macro and micro figures and the fairness gap of several labels per image.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import auxiliary.faces.cli.flags as arguments
from auxiliary.base.bounds import MAX_BATCH
from auxiliary.base.config import Config
from auxiliary.steps.evaluate import evaluate


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, metavar="BEST.pt", help="checkpoint to evaluate (runs/NAME/best.pt)")
    parser.add_argument("--data", required=True, metavar="SPLIT.csv|DIR",
                        help="split list to evaluate on (e.g. test.csv), a split folder (its test.csv, as compare "
                             "reads it), or any dataset the data step reads (class folders, a CSV list, HAM10000)")
    parser.add_argument("--label-map", default=None, metavar="OLD=NEW,...",
                        help="rename the data's labels to the model's classes, e.g. rosacea=erythema,clear=none "
                             "(multi-label model: rename the data's 0/1 label columns)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the JSON/CSV/PNG results")
    parser.add_argument("--val", default=None, metavar="VAL.csv",
                        help="validation list (or a split folder: its val.csv): fit the temperature and the "
                             "per-group thresholds on it "
                             "(multi-label model: one temperature per label, per-label and per (group, label) thresholds)")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx", "auto"], help="inference backend")
    parser.add_argument("--batch-size", type=arguments.batch_size, default=32,
                        help=f"inference batch size (1 to {MAX_BATCH})")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _fmt(v: Any) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def class_lines(res: dict[str, Any]) -> list[str]:
    """One class per image: the summary metrics, the high-recall operating point, the gaps of two headline metrics."""
    info, s = res["info"], res["summary"]
    lines = [f"{info['model']} on {info['data']} (n={info['n']}, temperature {res['temperature']:.3f} "
             f"{res['temperature_source']})", "  " + ", ".join(f"{k} {_fmt(v)}" for k, v in s.items())]
    hr = res.get("high_recall")
    if hr:
        lines.append(f"  recall >= {hr['target_recall']:g} for {'+'.join(hr['positive_classes'])}: threshold "
                     f"{_fmt(hr['threshold'])}, precision {_fmt(hr['precision'])} ({hr['note']})")
    op = res.get("operating_point")
    if op:
        floors = ", ".join(f"{c} >= {r:g}" for c, r in op["min_recall"].items()) or "no recall floor"
        lines.append(f"  at the stored operating point ({floors}): balanced accuracy {_fmt(op['balanced_acc'])}; "
                     + ", ".join(f"{c} recall {_fmt(v['recall'])} precision {_fmt(v['precision'])}"
                                 for c, v in op["per_class"].items()))
    for m in ("balanced_accuracy", "macro_auroc"):
        if "gaps" in res and m in res["gaps"].index:
            g = res["gaps"]
            lines.append(f"  {m} gap across {info['fairness_col']}: {_fmt(g.loc[m, 'gap'])} "
                         f"(worst {g.loc[m, 'worst_group']})")
    return lines


def label_lines(res: dict[str, Any]) -> list[str]:
    """Several labels per image: a per-label table, the macro and micro figures, the fairness gap."""
    info, s = res["info"], res["summary"]
    lines = [f"{info['model']} on {info['data']} (n={info['n']}, multi-label, {len(res['classes'])} labels; "
             f"temperatures {res['temperature_source']}; thresholds {res['threshold_source']})"]
    cols = {"support": "support", "auroc": "auroc", "average_precision": "ap", "threshold": "thr", "f1": "f1",
            "precision_at_recall": f"prec@r{res['target_recall']:g}", "ece": "ece"}
    per = res["per_label"][list(cols)].rename(columns=cols).rename_axis(None)
    lines.append("  " + per.to_string(float_format=lambda v: f"{v:.3f}").replace("\n", "\n  "))
    lines.append("  macro: " + ", ".join(f"{k.removeprefix('macro_')} {_fmt(s[k])}" for k in
                                         ("macro_auroc", "macro_ap", "macro_f1", "macro_ece")))
    lines.append(f"  micro f1 {_fmt(s['micro_f1'])}, subset accuracy {_fmt(s['subset_accuracy'])}, "
                 f"hamming loss {_fmt(s['hamming_loss'])}")
    if "group_thresholds" in res["metrics"].index:
        g = res["metrics"].loc["group_thresholds"]
        lines.append(f"  per-group thresholds: macro f1 {_fmt(g['macro_f1'])}, "
                     f"subset accuracy {_fmt(g['subset_accuracy'])}")
    if "fairness_gap" in res:
        gap = res["fairness_gap"]
        lines.append(f"  F1 gap {gap.attrs.get('group_a')} - {gap.attrs.get('group_b')} (macro): "
                     f"{_fmt(gap.loc['macro', 'gap_global'])} with global thresholds, "
                     f"{_fmt(gap.loc['macro', 'gap_group'])} with per-group thresholds")
    return lines


#: What the console shows of an evaluation, by task name (before the notes and the output folder).
REPORT_LINES: dict[str, Callable[[dict[str, Any]], list[str]]] = {"single": class_lines, "multilabel": label_lines}


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    res = evaluate(cfg, args.ckpt, args.data, args.out, val=args.val, backend=args.backend,
                   batch_size=args.batch_size, overwrite=args.overwrite, progress=not args.quiet,
                   label_map=args.label_map)
    for line in REPORT_LINES[res["task"]](res) + [f"  note: {note}" for note in res["notes"]]:
        print(line)
    print(f"results: {Path(args.out)}")
    return 0
