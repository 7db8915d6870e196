"""Helpers behind the skin-condition notebook series, in layers whose imports run one way.

- faces: ``cli`` (``python -m auxiliary STEP``), ``webapp`` (the web demo), ``notebook`` (what every
  notebook does first and last), ``runner`` (the series with papermill);
- ``steps``: one module per notebook step, composing the layers below (``ensure_*``, selection, comparison,
  the feedback round); ``viz``: every plot and widget, used by the steps and the faces only;
- ``synth`` (simulated skin conditions), ``data`` (datasets, splits, balancing, loaders), ``evaluation``
  (metrics from arrays), ``training`` (timm + Lightning Fabric), ``inference`` (prediction, ONNX, Grad-CAM,
  sorting);
- base: ``config``, ``bounds`` and ``config_overrides`` (profiles, allowed values, overrides), ``layout`` (where outputs live),
  ``files`` (atomic writes, safe names), ``images`` (reading and writing images), ``tone`` (ITA skin tone),
  ``errors``.

The README's "How the package is built" shows the picture, drawn from the real imports.
"""

import os as _os

# OpenMP threads that spin while waiting make PyTorch many times slower whenever another process
# shares the cores (a notebook kernel beside a test run, a browser, a second training). Passive
# waiting costs little when the machine is idle. Set before torch is imported; a user's own
# setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# ONNX Runtime (1.2x) records a device id and a telemetry database under ~/.cache/Microsoft/ and a session file
# in the temporary folder when it is imported: files no step asked for, outside its --out and the cache folder
# (CONTRIBUTING.md, "What is never touched"). Off before it is imported, as the web demo's analytics are; a user's
# own setting wins.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
