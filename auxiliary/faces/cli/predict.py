"""``python -m auxiliary predict``: its flags, one call into :func:`auxiliary.steps.predict.predict`, what it prints."""

from __future__ import annotations

import argparse
import json
from typing import Any

from auxiliary.base.config import EvalConfig, SortConfig, field_docs
from auxiliary.steps.predict import predict


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="one or more image files (a folder: use sort)")
    parser.add_argument("--ckpt", default=None,
                        help="checkpoint, e.g. runs/NAME/best.pt (default: runs/<model>-<profile>/best.pt)")
    parser.add_argument("--gradcam", default=None, metavar="OUT_DIR",
                        help="also write a Grad-CAM overlay per image into this folder (<image>-gradcam.png)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image instead of text")
    parser.add_argument("--face", action="store_true",
                        help="predict on the largest detected face (the simulator's detector) instead of the photo")
    parser.add_argument("--tta", action="store_true", help="average the probabilities of flipped views")
    parser.add_argument("--conf", dest="cfg__sort.conf", default=argparse.SUPPRESS, metavar="CONF",
                        help=f"{field_docs(SortConfig)['conf']} [sort.conf, default {SortConfig.conf}]")
    parser.add_argument("--device", dest="cfg__eval.device", default=argparse.SUPPRESS, metavar="DEVICE",
                        help=f"{field_docs(EvalConfig)['device']} [eval.device, default {EvalConfig.device!r}]")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    results = predict(cfg, args.images, args.ckpt, gradcam=args.gradcam, face=args.face, tta=args.tta)
    for res in results:
        if args.json:
            print(json.dumps({k: v for k, v in res.items() if k not in ("banner",)}, ensure_ascii=False))
            continue
        flag = "  LOW CONFIDENCE: have it reviewed" if res["low_confidence"] else ""
        print(f"{res['image']}: {res['message']}{flag}")
        print("  " + ", ".join(f"{c} {p:.3f}" for c, p in res["probs"].items()))
        if "face" in res:
            print(f"  face: {res['face'] if res['face'] else 'none found, the whole photo was used'}")
        if res.get("gradcam_note"):
            print(f"  {res['gradcam'] or 'no overlay'}: {res['gradcam_note']}")
    return 0
