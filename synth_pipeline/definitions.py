"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here."""

from synth_pipeline.defs import build_definitions

defs = build_definitions()
