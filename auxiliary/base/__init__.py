"""The base of the package, imported by every other room and importing none of them.

- ``config`` (one frozen dataclass per step, every field documented), ``profiles`` (smoke, demo, full),
  ``config_overrides`` (profile < YAML < single fields), ``bounds`` (every numeric setting's allowed range);
- ``layout`` (where outputs and caches live), ``files`` (atomic writes, safe names, hashes, CSVs no spreadsheet
  can run), ``images`` (reading and writing images), ``errors`` (the one-line error classes), ``progress`` (a bar
  on a terminal or in a notebook, a few lines in a log);
- ``tone`` (ITA skin tone and its groups), ``devices`` (the one device rule), ``provenance`` (config and data
  hashes), ``mlflow_store`` (the local MLflow store every step and run records into).
"""
