"""Training-loader speed: uint8 memmap cache vs decoding JPEGs, against what a train step consumes.

On ``../shared/data/ham10000`` at 128 px, in one run:

* images/s delivered by ``data.build_loader(train=True)`` (geometric augmentation, class-balanced
  sampler) with the decoded uint8 cache and without it (JPEG decode + resize every time);
* images/s of a bare resnet18 training step (forward + backward + AdamW step) at the same size;
  (every figure is the best of interleaved rounds, since the machine may be shared)
* the ratio loader / train step (target >= 3x with the cache);
* the cache size on disk for all of HAM at 128 px (target < 400 MB) and the process's peak
  resident memory (target < 3 GB).

Usage: python benchmarks/bench_data.py [--batches 40] [--batch 32] [--size 128] [--workers 0]
Skips with a message (exit 0) when the HAM10000 copy is absent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from auxiliary.base.config import DataConfig
from auxiliary.data import loaders, readers
from auxiliary.models import factory as models
from auxiliary.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
HAM = ROOT.parent / "shared" / "data" / "ham10000"


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def loader_rate(loader, batches: int) -> float:
    it = iter(loader)
    next(it)  # warm-up (first batch, worker start)
    n, t0 = 0, time.perf_counter()
    for i, (_x, y, _m) in enumerate(it):
        n += len(y)
        if i + 1 >= batches:
            break
    return n / (time.perf_counter() - t0)


def train_step_rate(model_name: str, size: int, batch: int, steps: int) -> float:
    import torch


    model = models.create_model(model_name, num_classes=7, pretrained=False)
    model.train()
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(batch, 3, size, size).to(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    step()  # warm-up
    best = float("inf")
    for _ in range(steps):  # best step time: the machine is shared
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return batch / best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(HAM), help="HAM10000 folder (default ../shared/data/ham10000)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=40, help="timed batches per loader")
    ap.add_argument("--steps", type=int, default=6, help="timed training steps")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved measurement rounds (best kept)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (the demo default is 0)")
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--cache-dir", default=None, help="where to build the cache (default: a temporary folder, removed)")
    args = ap.parse_args(argv)

    data_path = Path(args.data)
    if not (data_path / "HAM10000_metadata.csv").is_file():
        print(f"SKIPPED: HAM10000 copy not found at {data_path} (needs HAM10000_metadata.csv + images)")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="bench_data_"))
    os.environ.setdefault("AUXILIARY_OUTPUT", str(tmp / "out"))  # probe results etc. never touch the project
    cache_dir = Path(args.cache_dir) if args.cache_dir else tmp / "cache"
    try:
        import torch
        from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD


        print(f"torch threads: {torch.get_num_threads()}; cores: {os.cpu_count()}; workers: {args.workers}")
        t0 = time.perf_counter()
        table, report = readers.read_dataset(data_path, check_images=False, progress=False)
        classes = sorted(table["label"].unique())
        print(f"HAM10000: {len(table)} images listed in {time.perf_counter() - t0:.1f} s ({report.format})")

        t0 = time.perf_counter()
        cache = loaders.ImageCache(table["path"].tolist(), args.size, cache_dir).build(progress=False)
        build_s = time.perf_counter() - t0
        cache_mb = cache.file.stat().st_size / 1e6
        print(f"cache build: {len(table)} images decoded + resized in {build_s:.1f} s "
              f"({len(table) / build_s:.0f} images/s, one-off); file {cache_mb:.0f} MB")

        task = TASKS["single"]
        common = dict(img_size=args.size, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD, train=True,
                      batch_size=args.batch, seed=0, cache_dir=cache_dir, drop_last=True, progress=False)
        rates: dict[str, float] = {}
        variants = (("cache", True, "geometric"), ("jpeg", False, "geometric"), ("cache_noaug", True, "none"))
        for _round in range(args.rounds):  # interleaved rounds, best kept: the machine is shared
            for name, use_cache, preset in variants:
                cfg = DataConfig(cache=use_cache, augment=preset, balance="class", num_workers=args.workers)
                loader = loaders.build_loader(table, targets=task.targets(table, classes),
                                              weights=task.sample_weights(table, classes, cfg.balance), data_cfg=cfg,
                                              **common)
                rates[name] = max(rates.get(name, 0.0), loader_rate(loader, args.batches))
                del loader
        step = train_step_rate(args.model, args.size, args.batch, args.steps)
        rss = peak_rss_mb()

        print()
        print(f"{'':34s}{'images/s':>10s}{'x train step':>14s}")
        print(f"{'loader, uint8 memmap cache':34s}{rates['cache']:10.0f}{rates['cache'] / step:14.1f}")
        print(f"{'loader, decoding JPEGs each time':34s}{rates['jpeg']:10.0f}{rates['jpeg'] / step:14.1f}")
        print(f"{'loader, cache, augment=none':34s}{rates['cache_noaug']:10.0f}{rates['cache_noaug'] / step:14.1f}")
        print(f"{args.model + ' train step (fwd+bwd+AdamW)':34s}{step:10.0f}{1.0:14.1f}")
        print(f"cache vs JPEG decoding: {rates['cache'] / rates['jpeg']:.2f}x")
        print()
        ok_ratio = rates["cache"] / step >= 3
        print(f"loader/train-step with cache: {rates['cache'] / step:.1f}x (target >= 3x: {'met' if ok_ratio else 'NOT met'})")
        print(f"cache on disk for all {len(table)} HAM images at {args.size}px: {cache_mb:.0f} MB "
              f"(target < 400 MB: {'met' if cache_mb < 400 else 'NOT met'})")
        print(f"peak resident memory of this process: {rss:.0f} MB "
              f"(target < 3 GB: {'met' if rss < 3072 else 'NOT met'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
