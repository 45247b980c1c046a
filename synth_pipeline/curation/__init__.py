"""Curation: filters over candidate frames; every dropped row keeps its reason.

`config` (the spec's `curation:` section), `filters` (the registry), `pipeline` (a run of
them with its audit). Import the module you need; this package re-exports nothing, so
`spec.py` can read `curation.config` without loading the filters.
"""
