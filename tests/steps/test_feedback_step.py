"""auxiliary.steps.feedback: the review queue's order, the review panel filing what is clicked.

Named ``test_feedback_step``: ``tests/data/test_feedback.py`` tests the feedback folder, and pytest imports test
modules by their file name, which must be unique across the test folders (they are not packages)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _multilabel_runs import LABELS as ML_LABELS
from _multilabel_runs import make_multilabel_run, make_multilabel_split, shifted_logits, split_arrays
from _tiny_runs import make_run, make_split
from PIL import Image

from auxiliary.data import feedback, readers
from auxiliary.evaluation.arrays import labels_to_index
from auxiliary.evaluation.metrics import summary_metrics
from auxiliary.faces import cli
from auxiliary.inference.predictor import Predictor
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models
from auxiliary.steps import feedback as feedback_round
from auxiliary.viz import widgets

CLASSES = ["acne", "erythema", "none"]


def _png(path: Path, seed: int, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _predictions() -> pd.DataFrame:
    p = np.array([[0.5, 0.45, 0.05], [0.9, 0.05, 0.05], [0.4, 0.3, 0.3], [0.34, 0.33, 0.33], [0.7, 0.2, 0.1]])
    df = pd.DataFrame({"source": [f"/in/{i}.png" for i in range(5)],
                       "destination": ["low_confidence/0.png", "acne/1.png", "low_confidence/2.png",
                                       "low_confidence/3.png", "acne/4.png"],
                       "decision": ["low_confidence", "sorted", "low_confidence", "low_confidence", "sorted"],
                       "predicted": ["acne"] * 5})
    for j, c in enumerate(CLASSES):
        df[f"prob_{c}"] = p[:, j]
    df["top_prob"] = p.max(1)
    return pd.concat([df, pd.DataFrame([{"source": "/in/bad.png", "decision": "rejected", "destination": ""}])],
                     ignore_index=True)


def test_review_queue_orders_by_margin_or_entropy():
    df = _predictions()
    q = feedback_round.review_queue(df)
    assert list(q["source"]) == ["/in/3.png", "/in/0.png", "/in/2.png"]  # margins .01, .05, .10
    q = feedback_round.review_queue(df, order="entropy")
    assert list(q["source"])[0] == "/in/3.png" and list(q["source"])[-1] == "/in/0.png"
    truth = {"/in/0.png": "acne", "/in/1.png": "none", "/in/2.png": "none", "/in/3.png": "acne", "/in/4.png": "acne"}
    q = feedback_round.review_queue(df, truth, out_dir="/out")
    assert set(q["source"]) == {"/in/0.png", "/in/1.png", "/in/2.png", "/in/3.png"}  # + the confident mistake
    assert q.set_index("source").loc["/in/1.png", "why"] == "mistake"
    assert q.set_index("source").loc["/in/2.png", "why"] == "low confidence + mistake"
    assert q["image"].iloc[0].startswith("/out/")
    with pytest.raises(feedback.FeedbackError):
        feedback_round.review_queue(df, order="random")


def test_review_panel_click_files_image(tmp_path):
    srcs = [_png(tmp_path / "in" / f"{i}.png", 300 + i) for i in range(4)]
    df = _predictions().head(4).copy()
    df["source"] = [str(s) for s in srcs]
    q = feedback_round.review_queue(df, {str(srcs[0]): "erythema"})
    panel = widgets.ReviewPanel(q, CLASSES, tmp_path / "fb", reviewer="tester")
    assert panel.widget.children and bytes(panel.image.value).startswith(b"\x89PNG")
    assert "1 / 3" in panel.info.value
    first = panel.current["source"]
    panel.class_buttons[CLASSES.index("none")].click()  # what a click in the notebook does
    assert panel.pos == 1 and "2 / 3" in panel.info.value
    prov = feedback.read_provenance(tmp_path / "fb")
    assert list(prov["source"]) == [first] and list(prov["label"]) == ["none"] and list(prov["reviewer"]) == ["tester"]
    panel.skip_button.click()
    panel.class_buttons[0].click()
    assert panel.current is None and "Review done" in panel.info.value and len(panel.filed) == 2
    assert all(b.disabled for b in panel.class_buttons)
    # the simulated reviewer files exactly the queued images under their true labels
    filed = feedback_round.simulate_review(q.assign(label=["acne", "none", "erythema"]), tmp_path / "fb2")
    assert len(filed) == 3 and sorted(p.parent.name for p in (tmp_path / "fb2").glob("*/*.png")) == ["acne", "erythema", "none"]


def test_feedback_file_refuses_a_label_the_split_or_model_does_not_have(tmp_path, monkeypatch, capsys):
    """Issue 17 (7): `feedback file --label rosacea` used to file the image under a class nothing knows;
    the label is checked against --split's classes (else the configured split's, else the trained
    model's) and refused in one line naming them; nothing is written."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))  # no configured split or run here
    split = tmp_path / "split"
    split.mkdir()
    (split / "classes.json").write_text(json.dumps({"classes": CLASSES}))
    src = _png(tmp_path / "photo.png", 400)
    before = src.read_bytes()
    fb = tmp_path / "fb"

    def run(*argv: str) -> tuple[int, list[str], list[str]]:
        code = cli.main(["feedback", "file", str(src), "--feedback", str(fb), *argv])
        cap = capsys.readouterr()
        return code, cap.out.strip().splitlines(), cap.err.strip().splitlines()

    code, out, err = run("--label", "rosacea", "--split", str(split))
    assert code == 2 and out == [] and len(err) == 1
    assert err[0].startswith("error: --label 'rosacea' is not a class of the split") and "acne, erythema, none" in err[0]
    assert not fb.exists() and src.read_bytes() == before
    # no split given and none configured, no trained model: say how to give the classes
    code, out, err = run("--label", "acne")
    assert code == 2 and len(err) == 1 and "--split" in err[0] and not fb.exists()
    assert not (tmp_path / "outputs").exists()  # looked up without creating data/ or runs/
    # the trained model's classes when there is no split
    ckpt = tmp_path / "run" / "best.pt"
    checkpoints.save_checkpoint(ckpt, models.create_model("resnet18", 2), model_name="resnet18", classes=["acne", "none"],
                                img_size=64)
    (tmp_path / "outputs" / "runs").mkdir(parents=True)
    monkeypatch.setattr(feedback_round, "trained_checkpoint", lambda cfg: ckpt)  # (imported from training.runs)
    code, out, err = run("--label", "erythema")
    assert code == 2 and len(err) == 1 and "checkpoint" in err[0] and "acne, none" in err[0] and not fb.exists()
    code, out, err = run("--label", "none")
    assert code == 0 and err == [] and len(list((fb / "none").glob("*.png"))) == 1


def test_evaluate_split_measures_as_the_checkpoint_task_does(tmp_path):
    """Notebook 06's before/after: the summary metrics of a checkpoint on one split list, asked of its task (it used
    to branch on ``Predictor.multilabel``, which the Predictor no longer has): one class per image, accuracy and the
    rest of ``summary_metrics``; several labels, F1 at the checkpoint's own thresholds."""
    split = make_split(tmp_path / "single", n_per_class=2)
    ckpt = make_run(tmp_path / "single" / "run")
    got = feedback_round.evaluate_split(ckpt, split, "test")
    table = readers.load_split(split)[0]["test"]
    pred = Predictor.from_checkpoint(ckpt)
    probs, _ = pred.predict_paths(list(table["path"]), progress=False)
    expected = summary_metrics(labels_to_index(list(table["label"]), pred.classes), probs, pred.classes)
    assert got == pytest.approx({**expected, "n": len(table)}, nan_ok=True)

    ml = make_multilabel_split(tmp_path / "multi")
    _, Y, _ = split_arrays(ml)
    logits = shifted_logits(Y)  # sigmoid 0.3 on positives, 0.1 on negatives: only a threshold below 0.3 finds them
    sure = make_multilabel_run(tmp_path / "multi" / "run", ml, logits,
                               thresholds={"global": dict.fromkeys(ML_LABELS, 0.2), "per_group": {}, "fallback": {}})
    got = feedback_round.evaluate_split(sure, ml, "test")
    assert got["n"] == len(Y) and got["macro_f1"] == pytest.approx(1.0) and got["subset_accuracy"] == 1.0
    bare = make_multilabel_run(tmp_path / "multi" / "bare", ml, logits)  # no thresholds: 0.5 finds nothing
    assert feedback_round.evaluate_split(bare, ml, "test")["macro_f1"] == pytest.approx(0.0)


def test_review_batch_picks_k_photos_by_uncertainty_and_diversity(tmp_path):
    import numpy as np
    from _tiny_runs import tiny_checkpoint

    from auxiliary.base.images import write_png
    from auxiliary.inference.predictor import Predictor

    pred = Predictor.from_checkpoint(tiny_checkpoint(tmp_path / "best.pt")[0], device="cpu")
    rng = np.random.default_rng(0)
    paths = [str(write_png(tmp_path / f"p{i}.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)))
             for i in range(8)]
    probs = np.array([[0.34, 0.33, 0.33], [0.9, 0.05, 0.05], [0.5, 0.49, 0.01], [0.8, 0.1, 0.1],
                      [0.4, 0.35, 0.25], [0.98, 0.01, 0.01], [0.6, 0.3, 0.1], [np.nan] * 3])
    df = pd.DataFrame({"source": paths, "decision": ["sorted"] * 7 + ["rejected"],
                       "destination": [f"acne/p{i}.png" for i in range(7)] + [""],
                       **{f"prob_{c}": probs[:, j] for j, c in enumerate(pred.classes)}})
    by_doubt = feedback_round.review_batch(pred, df, 3, "uncertainty", progress=False)
    assert by_doubt["source"].tolist() == [paths[0], paths[2], paths[4]]  # smallest gaps between the top two
    assert by_doubt["rank"].tolist() == [1, 2, 3] and set(by_doubt["why"]) == {"uncertainty"}
    mixed = feedback_round.review_batch(pred, df, 3, out_dir=tmp_path / "sorted", progress=False)
    assert len(mixed) == 3 and mixed["source"].iloc[0] == paths[0] and paths[7] not in set(mixed["source"])
    assert mixed["image"].iloc[0] == str(tmp_path / "sorted" / "acne" / "p0.png")
    rand = feedback_round.review_batch(pred, df, 7, "random", seed=2, progress=False)
    assert sorted(rand["source"]) == sorted(paths[:7])  # every readable photo, never the rejected one


def test_review_panel_of_a_multilabel_model_files_the_ticked_label_set(tmp_path):
    labels = ["acne", "erythema", "wrinkles"]
    srcs = [_png(tmp_path / "in" / f"{i}.png", 400 + i) for i in range(2)]
    q = pd.DataFrame({"source": [str(s) for s in srcs], "destination": ["acne/0.png", "none/1.png"],
                      "decision": ["low_confidence"] * 2, "why": ["low confidence"] * 2, "margin": [0.05, 0.1],
                      "pred": ["acne", "none"], **{f"prob_{c}": [0.6, 0.1] for c in labels},
                      **{f"pred_{c}": [1 if c == "acne" else 0, 0] for c in labels}})
    panel = widgets.ReviewPanel(q, labels, tmp_path / "fb", reviewer="tester", task="multilabel")
    assert [b.description for b in panel.label_boxes] == labels
    assert [b.value for b in panel.label_boxes] == [True, False, False]  # ticked as the model decided
    panel.label_boxes[2].value = True  # the reviewer adds wrinkles
    panel.class_buttons[0].click()
    assert [b.value for b in panel.label_boxes] == [False, False, False]  # the next image: the model said none
    panel.class_buttons[0].click()
    prov = feedback.read_provenance(tmp_path / "fb")
    assert list(prov["label"]) == ["acne+wrinkles", "none"] and panel.current is None
    assert sorted(p.parent.name for p in (tmp_path / "fb").glob("*/*.png")) == ["acne+wrinkles", "none"]
