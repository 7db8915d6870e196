"""Helpers behind the skin-condition notebook series.

Modules, one job each: ``config`` (profiles and overrides), ``paths`` (project folders),
``synth`` (synthetic skin and lesions), ``data``/``splits``/``augment`` (datasets),
``models``/``train`` (timm + Lightning Fabric), ``metrics``/``fairness`` (evaluation),
``compare``/``explain``/``export`` (side-by-side comparison, Grad-CAM, ONNX),
``sorting``/``feedback`` (sorting new images, learning from corrections), ``plots``,
``widgets``, ``cli``.
"""

__version__ = "0.1.0"
