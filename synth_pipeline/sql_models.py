"""SQL models: the `.sql` files of `dbt_like_sql/`, loaded, checked and run against the warehouse.

Each file is one model, a jinja2 template:

- `{{ ref('name') }}` names what it reads and declares the dependency: a pipeline stage's
  table (`ref('seeds')` -> seeds, `ref('dataset')` -> dataset_records, ...) or another
  model's relation (`ref('seed_staging')` -> model_seed_staging).
- `{{ dataset }}` and `{{ version }}` scope a table model to one dataset version. Every
  variable renders as a SQL literal (strings quoted, lists as lists of literals), so a
  template never builds quoting itself.
- A header comment says how it materializes: `-- materialized: table` (the default) or
  `-- materialized: view`. Other leading `--` lines are its description.

Every model's relation keeps `dataset` and `version` columns. Materializing a version of a
table model replaces that version's rows only (DELETE + INSERT in one transaction); a view
is `CREATE OR REPLACE VIEW` over every version, so it may not use `{{ dataset }}` or
`{{ version }}`.

Loading parses each template's AST without rendering it and fails with file:line on a
syntax error, a ref to nothing, or a cycle.

This module knows nothing of Dagster: `synth_pipeline.defs.sql_models` wraps each model
in an asset.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import jinja2
import polars as pl
from jinja2 import nodes

from synth_pipeline.kinds import kind_of
from synth_pipeline.paths import PROJECT_ROOT
from synth_pipeline.pipeline import SQL_SOURCES
from synth_pipeline.warehouse import Warehouse

if TYPE_CHECKING:
    from synth_pipeline.spec import DatasetSpec

MODELS_DIR = PROJECT_ROOT / "dbt_like_sql"
MODEL_PREFIX = "model_"
SCOPE_VARIABLES = ("dataset", "version")

# ref name -> (warehouse table, the pipeline stage that writes it), from the stage graph.
SOURCES: dict[str, tuple[str, str]] = SQL_SOURCES

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HEADER = re.compile(r"^\s*--\s*materiali[sz]ed\s*:\s*(\S+)\s*$", re.IGNORECASE)

Materialization = Literal["table", "view"]


class SqlModelError(ValueError):
    """A model is malformed or cannot run; the message starts with file:line when known."""


@dataclass(frozen=True)
class Ref:
    name: str
    lineno: int
    kind: Literal["model", "source"]
    relation: str  # the table or view the ref renders as
    stage: str | None = None  # for a source: the pipeline stage writing it


@dataclass(frozen=True)
class SqlModel:
    name: str
    path: Path
    source: str
    materialized: Materialization
    description: str
    refs: tuple[Ref, ...]
    uses_scope: bool = False  # the template reads {{ dataset }} / {{ version }}

    @property
    def relation(self) -> str:
        return relation_name(self.name)

    @property
    def model_refs(self) -> list[str]:
        return _unique(r.name for r in self.refs if r.kind == "model")

    @property
    def source_refs(self) -> list[str]:
        return _unique(r.name for r in self.refs if r.kind == "source")

    @property
    def stages(self) -> list[str]:
        """The pipeline stages this model reads, directly."""
        return _unique(r.stage for r in self.refs if r.stage)


@dataclass
class ModelRun:
    model: str
    relation: str
    materialized: Materialization
    dataset: str
    version: str
    rows: int  # the version's rows in the relation after the run
    preview: pl.DataFrame
    sql: str  # the rendered query
    columns: list[str] = field(default_factory=list)


def relation_name(model: str) -> str:
    return f"{MODEL_PREFIX}{model}"


def _unique(items: Iterable[str | None]) -> list[str]:
    return [i for i in dict.fromkeys(items) if i]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


# --- loading -----------------------------------------------------------------------------


def _header(path: Path, source: str) -> tuple[Materialization, str]:
    materialized: str = "table"
    description: list[str] = []
    for lineno, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        m = _HEADER.match(stripped)
        if m:
            materialized = m.group(1).lower()
            if materialized not in ("table", "view"):
                raise SqlModelError(
                    f"{path}:{lineno}: materialized must be 'table' or 'view', got {m.group(1)!r}"
                )
        else:
            description.append(stripped[2:].strip())
    return cast(Materialization, materialized), " ".join(d for d in description if d)


def _parse(env: jinja2.Environment, path: Path, source: str) -> nodes.Template:
    try:
        return env.parse(source, name=path.name, filename=str(path))
    except jinja2.TemplateSyntaxError as e:
        raise SqlModelError(f"{path}:{e.lineno}: malformed template: {e.message}") from e


def _ref_calls(path: Path, ast: nodes.Template) -> list[tuple[str, int]]:
    out = []
    for call in ast.find_all(nodes.Call):
        if not (isinstance(call.node, nodes.Name) and call.node.name == "ref"):
            continue
        args = call.args
        if (
            len(args) != 1
            or call.kwargs
            or not isinstance(args[0], nodes.Const)
            or not isinstance(args[0].value, str)
        ):
            raise SqlModelError(
                f"{path}:{call.lineno}: ref() takes one string literal, e.g. {{{{ ref('seeds') }}}}"
            )
        out.append((args[0].value, call.lineno))
    return out


def _scope_uses(ast: nodes.Template) -> list[tuple[str, int]]:
    return [
        (n.name, n.lineno)
        for n in ast.find_all(nodes.Name)
        if n.ctx == "load" and n.name in SCOPE_VARIABLES
    ]


def load_models(folder: Path | str, known_assets: Iterable[str]) -> list["SqlModel"]:
    """Every `*.sql` of `folder`, in dependency order (a model after everything it refs).

    `known_assets` are the pipeline stages a ref may name (e.g. seeds, dataset, published);
    a source is usable when the stage writing it is known.
    """
    folder = Path(folder)
    known = set(known_assets)
    env = _environment()
    files = sorted(folder.glob("*.sql"))
    names = {p.stem for p in files}
    parsed: list[tuple[Path, str, Materialization, str, list[tuple[str, int]], bool]] = []
    for path in files:
        if not _NAME.match(path.stem):
            raise SqlModelError(
                f"{path}: a model's file name must be lowercase letters, digits and underscores"
            )
        if path.stem in SOURCES:
            raise SqlModelError(f"{path}: model name {path.stem!r} shadows the pipeline source")
        source = path.read_text(encoding="utf-8")
        materialized, description = _header(path, source)
        ast = _parse(env, path, source)
        scope = _scope_uses(ast)
        if materialized == "view" and scope:
            var, lineno = scope[0]
            raise SqlModelError(
                f"{path}:{lineno}: a view covers every version and may not use {{{{ {var} }}}}; "
                "keep the dataset and version columns and let readers filter, "
                "or materialize it as a table"
            )
        parsed.append((path, source, materialized, description, _ref_calls(path, ast), bool(scope)))

    models: dict[str, SqlModel] = {}
    for path, source, materialized, description, calls, uses_scope in parsed:
        refs = []
        for name, lineno in calls:
            if name in names:
                if name == path.stem:
                    raise SqlModelError(f"{path}:{lineno}: model {name!r} refs itself")
                refs.append(Ref(name, lineno, "model", relation_name(name)))
            elif name in SOURCES and SOURCES[name][1] in known:
                table, stage = SOURCES[name]
                refs.append(Ref(name, lineno, "source", table, stage))
            else:
                usable = sorted([*names, *(n for n, (_, s) in SOURCES.items() if s in known)])
                raise SqlModelError(
                    f"{path}:{lineno}: ref({name!r}) names no model or pipeline asset; "
                    f"known: {', '.join(usable)}"
                )
        models[path.stem] = SqlModel(
            name=path.stem,
            path=path,
            source=source,
            materialized=materialized,
            description=description,
            refs=tuple(refs),
            uses_scope=uses_scope,
        )
    return _topological(models)


def _topological(models: dict[str, SqlModel]) -> list[SqlModel]:
    order: list[SqlModel] = []
    state: dict[str, str] = {}  # visiting / done

    def visit(name: str, stack: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = stack[stack.index(name) :] + [name]
            first = models[cycle[0]]
            lineno = next(r.lineno for r in first.refs if r.name == cycle[1])
            raise SqlModelError(f"{first.path}:{lineno}: cyclic refs: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for dep in models[name].model_refs:
            visit(dep, [*stack, name])
        state[name] = "done"
        order.append(models[name])

    for name in sorted(models):
        visit(name, [])
    return order


# --- rendering and running ---------------------------------------------------------------


def sql_literal(value: Any) -> Any:
    """A Python value as SQL text: what every template variable renders as."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Mapping):
        return {k: sql_literal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sql_literal(v) for v in value]
    raise SqlModelError(f"cannot render {type(value).__name__} {value!r} as SQL")


def render_sql(
    model: SqlModel,
    dataset: str | None = None,
    version: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> str:
    """The model's query. Views render without dataset/version; tables need both."""
    relations = {r.name: r.relation for r in model.refs}

    def ref(name: str) -> str:
        if name not in relations:
            raise SqlModelError(f"{model.path}: ref({name!r}) was not declared at load time")
        return relations[name]

    context: dict[str, Any] = {k: sql_literal(v) for k, v in (variables or {}).items()}
    if model.materialized == "table":
        if dataset is None or version is None:
            raise SqlModelError(f"{model.path}: a table model renders for one dataset version")
        context.update(dataset=sql_literal(dataset), version=sql_literal(version))
    context["ref"] = ref
    try:
        return _environment().from_string(model.source).render(context)
    except jinja2.UndefinedError as e:
        raise SqlModelError(f"{model.path}: {e.message}; pass it as a variable") from e
    except jinja2.TemplateError as e:
        raise SqlModelError(f"{model.path}: cannot render: {e}") from e


def _run(conn: Any, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """Execute and read the result to its end: DuckDB 2.0 blocks a connection until then."""
    return conn.execute(sql, params or []).fetchall()


def _relation_exists(conn: Any, name: str) -> bool:
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
    ((count,),) = _run(conn, sql, [name])
    return bool(count)


def _describe(conn: Any, model: SqlModel, query: str) -> list[tuple[str, str]]:
    try:
        return [(r[0], r[1]) for r in conn.execute(f"DESCRIBE {query}").fetchall()]
    except Exception as e:
        raise SqlModelError(f"{model.path}: the rendered SQL fails: {e}\n{query}") from e


def _require_scope_columns(model: SqlModel, columns: list[tuple[str, str]]) -> None:
    names = {c for c, _ in columns}
    missing = [c for c in SCOPE_VARIABLES if c not in names]
    if missing:
        raise SqlModelError(
            f"{model.path}: the model must return {' and '.join(SCOPE_VARIABLES)} columns; "
            f"missing {', '.join(missing)}"
        )


def run_model(
    wh: Warehouse,
    model: SqlModel,
    dataset: str,
    version: str,
    variables: Mapping[str, Any] | None = None,
    preview_rows: int = 10,
) -> ModelRun:
    """Materialize one model for one dataset version; returns the version's row count."""
    query = render_sql(model, dataset, version, variables).strip().rstrip(";")
    rel = model.relation
    scope = [dataset, version]
    with wh.connect() as conn:
        for dep in model.model_refs:
            if not _relation_exists(conn, relation_name(dep)):
                raise SqlModelError(
                    f"{model.path}: ref({dep!r}) is not materialized yet; "
                    f"materialize sql model {dep} first"
                )
        columns = _describe(conn, model, query)
        _require_scope_columns(model, columns)
        if model.materialized == "view":
            _run(conn, f"CREATE OR REPLACE VIEW {rel} AS\n{query}")
        else:
            scoped = f"SELECT * FROM (\n{query}\n) AS _model WHERE dataset = ? AND version = ?"
            _run(conn, "BEGIN TRANSACTION")
            try:
                if not _relation_exists(conn, rel):
                    _run(conn, f"CREATE TABLE {rel} AS SELECT * FROM (\n{query}\n) LIMIT 0")
                have = {r[0] for r in conn.execute(f"DESCRIBE {rel}").fetchall()}
                for name, type_ in columns:  # a new column of the model: add it, keep rows
                    if name not in have:
                        _run(conn, f'ALTER TABLE {rel} ADD COLUMN "{name}" {type_}')
                _run(conn, f"DELETE FROM {rel} WHERE dataset = ? AND version = ?", scope)
                _run(conn, f"INSERT INTO {rel} BY NAME {scoped}", scope)
                _run(conn, "COMMIT")
            except Exception as e:
                _run(conn, "ROLLBACK")
                if isinstance(e, SqlModelError):
                    raise
                raise SqlModelError(f"{model.path}: materializing failed: {e}") from e
        ((rows,),) = _run(
            conn, f"SELECT count(*) FROM {rel} WHERE dataset = ? AND version = ?", scope
        )
        preview = conn.sql(
            f"SELECT * FROM {rel} WHERE dataset = ? AND version = ? LIMIT {int(preview_rows)}",
            params=scope,
        ).pl()
    return ModelRun(
        model=model.name,
        relation=rel,
        materialized=model.materialized,
        dataset=dataset,
        version=version,
        rows=int(rows),
        preview=preview,
        sql=query,
        columns=[c for c, _ in columns],
    )


def run_models(
    wh: Warehouse,
    models: list[SqlModel],
    dataset: str,
    version: str,
    variables: Mapping[str, Any] | None = None,
) -> list[ModelRun]:
    """Every model in dependency order (as `load_models` returns them)."""
    return [run_model(wh, m, dataset, version, variables) for m in models]


def spec_variables(spec: "DatasetSpec") -> dict[str, Any]:
    """Variables a spec gives its models: the labels and the per-label generation target."""
    return {
        "labels": list(spec.labels),
        "target_per_label": (
            spec.generation.records_per_label if kind_of(spec).has("labels") else None
        ),
    }


__all__ = [
    "MODELS_DIR",
    "SOURCES",
    "ModelRun",
    "Ref",
    "SqlModel",
    "SqlModelError",
    "load_models",
    "relation_name",
    "render_sql",
    "run_model",
    "run_models",
    "spec_variables",
    "sql_literal",
]
