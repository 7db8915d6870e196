"""Label sets in the feedback folder: how a multi-label correction is filed and read back.

A single-label feedback image lives in ``feedback/<class>/``. A multi-label one lives in the folder of its
whole label set: the labels present joined by ``+`` in the split's label order (``feedback/acne+wrinkles/``),
or ``feedback/none/`` when it shows none (:func:`label_set_folder`). :func:`parse_label_folder` reads a
folder name back into its labels (``None`` when it is not a label set of these labels), and
:func:`label_set_columns` gives the split-table fields of a merged image (``label`` joined by ``|`` as in
every multi-label table, one 0/1 column per label).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: Separator of the labels in a feedback folder name (``|`` is not safe in folder names everywhere).
LABEL_SET_SEP = "+"
#: The folder (and ``label`` text) of an image without any of the labels.
NO_LABEL_FOLDER = "none"


def label_set_folder(present: Iterable[str], labels: Sequence[str]) -> str:
    """``acne+wrinkles`` for the labels ``present`` (in the order of ``labels``), ``none`` for none;
    a label that is not one of ``labels`` raises ``ValueError``."""
    chosen = {str(x) for x in present}
    unknown = sorted(chosen - {str(x) for x in labels})
    if unknown:
        raise ValueError(f"unknown label(s) {', '.join(unknown)} (labels: {', '.join(map(str, labels))})")
    names = [str(x) for x in labels if str(x) in chosen]
    return LABEL_SET_SEP.join(names) if names else NO_LABEL_FOLDER


def parse_label_folder(name: str, labels: Sequence[str]) -> list[str] | None:
    """The labels of a label-set folder name (``[]`` for ``none``); ``None`` when a part is not a label,
    repeats, or the order differs from ``labels`` (one folder per label set)."""
    if name == NO_LABEL_FOLDER:
        return []
    parts = str(name).split(LABEL_SET_SEP)
    order = [str(x) for x in labels]
    if any(p not in order for p in parts) or len(set(parts)) != len(parts):
        return None
    return parts if parts == [x for x in order if x in parts] else None


def label_set_columns(name: str, labels: Sequence[str]) -> dict[str, object]:
    """``{"label": "acne|wrinkles", "acne": 1, "erythema": 0, ...}`` of a valid label-set folder name."""
    present = parse_label_folder(name, labels)
    if present is None:
        raise ValueError(f"{name!r} is not a label set of {', '.join(map(str, labels))}")
    return {"label": "|".join(present) or NO_LABEL_FOLDER, **{str(x): int(str(x) in present) for x in labels}}
