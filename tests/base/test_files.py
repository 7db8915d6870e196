"""auxiliary.base.files: safe names cannot escape their folder; name clashes never overwrite (sorter.place_copy)."""

from __future__ import annotations

from auxiliary.base import files as files_mod
from auxiliary.inference import sorter


def test_names_cannot_escape_and_clashes_never_overwrite(tmp_path):
    for bad in ["../../x.png", "..", ".", "", "-rf", "a/../../b.png", "..\\..\\c.png", "\x00.png", "e\u0301.png",
                "x" * 400 + ".png", "   ", "CON:.png"]:
        name = files_mod.safe_name(bad)
        assert name and "/" not in name and "\\" not in name and name not in (".", "..")
        assert not name.startswith((".", "-")) and len(name.encode()) <= files_mod.MAX_NAME_BYTES
        assert (tmp_path / name).resolve().parent == tmp_path.resolve()
    assert files_mod.safe_name("e\u0301.png") == "\u00e9.png"  # NFC
    folder = tmp_path / "out" / "acne"
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"first image bytes")
    b.write_bytes(b"other image bytes")
    d1, c1 = sorter.place_copy(a, folder, "img.png", files_mod.sha256_file(a), tmp_path / "out")
    d2, c2 = sorter.place_copy(b, folder, "img.png", files_mod.sha256_file(b), tmp_path / "out")
    d3, c3 = sorter.place_copy(a, folder, "img.png", files_mod.sha256_file(a), tmp_path / "out")
    assert c1 and c2 and not c3 and d1 == d3 != d2
    assert d1.read_bytes() == b"first image bytes" and d2.read_bytes() == b"other image bytes"
    assert d2.name == f"img-{files_mod.sha256_file(b)[:8]}.png"


HOSTILE = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\r=x", "'=already", "plain", "a=b", ""]


def test_csv_cells_and_headers_that_a_spreadsheet_would_run_are_written_as_text_and_read_back(tmp_path):
    import csv

    import pandas as pd

    from auxiliary.base.files import read_csv, write_csv_atomic

    frame = pd.DataFrame({"label": HOSTILE, "=HYPERLINK(1)": range(len(HOSTILE)), "score": [-0.5] * len(HOSTILE)})
    write_csv_atomic(tmp_path / "t.csv", frame)
    raw = (tmp_path / "t.csv").read_text(encoding="utf-8")
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
    assert [c for c in cells if c.startswith("-")] == ["-0.5"] * len(HOSTILE)  # numbers stay numbers
    assert "'=HYPERLINK(1)" in raw
    back = read_csv(tmp_path / "t.csv", dtype={"label": str}, keep_default_na=False)
    assert list(back.columns) == list(frame.columns)
    assert back["label"].tolist() == HOSTILE and back["score"].tolist() == [-0.5] * len(HOSTILE)


def test_an_index_written_and_read_back_is_restored_too(tmp_path):
    import pandas as pd

    from auxiliary.base.files import read_csv, write_csv_atomic

    frame = pd.DataFrame({"recall": [0.5, 0.25]}, index=pd.Index(["=1+1", "plain"], name="@class"))
    write_csv_atomic(tmp_path / "t.csv", frame, index=True)
    assert "'=1+1" in (tmp_path / "t.csv").read_text() and "'@class" in (tmp_path / "t.csv").read_text()
    back = read_csv(tmp_path / "t.csv", index_col=0)
    assert back.index.tolist() == ["=1+1", "plain"] and back.index.name == "@class"


def test_a_write_never_replaces_a_special_file_and_a_failed_one_leaves_no_folder(tmp_path):
    """Issue 28, second pass: ``split --report /dev/zero`` (as root) once put the report in place of the device node;
    a failed write left the folders made for it (an ``export`` refused after its parity images, a new ``--out``)."""
    import os

    import pytest

    from auxiliary.base.files import OutputPathError, atomic_write, write_text_atomic

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OutputPathError, match="a FIFO"):
        write_text_atomic(pipe, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file beside it either
    with pytest.raises(ValueError, match="refused"), atomic_write(tmp_path / "new" / "deeper" / "f.txt") as tmp:
        tmp.write_text("half")
        raise ValueError("refused")
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(ValueError), atomic_write(tmp_path / "kept" / "sub" / "f.txt"):
        raise ValueError("refused")
    assert (tmp_path / "kept").is_dir() and not (tmp_path / "kept" / "sub").exists()  # only what it made goes


def test_an_output_folder_that_loops_dangles_or_lies_in_the_cache_is_one_line(tmp_path, monkeypatch):
    import os

    import pytest

    from auxiliary.base.files import OutputPathError, check_output_dir

    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    with pytest.raises(OutputPathError, match="loop"):
        check_output_dir(tmp_path / "a" / "out")
    with pytest.raises(OutputPathError, match="link to nothing"):
        check_output_dir(tmp_path / "dangling")
    assert check_output_dir(tmp_path / "out", inputs=(tmp_path / "a",)) == (tmp_path / "out").resolve()
    monkeypatch.setenv("AUXILIARY_CACHE", str(tmp_path / "cache"))
    with pytest.raises(OutputPathError, match="cache folder"):
        check_output_dir(tmp_path / "cache" / "runs" / "mine")
    assert not (tmp_path / "cache").exists()  # asked, not made
