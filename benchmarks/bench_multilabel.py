"""Multi-label skin conditions on synthetic faces: per-label AUROC and F1, and the tone fairness gap.

    python benchmarks/bench_multilabel.py [--out /tmp/bench_multilabel] [--n 2400] [--seed 0]
        [--set train.img_size=160 ...] [--smoke]

One fixed recipe (``RECIPE`` below, on the ``demo`` profile: the demo's model and offline ImageNet
weights, 160 px, 12 epochs; run M5 of ``benchmarks/multilabel_runs.md``, about 9 minutes on a quiet
2-core CPU), run through the same commands a user types, in one process::

    simulate --task multilabel --n N      (acne, erythema, hyperpigmentation, wrinkles drawn independently)
    split    --data SYN --out SPLIT       (iterative stratification by subject: every label keeps its share)
    train    --data SPLIT --out RUN --loss bce   (BCE with per-label pos_weight, label- and tone-balanced sampler)
    evaluate --ckpt RUN/best.pt --data SPLIT/test.csv --out EVAL

then prints, from this one run, on the synthetic test split:

* per label: prevalence, AUROC, average precision, F1 at the label's validation threshold;
  macro and micro AUROC, subset accuracy, Hamming loss;
* the fairness gap (F1 of the darkest tone group minus F1 of the intermediate group, per label and
  macro) with the global per-label thresholds and with the per (tone group, label) thresholds, both
  fitted on the validation split and recorded in the checkpoint; tones are known exactly here
  (the simulator draws them);
* wall times of each step.

Targets (issue 18): macro AUROC >= 0.90 and |macro gap| < 0.15 with per-group thresholds.
Every output goes under ``--out``; a re-run reuses finished steps (delete a step's folder to redo it).
``--smoke`` shrinks everything to seconds (the test suite runs it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from auxiliary.data.labels import label_matrix
from auxiliary.data.readers import load_split
from auxiliary.evaluation.fairness import fairness_gap
from auxiliary.evaluation.metrics import multilabel_summary, per_label_metrics
from auxiliary.evaluation.thresholds import thresholds_from_dict
from auxiliary.faces import cli
from auxiliary.models.checkpoint import read_checkpoint

#: The fixed recipe on top of the demo profile (``--set`` changes it; say so when you report a run).
RECIPE = {
    "data.val": 0.2, "data.test": 0.25, "data.balance": "both",
    "train.img_size": 160, "train.max_epochs": 12, "train.freeze_epochs": 1, "train.patience": 0,
    "train.batch": 32,
}
SMOKE = {"synth.size": 96, "data.val": 0.3, "data.test": 0.3, "data.cache": False, "data.balance": "class",
         "train.model": "resnet18", "train.pretrained": "false", "train.img_size": 48, "train.max_epochs": 1,
         "train.freeze_epochs": 0, "train.batch": 8}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="/tmp/bench_multilabel", help="output folder (default /tmp/bench_multilabel)")
    p.add_argument("--n", type=int, default=2400, help="synthetic faces (default 2400)")
    p.add_argument("--seed", type=int, default=0, help="seed of simulation, split and training (default 0)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    p.add_argument("--smoke", action="store_true", help="tiny settings (seconds): for the test suite")
    return p.parse_args(argv)


def settings(args: argparse.Namespace) -> list[str]:
    """The ``--set`` arguments of every step: the recipe, the smoke shrink, the user's own overrides."""
    over = {**RECIPE, **(SMOKE if args.smoke else {}), "synth.seed": args.seed, "data.seed": args.seed,
            "train.seed": args.seed, "train.threads": args.threads}
    out = []
    for k, v in over.items():
        out += ["--set", f"{k}={v}"]
    for item in args.set:
        out += ["--set", item]
    return out


def step(name: str, argv: list[str], done: Path, times: dict[str, float]) -> None:
    """Run one CLI step unless ``done`` exists; exit with its code when it fails."""
    if done.exists():
        print(f"[{name}] reusing {done}")
        times[name] = math.nan
        return
    t0 = time.perf_counter()
    rc = cli.main(argv)
    times[name] = time.perf_counter() - t0
    if rc != 0:
        sys.exit(rc)


def test_scores(split_dir: Path, eval_dir: Path, ckpt: Path) -> dict:
    """Per-label metrics, macro figures and the fairness gap of the evaluated test predictions."""
    tables, labels = load_split(split_dir)
    test = tables["test"].reset_index(drop=True)
    pred = pd.read_csv(eval_dir / "predictions.csv")
    probs = pred.set_index("path")[[f"prob_{lab}" for lab in labels]].reindex(test["path"].astype(str))
    if probs.isna().any().any():
        raise SystemExit(f"{eval_dir / 'predictions.csv'} does not cover every test image")
    Y, P = label_matrix(test, labels), probs.to_numpy()
    info = read_checkpoint(ckpt)
    thr = thresholds_from_dict(info["thresholds"])
    glob = [thr.global_thresholds[lab] for lab in labels]
    per = per_label_metrics(Y, P, labels, glob)
    summary = multilabel_summary(Y, P, labels, glob)
    gap = fairness_gap(Y, P, test["tone_group"].astype(str), labels, thr)
    return {"labels": labels, "per_label": per, "summary": summary, "gap": gap, "n_test": len(test)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    out = Path(args.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    syn, split, run, ev = out / "synthetic", out / "split", out / "run", out / "eval"
    common = ["--profile", "demo", *settings(args)]
    n = 36 if args.smoke else args.n
    times: dict[str, float] = {}
    step("simulate", ["simulate", "--task", "multilabel", "--n", str(n), "--out", str(syn), "--quiet", *common],
         syn / "metadata.csv", times)
    step("split", ["split", "--data", str(syn), "--out", str(split), *common], split / "classes.json", times)
    step("train", ["train", "--data", str(split), "--out", str(run), "--loss", "bce", *common],
         run / "summary.json", times)
    step("evaluate", ["evaluate", "--ckpt", str(run / "best.pt"), "--data", str(split / "test.csv"),
                      "--out", str(ev), *common], ev / "summary.json", times)
    res = test_scores(split, ev, run / "best.pt")
    per, s, gap = res["per_label"], res["summary"], res["gap"]
    print(f"\nmulti-label benchmark: {n} faces, test {res['n_test']}, seed {args.seed}"
          f"{' (smoke)' if args.smoke else ''}; overrides {args.set or 'none'}")
    cols = [c for c in ("prevalence", "auroc", "average_precision", "threshold", "precision", "recall", "f1")
            if c in per.columns]
    print(per[cols].to_string(float_format=lambda v: f"{v:.3f}"))
    keys = [k for k in ("macro_auroc", "micro_auroc", "macro_ap", "macro_f1", "micro_f1",
                        "subset_accuracy", "hamming_loss") if k in s]
    print("  ".join(f"{k} {s[k]:.3f}" for k in keys))
    a, b = gap.attrs.get("group_a"), gap.attrs.get("group_b")
    print(f"\nfairness gap, F1({a}) - F1({b}), thresholds fitted on validation:")
    print(gap[["n_positives_a", "n_positives_b", "f1_a_global", "f1_b_global", "gap_global",
               "f1_a_group", "f1_b_group", "gap_group"]].to_string(float_format=lambda v: f"{v:.3f}"))
    macro = gap.loc["macro"]
    print(f"\nmacro AUROC {s['macro_auroc']:.3f} (target >= 0.90); macro gap global {macro['gap_global']:+.3f}, "
          f"per-group {macro['gap_group']:+.3f} (target |gap| < 0.15)")
    print("wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in times.items() if not math.isnan(v)))
    record = {"n": n, "seed": args.seed, "smoke": args.smoke, "overrides": args.set, "times_s": times,
              "summary": {k: float(s[k]) for k in keys},
              "per_label": per[cols].reset_index().to_dict(orient="records"),
              "gap": gap.reset_index().replace({np.nan: None}).to_dict(orient="records")}
    (out / "bench_multilabel.json").write_text(json.dumps(record, indent=2, default=float), encoding="utf-8")
    print(f"wrote {out / 'bench_multilabel.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
