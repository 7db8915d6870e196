"""auxiliary.base.files: properties of safe file names, for any text (Hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auxiliary.base.files import MAX_NAME_BYTES, safe_name

ANY_NAME = st.text(min_size=0, max_size=300)


@settings(max_examples=300, deadline=None)
@given(ANY_NAME)
def test_a_safe_name_stays_one_plain_entry_of_its_folder(name):
    out = safe_name(name)
    assert out and out not in (".", "..")
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert not out.startswith((".", "-"))
    assert not any(ord(c) < 32 or ord(c) == 127 for c in out)
    assert len(out.encode("utf-8")) <= MAX_NAME_BYTES


@settings(max_examples=100, deadline=None)
@given(ANY_NAME)
def test_a_safe_name_can_be_created_inside_the_folder_and_nowhere_else(name):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "out"
        folder.mkdir()
        path = folder / safe_name(name)
        path.write_bytes(b"x")
        assert path.resolve().parent == folder.resolve()
        assert [p.name for p in folder.iterdir()] == [path.name]


@settings(max_examples=200, deadline=None)
@given(ANY_NAME)
def test_a_safe_name_is_left_as_it_is(name):
    once = safe_name(name)
    assert safe_name(once) == once
