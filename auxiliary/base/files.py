"""Files written safely: one atomic write, safe file names, copies and content hashes.

Every output file of the package is written through :func:`atomic_write` (a temporary file beside
the target, then an atomic rename), so a crash never leaves half a file, and a re-run completes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.layout import cache_dir


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: paths as strings, NumPy scalars and arrays as Python values,
    NaN and infinity as ``None``, objects with ``to_dict`` (pandas) through it."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return jsonable(value.to_dict())
    return value


# ----------------------------------------------------------------------------- atomic writes
PART_SUFFIX = ".part"


def temp_path(dest: str | Path) -> Path:
    """The temporary file an atomic write of ``dest`` goes through: ``.<name>.<pid>.part`` beside it."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.{os.getpid()}{PART_SUFFIX}"


@contextlib.contextmanager
def atomic_write(dest: str | Path) -> Iterator[Path]:
    """Write ``dest`` atomically: the block writes the yielded temporary path, which then replaces
    ``dest`` in one rename. If the block fails, ``dest`` is left as it was and the temporary file removed, with
    the folders made for it (a refused step leaves nothing behind).

    >>> with atomic_write(folder / "table.csv") as tmp:  # doctest: +SKIP
    ...     frame.to_csv(tmp, index=False)
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_file():  # os.replace would put the file in place of a device node, a FIFO...
        raise OutputPathError(f"{dest} exists and is not a regular file ({entry_kind(dest)}): it is never replaced; "
                              "choose a file name")
    made = []  # the folders this write creates, deepest first: removed again (when empty) if the block fails
    for folder in (dest.parent, *dest.parent.parents):
        if folder.exists() or folder.is_symlink():
            break
        made.append(folder)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # something else was written there meanwhile: kept
                break
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def entry_kind(path: str | Path) -> str:
    """What an existing entry is, for a message (``"a FIFO"``, ``"a folder"``...), asked of ``stat`` alone: a FIFO
    is never opened."""
    kinds = {stat.S_IFREG: "a file", stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
             stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
    return kinds.get(stat.S_IFMT(os.stat(path).st_mode), "not a regular file")


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, data: Any, indent: int | None = 2) -> None:
    """Write ``data`` (through :func:`jsonable`) as JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(jsonable(data), indent=indent))


#: CSV rows end in CRLF (RFC 4180, and what ``csv.writer`` writes): a carriage return inside a cell is then quoted,
#: so that ``"\r=1+1"`` cannot start a row of its own that a spreadsheet would run.
CSV_LINE_END = "\r\n"
#: What a spreadsheet reads as a formula at the start of a cell (the OWASP "CSV injection" list).
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (``=1+1``, ``+cmd``, ``@SUM(A1)``, a leading tab) with a
    ``'`` in front, so that it shows as text; everything else as it is. :func:`restore` undoes it."""
    if isinstance(cell, str) and cell.lstrip("'").startswith(FORMULA_START):  # quotes already there: one more
        return "'" + cell
    return cell


def restore(cell: Any) -> Any:
    """A cell of a CSV this package wrote, as it was before :func:`neutralise`."""
    if isinstance(cell, str) and cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_START):
        return cell[1:]
    return cell


def safe_frame(frame: Any) -> Any:
    r"""A copy of a DataFrame whose text cells and column names are :func:`neutralise`\ d (index names too)."""
    out = frame.copy()
    for col in out.columns:
        if _text(out[col].dtype):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    out.index = out.index.map(neutralise) if _text(out.index.dtype) else out.index
    out.index.names = [neutralise(n) for n in out.index.names]
    return out


def write_csv_atomic(path: str | Path, frame: Any, index: bool = False) -> None:
    """Write a DataFrame as CSV to ``path`` atomically, every text cell and header neutralised (:func:`neutralise`):
    the one way this package writes a CSV, since a reviewer opens them in a spreadsheet."""
    with atomic_write(path) as tmp:
        safe_frame(frame).to_csv(tmp, index=index, lineterminator=CSV_LINE_END)


def csv_text(frame: Any, index: bool = False) -> str:
    """The CSV text :func:`write_csv_atomic` would write (for a file written in several parts, or an artifact)."""
    return safe_frame(frame).to_csv(index=index, lineterminator=CSV_LINE_END)


def read_csv(path: str | Path, **kwargs: Any) -> Any:
    """A CSV this package wrote, read by pandas (``kwargs`` are ``pandas.read_csv``'s) with :func:`restore` applied to
    its text cells and headers."""
    frame = pd.read_csv(path, **kwargs)
    frame.columns = [restore(c) for c in frame.columns]
    for col in frame.columns:
        if _text(frame[col].dtype):
            frame[col] = frame[col].map(restore)
    if _text(frame.index.dtype):
        frame.index = frame.index.map(restore)
    frame.index.names = [restore(n) for n in frame.index.names]
    return frame


def _text(dtype: Any) -> bool:
    """A column that can hold text: object, or pandas' string dtype (the default for text since pandas 3)."""
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


# ----------------------------------------------------------------------------- where a step writes
class OutputPathError(AuxiliaryError, ValueError):
    """An output folder that cannot be used: a file, or the input itself or inside it."""


def resolved_output(out: str | Path, option: str = "--out") -> Path:
    """``out`` made absolute with its links followed, or one line when it cannot be: a symbolic link loop (which
    ``Path.resolve`` reports as a ``RuntimeError``) or a link to nothing (``mkdir`` would fail on it, or create its
    target wherever it points)."""
    path = Path(out).expanduser()
    try:
        target = path.resolve()
    except (RuntimeError, OSError) as exc:
        raise OutputPathError(f"{option} {out} cannot be followed ({exc}): a symbolic link loop? choose another "
                              "folder") from None
    if path.is_symlink() and not path.exists():
        raise OutputPathError(f"{option} {out} is a symbolic link to nothing ({os.readlink(path)}): choose a folder")
    return target


def outside_cache(target: Path, out: str | Path, option: str = "--out") -> Path:
    """``target`` unless it lies in the cache folder (:func:`auxiliary.base.layout.cache_dir`), whose contents
    may be deleted at any time as re-creatable: a step's results never go there."""
    try:
        cache = cache_dir(create=False).resolve()
    except (RuntimeError, OSError):  # a cache folder that cannot be followed holds nothing to protect
        return target
    if target == cache or target.is_relative_to(cache):
        raise OutputPathError(f"{option} {out} lies inside the cache folder {cache} (AUXILIARY_CACHE), whose "
                              "contents may be deleted at any time: choose a folder outside it")
    return target


def check_output_dir(out: str | Path, *, inputs: tuple[str | Path | None, ...] = (), option: str = "--out") -> Path:
    """``out`` resolved, after checking that a step may write its files there: followable
    (:func:`resolved_output`), not an existing file, not in the cache folder, not one of ``inputs`` (files or
    folders the step reads) and not inside an input folder, so a step never writes among the user's own files.
    Nothing is created here."""
    target = outside_cache(resolved_output(out, option), out, option)
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{option} {out} is an existing file, not a folder: choose a folder name")
    for given in inputs:
        if given is None:
            continue
        try:
            src = Path(given).expanduser().resolve()
        except (RuntimeError, OSError):  # a link loop: nothing can be written inside it (the step says it is missing)
            continue
        if target == src or (src.is_dir() and target.is_relative_to(src)):
            raise OutputPathError(f"{option} {out} is inside the input {given}: choose a folder outside it")
    return target


# ----------------------------------------------------------------------------- runs and data
def label_slug(text: str) -> str:
    """A file-name-safe version of a label (``resnet18 (04)`` -> ``resnet18_04``)."""
    s = re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).strip("._")
    return s or "model"


#: Longest file name written (bytes, UTF-8); most file systems allow 255.
MAX_NAME_BYTES = 180


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def safe_name(name: str, default: str = "image") -> str:
    """A file or folder name that is safe to create inside a folder: no separators, no control
    characters, no leading dot or dash, not ``.``/``..``, NFC unicode, at most MAX_NAME_BYTES bytes.

    >>> safe_name("../../etc/passwd")
    'passwd'
    >>> safe_name("-rf .png")
    '_rf .png'
    """
    name = unicodedata.normalize("NFC", str(name))
    name = name.replace("\\", "/").split("/")[-1]  # a path: keep its last part only
    name = _UNSAFE.sub("_", name).strip()
    name = re.sub(r"^[.\-]+", lambda m: "_" * len(m.group(0)), name)
    if not name or set(name) <= {"_", " "}:
        name = default + (name if name else "")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:16]
    while len(name.encode("utf-8")) > MAX_NAME_BYTES and stem:
        stem = stem[:-1]
        name = f"{stem}.{ext}" if dot else stem
    return name


def with_suffix(name: str, suffix: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-{suffix}.{ext}" if dot and stem else f"{name}-{suffix}"


def atomic_copy(src: str | Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temporary file in the same folder and an atomic rename that
    never replaces an existing file (hard link when the file system allows it)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    try:
        shutil.copyfile(src, tmp)
        with contextlib.suppress(OSError):
            shutil.copystat(src, tmp)
        try:
            os.link(tmp, dest)  # fails if dest exists: never overwrites
        except FileExistsError:
            raise
        except OSError:  # no hard links here (FAT, some network drives): check then rename
            if dest.exists():
                raise FileExistsError(str(dest)) from None
            os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (content identity for idempotent copies and provenance)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
