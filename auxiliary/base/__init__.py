"""The base of the package, imported by every other room and importing none of them.

- ``config`` (one frozen dataclass per step, every field documented), ``profiles`` (smoke, demo, full),
  ``config_overrides`` (profile < YAML < single fields), ``bounds`` (every numeric setting's allowed range);
- ``layout`` (where outputs live), ``files`` (atomic writes, safe names, hashes), ``images`` (reading and
  writing images), ``errors`` (the one-line error classes);
- ``tone`` (ITA skin tone and its groups), ``devices`` (the one device rule), ``provenance`` (config and data
  hashes), ``mlflow_store`` (the local MLflow store every step and run records into).
"""
