"""Quality gates: expectation suites built from the spec."""
