"""Training speed: our Fabric loop (``auxiliary.training.train``) vs a bare PyTorch loop, side by side.

Same model (timm resnet18, 3 classes), same batch, the same in-memory data through the same
``DataLoader`` over a ``TensorDataset``; both use AdamW and cross entropy. Ours adds what the
series' loop does: Fabric's wrappers and precision plugin, the warm-up/cosine learning rate set
every step, gradient-norm clipping, label smoothing and ``channels_last`` (also shown without it).
Rounds alternate between the loops so that a change of load on a shared machine hits both; the
median images per second of the rounds is reported. Target: ours >= 0.95x the bare loop.

    python benchmarks/bench_train.py                 # resnet18 at 64 and 128 px, batch 32
    python benchmarks/bench_train.py --sizes 64 --rounds 5 --threads 2

With ``--device`` it measures our loop on that device instead, side by side: float32 against mixed
precision (``bf16-mixed`` where the GPU supports it, else ``16-mixed``; ``bf16-mixed`` on a CPU) and eager
against ``torch.compile`` (compile time reported apart: it is spent once per run), channels_last as
``auto`` picks it (on a GPU)::

    python benchmarks/bench_train.py --device cuda --sizes 224 --batch 64 --n 2048 --rounds 3
    python benchmarks/bench_train.py --device cpu --sizes 64 --n 96 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from auxiliary.base import config_overrides
from auxiliary.base.devices import device_kind, device_label, resolve_device
from auxiliary.models import factory as models
from auxiliary.tasks import losses
from auxiliary.training import acceleration, engine, epochs, optimization


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
    ap.add_argument("--device", default=None,
                    help="auto, cpu, cuda or mps: float32 vs mixed precision and eager vs compiled on that device")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device:
        return precision_and_compile(args)
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
            r = epochs.train_epoch(fabric, fm, opt, fl, crit, lr_fn=sched, grad_clip=clip, channels_last=cl, progress=False)
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


def precision_and_compile(args: argparse.Namespace) -> int:
    """images/s of our loop on ``args.device``: float32 vs mixed precision, eager vs compiled (median of rounds)."""
    device = resolve_device(args.device)
    kind = device_kind(device)
    mixed = acceleration.resolve_precision("auto", kind) if kind == "cuda" else "bf16-mixed"
    print(f"torch {torch.__version__} on {device_label(device)}; {args.model}, batch {args.batch}, {args.n} "
          f"images/epoch, median of {args.rounds} alternating rounds; load average {os.getloadavg()[0]:.1f}\n")
    table = []
    for size in args.sizes:
        loader = make_loader(args.n, size, args.batch)
        runs, compile_s = {}, {}
        for precision in ("32-true", mixed):
            for compiled in (False, True):
                cfg = config_overrides.resolve("demo", overrides={
                    "model": args.model, "img_size": size, "batch": args.batch, "device": device,
                    "precision": precision, "compile": compiled})
                fabric = engine.make_fabric(cfg.train)
                hw = acceleration.hardware(fabric, cfg.train)
                torch.manual_seed(0)
                m = hw.prepare(models.create_model(args.model, 3))
                fm = fabric.setup_module(hw.forward_model(m))
                opt = fabric.setup_optimizers(optimization.make_optimizer(m, 1e-3, 0.05))
                run = (fabric, fm, opt, fabric.setup_dataloaders(loader), losses.build_criterion(cfg.train).to(fabric.device),
                       optimization.WarmupCosine(1e-3, len(loader) * 1000, len(loader)), hw)
                t0 = time.perf_counter()
                epoch(run)  # warm-up; compiling happens here
                compile_s[(precision, compiled)] = time.perf_counter() - t0
                runs[(precision, compiled)] = run
        speeds: dict = {k: [] for k in runs}
        for _ in range(args.rounds):
            for k, run in runs.items():
                speeds[k].append(epoch(run))
        med = {k: statistics.median(v) for k, v in speeds.items()}
        for precision in ("32-true", mixed):
            e, c = med[(precision, False)], med[(precision, True)]
            table.append((size, precision, runs[(precision, False)][-1], e, c, compile_s[(precision, True)]))
            print(f"{size:>4} px {precision:>10}: eager {e:8.1f} img/s | compiled {c:8.1f} img/s = {c / e:.2f}x "
                  f"(first epoch with compiling {compile_s[(precision, True)]:.0f} s)", flush=True)
    print("\n| device | model | px | precision | channels_last | eager img/s | compiled img/s | compiled/eager | "
          "mixed/fp32 (eager) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, precision, hw, e, c, _ in table:
        fp32 = next(r[3] for r in table if r[0] == size and r[1] == "32-true")
        print(f"| {hw.device} | {args.model} | {size} | {precision} | {hw.channels_last} | {e:.1f} | {c:.1f} | "
              f"{c / e:.2f}x | {e / fp32:.2f}x |")
    return 0


def epoch(run: tuple) -> float:
    fabric, fm, opt, fl, crit, sched, hw = run
    r = epochs.train_epoch(fabric, fm, opt, fl, crit, lr_fn=sched, grad_clip=1.0, channels_last=hw.channels_last,
                     progress=False)
    return r["images_per_second"]


if __name__ == "__main__":
    sys.exit(main())
