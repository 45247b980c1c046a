"""Tables engine: synthesize records tables, check privacy per row, score fidelity.

Plain Python (polars, numpy, scikit-learn); no Dagster. Heavy libraries (mbi/jax, OpenDP,
Faker, scikit-learn) are imported inside the functions that need them, so importing this
package stays cheap for the code location.
"""
