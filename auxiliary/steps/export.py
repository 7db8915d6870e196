"""``python -m auxiliary export``: a checkpoint to ONNX with a parity check (a multi-label checkpoint's task and
per-label temperatures go into the metadata, and the parity check compares its per-label sigmoid probabilities).
"""

from __future__ import annotations



# ---------------------------------------------------------------------------------- CLI
