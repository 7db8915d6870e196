"""Sim-to-real: train on synthetic images only, measure on real photos.

    python benchmarks/bench_sim2real.py --real DIR [--label-map clear=none,rosacea=erythema]
        [--input CLEAN_FACES] [--out /tmp/sim2real] [--real-reference] [--set synth.zoom=1,8 ...]

One fixed recipe and budget (``RECIPE`` below on the ``demo`` profile, unless ``--set`` changes it:
600 images per class, 8 epochs, about 12 minutes here): simulate (procedural skin, or the photo mode on ``--input`` clean faces),
split by subject, fine-tune ``tf_efficientnet_lite0`` from its offline ImageNet weights at 224 px,
then predict every real photo of ``--real`` (class folders; ``--label-map`` renames them onto the
synthetic classes acne / erythema / none). Prints, from this one run:

* per-class recall, balanced accuracy and macro AUROC on the real photos (all of them, and on the
  held-out half when ``--real-reference`` is given);
* with ``--real-reference``: the same recipe trained on one stratified half of the real photos and
  scored on the other half, beside the synthetic-trained model on that same half, and the ratio
  synthetic / real of balanced accuracy;
* the KID between synthetic and real images per class, on offline ImageNet features of
  ``tf_efficientnet_lite0`` (no model of the run is involved): a number that judges a simulator
  change before any training;
* wall times of simulation and training.

The photos you pass as ``--input`` must not also be in ``--real`` (the script refuses a file that is
in both). Every output goes under ``--out``; a re-run reuses the finished steps (delete a step's
folder to redo it). ``--smoke`` shrinks everything to seconds (the test suite runs it on tiny folders).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from auxiliary.base import config_overrides
from auxiliary.base.config import Config
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import write_json_atomic
from auxiliary.base.images import is_image_name
from auxiliary.data.readers import read_dataset
from auxiliary.data.splits import make_splits
from auxiliary.inference import sim2real
from auxiliary.steps.evaluate import evaluate
from auxiliary.steps.train import train_run
from auxiliary.synth.dataset import generate_dataset, read_synthetic_metadata

#: the fixed recipe (on top of the demo profile): offline ImageNet weights, 224 px (a 2 mm papule
#: spans >= 3 px on a full face), two phases, no early stopping;
#: the epoch is chosen on the synthetic validation split (best.pt).
RECIPE = {
    "synth.n_per_class": 600,
    "train.model": "tf_efficientnet_lite0", "train.pretrained": "true", "train.img_size": 224,
    "train.max_epochs": 8, "train.freeze_epochs": 1, "train.lr_head": 1e-3, "train.lr_ft": 3e-4,
    "train.patience": 0, "train.batch": 32, "data.augment": "color", "data.val": 0.15, "data.test": 0.15,
}
SMOKE = {"synth.n_per_class": 6, "synth.size": 96, "train.img_size": 64, "train.max_epochs": 1,
         "train.freeze_epochs": 0, "train.batch": 8, "data.val": 0.25, "data.test": 0.25, "data.cache": False}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", required=True, help="folder of real photos in class folders")
    p.add_argument("--label-map", default=None, help="rename real labels, e.g. clear=none,rosacea=erythema")
    p.add_argument("--input", default=None, help="clean face photos for the photo-mode simulator (default: procedural)")
    p.add_argument("--out", default="/tmp/sim2real", help="output folder (default /tmp/sim2real)")
    p.add_argument("--n-per-class", type=int, default=None, help="synthetic images per class (default 600)")
    p.add_argument("--real-reference", action="store_true",
                   help="also train the recipe on half of the real photos and compare on the other half")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    p.add_argument("--kid-per-class", type=int, default=200, help="images per class embedded for the KID (default 200)")
    p.add_argument("--smoke", action="store_true", help="tiny settings (seconds): for the test suite")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace):
    over = dict(RECIPE)
    if args.smoke:
        over.update(SMOKE)
    if args.input:
        over["synth.input_dir"] = str(Path(args.input).resolve())
    if args.n_per_class:
        over["synth.n_per_class"] = args.n_per_class
    over["train.threads"] = args.threads
    over.update(config_overrides.parse_set(args.set))
    return config_overrides.resolve("smoke" if args.smoke else "demo", overrides=over)


def refuse_shared_photos(input_dir: str | None, real_dir: str) -> None:
    """The simulator's input photos may not be among the real test photos (by resolved file)."""
    if not input_dir:
        return
    real = {p.resolve() for p in Path(real_dir).rglob("*") if p.is_file() and is_image_name(p)}
    both = [p for p in Path(input_dir).rglob("*") if p.is_file() and p.resolve() in real]
    if both:
        raise AuxiliaryError(f"{len(both)} photo(s) are both simulator input and real test data, e.g. {both[0]}")


def split_synthetic(cfg, syn_dir: Path, split_dir: Path) -> Path:
    if not (split_dir / "classes.json").is_file():
        table, _ = read_dataset(syn_dir, format="synthetic", progress=False)
        make_splits(table, split_dir, val=cfg.data.val, test=cfg.data.test, seed=cfg.data.seed, progress=False,
                    check_duplicates=False)
    return split_dir


def train(cfg, split_dir: Path, run_dir: Path) -> tuple[Path, float]:
    t0 = time.perf_counter()
    if not ((run_dir / "summary.json").is_file() and (run_dir / "best.pt").is_file()):
        resume = (run_dir / "last.pt").is_file()
        train_run(cfg, split_dir, run_dir, resume=resume, overwrite=run_dir.exists() and not resume, progress=False)
    # The reported model: best.pt, the epoch chosen on the synthetic validation split (no real photo
    # takes part in training or model choice).
    return run_dir / "best.pt", time.perf_counter() - t0


def score(ckpt: Path, table: pd.DataFrame, out: Path, classes: list[str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    lst = out / "real.csv"
    table[["path", "label"]].to_csv(lst, index=False)
    if (out / "eval" / "predictions.csv").is_file():
        pred = pd.read_csv(out / "eval" / "predictions.csv")
    else:
        res = evaluate(Config(), ckpt, lst, out / "eval", progress=False, overwrite=True)  # the default eval settings
        pred = res["predictions"]
    return sim2real.real_scores(pred, classes)


def fmt_row(name: str, s: dict, classes: list[str]) -> str:
    rec = "  ".join(f"{s[f'recall_{c}']:.2f}" for c in classes)
    return f"{name:<34} {rec}   {s['balanced_accuracy']:.3f}   {s['macro_auroc']:.3f}   {s['n']:>5}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("AUXILIARY_OUTPUT", str(Path(args.out).resolve()))
    cfg = build_config(args)
    refuse_shared_photos(args.input, args.real)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    syn_dir = out / "synthetic"
    t0 = time.perf_counter()
    if not (syn_dir / "metadata.csv").is_file():
        generate_dataset(cfg.synth, syn_dir, overwrite=syn_dir.exists(), progress=False)
    times["simulate_s"] = time.perf_counter() - t0
    classes = ["acne", "erythema", "none"]
    split_dir = split_synthetic(cfg, syn_dir, out / "split")
    ckpt, times["train_s"] = train(cfg, split_dir, out / "run")
    summ = json.loads((out / "run" / "summary.json").read_text())
    syn_val = {k: summ.get(k) for k in ("best_val_balanced_acc", "test_balanced_acc", "test_macro_auroc",
                                        "best_epoch", "seconds_training", "images_per_second")}
    real = sim2real.read_real(args.real, args.label_map, classes)
    results: dict = {"config": {"synth": cfg.synth.__dict__, "train": cfg.train.__dict__},
                     "mode": "photo" if args.input else "procedural", "times": times, "synthetic_val": syn_val}
    results["synthetic_on_real_all"] = score(ckpt, real, out / "real_all", classes)
    rows = [("synthetic-trained, all real", results["synthetic_on_real_all"])]
    if args.real_reference:
        half_a, half_b = sim2real.halves(real, seed=0)
        ref_split = out / "real_split"
        if not (ref_split / "classes.json").is_file():
            make_splits(half_a, ref_split, val=0.25, test=0.0, seed=0, progress=False, check_duplicates=False)
        ref_ckpt, times["train_real_s"] = train(replace(cfg, synth=cfg.synth), ref_split, out / "run_real")
        results["synthetic_on_real_half"] = score(ckpt, half_b, out / "real_half_synthetic", classes)
        results["real_on_real_half"] = score(ref_ckpt, half_b, out / "real_half_real", classes)
        a, b = results["synthetic_on_real_half"], results["real_on_real_half"]
        results["ratio_balanced_accuracy"] = a["balanced_accuracy"] / b["balanced_accuracy"]
        rows += [("synthetic-trained, held-out half", a), ("real-trained, held-out half", b)]
    syn_table = read_synthetic_metadata(syn_dir)
    gap = sim2real.domain_gap(syn_table, real, classes, per_class=args.kid_per_class,
                              subset_size=min(100, args.kid_per_class))
    results["kid"] = gap.reset_index().to_dict(orient="records")
    write_json_atomic(out / "results.json", results)
    print(f"sim2real: {results['mode']} mode, {len(syn_table)} synthetic images, real photos {args.real}")
    print(f"{'model / real set':<34} " + "  ".join(f"{('rec ' + c)[:8]:>4}" for c in classes)
          + "   bal.acc  AUROC      n")
    for name, s in rows:
        print(fmt_row(name, s, classes))
    if "ratio_balanced_accuracy" in results:
        print(f"ratio synthetic / real (balanced accuracy, held-out half): {results['ratio_balanced_accuracy']:.2f}")
    print("KID synthetic vs real (offline tf_efficientnet_lite0 features; lower = closer):")
    print(gap.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"synthetic splits: validation balanced accuracy {syn_val['best_val_balanced_acc']:.3f} (epoch "
          f"{syn_val['best_epoch']}), test balanced accuracy {syn_val['test_balanced_acc']:.3f}, "
          f"AUROC {syn_val['test_macro_auroc']:.3f}")
    print("times: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AuxiliaryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
