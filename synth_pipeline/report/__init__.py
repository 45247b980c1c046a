"""The real-vs-synthetic validation report.

Entry point: `synth_pipeline.report.build.build_report` (not imported here, so importing
the package stays cheap). Metric definitions: `metrics`; headline score and thresholds:
`score`; settings: `config.ReportSpec` (the spec's `report:` section).
"""
