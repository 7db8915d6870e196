"""The command line against random hostile input (Hypothesis): flag values, file contents and file kinds.

Issue 28: whatever a user types or points a step at, ``python -m auxiliary STEP`` ends with exit code 0 or 2
(1 only where the contract allows it: a sort that could not account for every input), prints at most one ``error:``
line (exactly one with exit code 2), never a traceback, and writes nothing outside its ``--out`` (``--gradcam``,
``--feedback``) and the cache folder: the inputs, the working directory and the project's output folders are
compared before and after every example. Each verb draws its flags from values that are wrong in every way a
number or a name can be (NaN, infinity, huge, negative, formula characters, path traversal, very long, control
characters, undecodable file-name bytes) and from valid ones; half the examples are *calm* (:class:`Example`: one
hostile value at most, as a rule), so that they get past the first checks into the work. Each file it reads comes
from a kind (a valid input, a file of hostile contents, a folder, a FIFO, a socket, a symbolic link loop, a
dangling link, a missing path) and, for a file, contents (empty, truncated, random bytes, a pickle that would write
a marker file, text, a 2 MB header, a PNG announcing 4 billion pixels, a YAML alias bomb...).

The steps run in this process (``cli.main``, what ``python -m auxiliary`` calls): a fresh interpreter per example
would cost about 20 s. Hypothesis keeps no example database here (``database=None``): the working directory is one
of the folders watched. Bounded to about a minute in all (about 30 s here): the numbers of examples below; run
``FUZZ_SCALE=10 pytest tests/test_cli_fuzz.py --hypothesis-show-statistics`` to fuzz ten times longer and see how
many examples ended in each exit code.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import pickle
import socket
import stat
import traceback
from pathlib import Path

import pytest
from _hostile import HOSTILE_CLASSES, HOSTILE_REVIEWER, no_hang
from _tiny_runs import make_run, make_split
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from auxiliary.faces import cli

pytestmark = pytest.mark.slow


class Exploit:
    """A pickle that would write ``marker`` when unpickled without ``weights_only=True``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


#: ``FUZZ_SCALE=20 pytest tests/test_cli_fuzz.py`` fuzzes 20 times longer than ``make test`` does.
SCALE = max(1, int(os.environ.get("FUZZ_SCALE", "1")))


def fuzz_settings(n: int):
    """``n`` examples (times ``FUZZ_SCALE``), no deadline, no database, and no shrinking: every example is a whole
    step, and shrinking a failure would run hundreds more of them; the failing example is reported as drawn."""
    return settings(max_examples=n * SCALE, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


#: Numbers as typed: wrong in every way, and a few valid ones so that some examples run to the end.
BAD_NUMBERS = ("nan", "NaN", "inf", "-inf", "1e400", "-1e400", "-1", "0", "-0", "1e308", "99999999999999999999999",
               "9" * 5000, "0x10", "1_0", "", " ", "1,5", "½", "1e", "--", "true", "None", "[1, 2]", "{a: 1}",
               "&a [*a]", "!!python/object/apply:os.system ['true']", "2001-13-45")
NUMBER = st.one_of(st.sampled_from(BAD_NUMBERS), st.integers(-10**12, 10**12).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr))
#: Names as typed: formula characters, traversal, very long, control characters, an undecodable byte (a Linux file
#: name that is not UTF-8 reaches ``sys.argv`` as a lone surrogate).
BAD_TEXT = (*HOSTILE_CLASSES, HOSTILE_REVIEWER, "../../../../etc/passwd", "..", "/", "~", "a" * 5000, "a\nerror: b",
            "a\rb", "\t=1", " ", "", "-x", "--out", "\u202eevil", "é", "{0}", "%s%n", "$(touch PWNED)", "a=b=c",
            "acne=", "=acne", ",,,", "acne=none,none=acne", "\udcff\udcfe", "nul\x01")
TEXT = st.one_of(st.sampled_from(BAD_TEXT),
                 st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30))

#: File contents (the valid ones are read from the workspace when the example runs).
BLOBS = ("empty", "text", "pickle", "random", "truncated-png", "truncated-pt", "huge-header", "png-bomb",
         "yaml-bomb", "yaml-deep", "valid-png", "valid-pt", "csv-hostile")
KINDS = ("valid",) * 6 + ("file", "file", "folder", "fifo", "socket", "loop", "dangling", "missing")
FILE_NAMES = ("x.png", "x.csv", "x.pt", "=1+1.png", "@SUM(A1).csv", "+cmd.pt", "a\nerror: b.png", "-rf.png",
              "x" * 200 + ".png", "\udcff.png", "x.yaml")


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> dict:
    """Valid inputs (a split, a run, photos, a feedback folder), the bytes of hostile files, and the folders the
    examples work in."""
    root = tmp_path_factory.mktemp("fuzz")
    inputs = root / "inputs"
    split = make_split(inputs, n_per_class=3, size=32)
    ckpt = make_run(inputs / "run", model_name="test_resnet", img_size=32, val_csv=split / "val.csv")
    photos = inputs / "photos"
    photos.mkdir()
    pngs = sorted((inputs / "images").rglob("*.png"))
    for p in pngs[:4]:
        (photos / p.name).write_bytes(p.read_bytes())
    feedback = inputs / "feedback" / "acne"
    feedback.mkdir(parents=True)
    (feedback / "=cmd.png").write_bytes(pngs[-1].read_bytes())
    png, pt = pngs[0].read_bytes(), ckpt.read_bytes()
    bomb = bytearray(png[:33])
    bomb[16:24] = (65535).to_bytes(4, "big") * 2  # IHDR width and height: 65535 x 65535 (4 billion pixels)
    blobs = {
        "empty": b"", "text": b"not what you expected\n", "random": os.urandom(300),
        "pickle": pickle.dumps({"model": Exploit(root / "PWNED")}), "truncated-png": png[:60],
        "truncated-pt": pt[:400], "huge-header": b"path," + b"x" * 2_000_000 + b"\n/a.png\n",
        "png-bomb": bytes(bomb) + png[33:], "valid-png": png, "valid-pt": pt,
        "yaml-bomb": b"a: &a [x, x, x, x, x, x, x, x, x]\n"
                     + b"".join(b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n"
                                % ((98 + i,) * 2 + (97 + i,) * 9) for i in range(8)),
        "yaml-deep": b"train: " + b"[" * 3000 + b"]" * 3000 + b"\n",
        "csv-hostile": b"path,label\n=cmd|' /C calc'!A0,=1+1\n../../x.png,@SUM(A1)\n",
    }
    places = {n: root / n for n in ("work", "cwd", "outputs", "cache")}
    for p in places.values():
        p.mkdir()
    return Workspace(root=root, inputs=inputs, split=split, ckpt=ckpt, photos=photos,
                     photo=sorted(photos.iterdir())[0], feedback=inputs / "feedback", blobs=blobs,
                     count=itertools.count(), **places)


@pytest.fixture
def world(ws, monkeypatch) -> dict:
    """The workspace with the environment of a user: outputs and cache in folders of the test, a working
    directory of its own."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(ws["outputs"]))
    monkeypatch.setenv("AUXILIARY_CACHE", str(ws["cache"]))
    monkeypatch.chdir(ws["cwd"])
    return ws


def snapshot(*folders: Path) -> dict[str, tuple]:
    """``path -> (type and mode, size, mtime)`` of every entry under ``folders`` (a folder's mode only: its entries
    are listed themselves), links not followed and nothing opened (a FIFO among them)."""
    out = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                st_ = os.lstat(p)
                out[p] = (st_.st_mode,) if stat.S_ISDIR(st_.st_mode) else (st_.st_mode, st_.st_size, st_.st_mtime_ns)
    return out


class Workspace(dict):
    """The fixture's dictionary, with a short repr: Hypothesis prints the arguments of a failing example."""

    def __repr__(self) -> str:
        return f"Workspace({self['root']})"


class Example:
    """One example: hostile inputs made in its folder ``ex/in``, outputs under ``ex/out``.

    Half the examples are *calm*: each file is valid and each number in range five times in six, so that most of them
    carry one hostile value at most and get past the first checks into the work; the others draw every value freely
    (most end at the first check)."""

    def __init__(self, w: dict, data: st.DataObject):
        self.w, self.data = w, data
        self.dir = w["work"] / f"ex{next(w['count'])}"
        (self.dir / "in").mkdir(parents=True)
        self.out = self.dir / "out"
        self.n = 0
        self.calm = data.draw(st.booleans(), label="calm")

    def valid(self, label: str) -> bool:
        return self.calm and self.data.draw(st.integers(0, 5), label=f"{label} valid") != 0

    def maybe(self, label: str) -> bool:
        """An optional flag, given one time in three."""
        return self.data.draw(st.integers(0, 2), label=label) == 0

    def number(self, label: str, *valid: str) -> str:
        """A number as typed: one of ``valid``, or any of :data:`NUMBER`."""
        if valid and self.valid(label):
            return self.data.draw(st.sampled_from(valid), label=label)
        return self.data.draw(NUMBER, label=label)

    def text(self, label: str, *valid: str) -> str:
        if valid and self.valid(label):
            return self.data.draw(st.sampled_from(valid), label=label)
        return self.data.draw(TEXT, label=label)

    def file(self, valid: Path, label: str) -> str:
        """A path for an input whose valid value is ``valid``, of a kind drawn from :data:`KINDS`."""
        data = self.data
        kind = "valid" if self.valid(label) else data.draw(st.sampled_from(KINDS), label=f"{label} kind")
        self.n += 1
        p = self.dir / "in" / f"{self.n}"
        if kind == "valid":
            return str(valid)
        if kind == "file":
            name = data.draw(st.sampled_from(FILE_NAMES), label=f"{label} name")
            blob = data.draw(st.sampled_from(BLOBS), label=f"{label} contents")
            p.mkdir()
            target = p / name
            target.write_bytes(self.w["blobs"][blob])
            return str(target)
        if kind == "folder":
            p.mkdir()
            (p / "notes.txt").write_text("hello")
        elif kind == "fifo":
            os.mkfifo(p)
        elif kind == "socket":
            with socket.socket(socket.AF_UNIX) as s:
                s.bind(str(p))
        elif kind == "loop":
            os.symlink(p.with_name(f"{self.n}b"), p)
            os.symlink(p, p.with_name(f"{self.n}b"))
        elif kind == "dangling":
            os.symlink(self.dir / "nowhere", p)
        return str(p)  # "missing": nothing there

    def config(self) -> list[str]:
        """Sometimes ``--config`` with a hostile file, sometimes ``--set`` with a hostile value (rarely when calm)."""
        extra: list[str] = []
        if not self.valid("no --config") and self.maybe("with --config"):
            extra += ["--config", self.file(self.w["root"] / "no.yaml", "config")]
        if not self.valid("no --set") and self.maybe("with --set"):
            key = self.data.draw(st.sampled_from(("train.lr_ft", "eval.n_bootstrap", "sort.conf", "data.val",
                                                  "train.model", "sort.feedback_dir", "nosuch.key", "train", "")),
                                 label="set key")
            extra += ["--set", f"{key}={self.data.draw(st.one_of(NUMBER, TEXT), label='set value')}"]
        return extra


def run_and_check(w: dict, argv: list[str], allowed: list[Path], codes: tuple[int, ...] = (0, 2)) -> int:
    """Run ``argv`` in this process and check the contract: exit code in ``codes``, at most one ``error:`` line
    (exactly one, alone, with exit code 2), no traceback, nothing changed outside ``allowed`` and the cache."""
    watched = [w["inputs"], w["cwd"], w["outputs"], w["work"]]
    before = snapshot(*watched)
    out, err = io.StringIO(), io.StringIO()
    try:
        with no_hang(60), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse's own checks (types, choices) exit from parse_args
                code = exc.code
    except BaseException as exc:  # noqa: BLE001 - the contract: nothing escapes as a traceback
        pytest.fail(f"{argv!r} raised {type(exc).__name__}: {exc}\n{''.join(traceback.format_exc()[-3000:])}")
    text = out.getvalue() + err.getvalue()
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    event(f"exit {code}")  # pytest --hypothesis-show-statistics: how many examples got past the checks
    assert code in codes, f"{argv!r}: exit {code}\n{text[-1500:]}"
    assert "Traceback" not in text, f"{argv!r}\n{text[-1500:]}"
    assert len(errors) <= 1, errors
    if code == 2:
        assert len(lines) == 1 and errors, f"{argv!r}: {lines[:5]}"
    after = snapshot(*watched)
    free = [str(a) for a in allowed] + [str(w["cache"])]
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p)
                     and not any(p == a or p.startswith(a + os.sep) for a in free))
    assert not changed, f"{argv!r} changed outside its outputs: {changed[:8]}"
    assert not (w["root"] / "PWNED").exists()
    return code


@fuzz_settings(40)
@given(data=st.data())
def test_split(world, data):
    ex = Example(world, data)
    source = data.draw(st.sampled_from([world["inputs"] / "images", world["split"] / "test.csv"]), label="source")
    argv = ["split", "--profile", "smoke", "--data", ex.file(source, "data"), "--out", str(ex.out),
            "--no-duplicate-check"]
    for flag, valid in (("--val", ("0.2", "0.3")), ("--test", ("0.2", "0")), ("--near-threshold", ("0", "8"))):
        if ex.maybe(flag):
            argv += [flag, ex.number(flag, *valid)]
    run_and_check(world, argv + ex.config(), [ex.out])


@fuzz_settings(30)
@given(data=st.data())
def test_evaluate(world, data):
    ex = Example(world, data)
    argv = ["evaluate", "--ckpt", ex.file(world["ckpt"], "ckpt"), "--data", ex.file(world["split"] / "test.csv", "data"),
            "--out", str(ex.out), "--quiet", "--n-bootstrap", "3"]
    if ex.maybe("--val"):
        argv += ["--val", ex.file(world["split"] / "val.csv", "val")]
    if ex.maybe("--label-map"):
        argv += ["--label-map", ex.text("label map", "acne=acne", "none=none,acne=acne")]
    if ex.maybe("--batch-size"):
        argv += ["--batch-size", ex.number("batch", "1", "5")]
    run_and_check(world, argv + ex.config(), [ex.out])


@fuzz_settings(45)
@given(data=st.data())
def test_sort(world, data):
    ex = Example(world, data)
    argv = ["sort", "--profile", "smoke", "--ckpt", ex.file(world["ckpt"], "ckpt"),
            "--input", ex.file(world["photos"], "input"), "--out", str(ex.out), "--quiet"]
    for flag, valid in (("--conf", ("0.5", "0.99")), ("--batch", ("1", "3")), ("--coverage", ("0.9",))):
        if ex.maybe(flag):
            argv += [flag, ex.number(flag, *valid)]
    if ex.maybe("--shard"):
        argv += ["--shard", ex.text("shard", "0/1", "1/2", "0/2")]
    if ex.maybe("--calib"):
        argv += ["--calib", ex.file(world["ckpt"].parent / "val_predictions.csv", "calib")]
    beside = [world["ckpt"].parent / n for n in ("best.onnx", "best.backend.json")]  # with a --config's backend auto
    run_and_check(world, argv + ex.config(), [ex.out, *beside], codes=(0, 1, 2))


@fuzz_settings(45)
@given(data=st.data())
def test_predict(world, data):
    ex = Example(world, data)
    argv = ["predict", ex.file(world["photo"], "image"), "--ckpt", ex.file(world["ckpt"], "ckpt")]
    if ex.maybe("--gradcam"):
        argv += ["--gradcam", str(ex.out)]
    if ex.maybe("--conf"):
        argv += ["--conf", ex.number("conf", "0.5")]
    if ex.maybe("--json"):
        argv += ["--json"]
    run_and_check(world, argv + ex.config(), [ex.out])


@fuzz_settings(30)
@given(data=st.data())
def test_export(world, data):
    ex = Example(world, data)
    argv = ["export", "--ckpt", ex.file(world["ckpt"], "ckpt"), "--out", str(ex.out / "model.onnx"), "--device", "cpu"]
    if ex.maybe("--images"):
        argv += ["--images", ex.file(world["photos"], "images")]
    for flag, valid in (("--opset", ("17",)), ("--atol", ("0.001",))):
        if ex.maybe(flag):
            argv += [flag, ex.number(flag, *valid)]
    run_and_check(world, argv + ex.config(), [ex.out])


@fuzz_settings(45)
@given(data=st.data())
def test_feedback(world, data):
    ex = Example(world, data)
    if data.draw(st.booleans(), label="file"):
        argv = ["feedback", "file", ex.file(world["photo"], "image"), "--label", ex.text("label", "acne", "none"),
                "--split", ex.file(world["split"], "split"), "--feedback", str(ex.out),
                "--reviewer", data.draw(TEXT, label="reviewer"), "--guess", data.draw(TEXT, label="guess")]
    else:
        argv = ["feedback", "merge", "--split", ex.file(world["split"], "split"),
                "--feedback", ex.file(world["feedback"], "feedback"), "--out", str(ex.out), "--quiet"]
    run_and_check(world, argv + ex.config(), [ex.out])


@fuzz_settings(40)
@given(data=st.data())
def test_simulate(world, data):
    ex = Example(world, data)
    small = st.one_of(st.sampled_from(BAD_NUMBERS), st.sampled_from(["1", "2", "16", "32"]))  # cheap when valid
    argv = ["simulate", "--profile", "smoke", "--out", str(ex.out), "--quiet",
            "--n-per-class", data.draw(small, label="n"), "--size", data.draw(small, label="size")]
    if ex.maybe("--telangiectasia"):
        argv += ["--telangiectasia", ex.number("telangiectasia", "0.5")]
    if ex.maybe("--input"):
        argv += ["--input", ex.file(world["photos"], "input")]
    run_and_check(world, argv + ex.config(), [ex.out])
