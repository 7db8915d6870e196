"""Inference with a trained checkpoint: prediction on PyTorch or ONNX Runtime, Grad-CAM, sorting (notebooks 05 and 06).

Every function here takes the :class:`~auxiliary.models.checkpoint.Checkpoint` the step opened once, and asks
the checkpoint's :class:`~auxiliary.tasks.task.Task` for what differs between tasks. Modules, one job each:

- ``predictor``: ``Predictor``, the one prediction path; ``backends``: PyTorch or ONNX Runtime, whichever is
  faster here (``load_predictor``; the ONNX files themselves are :mod:`auxiliary.models`).
- ``explain``: Grad-CAM heat maps for any model of the factory; ``embeddings``: offline ImageNet features of
  images (what the synthetic-vs-real distance is measured on).
- ``measurements``: the raw logits of image files (and of their flip views), a model's predictions with and
  without TTA, its size and speed, as comparison rows.
- ``labelled``: the labelled images a model is evaluated on (any dataset or split list, labels renamed by a label
  map; the reader of each task); ``sim2real``: synthetic images next to real photos (KID, the figures of a
  synthetic-trained model on them) for notebook 01 and ``benchmarks/bench_sim2real.py``.
- ``active``: which photos a reviewer should label first (uncertainty, k-center diversity on the model's own
  embeddings, both, random).
- ``sorter``: copying new images into the folders the task's sort rule names; ``journal``: its resume journal
  and lock; ``sort_report``: ``predictions.csv``, ``rejected.csv`` and the accounting summary; ``shards``:
  which inputs ``sort --shard i/n`` sorts; ``sort_merge``: ``sort --merge``, the shards gathered into one output.

Public names used by the notebooks: ``Predictor``, ``load_predictor``, ``export_onnx``, ``onnx_metadata``,
``describe_target``, ``sort_folder``.
"""

from auxiliary.inference.backends import load_predictor
from auxiliary.inference.explain import describe_target, gradcam_overlay
from auxiliary.inference.predictor import Predictor
from auxiliary.inference.sorter import sort_folder
from auxiliary.models.export import export_onnx
from auxiliary.models.onnx_model import onnx_metadata

__all__ = [
    "describe_target",
    "export_onnx",
    "gradcam_overlay",
    "load_predictor",
    "onnx_metadata",
    "Predictor",
    "sort_folder",
]
