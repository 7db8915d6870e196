"""``python -m auxiliary train`` with a recorder, for tests/training/test_distributed.py (not collected).

Fabric's DDP launcher starts the other ranks by running this same script with the same arguments, so every
rank records, in ``$AUX_TEST_RECORD/rank<r>.jsonl``:

* ``{"epoch": e, "indices": [...]}``: the sample indices (row positions) it trained on in epoch ``e``;
* ``{"write": name}``: every file it put in place through ``os.replace`` (how every output is written);
* ``{"figures": run_dir}``: each call of the run-figures callback.

``AUX_TEST_STOP_AFTER=k`` interrupts the run (as Ctrl+C does) right after epoch ``k``'s resume state is saved.
"""

from __future__ import annotations

import json
import os
import sys

from auxiliary.faces import cli
from auxiliary.training import loop
from auxiliary.viz import plots_training

RECORD = os.environ["AUX_TEST_RECORD"]
STOP_AFTER = int(os.environ.get("AUX_TEST_STOP_AFTER", "0"))
RANK = int(os.environ.get("LOCAL_RANK", "0"))


def note(entry: dict) -> None:
    with open(os.path.join(RECORD, f"rank{RANK}.jsonl"), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


class Recorded:
    """A loader that notes the ``index`` of every sample it yields."""

    def __init__(self, loader, seen: list[int]):
        self.loader, self.seen = loader, seen

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.seen.extend(int(i) for i in batch[2]["index"])
            yield batch


real_train, real_save_last, real_replace = loop.train_epoch, loop.save_last, os.replace
real_figures = plots_training.save_run_figures


def train(fabric, model, optimizer, loader, *args, **kwargs):
    seen: list[int] = []
    out = real_train(fabric, model, optimizer, Recorded(loader, seen), *args, **kwargs)
    note({"epoch": kwargs["desc"].split()[1].split("/")[0], "indices": seen})
    return out


def save_last(*args, **kwargs):
    real_save_last(*args, **kwargs)
    if STOP_AFTER and kwargs["epoch"] == STOP_AFTER:
        raise KeyboardInterrupt


def replace(src, dst, *args, **kwargs):
    note({"write": os.fspath(dst)})
    return real_replace(src, dst, *args, **kwargs)


def figures(run_dir, *args, **kwargs):
    note({"figures": str(run_dir)})
    return real_figures(run_dir, *args, **kwargs)


loop.train_epoch, loop.save_last, os.replace, plots_training.save_run_figures = train, save_last, replace, figures

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
