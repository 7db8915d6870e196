"""Sorting a very large folder in several processes: which inputs a shard sorts, and where it writes.

``python -m auxiliary sort ... --shard i/n`` sorts only the inputs of shard ``i`` of ``n`` into
``OUT/shards/<i>-of-<n>/`` (a complete sorting output of its own: class folders, journal, reports, so each
shard resumes on its own after a crash), and ``sort --merge`` (:func:`auxiliary.inference.sort_merge.merge_shards`)
gathers the shards into ``OUT`` once all of them are done.

An input's shard is a hash of its path relative to ``--input`` (:func:`shard_of`): every process that lists
the same folder agrees on it without talking to the others, and every input falls in exactly one shard.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from auxiliary.base.errors import SortError

#: ``OUT/shards/<i>-of-<n>/``: where shard ``i`` of ``n`` writes.
SHARDS_DIR = "shards"


_NAME = re.compile(r"^(\d+)-of-(\d+)$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; a :class:`SortError` in one line otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)) or int(m.group(2)) > 100_000:
        raise SortError(f"--shard must be i/n with 0 <= i < n <= 100000 (e.g. 0/4 ... 3/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard_dir(out: str | Path, shard: tuple[int, int]) -> Path:
    """``OUT/shards/<i>-of-<n>``."""
    return Path(out) / SHARDS_DIR / f"{shard[0]}-of-{shard[1]}"


def shard_of(path: str | Path, root: str | Path, n: int) -> int:
    """The shard (0 to ``n - 1``) of the input ``path`` under ``root``: a hash of its relative path."""
    rel = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root))).as_posix()
    return int(hashlib.sha1(rel.encode("utf-8", "surrogateescape")).hexdigest()[:12], 16) % int(n)


def shard_folders(out: str | Path) -> dict[tuple[int, int], Path]:
    """The shard folders found under ``OUT/shards``: ``{(i, n): folder}``."""
    root = Path(out) / SHARDS_DIR
    found = {}
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        m = _NAME.match(p.name)
        if p.is_dir() and m:
            found[(int(m.group(1)), int(m.group(2)))] = p
    return found
