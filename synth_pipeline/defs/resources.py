"""Resources: the warehouse and where reports go. Paths come from the environment."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from synth_pipeline.paths import default_warehouse, reports_dir
from synth_pipeline.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file every stage reads and writes (SYNTH_WAREHOUSE overrides the default)."""

    path: str

    def get(self) -> Warehouse:
        return Warehouse(self.path)


class ReportsResource(dg.ConfigurableResource):
    root: str

    def path(self) -> Path:
        return Path(self.root)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(path=str(default_warehouse())),
        "reports": ReportsResource(root=str(reports_dir())),
    }
