"""Inference speed of the default model: PyTorch eager vs ONNX Runtime, measured in one run.

    python benchmarks/bench_infer.py                      # resnet18 at 96 and 224 px, batch 1 and 32
    python benchmarks/bench_infer.py --model efficientnet_b0 --sizes 128 --repeats 9

A fresh (untrained) model is enough: speed does not depend on the weights. Both backends use
the same number of threads (torch's, ``--threads``); each figure is the median of ``--repeats``
timed repeats after a warm-up. Prints images per second and the ratio ONNX Runtime / PyTorch.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from auxiliary.inference import backends
from auxiliary.models import export, onnx_model
from auxiliary.models import factory as models
from auxiliary.models.preprocess import Preprocessing


def main(argv: list[str] | None = None) -> int:

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 224])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="threads for both backends (default: torch's)")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    import onnxruntime

    print(f"{args.model}, {threads} threads, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"{platform.processor() or platform.machine()}; median of {args.repeats} repeats after warm-up")
    torch.manual_seed(0)
    model = models.create_model(args.model, num_classes=3).eval()
    norm = models.data_config(model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"{args.model}-{size}.onnx"
            t0 = time.perf_counter()
            onnx_model.export_model(model, path, img_size=size, classes=["acne", "erythema", "none"], mean=norm["mean"],
                                std=norm["std"], model_name=args.model)
            t_export = time.perf_counter() - t0
            sess = onnx_model.onnx_session(path, threads=threads)
            rgb = [(np.random.default_rng(i).random((size, size, 3)) * 255).astype(np.uint8) for i in range(4)]
            diff = export.check_parity(model, path, rgb, preprocessing=Preprocessing(size, norm["mean"], norm["std"]),
                                       sess=sess)
            for batch in args.batches:
                t = backends.speed(backends.torch_logits_fn(model), size, batch, repeats=args.repeats)
                o = backends.speed(backends.onnx_logits_fn(sess), size, batch, repeats=args.repeats)
                rows.append((size, batch, t["images_per_s"], o["images_per_s"], t["ms_per_image"], o["ms_per_image"]))
            print(f"  {size}px: exported in {t_export:.1f} s, parity max |dp| = {diff:.1e}")
    print()
    print(f"{'img':>5} {'batch':>5} | {'torch img/s':>11} {'onnx img/s':>11} | {'torch ms/img':>12} {'onnx ms/img':>11} | "
          f"{'onnx/torch':>10}")
    for size, batch, ti, oi, tm, om in rows:
        print(f"{size:>5} {batch:>5} | {ti:>11.1f} {oi:>11.1f} | {tm:>12.2f} {om:>11.2f} | {oi / ti:>9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
