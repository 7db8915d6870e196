"""``python -m auxiliary feedback``: its flags and its call into :mod:`auxiliary.steps.feedback`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.images import read_image
from auxiliary.base.layout import data_dir, resolve_path, runs_dir, split_dir
from auxiliary.data.feedback import FeedbackError, file_image
from auxiliary.data.merge import merge_feedback
from auxiliary.data.readers import load_split
from auxiliary.models.checkpoint import read_checkpoint
from auxiliary.steps.train import trained_checkpoint
from auxiliary.training.records import record_step


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


def _known_classes(args: argparse.Namespace, cfg: Any) -> tuple[list[str], str]:
    """The labels ``feedback file`` accepts and where they come from: ``--split``'s classes, else the
    configured split's, else the configured trained checkpoint's; a one-line error when there is none."""
    if args.split:
        split = Path(args.split).expanduser()
        return load_split(split)[1], f"the split {split}"
    split = _configured_split(cfg)
    if split is not None and (split / "classes.json").is_file():
        return load_split(split)[1], f"the split {split}"
    ckpt = None
    if runs_dir(create=False).is_dir():  # (looked up without creating runs/)
        try:
            ckpt = trained_checkpoint(cfg)
        except AuxiliaryError:
            ckpt = None
    if ckpt is not None:
        return [str(c) for c in read_checkpoint(ckpt)["classes"]], f"the checkpoint {ckpt}"
    raise FeedbackError(f"cannot check --label {args.label!r}: no split {'at ' + str(split) + ' ' if split else ''}and "
                        "no trained model for this configuration; pass --split DIR (the split the feedback will be "
                        "merged into)")


def _configured_split(cfg: Any) -> Path | None:
    """The configured dataset's split folder, or None when there is no data folder at all (found
    without creating one: a command that fails leaves nothing behind)."""
    return split_dir(cfg) if data_dir(create=False).is_dir() else None


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
    fdir = Path(args.feedback).expanduser() if args.feedback else resolve_path(cfg.sort.feedback_dir)
    if args.action == "file":
        if not args.image or not args.label:
            raise FeedbackError("feedback file needs an IMAGE and --label CLASS")
        read_image(Path(args.image).expanduser())  # the image's own problem first (missing, not an image)
        classes, origin = _known_classes(args, cfg)
        if str(args.label).strip() not in classes:
            raise FeedbackError(f"--label {args.label!r} is not a class of {origin}: use one of {', '.join(classes)}")
        dest = file_image(Path(args.image).expanduser(), args.label, fdir, source=str(Path(args.image).resolve()),
                          model_guess=args.guess, probs=None, reviewer=args.reviewer, classes=classes)
        print(f"filed {args.image} as {args.label}: {dest}")
        return 0
    split = Path(args.split).expanduser() if args.split else _configured_split(cfg)
    if split is None:
        raise FeedbackError("no split for this configuration: pass --split DIR, or make one with `python -m auxiliary split`")
    rep = merge_feedback(split, fdir, Path(args.out).expanduser() if args.out else None, progress=not args.quiet,
                         overwrite=args.overwrite)
    _print_merge(rep, split)
    if rep["out_dir"] is not None and not rep.get("reused"):
        record_step(cfg, "feedback", rep["out_dir"], split_dir=rep["out_dir"], tags={"source_split": split},
                    metrics={"added": rep["added"], "dropped": rep["dropped"], "feedback_files": rep["n_feedback_files"]})
    return 0

