"""The regression gate: a version clearly worse than the dataset's published version is held.

- `config`: the spec's `regression:` section (a tolerance per figure, documented defaults).
- `compare`: the rule, on plain dicts of report metrics (no warehouse, no Dagster).
- `gate`: evaluate a version against the published one, store the outcome as the
  `report_regression` check, hold or release the version, accept a regression.
- `command`: what the `synth` command prints and does for `--accept-regression`.

This package's `__init__` imports nothing: `spec.py` reads `config` at import time.
"""
