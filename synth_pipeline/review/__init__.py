"""Human review of a version's samples: sampling, verdicts, figures, the gate, the page.

Nothing here imports Dagster: `synth review` (in `synth_pipeline.review_command`) and the
`published` asset call these functions. Submodules are imported where used, so loading the
spec (which only needs `config`) stays light.
"""
