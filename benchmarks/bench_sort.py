"""Sorting speed and memory: images/s end to end and where the time goes; resident memory vs folder size.

    python benchmarks/bench_sort.py                 # 1,000 images for speed, 1,000 vs 10,000 for memory
    python benchmarks/bench_sort.py --n-large 3000  # quicker

Generates small synthetic skin-like JPEGs into a temporary folder, saves a fresh (untrained)
resnet18 checkpoint, and runs :func:`auxiliary.inference.sort_folder` (read, preprocess, infer,
copy, journal, reports) in a fresh subprocess per folder size, so that each peak resident memory
(``ru_maxrss``) belongs to one run. Targets: inference, not file handling, dominates the time;
peak memory for the large folder within 20% of the small one (images are streamed in batches).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from auxiliary.inference import sorter
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models

ROOT = Path(__file__).resolve().parents[1]


def make_images(folder: Path, n: int, size: int, seed: int = 0) -> None:
    """``n`` skin-coloured JPEGs with a few red blobs (distinct bytes each)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        base = np.array([rng.uniform(150, 230), rng.uniform(110, 180), rng.uniform(90, 150)])
        img = base + rng.normal(0, 8, (size, size, 3))
        for _ in range(rng.integers(0, 6)):
            cx, cy, r = rng.uniform(0, size, 2).tolist() + [rng.uniform(2, size / 8)]
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] *= (1.1, 0.7, 0.7)
        bgr = np.clip(img, 0, 255).astype(np.uint8)[..., ::-1]
        cv2.imwrite(str(folder / f"img_{i:05d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])


def child(args: argparse.Namespace) -> None:
    import torch


    torch.set_num_threads(args.threads)
    ckpt = checkpoints.Checkpoint.open(args.ckpt)  # read and hashed once, handed to both calls
    pred = sorter.sorting_predictor(ckpt, args.backend)
    pred.predict_batch(np.zeros((2, 3, pred.img_size, pred.img_size), np.float32))  # warm-up
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    res = sorter.sort_folder(ckpt, args.input, args.out, predictor=pred, conf=0.6, batch=args.batch,
                             progress=False)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": res.summary["n_inputs"], "wall_s": wall, "timing": res.timing, "backend": pred.backend,
                      "rss_loaded_mb": rss_loaded, "rss_peak_mb": peak,
                      "accounted_for_all": res.summary["accounted_for_all"]}))


def run_child(ckpt: Path, inp: Path, out: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", "--ckpt", str(ckpt), "--input", str(inp), "--out", str(out),
           "--batch", str(args.batch), "--backend", args.backend, "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="images of the speed run (and the small memory run)")
    ap.add_argument("--n-large", type=int, default=10000, help="images of the large memory run")
    ap.add_argument("--size", type=int, default=128, help="side of the generated JPEGs")
    ap.add_argument("--img-size", type=int, default=96, help="network input side (the demo profile's)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--backend", default="torch", choices=["torch", "onnx", "auto"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    import torch


    with tempfile.TemporaryDirectory(prefix="bench_sort_") as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        model = models.create_model("resnet18", num_classes=3)
        ckpt = checkpoints.save_checkpoint(tmp / "best.pt", model, model_name="resnet18", classes=["acne", "erythema", "none"],
                                      img_size=args.img_size)
        t0 = time.perf_counter()
        small, large = tmp / "in_small", tmp / "in_large"
        make_images(small, args.n, args.size, seed=0)
        make_images(large, args.n_large, args.size, seed=1)
        print(f"generated {args.n} + {args.n_large} JPEGs ({args.size}px) in {time.perf_counter() - t0:.0f} s; "
              f"resnet18 at {args.img_size}px, batch {args.batch}, backend {args.backend}, {args.threads} threads")
        runs = {}
        for name, inp in (("small", small), ("large", large)):
            runs[name] = r = run_child(ckpt, inp, tmp / f"out_{name}", args)
            assert r["accounted_for_all"], r
        s, big = runs["small"], runs["large"]
        t = s["timing"]
        total = t["total"]
        print(f"\nEnd to end on {s['n']:,} images ({s['backend']}): {s['n'] / s['wall_s']:.1f} images/s "
              f"({s['wall_s']:.1f} s)")
        print("  share of time:  " + "  ".join(
            f"{k} {100 * t[k] / total:.1f}%" for k in ("infer", "read", "preprocess", "hash", "copy", "list", "report")))
        print(f"  inference {100 * t['infer'] / total:.1f}% vs file handling (read+hash+copy+list+report) "
              f"{100 * (t['read'] + t['hash'] + t['copy'] + t['list'] + t['report']) / total:.1f}%")
        print("\nResident memory (peak, fresh process each):")
        print(f"  {'images':>8} {'after model load':>18} {'peak':>10} {'images/s':>10}")
        for r in (s, big):
            print(f"  {r['n']:>8,} {r['rss_loaded_mb']:>15.0f} MB {r['rss_peak_mb']:>7.0f} MB {r['n'] / r['wall_s']:>10.1f}")
        ratio = big["rss_peak_mb"] / s["rss_peak_mb"]
        growth = (big["rss_peak_mb"] - big["rss_loaded_mb"], s["rss_peak_mb"] - s["rss_loaded_mb"])
        print(f"  peak ratio {big['n']:,} / {s['n']:,}: {ratio:.3f} (target <= 1.20: {'met' if ratio <= 1.2 else 'NOT met'}); "
              f"growth above the loaded model: {growth[0]:.0f} MB vs {growth[1]:.0f} MB")


if __name__ == "__main__":
    main()
