"""auxiliary.steps.compare: the comparison table of two tiny runs: index levels, values checked against direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _hostile import HOSTILE_CLASSES, assert_safe_csv
from _tiny_runs import CLASSES, make_run, make_split
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from auxiliary.base import config_overrides, files, layout
from auxiliary.data import readers
from auxiliary.evaluation import comparison_table
from auxiliary.faces import cli
from auxiliary.inference import predictor
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import export, onnx_model
from auxiliary.models import factory as models
from auxiliary.steps import compare as comparison
from auxiliary.viz import plots_comparison, plots_mosaics

IDX = pd.IndexSlice




@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    split = make_split(root, n_per_class=6)
    a = make_run(root / "runs" / "A", "resnet18", seed=0, img_size=32, val_csv=split / "val.csv")
    b = make_run(root / "runs" / "B", "mobilenetv3_small_050", seed=1, img_size=40, temperature=0.8)
    cfg = config_overrides.resolve("smoke", overrides={"speed_repeats": 1, "min_group_size": 5, "tta": True})
    cmp = comparison.compare(cfg, [a.parent, b.parent], split / "test.csv", root / "cmp", onnx_dir=root / "models",
                             galleries=False, progress=False)
    return root, split, {"A": a, "B": b}, cfg, cmp


def test_index_levels_and_groups(setup):
    *_, cmp = setup
    t = cmp.table
    assert list(t.index.names) == ["model", "split", "group", "metric"] and list(t.columns) == ["value"]
    assert t.index.is_unique and t["value"].dtype == float
    assert set(t.index.get_level_values("model")) == {"A", "B", "A+tta", "B+tta"}
    assert set(t.index.get_level_values("split")) == {"test"}
    groups = set(t.index.get_level_values("group"))
    assert {"all", "class:acne", "class:erythema", "class:none", "tone_group:light", "tone_group:brown",
            "tone_group:dark", "gap:tone_group", "ratio:tone_group", "min:tone_group", "max:tone_group"} <= groups
    metrics_all = set(t.xs(("A", "all"), level=("model", "group")).index.get_level_values("metric"))
    assert {"accuracy", "balanced_accuracy", "macro_f1", "macro_auroc", "ece", "log_loss", "parameters",
            "checkpoint_mb", "onnx_mb", *comparison_table.SPEED_METRICS} <= metrics_all
    tta_all = set(t.xs(("A+tta", "all"), level=("model", "group")).index.get_level_values("metric"))
    assert "balanced_accuracy" in tta_all and not tta_all & set(comparison_table.SPEED_METRICS)
    # the slicing taught in notebook 05
    assert len(t.loc[IDX[:, "test", "all", "balanced_accuracy"], :]) == 4
    assert cmp.wide().loc["A", "n_images"] == 18
    assert t.groupby(level="model").size().loc["A"] > t.groupby(level="model").size().loc["A+tta"]


def test_values_match_direct_computation(setup):
    _, split, ckpts, _, cmp = setup
    t = cmp.table["value"]

    test = readers.read_table(split / "test.csv")
    y = np.array([CLASSES.index(v) for v in test["label"]])
    for label, ckpt in ckpts.items():
        pred = predictor.Predictor.from_checkpoint(ckpt)
        for name, tta in ((label, False), (f"{label}+tta", True)):
            probs, errors = pred.predict_paths(list(test["path"]), tta=tta, progress=False)
            assert not errors
            yhat = probs.argmax(1)
            assert t[name, "test", "all", "accuracy"] == pytest.approx(accuracy_score(y, yhat))
            assert t[name, "test", "all", "balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, yhat))
            acne = (y == 0)
            assert t[name, "test", "class:acne", "recall"] == pytest.approx(np.mean(yhat[acne] == 0))
            assert t[name, "test", "class:acne", "support"] == 6
            for tone in ("light", "brown", "dark"):
                assert t[name, "test", f"tone_group:{tone}", "support"] == 6
                m = (test["tone_group"] == tone).to_numpy()
                assert t[name, "test", f"tone_group:{tone}", "accuracy"] == pytest.approx(np.mean(yhat[m] == y[m]))
            ba = [t[name, "test", f"tone_group:{g}", "balanced_accuracy"] for g in ("light", "brown", "dark")]
            assert t[name, "test", "gap:tone_group", "balanced_accuracy"] == pytest.approx(max(ba) - min(ba))
            assert t[name, "test", "all", "temperature"] == pytest.approx(pred.info["temperature"])
            assert np.allclose(cmp.predictions[name][[f"prob_{c}" for c in CLASSES]].to_numpy(), probs)
        model, _ = checkpoints.load_checkpoint(ckpt)
        assert t[label, "test", "all", "parameters"] == models.count_parameters(model)
        assert t[label, "test", "all", "checkpoint_mb"] == pytest.approx(ckpt.stat().st_size / 1e6)
        onnx_file = cmp.runs[label]["onnx"]
        assert onnx_file == str(comparison.onnx_path_for(ckpt.parent, setup[0] / "models"))
        assert onnx_file.endswith(f"{label}-{files.sha256_file(ckpt)[:12]}.onnx") and t[label, "test", "all", "onnx_mb"] > 0.1
        for m in comparison_table.SPEED_METRICS:
            assert t[label, "test", "all", m] > 0
    assert t["A", "test", "all", "parameters"] > 5 * t["B", "test", "all", "parameters"]
    assert set(cmp.worst_groups["worst_group"].dropna()) <= {"light", "brown", "dark"}


def test_error_analysis_and_galleries(setup):
    import matplotlib.pyplot as plt

    *_, cmp = setup
    pred = cmp.predictions["A"]
    mistakes = comparison_table.most_confident_mistakes(pred, n=2)
    assert not mistakes["correct"].any() and (mistakes.groupby("label").size() <= 2).all()
    wrong = pred[~pred["correct"]]
    for cls, grp in mistakes.groupby("label"):
        assert grp["conf"].min() >= wrong[wrong["label"] == cls]["conf"].nlargest(2).min() - 1e-12
    low = comparison_table.low_confidence_rows(pred, conf=0.5, n=3)
    band = pred[pred["conf"] < 0.5].groupby("label").size()
    assert (low["conf"] < 0.5).all() and len(low) == int(np.minimum(band, 3).sum())
    assert len(comparison_table.low_confidence_rows(pred, conf=1.01, n=3)) == 9  # every image, 3 per class
    for kind in ("mistakes", "low_confidence"):
        fig = plots_mosaics.plot_error_gallery(cmp, "A", kind, n=2)
        assert fig.axes
    for fn in (plots_comparison.plot_comparison_tradeoff, plots_comparison.plot_per_class, plots_comparison.plot_fairness, plots_comparison.plot_gaps):
        assert fn(cmp.table).axes
    assert plots_mosaics.plot_gradcam_comparison(cmp, n=3).axes
    plt.close("all")
    with pytest.raises(comparison_table.CompareError, match="unknown gallery kind"):
        plots_mosaics.plot_error_gallery(cmp, "A", "funny")


def test_save_round_trip_and_refuse_overwrite(setup, tmp_path):
    *_, cmp = setup
    written = cmp.save(tmp_path / "out")
    back = comparison.load_comparison(written["csv"])
    pd.testing.assert_frame_equal(back, cmp.table, check_exact=False)
    assert (tmp_path / "out" / "predictions" / "A+tta.csv").is_file() and written["json"].is_file()
    with pytest.raises(comparison_table.CompareError, match="overwrite"):
        cmp.save(tmp_path / "out")
    cmp.save(tmp_path / "out", overwrite=True)


def test_cli_and_bad_labels(setup, tmp_path, capsys):
    root, split, ckpts, _, _ = setup
    out = tmp_path / "cli"
    args = ["compare", "--runs", str(ckpts["A"].parent), str(ckpts["B"].parent), "--data", str(split),
            "--out", str(out), "--onnx-dir", str(root / "models"), "--no-speed", "--profile", "smoke"]
    assert cli.main(args) == 0
    assert (out / "comparison.csv").is_file() and (out / "gallery_mistakes_A.png").is_file()
    assert "balanced_accuracy" in capsys.readouterr().out
    assert cli.main(args) == 2 and "exists" in capsys.readouterr().err
    bad = split / "odd.csv"
    pd.DataFrame({"path": ["../images/acne/acne_00.png"], "label": ["mystery"]}).to_csv(bad, index=False)
    assert cli.main(["compare", "--runs", str(ckpts["A"].parent), "--data", str(bad), "--out", str(tmp_path / "x"),
                     "--no-onnx", "--no-speed"]) == 2
    err = capsys.readouterr().err.strip()
    assert "mystery" in err and len(err.splitlines()) == 1
    assert cli.main(["compare", "--runs", str(tmp_path / "nothing"), "--data", str(bad), "--out", str(tmp_path / "y")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def _tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def test_compare_runs_of_the_same_architecture(setup, tmp_path, capsys):
    """ONNX exports are keyed by the checkpoint: two resnet18 runs (one folder name) compared together, then
    another one later, never share or fight over a file; nothing goes to the project-wide models/."""
    _, split, *_ = setup
    runs = [make_run(tmp_path / grp / "resnet18", "resnet18", seed=i, img_size=32).parent
            for i, grp in enumerate(("a", "b", "c"))]
    models_before = _tree(layout.models_dir())
    out = tmp_path / "cmp"
    base = ["compare", "--data", str(split / "test.csv"), "--no-speed", "--no-galleries", "--profile", "smoke"]
    assert cli.main([*base, "--runs", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0, capsys.readouterr().err
    assert cli.main([*base, "--runs", str(runs[2]), "--out", str(tmp_path / "later")]) == 0, capsys.readouterr().err
    for run in runs:  # beside each checkpoint, exported from it
        assert export.onnx_mismatch(run / "best.onnx", run / "best.pt") is None
    assert _tree(layout.models_dir()) == models_before
    assert {p.name for p in out.iterdir()} == {"comparison.csv", "comparison.json", "predictions"}
    saved = pd.read_csv(out / "comparison.csv")
    assert set(saved["model"]) == {"a/resnet18", "b/resnet18", "a/resnet18+tta", "b/resnet18+tta"}

    # under --onnx-dir: one file per checkpoint, although both runs are called resnet18
    onnx_dir = tmp_path / "onnx"
    cfg = config_overrides.resolve("smoke", overrides={"tta": False})
    cmp = comparison.compare(cfg, runs[:2], split / "test.csv", tmp_path / "in_onnx_dir", onnx_dir=onnx_dir,
                             measure_speed=False, progress=False)
    paths = [cmp.runs[label]["onnx"] for label in ("a/resnet18", "b/resnet18")]
    assert len(set(paths)) == 2 and sorted(p.name for p in onnx_dir.iterdir()) == sorted(p.split("/")[-1] for p in paths)
    for run, path in zip(runs, paths):
        assert export.onnx_mismatch(path, run / "best.pt") is None


def test_compare_replaces_a_stale_export_only_where_allowed(setup, tmp_path, capsys):
    """A stale best.onnx beside a checkpoint (the run was trained again) is re-exported with a note; a file
    under --onnx-dir that does not match needs --overwrite (one-line error otherwise)."""
    _, split, *_ = setup
    run = make_run(tmp_path / "r" / "resnet18", "resnet18", seed=3, img_size=32).parent
    other = make_run(tmp_path / "other" / "resnet18", "resnet18", seed=4, img_size=32)
    export.export_onnx(other, run / "best.onnx")  # stale: from another checkpoint
    cfg = config_overrides.resolve("smoke", overrides={"tta": False})
    capsys.readouterr()
    comparison.compare(cfg, [run], split / "test.csv", tmp_path / "o0", measure_speed=False, galleries=False,
                       progress=False)
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "another checkpoint" in notes[0] and "re-exporting" in notes[0]
    assert export.onnx_mismatch(run / "best.onnx", run / "best.pt") is None

    onnx_dir = tmp_path / "onnx"
    target = comparison.onnx_path_for(run, onnx_dir)
    export.export_onnx(other, target)  # a file that does not match, where compare would put its export
    before = target.read_bytes()
    args = ["compare", "--runs", str(run), "--data", str(split / "test.csv"), "--onnx-dir", str(onnx_dir),
            "--no-speed", "--no-galleries", "--profile", "smoke"]
    assert cli.main([*args, "--out", str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not match" in err and "--overwrite" in err, err
    assert target.read_bytes() == before
    assert cli.main([*args, "--out", str(tmp_path / "o2"), "--overwrite"]) == 0
    assert export.onnx_mismatch(target, run / "best.pt") is None
    assert onnx_model.onnx_metadata(target)["source_sha256"] == files.sha256_file(run / "best.pt")


def test_formula_names_are_neutralised_in_the_comparison_files_and_read_back(tmp_path):
    """Issue 28 (1): a run labelled ``=run`` whose classes are ``=1+1``, ``+cmd``, ``@SUM(A1)``: no cell of
    comparison.csv or of the predictions (headers included) starts with a formula character, and
    :func:`~auxiliary.steps.compare.load_comparison` gives the table back with the names as they were."""
    classes = list(HOSTILE_CLASSES[:3])
    ck = make_run(tmp_path / "runs" / "=run", "resnet18", img_size=32)
    torch.save({**torch.load(ck, weights_only=True), "classes": classes}, ck)
    split = make_split(tmp_path, n_per_class=2)
    table = pd.read_csv(split / "test.csv")
    table["label"] = table["label"].map(dict(zip(CLASSES, classes)))
    table.to_csv(split / "test.csv", index=False)
    cfg = config_overrides.resolve("smoke", overrides={"min_group_size": 1, "tta": False})
    cmp = comparison.compare(cfg, [ck.parent], split, tmp_path / "cmp", export_onnx=False, measure_speed=False,
                             galleries=False, progress=False)
    written = [cmp.written["csv"], *(p for k, p in cmp.written.items() if k.startswith("predictions:"))]
    for path in written:
        assert_safe_csv(path)
    back = comparison.load_comparison(cmp.written["csv"])
    assert list(back.index.get_level_values("model").unique()) == ["=run"]
    assert {f"class:{c}" for c in classes} <= set(back.index.get_level_values("group"))
    pred = files.read_csv(cmp.written["predictions:=run"], keep_default_na=False)
    assert set(pred["label"]) == set(classes)
