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
