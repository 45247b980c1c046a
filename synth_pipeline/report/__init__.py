"""The real-vs-synthetic validation report."""
