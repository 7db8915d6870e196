"""From synthetic to real with the series' own loop: adaptation without labels, then k corrections.

    python benchmarks/bench_adapt.py --real DIR --input CLEAR_FACES [--label-map clear=none,...] [--out /tmp/adapt]
        [--k 10,30,100] [--set key=value ...] [--smoke]

The real photos of ``--real`` (class folders) are split once, stratified by class (seed 0), into a **pool** (the
photos a user would sort: their labels are never read, except by the simulated reviewer for the photos it is asked
to label) and a disjoint **test half** that every row below is scored on. ``--input`` are clean face photos for
the photo-mode simulator; none may be in ``--real``. From one run, side by side:

* ``synthetic-only``: the recipe of ``benchmarks/bench_sim2real.py`` (photo mode, 600 per class, lite0 from its
  offline ImageNet weights, 224 px, 8 epochs);
* ``adabn``, ``self``, ``adabn+self``: ``python -m auxiliary adapt`` of that model to the pool (no label);
* ``k corrections, uncertainty+diversity`` and ``k corrections, random`` for each ``k``: a reviewer labels the k pool
  photos :func:`auxiliary.steps.feedback.review_batch` picks (or k random ones), they are filed and merged into the
  synthetic training list as ``feedback merge`` does (drawn ``data.real_weight`` = 10 times as often as a synthetic
  image), and the synthetic model is fine-tuned on the merged list (:data:`FINETUNE`: 3 epochs, every layer);
* ``real-only, k labels``: the same recipe trained from the ImageNet weights on those same k labelled photos alone
  (the random ones; a reference, not a bar: the real sources differ in style, which flatters a real-only model).

Prints the table (balanced accuracy, macro AUROC, recall per class on the test half; minutes) and the KID between
the synthetic and the real images per class (the simulators' distance, before any training), and writes
``OUT/results.json`` and ``OUT/adapt_curve.png`` (test balanced accuracy against k). Every step is reused on a
re-run (delete its folder to redo it); ``--smoke`` shrinks everything to seconds for the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from auxiliary.base import config_overrides  # noqa: E402
from auxiliary.base.errors import AuxiliaryError  # noqa: E402
from auxiliary.base.files import write_json_atomic  # noqa: E402
from auxiliary.data.merge import merge_feedback  # noqa: E402
from auxiliary.data.splits import make_splits  # noqa: E402
from auxiliary.inference import sim2real  # noqa: E402
from auxiliary.inference.predictor import Predictor  # noqa: E402
from auxiliary.steps.adapt import adapt  # noqa: E402
from auxiliary.steps.feedback import review_batch, simulate_review  # noqa: E402
from auxiliary.steps.train import train_run  # noqa: E402
from auxiliary.synth.dataset import generate_dataset, read_synthetic_metadata  # noqa: E402


def _sibling(name: str):
    """A script beside this one, loaded by its path (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_S2R = _sibling("bench_sim2real")  # the sim-to-real benchmark's recipe and scoring, shared
RECIPE, SMOKE, fmt_row, refuse_shared_photos = _S2R.RECIPE, _S2R.SMOKE, _S2R.fmt_row, _S2R.refuse_shared_photos
score, split_synthetic = _S2R.score, _S2R.split_synthetic
CLASSES = ["acne", "erythema", "none"]
#: How the synthetic model is fine-tuned on the merged list after k corrections.
FINETUNE = {"train.freeze_epochs": 0, "train.max_epochs": 3, "train.patience": 0, "train.lr_ft": 1e-4}
SMOKE_FINETUNE = {"train.max_epochs": 1}
METHODS = ("adabn", "self", "adabn+self")
#: How much more often a corrected (or pseudo-labelled) real photo is drawn than a synthetic image of its class.
REAL_WEIGHT = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", required=True, help="folder of real photos in class folders")
    p.add_argument("--input", required=True, help="clean face photos for the photo-mode simulator")
    p.add_argument("--label-map", default="clear=none,rosacea=erythema,acne_closeup=acne",
                   help="rename real labels onto acne / erythema / none")
    p.add_argument("--out", default="/tmp/adapt", help="output folder (default /tmp/adapt)")
    p.add_argument("--k", default="10,30,100", help="numbers of corrections (default 10,30,100)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    p.add_argument("--kid-per-class", type=int, default=200, help="images per class embedded for the KID (default 200)")
    p.add_argument("--smoke", action="store_true", help="tiny settings (seconds): for the test suite")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace, extra: dict | None = None):
    over = dict(RECIPE)
    if args.smoke:
        over.update(SMOKE)
    over["synth.input_dir"] = str(Path(args.input).resolve())
    over["train.threads"] = args.threads
    over["data.real_weight"] = REAL_WEIGHT
    over.update(extra or {})
    over.update(config_overrides.parse_set(args.set))
    return config_overrides.resolve("smoke" if args.smoke else "demo", overrides=over)


def flat_folder(table: pd.DataFrame, folder: Path) -> Path:
    """The photos of ``table`` in one folder with no label in it (hard links where possible): what a user sorts."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(table["path"]):
        dest = folder / f"photo_{i:04d}{Path(p).suffix.lower()}"
        if not dest.exists():
            try:
                os.link(p, dest)
            except OSError:
                shutil.copyfile(p, dest)
    return folder


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, (time.perf_counter() - t0) / 60


def pool_predictions(ckpt: Path, pool_dir: Path) -> tuple[Predictor, pd.DataFrame]:
    """The synthetic model's calibrated probabilities for every pool photo, as a sort's predictions table."""
    pred = Predictor.from_checkpoint(ckpt, device="cpu")
    paths = sorted(str(p) for p in pool_dir.iterdir())
    probs, errors = pred.predict_paths(paths, progress=False)
    df = pd.DataFrame({"source": paths, "decision": ["rejected" if i in errors else "sorted" for i in range(len(paths))],
                       "destination": "", "predicted": ["" if i in errors else pred.classes[int(probs[i].argmax())]
                                                        for i in range(len(paths))]})
    for j, c in enumerate(pred.classes):
        df[f"prob_{c}"] = probs[:, j]
    return pred, df


def corrections_run(cfg, args, out: Path, pred: Predictor, preds: pd.DataFrame, truth: dict[str, str], k: int,
                    strategy: str, syn_split: Path, ckpt: Path) -> tuple[Path, pd.DataFrame]:
    """k pool photos picked by ``strategy``, filed under their true class, merged, the synthetic model fine-tuned."""
    run = out / f"k{k}_{strategy.replace('+', '_')}"
    picked_csv = run / "picked.csv"
    if picked_csv.is_file():
        picked = pd.read_csv(picked_csv)
    else:
        picked = review_batch(pred, preds, k, strategy, seed=0, progress=False)
        picked["label"] = [truth[s] for s in picked["source"]]  # the reviewer: the only place a pool label is read
        run.mkdir(parents=True, exist_ok=True)
        picked.to_csv(picked_csv, index=False)
    merged = run / "split"
    if not (merged / "classes.json").is_file():
        simulate_review(picked, run / "feedback", "single", CLASSES)
        merge_feedback(syn_split, run / "feedback", merged, progress=False)
    tuned = run / "run"
    if not (tuned / "summary.json").is_file():
        fcfg = build_config(args, {**FINETUNE, **(SMOKE_FINETUNE if args.smoke else {}), "train.pretrained": str(ckpt)})
        train_run(fcfg, merged, tuned, overwrite=tuned.exists(), progress=False)
    return tuned / "best.pt", picked


def real_only_run(cfg, out: Path, picked: pd.DataFrame, k: int) -> Path | None:
    """The recipe from ImageNet weights on the k labelled photos alone (its own validation: a quarter of them)."""
    run = out / f"k{k}_real_only"
    if (run / "run" / "summary.json").is_file():
        return run / "run" / "best.pt"
    table = picked[["source", "label"]].rename(columns={"source": "path"}).assign(group=lambda t: t["path"])
    if table["label"].value_counts().reindex(CLASSES, fill_value=0).min() < 2:
        return None  # a class with fewer than two photos cannot be split and learnt: no real-only reference at this k
    make_splits(table, run / "split", val=0.25, test=0.0, seed=0, progress=False, check_duplicates=False)
    train_run(cfg, run / "split", run / "run", overwrite=(run / "run").exists(), progress=False)
    return run / "run" / "best.pt"


def plot_curve(results: dict, ks: list[int], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    base = results["rows"]["synthetic-only"]["balanced_accuracy"]
    ax.axhline(base, color="grey", ls="--", lw=1, label="synthetic-only (k = 0)")
    best_adapt = max(results["rows"][m]["balanced_accuracy"] for m in METHODS)
    ax.axhline(best_adapt, color="tab:green", ls=":", lw=1, label="best unsupervised adaptation")
    for strategy, colour in (("uncertainty+diversity", "tab:blue"), ("random", "tab:orange"), ("real-only", "tab:red")):
        pts = [(k, results["rows"].get(f"k={k} {strategy}", {}).get("balanced_accuracy")) for k in ks]
        pts = [(k, v) for k, v in pts if v is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", color=colour, label=f"k corrections: {strategy}" if strategy != "real-only"
                    else "real-only on the same k labels")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k corrections (labelled real photos)")
    ax.set_ylabel("balanced accuracy, real test half")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Synthetic to real: adaptation and corrections")
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AUXILIARY_OUTPUT", str(out.resolve()))
    os.environ.setdefault("AUXILIARY_CACHE", str((out / "cache").resolve()))
    refuse_shared_photos(args.input, args.real)
    cfg = build_config(args)
    ks = [int(k) for k in args.k.split(",") if k.strip()]
    minutes: dict[str, float] = {}
    real = sim2real.read_real(args.real, args.label_map, CLASSES)
    pool, test = sim2real.halves(real, seed=0)
    pool_dir = flat_folder(pool, out / "pool")
    truth = {str(pool_dir / f"photo_{i:04d}{Path(p).suffix.lower()}"): lab
             for i, (p, lab) in enumerate(zip(pool["path"], pool["label"]))}
    syn_dir = out / "synthetic"
    if not (syn_dir / "metadata.csv").is_file():
        _, minutes["simulate"] = timed(generate_dataset, cfg.synth, syn_dir, overwrite=syn_dir.exists(), progress=False)
    syn_split = split_synthetic(cfg, syn_dir, out / "split")
    base = out / "synthetic_run"
    if not (base / "summary.json").is_file():
        _, minutes["synthetic-only"] = timed(train_run, cfg, syn_split, base, overwrite=base.exists(), progress=False)
    ckpt = base / "best.pt"
    rows: dict[str, dict] = {"synthetic-only": score(ckpt, test, out / "score_synthetic", CLASSES)}
    for method in METHODS:
        run = out / f"adapt_{method.replace('+', '_')}"
        if not (run / "best.pt").is_file():
            acfg = build_config(args, {"train.max_epochs": 1} if args.smoke else {})
            _, minutes[method] = timed(adapt, acfg, ckpt, pool_dir, run, method=method, split=syn_split,
                                       epochs=1 if args.smoke else 3, overwrite=run.exists(), progress=False,
                                       precision=0.34 if args.smoke else 0.95, min_confidence=0.0 if args.smoke else 0.5)
        rows[method] = score(run / "best.pt", test, out / f"score_{method.replace('+', '_')}", CLASSES)
    pred, preds = pool_predictions(ckpt, pool_dir)
    skipped: dict[str, str] = {}
    for k in ks:
        for strategy in ("uncertainty+diversity", "random"):
            (tuned, picked), minutes[f"k={k} {strategy}"] = timed(corrections_run, cfg, args, out, pred, preds, truth,
                                                                  k, strategy, syn_split, ckpt)
            rows[f"k={k} {strategy}"] = score(tuned, test, out / f"score_k{k}_{strategy.replace('+', '_')}", CLASSES)
        ref, minutes[f"k={k} real-only"] = timed(real_only_run, cfg, out, picked, k)
        if ref is not None:
            rows[f"k={k} real-only"] = score(ref, test, out / f"score_k{k}_real_only", CLASSES)
        else:
            skipped[f"k={k} real-only"] = "a class has fewer than two of the k labelled photos"
    gap = sim2real.domain_gap(read_synthetic_metadata(syn_dir), real, CLASSES, per_class=args.kid_per_class,
                              subset_size=min(100, args.kid_per_class))
    results = {"rows": rows, "skipped": skipped, "minutes": minutes, "pool": len(pool), "test": len(test), "k": ks,
               "kid": gap.reset_index().to_dict(orient="records"),
               "recipe": {"synthetic": RECIPE, "finetune": FINETUNE, "real_weight": cfg.data.real_weight}}
    write_json_atomic(out / "results.json", results)
    plot_curve(results, ks, out / "adapt_curve.png")
    print(f"adapt: {len(pool)} pool photos (unlabelled), {len(test)} test photos, real photos {args.real}")
    print(f"{'model (test half)':<34} " + "  ".join(f"{('rec ' + c)[:8]:>4}" for c in CLASSES)
          + "   bal.acc  AUROC      n   minutes")
    for name, s in rows.items():
        print(fmt_row(name, s, CLASSES) + f"   {minutes.get(name, float('nan')):6.1f}")
    for name, why in skipped.items():
        print(f"{name}: not run ({why})")
    print("KID synthetic vs real per class (offline tf_efficientnet_lite0 features; lower = closer):")
    print(gap.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"figure: {out / 'adapt_curve.png'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AuxiliaryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
