"""Every command-line step against the ordinary mistakes that apply to it.

Each case must end with exit code 2, exactly one line on stderr that starts with ``error:``, no
traceback, and no file created, changed or removed anywhere, the case's own ``--out`` included (a refused
step does not even make it; the workspace of inputs and the project's output folders are compared byte for byte).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest
import torch
from _hostile import fifo as fifo_at
from _tiny_runs import make_run, make_split

from auxiliary.faces import cli
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models


class Exploit:
    """A pickle that would write a marker file when unpickled without ``weights_only=True``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> dict[str, Path]:
    """A workspace: a split, a run, images to sort, and broken files of every kind."""
    root = tmp_path_factory.mktemp("mistakes")
    split = make_split(root)
    run = root / "run"
    make_run(run)
    ckpt = run / "best.pt"
    photos = root / "photos"
    photos.mkdir()
    for p in sorted((root / "images" / "acne").glob("*.png"))[:3]:
        (photos / p.name).write_bytes(p.read_bytes())
    text = root / "notes.txt"
    text.write_text("not a checkpoint\n")
    truncated = root / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[:200])
    evil = root / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"model": Exploit(root / "PWNED")}, fh)
    torch.manual_seed(0)
    two = checkpoints.save_checkpoint(root / "two" / "best.pt", models.create_model("resnet18", 2),
                                      model_name="resnet18", classes=["acne", "none"], img_size=32)
    bad_yaml = root / "bad.yaml"
    bad_yaml.write_text("train: [unclosed\n")
    unknown_yaml = root / "unknown.yaml"
    unknown_yaml.write_text("train:\n  no_such_field: 3\n")
    existing = root / "existing_file.txt"
    existing.write_text("keep me\n")
    # issue 28, second hostile pass: special files, link loops, YAML that breaks parsers, runs a step cannot use
    special = root / "special"
    special.mkdir()
    fifo = fifo_at(special / "pipe")
    os.symlink(special / "loop_b", special / "loop_a")
    os.symlink(special / "loop_a", special / "loop_b")
    deep_yaml = root / "deep.yaml"
    deep_yaml.write_text("data: " + "[" * 3000 + "]" * 3000 + "\n")
    digits_yaml = root / "digits.yaml"
    digits_yaml.write_text("data:\n  seed: " + "9" * 5000 + "\n")
    moved = root / "elsewhere" / "moved_split"  # a split copied away from its images: no relative path resolves
    moved.mkdir(parents=True)
    for name in ("train.csv", "val.csv", "test.csv", "classes.json"):
        (moved / name).write_bytes((split / name).read_bytes())
    make_run(root / "convnext", model_name="test_convnext")  # no BatchNorm layer: nothing for AdaBN to re-estimate
    make_run(root / "noprob", val_csv=split / "val.csv")  # its val_predictions.csv has no prob_<class> columns
    return {"root": root, "split": split, "test_csv": split / "test.csv", "run": run, "ckpt": ckpt,
            "photos": photos, "text": text, "truncated": truncated, "evil": evil, "two": two,
            "bad_yaml": bad_yaml, "unknown_yaml": unknown_yaml, "existing": existing,
            "missing": root / "no_such_thing", "first_photo": sorted(photos.iterdir())[0].name, "fifo": fifo,
            "loop": special / "loop_a", "deep_yaml": deep_yaml, "digits_yaml": digits_yaml, "moved": moved,
            "convnext": root / "convnext" / "best.pt", "noprob": root / "noprob" / "best.pt"}


def snapshot(*folders: Path) -> dict[str, str]:
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif p.is_dir():
                out[str(p)] = "dir"
    return out


#: (id, step arguments with {placeholders} from the workspace, words the error line must contain)
CASES = [
    # simulate
    ("simulate-out-is-file", "simulate --profile smoke --out {existing}", "--out"),
    ("simulate-out-inside-input", "simulate --profile smoke --input {photos} --out {photos}/synthetic", "inside"),
    ("simulate-input-missing", "simulate --profile smoke --input {missing} --out {root}/o_sim", "no_such_thing"),
    ("simulate-zero-images", "simulate --profile smoke --n-per-class 0 --out {root}/o_sim0", "--n-per-class"),
    ("simulate-negative-size", "simulate --profile smoke --size -5 --out {root}/o_sim1", "--size"),
    ("simulate-nan-probability", "simulate --profile smoke --telangiectasia nan --out {root}/o_sim2", "--telangiectasia"),
    ("simulate-huge-size", "simulate --profile smoke --size 1e12 --out {root}/o_sim3", "--size"),
    ("simulate-unknown-key", "simulate --profile smoke --set no_such_key=1 --out {root}/o_sim4", "no_such_key"),
    ("simulate-malformed-yaml", "simulate --config {bad_yaml} --out {root}/o_sim5", "bad.yaml"),
    ("simulate-unknown-yaml-key", "simulate --config {unknown_yaml} --out {root}/o_sim6", "no_such_field"),
    ("simulate-unknown-profile", "simulate --profile nosuch --out {root}/o_sim7", "nosuch"),
    ("simulate-unknown-task", "simulate --profile smoke --task nosuch --out {root}/o_sim8", "task"),
    ("simulate-prevalence-above-one", "simulate --profile smoke --task multilabel --prevalence 1.5 --out {root}/o_sim9",
     "--prevalence"),
    ("simulate-three-prevalences", "simulate --profile smoke --task multilabel --prevalence 0.1,0.2,0.3 "
     "--out {root}/o_sim10", "prevalence"),
    # split
    ("split-data-missing", "split --profile smoke --data {missing} --out {root}/o_split", "no_such_thing"),
    ("split-data-is-text", "split --profile smoke --data {text} --out {root}/o_split1", "notes.txt"),
    ("split-out-is-file", "split --profile smoke --data {photos} --out {existing}", "--out"),
    ("split-out-is-input", "split --profile smoke --data {photos} --out {photos}", "inside"),
    ("split-out-inside-input", "split --profile smoke --data {photos} --out {photos}/split", "inside"),
    ("split-val-over-one", "split --profile smoke --data {photos} --val 1.5 --out {root}/o_split2", "--val"),
    # train
    ("train-out-is-file", "train --profile smoke --data {split} --out {existing}", "--out"),
    ("train-unknown-model", "train --profile smoke --data {split} --model nosuchnet --out {root}/o_train", "nosuchnet"),
    ("train-data-missing", "train --profile smoke --data {missing} --out {root}/o_train1", "no_such_thing"),
    ("train-zero-epochs", "train --profile smoke --data {split} --max-epochs 0 --out {root}/o_train2", "--max-epochs"),
    ("train-negative-batch", "train --profile smoke --data {split} --batch -1 --out {root}/o_train3", "--batch"),
    ("train-nan-lr", "train --profile smoke --data {split} --lr-ft nan --out {root}/o_train4", "--lr-ft"),
    ("train-resume-nothing", "train --profile smoke --data {split} --resume --out {root}/o_train5", "resume"),
    ("train-unknown-tracker", "train --profile smoke --data {split} --tracking wandb --out {root}/o_train6", "wandb"),
    ("train-selection-missing", "train --profile smoke --data {split} --from-selection --out {root}/o_train7",
     "--from-selection"),
    ("train-unknown-device", "train --profile smoke --data {split} --device gpu --out {root}/o_train6", "--device"),
    ("train-devices-negative", "train --profile smoke --data {split} --set train.devices=-1 --out {root}/o_train8",
     "devices"),
    ("train-precision-8-bit", "train --profile smoke --data {split} --set train.precision=8-bit --out {root}/o_train9",
     "precision"),
    # select
    ("select-split-missing", "select --profile smoke --split {missing} --out {root}/o_sel", "no_such_thing"),
    ("select-out-is-file", "select --profile smoke --split {split} --out {existing}", "--out"),
    ("select-zero-epochs", "select --profile smoke --split {split} --select-epochs 0 --out {root}/o_sel1", "--select-epochs"),
    ("select-unknown-model", "select --profile smoke --split {split} --select-models nosuchnet --out {root}/o_sel2", "nosuchnet"),
    # evaluate
    ("evaluate-ckpt-missing", "evaluate --ckpt {missing} --data {test_csv} --out {root}/o_ev", "no_such_thing"),
    ("evaluate-ckpt-is-text", "evaluate --ckpt {text} --data {test_csv} --out {root}/o_ev1", "notes.txt"),
    ("evaluate-ckpt-truncated", "evaluate --ckpt {truncated} --data {test_csv} --out {root}/o_ev2", "truncated.pt"),
    ("evaluate-ckpt-pickle", "evaluate --ckpt {evil} --data {test_csv} --out {root}/o_ev3", "evil.pt"),
    ("evaluate-ckpt-is-folder", "evaluate --ckpt {run} --data {test_csv} --out {root}/o_ev4", "run"),
    ("evaluate-other-classes", "evaluate --ckpt {two} --data {test_csv} --out {root}/o_ev5", "erythema"),
    ("evaluate-data-missing", "evaluate --ckpt {ckpt} --data {missing} --out {root}/o_ev6", "no_such_thing"),
    ("evaluate-out-is-file", "evaluate --ckpt {ckpt} --data {test_csv} --out {existing}", "--out"),
    ("evaluate-out-is-data", "evaluate --ckpt {ckpt} --data {photos} --out {photos}", "inside"),
    ("evaluate-batch-zero", "evaluate --ckpt {ckpt} --data {test_csv} --batch-size 0 --out {root}/o_ev7", "batch"),
    ("evaluate-batch-negative", "evaluate --ckpt {ckpt} --data {test_csv} --batch-size -3 --out {root}/o_ev8", "batch"),
    ("evaluate-unknown-device", "evaluate --ckpt {ckpt} --data {test_csv} --device tpu --out {root}/o_ev9", "--device"),
    # compare
    ("compare-run-missing", "compare --runs {missing} --data {test_csv} --out {root}/o_cmp", "no_such_thing"),
    ("compare-data-missing", "compare --runs {run} --data {missing} --out {root}/o_cmp1", "no_such_thing"),
    ("compare-out-is-file", "compare --runs {run} --data {test_csv} --out {existing}", "--out"),
    # export
    ("export-ckpt-missing", "export --ckpt {missing} --out {root}/o_exp/model.onnx", "no_such_thing"),
    ("export-ckpt-is-text", "export --ckpt {text} --out {root}/o_exp1/model.onnx", "notes.txt"),
    ("export-ckpt-pickle", "export --ckpt {evil} --out {root}/o_exp2/model.onnx", "evil.pt"),
    ("export-unknown-device", "export --ckpt {ckpt} --device gpu --out {root}/o_exp3/model.onnx", "--device"),
    # sort
    ("sort-ckpt-is-text", "sort --ckpt {text} --input {photos} --out {root}/o_sort", "notes.txt"),
    ("sort-input-missing", "sort --ckpt {ckpt} --input {missing} --out {root}/o_sort1", "no_such_thing"),
    ("sort-out-is-input", "sort --ckpt {ckpt} --input {photos} --out {photos}", "--out"),
    ("sort-out-inside-input", "sort --ckpt {ckpt} --input {photos} --out {photos}/sorted", "--out"),
    ("sort-conf-over-one", "sort --ckpt {ckpt} --input {photos} --conf 1.5 --out {root}/o_sort2", "--conf"),
    ("sort-batch-zero", "sort --ckpt {ckpt} --input {photos} --batch 0 --out {root}/o_sort3", "batch"),
    ("sort-shard-out-of-range", "sort --ckpt {ckpt} --input {photos} --shard 2/2 --out {root}/o_sort4", "--shard"),
    ("sort-merge-no-shards", "sort --input {photos} --merge --out {root}/o_sort5", "shard"),
    ("sort-unknown-device", "sort --ckpt {ckpt} --input {photos} --device gpu --out {root}/o_sort6", "--device"),
    # feedback
    ("feedback-file-missing-image", "feedback file {missing} --label acne --feedback {root}/o_fb", "no_such_thing"),
    ("feedback-merge-split-missing", "feedback merge --split {missing} --feedback {photos} --out {root}/o_fb1", "no_such_thing"),
    # adapt
    ("adapt-ckpt-is-text", "adapt --ckpt {text} --input {photos} --out {root}/o_ad", "notes.txt"),
    ("adapt-ckpt-pickle", "adapt --ckpt {evil} --input {photos} --out {root}/o_ad1", "evil.pt"),
    ("adapt-input-missing", "adapt --ckpt {ckpt} --input {missing} --out {root}/o_ad2", "no_such_thing"),
    ("adapt-out-inside-input", "adapt --ckpt {ckpt} --input {photos} --out {photos}/adapted", "inside"),
    ("adapt-out-is-file", "adapt --ckpt {ckpt} --input {photos} --out {existing}", "--out"),
    ("adapt-unknown-method", "adapt --ckpt {ckpt} --input {photos} --out {root}/o_ad3 --method tent", "--method"),
    ("adapt-zero-epochs", "adapt --ckpt {ckpt} --input {photos} --out {root}/o_ad4 --epochs 0", "--epochs"),
    ("adapt-self-without-split", "adapt --ckpt {ckpt} --input {photos} --out {root}/o_ad5 --method self", "--split"),
    # predict
    ("predict-ckpt-is-text", "predict {photos}/{first_photo} --ckpt {text}", "notes.txt"),
    ("predict-ckpt-pickle", "predict {photos}/{first_photo} --ckpt {evil} --gradcam {root}/o_pred", "evil.pt"),
    ("predict-image-missing", "predict {missing} --ckpt {ckpt}", "no_such_thing"),
    ("predict-image-is-text", "predict {text} --ckpt {ckpt} --gradcam {root}/o_pred1", "notes.txt"),
    ("predict-a-folder", "predict {photos} --ckpt {ckpt}", "sort"),
    ("predict-gradcam-is-file", "predict {photos}/{first_photo} --ckpt {ckpt} --gradcam {existing}", "--gradcam"),
    ("predict-conf-over-one", "predict {photos}/{first_photo} --ckpt {ckpt} --conf 2", "--conf"),
    # serve (argument checking only: nothing is served)
    ("serve-ckpt-missing", "serve --ckpt {missing}", "no_such_thing"),
    ("serve-ckpt-is-text", "serve --ckpt {text}", "notes.txt"),
    ("serve-port-negative", "serve --ckpt {ckpt} --port -1", "port"),
    ("serve-port-huge", "serve --ckpt {ckpt} --port 70000", "port"),
    # runs
    ("runs-root-missing", "runs --root {missing}", "no_such_thing"),
    ("runs-figure-not-a-png", "runs --figure {text}", "notes.txt"),
    ("runs-limit-zero", "runs --limit 0", "--limit"),
    # issue 28, second hostile pass: link loops and special files given as paths, YAML that breaks parsers, the
    # cache folder as an output, refusals that come after some work (each leaves nothing, --out included)
    ("sort-out-link-loop", "sort --ckpt {ckpt} --input {photos} --out {loop}", "loop"),
    ("evaluate-out-inside-link-loop", "evaluate --ckpt {ckpt} --data {test_csv} --out {loop}/x", "loop"),
    ("split-data-link-loop", "split --profile smoke --data {loop} --out {root}/o_split3", "loop"),
    ("train-out-in-cache", "train --profile smoke --data {split} --out {cache}/run", "cache folder"),
    ("sort-out-in-cache", "sort --ckpt {ckpt} --input {photos} --out {cache}/sorted", "cache folder"),
    ("split-report-is-fifo", "split --profile smoke --data {photos} --report {fifo} --out {root}/o_split4", "FIFO"),
    ("split-yaml-nested-deep", "split --profile smoke --config {deep_yaml} --data {photos} --out {root}/o_split5",
     "nested too deeply"),
    ("split-yaml-int-of-5000-digits", "split --profile smoke --config {digits_yaml} --data {photos} "
     "--out {root}/o_split6", "digits.yaml"),
    ("simulate-input-fifo", "simulate --profile smoke --input {fifo} --out {root}/o_sim11", "FIFO"),
    ("predict-image-fifo", "predict {fifo} --ckpt {ckpt}", "FIFO"),
    ("runs-figure-fifo", "runs --figure {fifo}", "FIFO"),
    ("sort-calib-fifo", "sort --ckpt {ckpt} --input {photos} --coverage 0.9 --calib {fifo} --out {root}/o_sort7",
     "FIFO"),
    ("compare-data-fifo", "compare --runs {run} --data {fifo} --out {root}/o_cmp1", "FIFO"),
    ("export-images-fifo", "export --ckpt {ckpt} --images {fifo} --out {root}/o_exp4/model.onnx", "parity"),
    ("evaluate-no-image-exists", "evaluate --ckpt {ckpt} --data {moved}/test.csv --out {root}/o_ev10", "none of the"),
    ("select-every-model-fails", "select --profile smoke --split {moved} --select-models resnet18 --select-epochs 1 "
     "--quiet --out {root}/o_sel3", "every model failed"),  # after work: --quiet, else its progress lines come first
    ("compare-second-run-of-other-classes", "compare --runs {run} {two} --data {test_csv} --out {root}/o_cmp2 "
     "--onnx-dir {root}/o_onnx --no-speed", "erythema"),  # before the first run's export and predictions
    ("export-parity-fails", "export --ckpt {ckpt} --atol 1e-30 --out {root}/o_exp5/model.onnx", "o_exp5/model.onnx"),
    ("adapt-no-batchnorm", "adapt --ckpt {convnext} --input {photos} --out {root}/o_ad6 --method adabn", "BatchNorm"),
    ("adapt-val-predictions-without-probabilities", "adapt --ckpt {noprob} --input {photos} --out {root}/o_ad7 "
     "--method self --split {split}", "prob_acne"),
    # operating-point
    ("op-ckpt-is-text", "operating-point --ckpt {text} --min-recall acne=0.7 --out {root}/o_op", "notes.txt"),
    ("op-floor-above-one", "operating-point --ckpt {ckpt} --min-recall acne=1.5 --out {root}/o_op1", "--min-recall"),
    ("op-floor-without-class", "operating-point --ckpt {ckpt} --min-recall 0.7 --out {root}/o_op2", "--min-recall"),
    ("op-unknown-class", "operating-point --ckpt {ckpt} --min-recall mel=0.7 --out {root}/o_op3", "mel"),
    ("op-one-fold", "operating-point --ckpt {ckpt} --min-recall acne=0.7 --folds 1 --out {root}/o_op4", "--folds"),
    ("op-no-recorded-recipe", "operating-point --ckpt {ckpt} --min-recall acne=0.7 --split {split} --out {root}/o_op5",
     "no training settings"),
    # run-all
    ("run-all-unknown-notebook", "run-all --profile smoke --only 99", "99"),
    ("run-all-out-is-file", "run-all --profile smoke --only 01 --out {existing}", "--out"),
]


@pytest.mark.parametrize("args,expect", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_mistake_gets_one_line_and_exit_2(ws, args, expect, tmp_path, monkeypatch, capsys):
    outputs = tmp_path / "project_outputs"
    outputs.mkdir()
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(outputs))
    argv = args.format(**{k: str(v) for k, v in ws.items()}, cache=os.environ["AUXILIARY_CACHE"]).split()
    out_dir = Path(argv[argv.index("--out") + 1]) if "--out" in argv else None
    before = snapshot(ws["root"], outputs)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own checks (types, choices) exit from parse_args
        code = exc.code
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}; stderr: {captured.err[-600:]}; stdout: {captured.out[-300:]}"
    assert len(lines) == 1 and lines[0].startswith("error:"), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert expect in lines[0], lines[0]
    assert "weights_only" not in lines[0] or "False" not in lines[0]  # never point at the unsafe option
    after = snapshot(ws["root"], outputs)
    new_out = out_dir is not None and str(out_dir) not in before
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)
               and not (new_out and (p == str(out_dir) or p.startswith(str(out_dir) + "/")))}
    assert changed == set(), f"files changed outside --out: {sorted(changed)[:5]}"
    assert not (new_out and out_dir.exists()), f"the refusal left {out_dir}"  # nothing written: --out included
    assert not (ws["root"] / "PWNED").exists()


def test_the_matrix_covers_every_step():
    steps = {c[1].split()[0] for c in CASES}
    assert steps == set(cli.STEPS), set(cli.STEPS) - steps
