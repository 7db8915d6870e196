"""Where an output came from: the config hash, the data version, and the provenance record of a figure.

Every figure the notebooks write under ``figures/`` (:func:`auxiliary.faces.notebook.save_figure`) carries a
record naming the notebook, the run id, the config hash and the data version that made it, twice:
in the PNG itself (a ``tEXt`` chunk under :data:`PNG_KEY`, read by any PNG tool:
``python -c "from PIL import Image; print(Image.open('figures/04_learning_curves.png').text)"``) and
in a sidecar ``<name>.png.json`` beside it. :func:`figure_provenance` reads either back.

* **config hash**: :func:`config_hash`, the first 12 hex digits of the SHA-1 of the resolved
  configuration (``auxiliary.base.config.to_dict``) as sorted JSON; the same settings give the same hash.
* **data version**: :func:`data_version`, the SHA-1 of a split folder's lists (``classes.json``,
  ``train.csv``, ``val.csv``, ``test.csv``): two runs with the same data version saw the same images
  with the same labels in the same splits. It is also the ``data_version`` tag of MLflow runs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image

from auxiliary.base.config import Config, to_dict
from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.files import atomic_write, entry_kind, jsonable, write_json_atomic

#: The PNG text key holding the record (JSON).
PNG_KEY = "auxiliary:provenance"
#: The files of a split folder whose bytes make its data version.
SPLIT_FILES: tuple[str, ...] = ("classes.json", "train.csv", "val.csv", "test.csv")
#: What every record names (None when unknown, e.g. a data version before the split exists).
FIELDS: tuple[str, ...] = ("notebook", "run_id", "config_hash", "data_version")


class ProvenanceError(AuxiliaryError):
    """A file without a readable provenance record."""


def config_hash(cfg: Config | dict[str, Any]) -> str:
    """12 hex digits identifying a resolved configuration (a :class:`~auxiliary.base.config.Config` or its dict)."""
    data = to_dict(cfg) if isinstance(cfg, Config) else cfg
    text = json.dumps(jsonable(data), sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def data_version(split_dir: str | Path | None) -> str | None:
    """12 hex digits of a split folder's lists (:data:`SPLIT_FILES`), or of a dataset folder's ``metadata.csv``
    (the synthetic dataset, before it is split); None when the folder holds none of them."""
    if split_dir is None:
        return None
    d = Path(split_dir)
    for names in (SPLIT_FILES, ("metadata.csv",)):
        h = hashlib.sha1()
        found = False
        for name in names:
            f = d / name
            h.update(name.encode())
            if f.is_file():
                h.update(f.read_bytes())
                found = True
            else:
                h.update(b"-")
        if found:
            return h.hexdigest()[:12]
    return None


def record(notebook: str | None, run_id: str | None, cfg_hash: str | None, data: str | None,
           **extra: Any) -> dict[str, Any]:
    """A provenance record: :data:`FIELDS`, when it was written, and ``extra`` (e.g. the training run folder)."""
    out: dict[str, Any] = {"notebook": notebook, "run_id": run_id, "config_hash": cfg_hash, "data_version": data}
    out.update({k: v for k, v in extra.items() if v is not None})
    out["written"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return jsonable(out)


def sidecar_path(path: str | Path) -> Path:
    """``figures/x.png`` -> ``figures/x.png.json``."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def save_figure_with_provenance(fig: Any, path: str | Path, rec: dict[str, Any], dpi: int = 150) -> Path:
    """Save a matplotlib figure as PNG at ``path`` with ``rec`` in its metadata and in a sidecar, both atomically."""
    out = Path(path)
    text = json.dumps(rec, sort_keys=True)
    with atomic_write(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={PNG_KEY: text})
    write_json_atomic(sidecar_path(out), rec)
    return out


def figure_provenance(path: str | Path) -> dict[str, Any]:
    """The record of a figure: from its sidecar, else from the PNG's metadata; a one-line error when neither has one."""
    p = Path(path)
    side = sidecar_path(p)
    if side.is_file():
        try:
            return json.loads(side.read_text(encoding="utf-8"))
        except ValueError:
            pass
    if not p.is_file():
        raise ProvenanceError(f"{p}: {entry_kind(p)}, not a PNG file (never opened)" if p.exists() else f"{p}: no such file")
    try:
        with Image.open(p) as im:
            text = getattr(im, "text", {}).get(PNG_KEY)
    except OSError:
        text = None
    if not text:
        raise ProvenanceError(f"{p} carries no provenance record (written before provenance existed, or not by "
                              "auxiliary.faces.notebook.save_figure)")
    try:
        return json.loads(text)
    except ValueError:
        raise ProvenanceError(f"{p}: its provenance record is not valid JSON") from None
