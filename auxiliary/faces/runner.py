"""Run the notebook series with papermill: ``python -m auxiliary run-all --profile demo``.

Notebooks run in order (01 -> 06); executed copies land in ``runs/notebooks/``. A failure stops
the series with one message naming the notebook, the cell and the error.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auxiliary.base.errors import AuxiliaryError
from auxiliary.base.layout import notebooks_dir, output_root, project_root, runs_dir


class NotebookFailed(AuxiliaryError):
    """A notebook raised; the message names the notebook, cell and error."""


def series(root: Path | None = None) -> list[Path]:
    """The notebooks of the series in order (``NN_name.ipynb``)."""
    nb_dir = (root or project_root()) / "notebooks"
    return sorted(p for p in nb_dir.glob("[0-9][0-9]_*.ipynb") if p.is_file())


@contextlib.contextmanager
def _kernel_outputs() -> Iterator[None]:
    """The kernel starts in the notebook's folder, so its output root would be the checkout holding the notebooks,
    which is the package's own copy when the series runs from another working directory (a read-only install,
    a shared copy): it writes where this process writes instead, ``AUXILIARY_OUTPUT`` = :func:`output_root` here
    (the same folder in the usual case, ``make demo`` in the checkout)."""
    if os.environ.get("AUXILIARY_OUTPUT"):
        yield
        return
    os.environ["AUXILIARY_OUTPUT"] = str(output_root())
    try:
        yield
    finally:
        os.environ.pop("AUXILIARY_OUTPUT", None)


def run_notebook(
    notebook: str | Path,
    profile: str = "demo",
    parameters: dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    cwd: str | Path | None = None,
    cell_timeout: float | None = None,
) -> Path:
    """Execute one notebook with papermill; returns the executed copy's path.

    ``cell_timeout`` (seconds, default ``$AUXILIARY_CELL_TIMEOUT`` or 3600) turns a cell that never
    finishes into a clear failure instead of a run that waits forever. Progress bars inside the
    kernel refresh at most every 2 s (``TQDM_MININTERVAL``), which keeps the stream of widget
    messages small enough for the notebook client to follow on a busy machine.
    """
    import papermill as pm

    os.environ.setdefault("TQDM_MININTERVAL", "2")
    if cell_timeout is None:
        cell_timeout = float(os.environ.get("AUXILIARY_CELL_TIMEOUT", "3600"))

    nb = Path(notebook)
    out = Path(out_dir) if out_dir else runs_dir() / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    dest = out / nb.name
    params = {"PROFILE": profile}
    params.update({k.upper(): v for k, v in (parameters or {}).items()})
    try:
        with _kernel_outputs():
            pm.execute_notebook(str(nb), str(dest), parameters=params, progress_bar=progress, cwd=str(cwd or nb.parent),
                                kernel_name="python3", request_save_on_cell_execute=True,
                                execution_timeout=int(cell_timeout))
    except pm.PapermillExecutionError as exc:
        evalue = str(exc.evalue).strip().splitlines()
        raise NotebookFailed(
            f"notebook {nb.name} failed in cell {exc.cell_index} of the executed copy (In [{exc.exec_count}]): "
            f"{exc.ename}: {evalue[0] if evalue else ''} -- traceback in {dest}"
        ) from None
    except TimeoutError as exc:  # nbclient's CellTimeoutError
        raise NotebookFailed(
            f"notebook {nb.name}: a cell ran longer than {cell_timeout:.0f} s and was stopped "
            f"({str(exc).splitlines()[0][:160]}) -- partial copy in {dest}"
        ) from None
    return dest


def run_all(
    profile: str = "demo",
    only: list[str] | None = None,
    parameters: dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
) -> list[Path]:
    """Run the series in order, stopping at the first failure."""
    notebooks = series()
    if only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(o) or nb.stem == o for o in only)]
        if not notebooks:
            raise AuxiliaryError(f"no notebook matches {only} in {notebooks_dir()}")
    if not notebooks:
        raise AuxiliaryError(f"no notebooks found in {notebooks_dir()}")
    done = []
    t_all = time.perf_counter()
    for nb in notebooks:
        t0 = time.perf_counter()
        print(f"[run-all] {nb.name} (profile {profile}) ...", flush=True)
        done.append(run_notebook(nb, profile=profile, parameters=parameters, out_dir=out_dir))
        print(f"[run-all] {nb.name} done in {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"[run-all] {len(done)} notebooks in {time.perf_counter() - t_all:.0f} s", flush=True)
    return done

