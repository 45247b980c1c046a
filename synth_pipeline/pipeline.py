"""The stages of one dataset version, declared once.

Every other place asks this module: the Dagster assets (`defs/assets.py`: the stage names and
each asset's deps), the `synth` command, the version lineage (`lineage.py`), the SQL models'
`{{ ref('...') }}` names (`sql_models.py`) and the warehouse's versioned tables
(`warehouse.py`). No Dagster here: it is plain data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str  # the asset's name (its key is [dataset, name])
    table: str  # the warehouse table the stage's rows live in
    upstream: tuple[str, ...] = ()  # the stages it reads, in the asset's deps order
    # Other warehouse tables the stage writes; a SQL model may ref them, and then depends on
    # the stage.
    side_tables: tuple[str, ...] = ()
    # Its tables hold one row per record of a version (seeds, candidates, audit decisions...).
    records: bool = True
    # Its tables hold rows per (dataset, version), replaced by versioned writes. `published`
    # is a pointer per dataset instead.
    versioned: bool = True


STAGES: tuple[Stage, ...] = (
    Stage("seeds", "seeds"),
    Stage("holdout", "holdout"),
    # Generation reads the holdout too: it tops up labels that curation would leave short.
    Stage("candidates", "candidates", ("seeds", "holdout")),
    Stage("filtered", "filtered", ("candidates", "seeds", "holdout"), ("curation_audit",)),
    Stage("dataset", "dataset_records", ("filtered",)),
    Stage(
        "validation_report",
        "report_metrics",
        ("dataset", "seeds", "holdout", "candidates"),
        ("check_results",),
        records=False,
    ),
    Stage(
        "published",
        "published",
        ("dataset", "validation_report"),
        ("publish_history",),
        records=False,
        versioned=False,
    ),
)

# The version registry: one row per version, written when its first stage starts.
VERSIONS_TABLE = "versions"
VERSIONS_STAGE = "seeds"  # a SQL model reading it depends on this stage

STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
_BY_NAME = {s.name: s for s in STAGES}


def stage(name: str) -> Stage:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown stage {name!r}; the stages are {list(STAGE_NAMES)}") from None


def stage_table(name: str) -> str:
    """The warehouse table of stage NAME (`dataset` -> `dataset_records`)."""
    return stage(name).table


DATASET_TABLE = stage_table("dataset")  # the final records of a version

# The graph as (stage, table, upstream stages), in order.
GRAPH: tuple[tuple[str, str, tuple[str, ...]], ...] = tuple(
    (s.name, s.table, s.upstream) for s in STAGES
)

# The main table of each versioned stage, in stage order (lineage counts their rows).
VERSIONED_STAGE_TABLES: tuple[str, ...] = tuple(s.table for s in STAGES if s.versioned)


def _tables(s: Stage) -> tuple[str, ...]:
    return (s.table, *s.side_tables)


# The tables holding one row per record of a version, in stage order.
RECORD_TABLES: tuple[str, ...] = tuple(t for s in STAGES if s.records for t in _tables(s))

# Every table holding rows per (dataset, version): what the warehouse reads and replaces by
# version.
VERSIONED_TABLES: tuple[str, ...] = (
    *(t for s in STAGES if s.versioned for t in _tables(s)),
    VERSIONS_TABLE,
)

# `{{ ref(name) }}` of a SQL model -> (warehouse table, the stage writing it): a stage by its
# name or its table, or one of its side tables.
SQL_SOURCES: dict[str, tuple[str, str]] = {
    ref: (table, s.name)
    for s in STAGES
    for ref, table in (
        (s.name, s.table),
        (s.table, s.table),
        *((t, t) for t in s.side_tables),
    )
} | {VERSIONS_TABLE: (VERSIONS_TABLE, VERSIONS_STAGE)}


def versions_partitions_name(dataset: str) -> str:
    """The name of DATASET's dynamic partitions: one partition per version."""
    return f"{dataset}_versions"


__all__ = [
    "DATASET_TABLE",
    "GRAPH",
    "RECORD_TABLES",
    "SQL_SOURCES",
    "STAGES",
    "STAGE_NAMES",
    "VERSIONED_STAGE_TABLES",
    "VERSIONED_TABLES",
    "VERSIONS_STAGE",
    "VERSIONS_TABLE",
    "Stage",
    "stage",
    "stage_table",
    "versions_partitions_name",
]
