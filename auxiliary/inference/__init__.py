"""Inference with a trained checkpoint: preprocessing, prediction on PyTorch or ONNX Runtime, Grad-CAM, sorting (notebooks 05 and 06).

Modules, one job each:

- ``preprocess``: how an image becomes a model input; ``predictor``: ``Predictor``, the one prediction path.
- ``onnx_model``: ONNX files and their metadata; ``export``: export with a parity check; ``backends``:
  PyTorch or ONNX Runtime, whichever is faster here (``load_predictor``).
- ``explain``: Grad-CAM heat maps for any model of the factory; ``embeddings``: offline ImageNet features of
  images (what the synthetic-vs-real distance is measured on).
- ``measurements``: a model's predictions with and without TTA, its size and speed, as comparison rows.
- ``sorter``: copying new images into class folders and ``low_confidence/``; ``journal``: its resume journal
  and lock; ``sort_report``: ``predictions.csv``, ``rejected.csv`` and the accounting summary; ``shards``:
  which inputs ``sort --shard i/n`` sorts; ``sort_merge``: ``sort --merge``, the shards gathered into one output;
  ``multilabel_sort``: how a multi-label model sorts (every positive label's folder, ``none/``, low confidence).

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
