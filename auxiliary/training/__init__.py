"""Training: models from a timm name, the Lightning Fabric loop, run folders and checkpoints (notebooks 03 and 04).

Training imports no plotting or widget module: figures of a run are written by a Fabric callback that
the steps layer passes in. Modules, one job each:

- ``models``: one factory from a timm name (``create_model``), freezing the backbone; ``pretrained``: the
  offline ImageNet weights of EfficientNet-Lite0/1/2.
- ``checkpoints``: what ``best.pt`` holds, written and read with ``weights_only=True``.
- ``engine``: Fabric from the config, the config checks, the task and monitor of a run; ``epochs``: ``train`` (one epoch) and ``validate``
  (one evaluation pass); ``loop``: ``fit``, the whole run.
- ``losses``: the criteria; ``multilabel_losses``: BCE with per-label ``pos_weight``, asymmetric and focal
  BCE for one sigmoid per label; ``optimization``: AdamW, warm-up + cosine, EMA; ``seeding``: reproducibility.
- ``runs``: the run folder, resume state, ``summary.json``, and whether a run matches a request;
  ``single_label_run`` / ``multilabel_run``: what a run of either task adds each epoch, to ``best.pt`` and after
  training (a multi-label run: per-label temperatures and thresholds, ``thresholds.json``, its predictions).
- ``acceleration``: the device, precision (``auto``), ``channels_last`` and ``torch.compile`` of a run.
- ``tracking``: the run's Fabric loggers (``logs/metrics.csv`` always, TensorBoard and MLflow on request,
  the MLflow side in ``auxiliary.mlflow_store``).

Public names used by the notebooks: ``create_model``, ``count_parameters``, ``head_parameters``, ``fit``,
``load_run``, ``per_class_recall``, ``with_model``.
"""

from auxiliary.training.checkpoints import load_checkpoint, save_checkpoint
from auxiliary.training.epochs import train, validate
from auxiliary.training.loop import fit, fit_loaders
from auxiliary.training.models import count_parameters, create_model, head_parameters
from auxiliary.training.runs import load_run, per_class_recall, run_name, same_settings, with_model

__all__ = [
    "count_parameters",
    "create_model",
    "fit",
    "fit_loaders",
    "head_parameters",
    "load_checkpoint",
    "load_run",
    "per_class_recall",
    "run_name",
    "same_settings",
    "save_checkpoint",
    "train",
    "validate",
    "with_model",
]
