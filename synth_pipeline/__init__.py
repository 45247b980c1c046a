"""synth_pipeline: a synthetic-data factory for LLM work."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("synth-pipeline")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
