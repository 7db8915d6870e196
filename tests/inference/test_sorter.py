"""auxiliary.inference.sorter: every input accounted for once, inputs untouched, idempotent re-runs, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _hostile import fifo, no_hang
from PIL import Image

from auxiliary.base import errors
from auxiliary.base import files as files_mod
from auxiliary.faces import cli
from auxiliary.inference import sort_report, sorter
from auxiliary.models import checkpoint as checkpoints
from auxiliary.models import factory as models

CLASSES = ["acne", "erythema", "none"]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = models.create_model("resnet18", num_classes=3)
    path = tmp_path_factory.mktemp("ck") / "best.pt"
    checkpoints.save_checkpoint(path, model, model_name="resnet18", classes=CLASSES, img_size=32, temperature=1.0)
    return path


@pytest.fixture(scope="module")
def predictor(ckpt):
    return sorter.sorting_predictor(ckpt, "torch")


def _rgb(seed: int, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def make_inputs(root: Path) -> dict[str, str]:
    """A messy input folder; returns {relative path: expected kind} (ok or rejected)."""
    root.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, str] = {}

    def png(rel: str, arr: np.ndarray, mode: str | None = None, **kw) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr, mode=mode).save(p, **kw) if mode else Image.fromarray(arr).save(p, **kw)
        kinds[rel] = "ok"

    for i in range(5):
        png(f"img_{i}.png", _rgb(i))
    png("photo.jpg", _rgb(10), format="JPEG")
    png("gray.png", _rgb(11)[..., 0])
    png("rgba.png", np.dstack([_rgb(12), np.full((40, 40), 128, np.uint8)]))
    Image.fromarray(_rgb(13)).convert("P").save(root / "palette.png")
    kinds["palette.png"] = "ok"
    Image.fromarray(np.arange(1600, dtype=np.uint16).reshape(40, 40) * 40).save(root / "deep16.png")
    kinds["deep16.png"] = "ok"
    png("éé ñ 日本 photo.png", _rgb(14))
    png("-rf.png", _rgb(15))
    png("..png", _rgb(16), format="PNG")
    png("with space .png", _rgb(17))
    png("noextension", _rgb(18), format="PNG")
    png("sub/img_0.png", _rgb(100))  # same name as the top-level img_0.png, other content
    png("sub/deeper/copy_of_img_1.png", _rgb(1))  # same bytes as img_1.png
    (root / "zero.png").write_bytes(b"")
    (root / "notes.jpg").write_text("this is a text file, not a JPEG\n")
    good = (root / "img_2.png").read_bytes()
    (root / "corrupt.png").write_bytes(good[:30] + b"\x00garbage" * 20)
    jpg = (root / "photo.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    for rel in ("zero.png", "notes.jpg", "corrupt.png", "truncated.jpg"):
        kinds[rel] = "rejected"
    return kinds


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {p.relative_to(root).as_posix(): (_sha(p), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def out_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts))


def test_every_input_accounted_for_once_and_inputs_untouched(ckpt, predictor, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    kinds = make_inputs(inp)
    before = snapshot(inp)
    res = sorter.sort_folder(ckpt, inp, out, conf=0.36, batch=4, recursive=True, predictor=predictor, progress=False)
    assert snapshot(inp) == before  # byte-identical, not even touched
    s = res.summary
    assert s["accounted_for_all"] and s["n_inputs"] == len(kinds) == s["n_rows"]
    pred = res.predictions
    assert len(pred) == len(kinds)
    rel_sources = {Path(p).relative_to(inp).as_posix() for p in pred["source"]}
    assert rel_sources == set(kinds)  # one row per input, every input
    rej = res.rejected
    assert {Path(p).relative_to(inp).as_posix() for p in rej["source"]} == {k for k, v in kinds.items() if v == "rejected"}
    reasons = dict(zip((Path(p).name for p in rej["source"]), rej["reason"]))
    assert "zero" in reasons["zero.png"] and "not an image" in reasons["notes.jpg"]
    assert "truncated" in reasons["truncated.jpg"] or "corrupt" in reasons["truncated.jpg"]
    ok = pred[pred["decision"] != "rejected"]
    assert set(ok["decision"]) <= {"sorted", "low_confidence"}
    for _, row in ok.iterrows():
        dest = out / row["destination"]
        assert dest.is_file() and files_mod.sha256_file(dest) == row["sha256"] == _sha(Path(row["source"]))
        assert row["folder"] == (row["predicted"] if row["decision"] == "sorted" else "low_confidence")
        assert (row["top_prob"] >= 0.36) == (row["decision"] == "sorted")
        assert row["model"].startswith("resnet18:") and row["threshold"] == 0.36
    assert np.allclose(ok[[f"prob_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-4)
    # copies on disk = the distinct contents of readable inputs; the duplicate points at the first copy
    files = out_files(out)
    class_files = [f for f in files if "/" in f]
    assert len(class_files) == len(ok) - 1 == len(set(ok["sha256"]))
    assert set(class_files) == set(ok["destination"])
    dup = ok[ok["duplicate_of"] != ""]
    assert len(dup) == 1 and Path(dup.iloc[0]["source"]).name == "copy_of_img_1.png"
    # the two img_0.png (different bytes) both survive; odd names stay inside OUT with safe names
    names = [Path(f).name for f in class_files]
    assert sum(n.startswith("img_0") for n in names) == 2
    assert all(not n.startswith((".", "-")) for n in names)
    assert any("日本" in n for n in names) and any(n.endswith(".png") and "noextension" in n for n in names)
    report = json.loads((out / "sort_report.json").read_text())
    assert report["counts"]["rejected"] == 4 and sum(report["counts"].values()) == len(kinds)


def test_rerun_adds_nothing_and_interrupted_run_completes(ckpt, predictor, tmp_path, monkeypatch):
    inp, out = tmp_path / "in", tmp_path / "out"
    kinds = make_inputs(inp)
    real_copy = files_mod.atomic_copy
    calls = {"n": 0}

    def flaky_copy(src, dest):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-way
        real_copy(src, dest)

    monkeypatch.setattr(sorter, "atomic_copy", flaky_copy)
    with pytest.raises(KeyboardInterrupt):
        sorter.sort_folder(ckpt, inp, out, conf=0.0, batch=4, recursive=True, predictor=predictor, progress=False)
    monkeypatch.setattr(sorter, "atomic_copy", real_copy)
    # also lose the last journal line: a crash after a copy but before it was recorded
    journal = out / ".sort" / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]) + lines[-1][:10])  # torn last line
    res = sorter.sort_folder(ckpt, inp, out, conf=0.0, batch=4, recursive=True, predictor=predictor, progress=False)
    assert res.summary["accounted_for_all"] and res.summary["n_rows"] == len(kinds)
    files = out_files(out)
    n_readable = sum(v == "ok" for v in kinds.values())
    assert len([f for f in files if "/" in f]) == n_readable - 1  # no duplicate copies
    pred1 = res.predictions
    # a third run: nothing new processed, nothing copied, same files and rows
    res2 = sorter.sort_folder(ckpt, inp, out, conf=0.0, batch=4, recursive=True, predictor=predictor, progress=False)
    assert res2.summary["n_processed"] == 0 and res2.summary["n_copied"] == 0
    assert out_files(out) == files
    pd.testing.assert_frame_equal(res2.predictions, pred1)
    # another model or threshold into the same OUT is refused instead of mixing decisions
    with pytest.raises(errors.SortError, match="other settings"):
        sorter.sort_folder(ckpt, inp, out, conf=0.9, batch=4, recursive=True, predictor=predictor, progress=False)


def test_malicious_class_names_stay_inside_out(tmp_path):
    torch.manual_seed(1)
    model = models.create_model("resnet18", num_classes=2)
    ck = checkpoints.save_checkpoint(tmp_path / "evil.pt", model, model_name="resnet18", classes=["../../escape", "ok"],
                                img_size=32)
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(3):
        Image.fromarray(_rgb(i)).save(inp / f"{i}.png")
    out = tmp_path / "deep" / "out"
    res = sorter.sort_folder(ck, inp, out, conf=0.0, backend="torch", progress=False)
    assert res.summary["accounted_for_all"]
    written = [p for p in tmp_path.rglob("*.png") if not p.is_relative_to(inp)]
    assert len(written) == 3 and all(p.is_relative_to(out) for p in written)


def test_output_inside_input_and_bad_folders_are_refused(ckpt, predictor, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(3):
        Image.fromarray(_rgb(i)).save(inp / f"{i}.png")
    with pytest.raises(errors.SortError, match="inside --input"):  # copies would land among the inputs
        sorter.sort_folder(ckpt, inp, inp / "sorted", conf=0.0, recursive=True, predictor=predictor, progress=False)
    assert sorted(p.name for p in inp.iterdir()) == ["0.png", "1.png", "2.png"]
    out = tmp_path / "sorted"
    res = sorter.sort_folder(ckpt, inp, out, conf=0.0, recursive=True, predictor=predictor, progress=False)
    assert res.summary["n_inputs"] == 3
    res = sorter.sort_folder(ckpt, inp, out, conf=0.0, recursive=True, predictor=predictor, progress=False)
    assert res.summary["n_inputs"] == 3 and res.summary["n_copied"] == 0
    with pytest.raises(errors.SortError, match="not found"):
        sorter.sort_folder(ckpt, tmp_path / "missing", tmp_path / "o", progress=False)
    with pytest.raises(errors.SortError, match="must differ"):
        sorter.sort_folder(ckpt, inp, inp, progress=False)
    with pytest.raises(errors.SortError, match="inside --out"):
        (out / "more").mkdir()
        sorter.sort_folder(ckpt, out / "more", out, progress=False)
    foreign = tmp_path / "pictures"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(errors.SortError, match="not a sorting output"):
        sorter.sort_folder(ckpt, inp, foreign, predictor=predictor, progress=False)
    # a second sort writing into the same OUT at the same time is refused
    (out / ".sort" / "lock").write_text(str(os.getppid()))
    with pytest.raises(errors.SortError, match="another sort"):
        sorter.sort_folder(ckpt, inp, out, conf=0.0, recursive=True, predictor=predictor, progress=False)
    (out / ".sort" / "lock").write_text("999999999")  # its process is gone: a stale lock is taken over
    res = sorter.sort_folder(ckpt, inp, out, conf=0.0, recursive=True, predictor=predictor, progress=False)
    assert res.summary["accounted_for_all"] and not (out / ".sort" / "lock").exists()


def test_cli_sort_with_conformal_tta_and_batch_alias(ckpt, tmp_path, capsys):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i in range(6):
        Image.fromarray(_rgb(i)).save(inp / f"{i}.png")
    (inp / "bad.png").write_bytes(b"")
    (inp / "sub").mkdir()
    Image.fromarray(_rgb(50)).save(inp / "sub" / "deep.png")
    rng = np.random.default_rng(0)
    p = rng.dirichlet([2, 2, 2], size=50)
    calib = pd.DataFrame({"path": [f"x{i}.png" for i in range(50)],
                          "label": [CLASSES[int(np.argmax(r))] for r in p]})
    for j, c in enumerate(CLASSES):
        calib[f"prob_{c}"] = p[:, j]
    calib.to_csv(tmp_path / "val_predictions.csv", index=False)
    code = cli.main(["sort", "--ckpt", str(ckpt), "--input", str(inp), "--out", str(out), "--batch", "3",
                     "--coverage", "0.9", "--calib", str(tmp_path / "val_predictions.csv"), "--tta",
                     "--backend", "torch", "--recursive", "--quiet"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "conformal" in text and "accounted for all: True" in text
    pred = sort_report.read_sort_predictions(out)
    assert len(pred) == 8 and (pred["decision"] == "rejected").sum() == 1  # the sub-folder too
    assert set(pred["rule"]) == {pred["rule"].iloc[0]} and "conformal" in pred["rule"].iloc[0]
    good = pred[pred["decision"] != "rejected"]
    multi = good["prediction_set"].str.count(r"\|") > 0
    assert (good.loc[multi, "decision"] == "low_confidence").all()
    report = json.loads((out / "sort_report.json").read_text())
    assert report["conformal"]["n_calib"] == 50 and report["conformal"]["coverage"] == 0.9
    # user errors are one line, exit code 2
    code = cli.main(["sort", "--ckpt", str(tmp_path / "nope.pt"), "--input", str(inp), "--out", str(tmp_path / "o2"),
                     "--backend", "torch"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "checkpoint not found" in err


def test_memory_stays_bounded_by_batch(ckpt, tmp_path, monkeypatch):
    """Images are streamed: never more than one batch of decoded images reaches the model."""
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(11):
        Image.fromarray(_rgb(i, 24)).save(inp / f"{i:02d}.png")
    seen = []
    pred = sorter.sorting_predictor(ckpt, "torch")
    real = pred.predict_batch
    monkeypatch.setattr(pred, "predict_batch", lambda b, tta=False: seen.append(len(b)) or real(b, tta=tta))
    res = sorter.sort_folder(None, inp, tmp_path / "out", predictor=pred, conf=0.0, batch=4, progress=False)
    assert seen == [4, 4, 3] and res.summary["accounted_for_all"]
    assert os.path.isfile(tmp_path / "out" / "predictions.csv")


def test_onnx_backend_sorts_like_torch(tmp_path):
    torch.manual_seed(2)
    model = models.create_model("resnet18", num_classes=3)
    ck = checkpoints.save_checkpoint(tmp_path / "run" / "best.pt", model, model_name="resnet18", classes=CLASSES, img_size=32)
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(5):
        Image.fromarray(_rgb(i)).save(inp / f"{i}.png")
    a = sorter.sort_folder(ck, inp, tmp_path / "out_torch", conf=0.0, backend="torch", progress=False)
    b = sorter.sort_folder(ck, inp, tmp_path / "out_onnx", conf=0.0, backend="onnx", progress=False)
    pa, pb = a.predictions, b.predictions
    cols = [f"prob_{c}" for c in CLASSES]
    assert np.allclose(pa[cols].to_numpy(), pb[cols].to_numpy(), atol=1e-4)
    assert list(pa["destination"]) == list(pb["destination"])


def test_a_rerun_removes_the_temporary_files_of_a_killed_run(ckpt, predictor, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(3):
        Image.fromarray(_rgb(i)).save(inp / f"{i}.png")
    out = tmp_path / "out"
    sorter.sort_folder(ckpt, inp, out, conf=0.0, predictor=predictor, progress=False)
    # what a kill -9 while writing the reports or copying leaves behind
    leftovers = [out / f".predictions.csv.{4321}.part", out / f".rejected.csv.{4321}.part",
                 next(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) / ".0.png.4321.part"]
    for p in leftovers:
        p.write_text("half")
    res = sorter.sort_folder(ckpt, inp, out, conf=0.0, predictor=predictor, progress=False)
    assert res.summary["accounted_for_all"]
    assert not [p for p in leftovers if p.exists()]


def test_fifos_sockets_and_devices_are_rejected_unopened_and_counted(ckpt, predictor, tmp_path, monkeypatch):
    """Issue 28 (2): a FIFO, a Unix socket and a link to a device among the inputs are never opened (opening the
    FIFO would block forever, reading /dev/zero never end: ``no_hang`` fails the test instead of hanging the suite);
    each is a row of rejected.csv whose reason names its kind, and "accounted for" counts every entry."""
    inp = tmp_path / "in"
    (inp / "sub").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(_rgb(i)).save(inp / f"{i}.png")
    fifo(inp / "pipe.png")
    fifo(inp / "sub" / "deep_pipe.jpg")
    (inp / "zero.png").symlink_to("/dev/zero")
    monkeypatch.chdir(inp)  # a short relative name: a socket path is limited to about 100 bytes
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock.png")
    out = tmp_path / "out"
    try:
        with no_hang(60):
            res = sorter.sort_folder(ckpt, inp, out, conf=0.0, predictor=predictor, progress=False, recursive=True)
            again = sorter.sort_folder(ckpt, inp, out, conf=0.0, predictor=predictor, progress=False, recursive=True)
    finally:
        sock.close()
    s = res.summary
    assert s["n_inputs"] == 7 and s["accounted_for_all"] and s["decisions"]["rejected"] == 4, s
    reasons = {Path(r.source).name: r.reason for r in res.rejected.itertuples()}
    assert set(reasons) == {"pipe.png", "deep_pipe.jpg", "zero.png", "sock.png"}
    assert "a FIFO" in reasons["pipe.png"] and "a FIFO" in reasons["deep_pipe.jpg"]
    assert "a socket" in reasons["sock.png"] and "a device" in reasons["zero.png"]
    assert all("never opened" in r for r in reasons.values())
    assert again.summary["accounted_for_all"] and again.summary["n_processed"] == 0
    assert again.summary["n_already_done"] == 7
    assert len(res.predictions) == 7 and len(out_files(out)) == 3 + 3  # 3 copies, 3 reports (csv, csv, json)
