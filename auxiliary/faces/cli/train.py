"""``python -m auxiliary train``: its flags and its call into :mod:`auxiliary.steps.train`."""

from __future__ import annotations

import argparse

from auxiliary.base.config import TRAIN_TASKS, Config, TrainConfig, field_docs
from auxiliary.steps.train import train
from auxiliary.tasks import task_named
from auxiliary.training.runs import secondary_rank


# ====================================================================================== CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="a split folder (train.csv, classes.json...) or any dataset auxiliary.data reads "
                             "(then split with the data settings); default: the configured dataset")
    parser.add_argument("--out", default=None, metavar="runs/NAME",
                        help="run folder (default runs/<model>-<profile>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument("--from-selection", action="store_true",
                        help="train the winner `select` recorded for this profile and split (instead of --model)")
    parser.add_argument("--no-progress", "--no_progress", dest="no_progress", action="store_true",
                        help="no progress bars")
    parser.add_argument("--classify-images", "--classify_images", dest="classify_images", default=None, metavar="DIR",
                        help="when training ends, sort this folder of new images with the run's best.pt "
                             "(as `python -m auxiliary sort` does; needs --classify-out)")
    parser.add_argument("--classify-out", "--classify_out", dest="classify_out", default=None, metavar="DIR",
                        help="where --classify-images are sorted: <class>/, low_confidence/, predictions.csv")
    # train.task only: the flag built from the config would also set synth.task (a bare key sets every section)
    parser.add_argument("--task", dest="cfg__train.task", choices=TRAIN_TASKS, default=argparse.SUPPRESS,
                        metavar="TASK", help=f"{field_docs(TrainConfig)['task']} [train.task, default 'auto']")


def run_cli(args: argparse.Namespace, cfg: Config) -> int:
    summary = train(cfg, args.data, args.out, resume=args.resume, overwrite=args.overwrite,
                    from_selection=args.from_selection, progress=not args.no_progress,
                    classify_images=args.classify_images, classify_out=args.classify_out)
    if secondary_rank():
        return 0
    task = task_named(summary.get("task"))
    print(f"done: {summary['epochs_run']} epochs, best {summary['monitor']} {summary['best_value']:.3f} "
          f"at epoch {summary['best_epoch']}{task.test_line(summary)}")
    files = ["best.pt", *task.run_files(summary, summary["classes"]), "logs/", "val_predictions.csv", "summary.json"]
    print(f"run folder: {summary['run_dir']} ({', '.join(files)})")
    if "classified" in summary:
        c = summary["classified"]
        print(f"sorted {c['n_inputs']} images of --classify-images into {c['out_dir']}: "
              + ", ".join(f"{k} {v}" for k, v in c["counts"].items()))
    return 0
