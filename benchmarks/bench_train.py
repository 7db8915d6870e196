"""Training speed: our Fabric loop (``auxiliary.training.train``) vs a bare PyTorch loop, side by side.

Same model (timm resnet18, 3 classes), same batch, the same in-memory data through the same
``DataLoader`` over a ``TensorDataset``; both use AdamW and cross entropy. Ours adds what the
series' loop does: Fabric's wrappers and precision plugin, the warm-up/cosine learning rate set
every step, gradient-norm clipping, label smoothing and ``channels_last`` (also shown without it).
Rounds alternate between the loops so that a change of load on a shared machine hits both; the
median images per second of the rounds is reported. Target: ours >= 0.95x the bare loop.

    python benchmarks/bench_train.py                 # resnet18 at 64 and 128 px, batch 32
    python benchmarks/bench_train.py --sizes 64 --rounds 5 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from auxiliary import config_overrides
from auxiliary.training import engine, epochs, losses, models, optimization


def make_loader(n: int, size: int, batch: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, size, size, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True, generator=g, drop_last=True)


def bare_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, loader: DataLoader) -> float:
    model.train()
    n = 0
    t = time.perf_counter()
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        n += len(y)
    return n / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n", type=int, default=192, help="images per timed epoch")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0 = PyTorch default)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.model}, batch {args.batch}, "
          f"{args.n} images/epoch, median of {args.rounds} alternating rounds\n")
    rows = []
    for size in args.sizes:
        cfg = config_overrides.resolve("demo", overrides={"model": args.model, "img_size": size, "batch": args.batch,
                                                    "accelerator": "cpu", "precision": "32-true"})
        tcfg = cfg.train
        loader = make_loader(args.n, size, args.batch)
        steps = len(loader)

        torch.manual_seed(0)
        bare_model = models.create_model(args.model, 3)
        bare_opt = torch.optim.AdamW(bare_model.parameters(), lr=1e-3, weight_decay=0.05)

        loops = {}
        for cl in (True, False):
            fabric = engine.make_fabric(tcfg)
            torch.manual_seed(0)
            m = models.create_model(args.model, 3)
            if cl:
                m = m.to(memory_format=torch.channels_last)
            fm = fabric.setup_module(m)
            opt = fabric.setup_optimizers(optimization.make_optimizer(m, 1e-3, 0.05))
            fl = fabric.setup_dataloaders(loader)
            crit = losses.build_criterion(tcfg)
            sched = optimization.WarmupCosine(1e-3, steps * 1000, steps)
            loops[cl] = (fabric, fm, opt, fl, crit, sched)

        def ours(cl: bool, loops: dict = loops, clip: float = tcfg.grad_clip) -> float:
            fabric, fm, opt, fl, crit, sched = loops[cl]
            r = epochs.train(fabric, fm, opt, fl, crit, lr_fn=sched, grad_clip=clip, channels_last=cl, progress=False)
            return r["images_per_second"]

        # warm-up (allocator, oneDNN primitive caches)
        bare_epoch(bare_model, bare_opt, loader)
        ours(True)
        ours(False)
        speeds: dict[str, list[float]] = {"bare": [], "ours": [], "ours_no_cl": []}
        for _ in range(args.rounds):
            speeds["bare"].append(bare_epoch(bare_model, bare_opt, loader))
            speeds["ours"].append(ours(True))
            speeds["ours_no_cl"].append(ours(False))
        med = {k: statistics.median(v) for k, v in speeds.items()}
        rows.append((size, med))
        print(f"{args.model} {size:>3} px: bare {med['bare']:7.1f} img/s | ours (channels_last) "
              f"{med['ours']:7.1f} img/s = {med['ours'] / med['bare']:.2f}x | ours (contiguous) "
              f"{med['ours_no_cl']:7.1f} img/s = {med['ours_no_cl'] / med['bare']:.2f}x", flush=True)
    print("\n| model | px | bare img/s | ours img/s | ratio | ours w/o channels_last | ratio |")
    print("|---|---|---|---|---|---|---|")
    for size, med in rows:
        print(f"| {args.model} | {size} | {med['bare']:.1f} | {med['ours']:.1f} | {med['ours'] / med['bare']:.2f}x | "
              f"{med['ours_no_cl']:.1f} | {med['ours_no_cl'] / med['bare']:.2f}x |")
    worst = min(min(m["ours"], m["ours_no_cl"]) / m["bare"] for _, m in rows)
    print(f"\nworst ratio {worst:.2f}x (target >= 0.95x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
