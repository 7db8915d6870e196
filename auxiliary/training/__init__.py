"""Training: models from a timm name, the Lightning Fabric loop, run folders and checkpoints (notebooks 03 and 04).

Training imports no plotting or widget module: figures of a run are written by a Fabric callback that
the steps layer passes in. Modules, one job each:

- ``engine``: Fabric from the config, the config checks, the task and monitor of a run; ``epochs``: ``train`` (one epoch) and ``validate``
  (one evaluation pass); ``loop``: ``fit``, the whole run.
- ``optimization``: AdamW, warm-up + cosine, EMA; ``seeding``: reproducibility; ``mixing``: Mixup and CutMix of
  training batches (timm).
- ``adaptation``: a trained model adapted to unlabelled target photos (AdaBN, pseudo-labels for self-training).
- ``runs``: the run folder, resume state, ``best.pt`` with what the run's task fits on validation,
  ``summary.json``, and whether a run matches a request.

What differs between tasks (the loss, the metrics of an epoch, calibration, the predictions tables) is the run's
task's (:mod:`auxiliary.tasks`), chosen once by ``fit``.
- ``acceleration``: the device, precision (``auto``), ``channels_last`` and ``torch.compile`` of a run.
- ``records``: what every step and notebook logs to the trackers (MLflow, TensorBoard), beside the training runs.
- ``tracking``: the run's Fabric loggers (``logs/metrics.csv`` always, TensorBoard and MLflow on request,
  the MLflow side in ``auxiliary.base.mlflow_store``).

Public names used by the notebooks: ``create_model``, ``count_parameters``, ``head_parameters``, ``fit``,
``load_run``, ``per_class_recall``, ``with_model``.
"""

from auxiliary.models.checkpoint import load_checkpoint, save_checkpoint
from auxiliary.models.factory import count_parameters, create_model, head_parameters
from auxiliary.training.epochs import train_epoch, validate
from auxiliary.training.loop import fit, fit_loaders
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
    "train_epoch",
    "validate",
    "with_model",
]
