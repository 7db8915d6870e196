"""Helpers behind the skin-condition notebook series.

Modules, one job each: ``config`` (profiles and overrides), ``paths`` (project folders),
``synth`` (synthetic skin and lesions), ``data``/``splits``/``augment`` (datasets),
``models``/``train`` (timm + Lightning Fabric), ``metrics``/``fairness`` (evaluation),
``compare``/``explain``/``export`` (side-by-side comparison, Grad-CAM, ONNX),
``sorting``/``feedback`` (sorting new images, learning from corrections), ``plots``,
``widgets``, ``cli``.
"""

import os as _os

# OpenMP threads that spin while waiting make PyTorch many times slower whenever another process
# shares the cores (a notebook kernel beside a test run, a browser, a second training). Passive
# waiting costs little when the machine is idle. Set before torch is imported; a user's own
# setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
