"""Models, below training and inference: the timm factory, offline pretrained weights, checkpoints, ONNX.

- ``factory``: one factory from a timm name (``create_model``), the head, freezing the backbone, the model's
  data config and its preprocessing (``model_preprocessing``, decided once for training); ``pretrained``: the offline
  ImageNet weights of EfficientNet-Lite0/1/2.
- ``checkpoint``: what ``best.pt`` holds, written and read with ``weights_only=True`` (``Checkpoint``, opened once).
- ``preprocess``: how an image becomes a model input (``Preprocessing``, the spec a checkpoint records: resize, centre
  crop, interpolation, mean/std); ``onnx_model``: ONNX files and their metadata;
  ``export``: the export and its parity check.
"""
