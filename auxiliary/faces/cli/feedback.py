"""``python -m auxiliary feedback``: its flags and its call into :mod:`auxiliary.steps.feedback`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from auxiliary.steps.feedback import feedback


# ============================================================================ CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["merge", "file"],
                        help="merge: feedback into a new training split version; file: file one reviewed image")
    parser.add_argument("image", nargs="?", help="(file) the image to file")
    parser.add_argument("--split", default=None,
                        help="split folder: merge: the one to extend; file: its classes are the labels allowed "
                             "(default: the configured dataset's split)")
    parser.add_argument("--feedback", default=None, help="feedback folder of <class>/ sub-folders (default: --feedback-dir)")
    parser.add_argument("--out", default=None, help="(merge) new split folder (default: <split>-v2, or the next free version)")
    parser.add_argument("--label", default=None, help="(file) the reviewer's label")
    parser.add_argument("--guess", default=None, help="(file) the model's guess, for the provenance record")
    parser.add_argument("--reviewer", default="reviewer", help="(file) who reviewed")
    parser.add_argument("--overwrite", action="store_true",
                        help="(merge) replace an earlier merge that --out holds (never another kind of folder)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _print_merge(rep: dict[str, Any], split: Path) -> None:
    """The merge in one line, plus one line naming what was skipped (if anything)."""
    if rep["out_dir"] is None:
        print(f"{rep['message']} ({rep['n_feedback_files']} feedback files, dropped: {rep['dropped_reasons'] or 'none'})")
    elif rep.get("reused"):
        print(f"already merged as {rep['out_dir']}: +{rep['added']} training images {rep['added_per_class']}; "
              f"nothing written (the same feedback was merged into the same split{' at ' + rep['time'] if rep.get('time') else ''})")
    else:
        verb = "replaced" if rep.get("replaced") else "wrote"
        also = f"; the same merge is also in {rep['same_merge_also_at']}" if rep.get("same_merge_also_at") else ""
        print(f"{verb} {rep['out_dir']}: +{rep['added']} training images {rep['added_per_class']}; "
              f"dropped {rep['dropped']} {rep['dropped_reasons'] or ''}; val/test unchanged; {split} kept as it was{also}")
    skipped = [d for d in rep["decisions"] if d["status"] == "skipped"]
    if skipped:
        shown = ", ".join(d["file"] for d in skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        why = "; ".join(f"{k}: {v}" for k, v in rep["skipped_reasons"].items())
        where = "" if rep["out_dir"] is None or rep.get("reused") else f"; all listed in {rep['out_dir']}/merge_report.json"
        print(f"skipped {len(skipped)} {'entry' if len(skipped) == 1 else 'entries'} of the feedback folder, not merged "
              f"({why}): {shown}{where}")


def run_cli(args: argparse.Namespace, cfg: Any) -> int:
    res = feedback(cfg, args.action, image=args.image, label=args.label, split=args.split,
                   feedback_dir=args.feedback, out=args.out, guess=args.guess, reviewer=args.reviewer,
                   overwrite=args.overwrite, progress=not args.quiet)
    if res["action"] == "file":
        print(f"filed {res['image']} as {res['label']}: {res['file']}")
    else:
        _print_merge(res, res["split"])
    return 0
