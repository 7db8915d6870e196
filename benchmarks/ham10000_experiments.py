"""HAM10000 fine-tuning experiments on CPU: test balanced accuracy, macro AUROC and wall time.

Splits ``../shared/data/ham10000`` by lesion (70/15/15, ``lesion_id`` groups, seed 0) once, then
trains each experiment with ``auxiliary.train.fit`` (the ``full`` profile with the overrides
below) and writes a table of results. Outputs go under ``--out`` (default
``/tmp/ham10000_experiments``), never into the checkout; the decoded-image caches too
(``AUXILIARY_OUTPUT`` is pointed there).

    python benchmarks/ham10000_experiments.py --list
    python benchmarks/ham10000_experiments.py --only lite0_pre_160 resnet18_scratch_128
    python benchmarks/ham10000_experiments.py --table          # just print the table of finished runs

An interrupted experiment resumes from its ``last.pt`` when the command is re-run. ``--budget-min``
caps each experiment's epochs so that its estimated training time (from a short timing of the
model at its input size on this machine, at this moment) stays within the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ham10000"

#: name -> train overrides (on top of the ``full`` profile). Pretrained = the offline ImageNet weights.
EXPERIMENTS: dict[str, dict] = {
    "lite0_pre_128": dict(model="tf_efficientnet_lite0", pretrained="true", img_size=128, max_epochs=10,
                          freeze_epochs=1, lr_head=1e-3, lr_ft=6e-4),
    "lite0_pre_160": dict(model="tf_efficientnet_lite0", pretrained="true", img_size=160, max_epochs=8,
                          freeze_epochs=1, lr_head=1e-3, lr_ft=3e-4, patience=3),
    "lite0_pre_192": dict(model="tf_efficientnet_lite0", pretrained="true", img_size=192, max_epochs=8,
                          freeze_epochs=1, lr_head=1e-3, lr_ft=3e-4, patience=3),
    "lite0_pre_224": dict(model="tf_efficientnet_lite0", pretrained="true", img_size=224, max_epochs=7,
                          freeze_epochs=1, lr_head=1e-3, lr_ft=3e-4, patience=0),  # full cosine, no early stop
    "lite0_scratch_128": dict(model="tf_efficientnet_lite0", pretrained="false", img_size=128, max_epochs=10,
                              freeze_epochs=0, lr_ft=2e-3),
    "resnet18_scratch_128": dict(model="resnet18", pretrained="false", img_size=128, max_epochs=10,
                                 freeze_epochs=0, lr_ft=2e-3),
    "lite1_pre_160": dict(model="tf_efficientnet_lite1", pretrained="true", img_size=160, max_epochs=8,
                          freeze_epochs=1, lr_head=1e-3, lr_ft=3e-4, patience=3),
}
COMMON = dict(batch=32, warmup_epochs=0.5, patience=4, loss="ce", label_smoothing=0.05, weight_decay=0.05,
              monitor="val_balanced_acc", precision="32-true", devices="1", accelerator="cpu")


def estimate_epoch_seconds(model_name: str, pretrained: str, img_size: int, n_train: int, n_val: int,
                           batch: int) -> float:
    """Seconds per fine-tuning epoch (train + validation) measured on 2 batches of random data."""
    import torch

    from auxiliary import models

    m = models.create_model(model_name, 7, pretrained=False).to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(m.parameters(), 1e-4)
    x = torch.randn(batch, 3, img_size, img_size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch,))
    torch.nn.functional.cross_entropy(m(x), y).backward()
    opt.step()
    opt.zero_grad()
    t = time.perf_counter()
    for _ in range(2):
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
        opt.zero_grad()
    train_ips = 2 * batch / (time.perf_counter() - t)
    m.eval()
    with torch.no_grad():
        t = time.perf_counter()
        m(x)
        eval_ips = batch / (time.perf_counter() - t)
    return n_train / train_ips + n_val / eval_ips


def make_split(data: Path, out: Path) -> Path:
    from auxiliary import data as data_mod
    from auxiliary import splits

    sdir = out / "split"
    if (sdir / "train.csv").is_file() and (sdir / "classes.json").is_file():
        return sdir
    t = time.perf_counter()
    table, report = data_mod.read_dataset(data, format="ham10000", progress=False)
    splits.make_splits(table, sdir, val=0.15, test=0.15, group_col="lesion_id", seed=0, overwrite=sdir.exists(),
                      progress=False)
    print(f"split {len(table)} images by lesion into {sdir} in {time.perf_counter() - t:.0f} s", flush=True)
    return sdir


def run_experiment(name: str, sdir: Path, out: Path, threads: int, budget_min: float, progress: bool) -> dict:
    from auxiliary import config as config_mod
    from auxiliary import data as data_mod
    from auxiliary import train

    over = {**COMMON, **EXPERIMENTS[name], "threads": threads}
    run_dir = out / "runs" / name
    resume = (run_dir / "last.pt").is_file()
    if not resume and budget_min > 0:
        tables, _ = data_mod.load_split(sdir)
        import torch

        torch.set_num_threads(threads or torch.get_num_threads())
        sec = estimate_epoch_seconds(over["model"], over["pretrained"], over["img_size"], len(tables["train"]),
                                     len(tables["val"]), over["batch"])
        fit_epochs = max(1, int(budget_min * 60 // sec))
        if fit_epochs < over["max_epochs"]:
            print(f"{name}: ~{sec / 60:.1f} min/epoch now; max_epochs {over['max_epochs']} -> {fit_epochs} "
                  f"to fit {budget_min:.0f} min", flush=True)
            over["max_epochs"] = fit_epochs
            over["freeze_epochs"] = min(over["freeze_epochs"], max(0, fit_epochs - 1))
    cfg = config_mod.resolve("full", overrides=over)
    cfg = config_mod.apply_overrides(cfg, {"data.num_workers": 0, "data.cache": True, "data.balance": "class",
                                           "data.augment": "geometric"})
    t = time.perf_counter()
    summary = train.fit(cfg, sdir, run_dir, resume=resume, progress=progress)
    summary["wall_seconds_this_call"] = time.perf_counter() - t
    return summary


def table(out: Path) -> str:
    rows = []
    for s in sorted((out / "runs").glob("*/summary.json")):
        d = json.loads(s.read_text())
        rows.append(
            f"| {s.parent.name} | {d['model']} | {d['pretrained']} | {d['img_size']} | {d['epochs_run']}/"
            f"{d['max_epochs']} | {d.get('best_val_balanced_acc') or float('nan'):.3f} | "
            f"{d.get('test_balanced_acc') or float('nan'):.3f} | {d.get('test_macro_auroc') or float('nan'):.3f} | "
            f"{d.get('test_macro_f1') or float('nan'):.3f} | {d['seconds_training'] / 60:.1f} | "
            f"{d.get('images_per_second') or float('nan'):.1f} |"
        )
    head = ("| run | model | pretrained | px | epochs | val bal.acc | test bal.acc | test macro AUROC | "
            "test macro F1 | train min | img/s |\n|---|---|---|---|---|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default="/tmp/ham10000_experiments")
    ap.add_argument("--only", nargs="*", default=None, help=f"experiments to run (default all: {', '.join(EXPERIMENTS)})")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is faster on a shared CPU)")
    ap.add_argument("--budget-min", type=float, default=60.0, help="training-time cap per experiment (0 = none)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        for k, v in EXPERIMENTS.items():
            print(k, v)
        return 0
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AUXILIARY_OUTPUT", str(out))
    if args.table:
        print(table(out))
        return 0
    data = Path(args.data)
    if not (data / "HAM10000_metadata.csv").is_file():
        print(f"error: HAM10000 not found at {data}", file=sys.stderr)
        return 2
    sdir = make_split(data, out)
    names = args.only or list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        print(f"error: unknown experiments {unknown} (see --list)", file=sys.stderr)
        return 2
    for name in names:
        if (out / "runs" / name / "summary.json").is_file():
            print(f"{name}: done already", flush=True)
            continue
        print(f"=== {name} (load {os.getloadavg()[0]:.1f}) ===", flush=True)
        s = run_experiment(name, sdir, out, args.threads, args.budget_min, not args.no_progress)
        print(f"{name}: test bal.acc {s.get('test_balanced_acc')}, macro AUROC {s.get('test_macro_auroc')}, "
              f"{s['seconds_training'] / 60:.1f} min training, {s['epochs_run']} epochs", flush=True)
    print(table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
