"""Quality gates: expectation suites built from the spec."""

from synth_pipeline.quality.suites import ExpectationOutcome, run_suite

__all__ = ["ExpectationOutcome", "run_suite"]
