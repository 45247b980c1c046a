"""Synthetic rows for a table: MST (a differentially private graphical model over 1- and 2-way
marginals) for the modelled columns, seeded fakes for identifiers, empty text columns.

Determinism. With `epsilon=None` everything is drawn from `seed` (measurement noise, tree
selection, sampling, fakes): the same seed gives the same frame. With an epsilon, the
measurement noise comes from OpenDP's sampler (OS entropy, deliberately not seedable) and the
tree selection from fresh entropy, so two fits differ; what follows the fit (sampling,
decoding, fakes) is still drawn from `seed`.

What the guarantee covers. The (epsilon, delta=1e-9) guarantee covers the modelled columns
given their public bounds. A few small facts are read from the data outside it, as
smartnoise's transformers also do, and said in the notes or here: categorical labels when
`values` is not declared, whether a column has nulls (it then gets a null code), the number of
decimals of a number column, and the real identifier values, which fakes avoid.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from synth_pipeline.tables.columns import POLARS_DTYPES, TableColumn

NO_GUARANTEE_EPSILON = 100.0
"""The epsilon MST is run with when no guarantee is asked: large enough that the noise is a
rounding error next to the counts of a few hundred rows, finite so MST's selection and
domain compression keep their usual shape."""

DEFAULT_BINS = 20
MAX_UNIT_BINS = 32  # integer/date columns spanning at most this many values get one bin each
MAX_DECIMALS = 6


@dataclass
class SynthesisResult:
    """The synthetic frame and how it was made. `epsilon` is the guarantee given (None: none)."""

    frame: pl.DataFrame
    epsilon: float | None
    fit_seconds: float
    sample_seconds: float
    notes: list[str] = field(default_factory=list)


def synthesize(
    real: pl.DataFrame,
    columns: list[TableColumn],
    n: int,
    *,
    epsilon: float | None,
    seed: int,
    progress: Callable[[str], None] | None = None,
    avoid: pl.DataFrame | None = None,
) -> SynthesisResult:
    """Fit MST on `real` and draw `n` shuffled rows shaped like `columns`.

    `avoid`: other real rows (a holdout) the synthesizer never learns from, whose identifier
    values the fakes must not take either.

    `epsilon=None` asks for no differential-privacy guarantee: MST then runs at
    NO_GUARANTEE_EPSILON with seeded noise and `SynthesisResult.epsilon` is None. With an
    epsilon, every integer/number/date column needs public bounds (ValueError otherwise).

    The fit runs in a child process: JAX (under mbi) compiles, holds about 0.8 GB and leaves
    threads behind, none of which belongs in a Dagster step or a CLI process; the child's
    progress lines are replayed here when it ends.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    say = progress or (lambda _msg: None)
    say(f"fitting the synthesizer on {real.height:,} rows in a child process")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        result, lines = pool.submit(
            _synthesize_logged, real, columns, n, epsilon=epsilon, seed=seed, avoid=avoid
        ).result()
    for line in lines:
        say(line)
    return result


def _synthesize_logged(
    real: pl.DataFrame,
    columns: list[TableColumn],
    n: int,
    *,
    epsilon: float | None,
    seed: int,
    avoid: pl.DataFrame | None,
) -> tuple[SynthesisResult, list[str]]:
    lines: list[str] = []
    result = synthesize_here(
        real, columns, n, epsilon=epsilon, seed=seed, progress=lines.append, avoid=avoid
    )
    return result, lines


def synthesize_here(
    real: pl.DataFrame,
    columns: list[TableColumn],
    n: int,
    *,
    epsilon: float | None,
    seed: int,
    progress: Callable[[str], None] | None = None,
    avoid: pl.DataFrame | None = None,
) -> SynthesisResult:
    """`synthesize` in this process."""
    say = progress or (lambda _msg: None)
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    if epsilon is not None and not epsilon > 0:
        raise ValueError(f"epsilon must be positive, not {epsilon}")
    missing = [c.name for c in columns if c.name not in real.columns]
    if missing:
        raise ValueError(f"columns missing from the real table: {missing}")
    if real.height == 0:
        raise ValueError("the real table is empty")

    notes: list[str] = []
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    modelled = [c for c in columns if c.modelled]
    codecs = [_Codec.fit(real[c.name], c, derive_bounds=epsilon is None) for c in modelled]
    for codec in codecs:
        notes.extend(codec.notes)

    from synth_pipeline.tables import _mst

    model = None
    if codecs:
        codes = np.column_stack([codec.encode(real[codec.column.name]) for codec in codecs])
        for codec in codecs:
            clipped = codec.clipped(real[codec.column.name])
            if clipped:
                notes.append(
                    f"{clipped:,} value(s) of {codec.column.name} outside its bounds were "
                    "clipped into the edge bins"
                )
        eps = NO_GUARANTEE_EPSILON if epsilon is None else float(epsilon)
        say(
            f"fitting MST on {real.height:,} rows x {len(codecs)} columns "
            f"(epsilon={eps:g}{'' if epsilon is not None else ', no guarantee'})"
        )
        rho = _mst.cdp_rho(eps, _mst.DEFAULT_DELTA)
        if epsilon is None:
            noise = _mst.numpy_noise(rng)
            select_rng = rng
            notes.append(
                f"no privacy guarantee asked: MST ran at epsilon={eps:g} with seeded noise "
                "only to keep its usual shape; this is not a differential-privacy guarantee"
            )
        else:
            noise = _mst.opendp_noise
            select_rng = np.random.default_rng()
            notes.append(
                f"({eps:g}, {_mst.DEFAULT_DELTA:g})-differential privacy for the modelled "
                f"columns (zCDP rho={rho:.4g}); noise from OpenDP, so refits differ"
            )
        model = _mst.fit_mst(
            codes, [codec.cardinality for codec in codecs], rho=rho, noise=noise, rng=select_rng
        )
    fit_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    say(f"sampling {n:,} rows")
    sample_seed = int(rng.integers(2**31))
    ids = [c.name for c in columns if c.role == "identifier"]
    taken = real.select(ids)
    if avoid is not None and ids:
        taken = pl.concat([taken, avoid.select(ids).cast(taken.schema)], how="vertical")
    frame = _sample(model, codecs, columns, taken, n, seed=sample_seed)
    text = [c.name for c in columns if c.type == "text"]
    if text:
        notes.append(f"text column(s) left empty for later generation: {', '.join(text)}")
    return SynthesisResult(
        frame=frame,
        epsilon=None if epsilon is None else float(epsilon),
        fit_seconds=fit_seconds,
        sample_seconds=time.perf_counter() - t1,
        notes=notes,
    )


def _sample(
    model: object | None,
    codecs: list[_Codec],
    columns: list[TableColumn],
    real: pl.DataFrame,
    n: int,
    *,
    seed: int,
) -> pl.DataFrame:
    """Draw n rows from a fitted model (post-processing: no privacy cost), seeded. `real`
    holds the identifier values the fakes must avoid."""
    from synth_pipeline.tables import _mst

    rng = np.random.default_rng(seed)
    decoded: dict[str, pl.Series] = {}
    if model is not None and n > 0:
        codes = _mst.sample_mst(model, n, int(rng.integers(2**31)))  # type: ignore[arg-type]
        codes = codes[rng.permutation(n)]  # MST output comes grouped by its first column
        for codec, col_codes in zip(codecs, codes.T, strict=True):
            decoded[codec.column.name] = codec.decode(col_codes, rng)
    faker = None
    out: list[pl.Series] = []
    for column in columns:
        dtype = POLARS_DTYPES[column.type]
        if column.name in decoded:
            series = decoded[column.name]
        elif column.role == "identifier":
            if faker is None:
                faker = _faker(int(rng.integers(2**31)))
            series = _fake_identifiers(column, real[column.name], n, faker, rng)
        else:  # text, or a modelled column when n == 0
            series = pl.Series(column.name, [None] * n, dtype=dtype)
        out.append(series.cast(dtype).alias(column.name))
    return pl.DataFrame(out)


@dataclass
class _Codec:
    """One modelled column <-> integer codes in range(cardinality)."""

    column: TableColumn
    labels: list | None = None  # categorical/boolean
    edges: np.ndarray | None = None  # integer/number/date
    bounds: tuple[float, float] | None = None
    decimals: int = 0
    nullable: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, series: pl.Series, column: TableColumn, *, derive_bounds: bool) -> _Codec:
        nullable = series.null_count() > 0
        codec = cls(column=column, nullable=nullable)
        if column.type == "categorical":
            present = sorted(str(v) for v in series.drop_nulls().unique().to_list())
            if column.values is not None:
                unknown = sorted(set(present) - set(column.values))
                if unknown:
                    raise ValueError(
                        f"column {column.name!r}: values not among the declared ones: {unknown[:5]}"
                    )
                codec.labels = list(column.values)
            else:
                codec.labels = present
                if not derive_bounds:
                    codec.notes.append(
                        f"category labels of {column.name} read from the data (declare "
                        "`values` to keep which labels occur private)"
                    )
            return codec
        if column.type == "boolean":
            codec.labels = [False, True]
            return codec
        values = _as_numbers(series, column)
        bounds = column.numeric_bounds()
        if bounds is None:
            if not derive_bounds:
                raise ValueError(
                    f"column {column.name!r}: a differential-privacy guarantee needs public "
                    "bounds (lower/upper) for integer, number and date columns"
                )
            finite = values[~np.isnan(values)]
            if finite.size == 0:
                raise ValueError(f"column {column.name!r} has no values to read bounds from")
            lo, hi = float(finite.min()), float(finite.max())
            if lo == hi:
                hi = lo + 1
            bounds = (lo, hi)
            shown = _show(lo, hi, column)
            codec.notes.append(f"bounds of {column.name} read from the data ({shown})")
        codec.bounds = bounds
        lo, hi = bounds
        if column.type == "number":
            codec.edges = np.linspace(lo, hi, (column.bins or DEFAULT_BINS) + 1)
            codec.decimals = _decimals(values)
        else:  # integer, date: bins over half-integers so every whole value has a bin
            lo, hi = np.ceil(lo), np.floor(hi)
            codec.bounds = (float(lo), float(hi))
            span = int(hi - lo + 1)
            bins = column.bins or (span if span <= MAX_UNIT_BINS else DEFAULT_BINS)
            codec.edges = np.linspace(lo - 0.5, hi + 0.5, min(bins, span) + 1)
        return codec

    @property
    def cardinality(self) -> int:
        base = len(self.labels) if self.labels is not None else len(self.edges) - 1  # type: ignore[arg-type]
        return base + (1 if self.nullable else 0)

    @property
    def null_code(self) -> int:
        return self.cardinality - 1

    def encode(self, series: pl.Series) -> np.ndarray:
        null = series.is_null().to_numpy()
        if self.labels is not None:
            index = {label: i for i, label in enumerate(self.labels)}
            if self.column.type == "boolean":
                raw = series.cast(pl.Boolean).to_list()
            else:
                raw = [None if v is None else str(v) for v in series.to_list()]
            codes = np.array([-1 if v is None else index[v] for v in raw], dtype=np.int64)
        else:
            x = _as_numbers(series, self.column)
            inner = self.edges[1:-1]  # type: ignore[index]
            codes = np.searchsorted(inner, np.nan_to_num(x), side="right").astype(np.int64)
        if self.nullable:
            codes[null] = self.null_code
        return codes

    def clipped(self, series: pl.Series) -> int:
        if self.bounds is None:
            return 0
        x = _as_numbers(series, self.column)
        x = x[~np.isnan(x)]
        return int(((x < self.bounds[0]) | (x > self.bounds[1])).sum())

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pl.Series:
        name, kind = self.column.name, self.column.type
        null = codes == self.null_code if self.nullable else np.zeros(codes.size, dtype=bool)
        if self.labels is not None:
            values = [None if z else self.labels[c] for c, z in zip(codes, null, strict=True)]
            return pl.Series(name, values, dtype=POLARS_DTYPES[kind])
        edges = self.edges
        safe = np.where(null, 0, codes)
        x = rng.uniform(edges[safe], edges[safe + 1])  # type: ignore[index]
        lo, hi = self.bounds  # type: ignore[misc]
        x = np.clip(np.round(x, self.decimals) if kind == "number" else np.rint(x), lo, hi)
        if kind == "number":
            series = pl.Series(name, x, dtype=pl.Float64)
        elif kind == "integer":
            series = pl.Series(name, x.astype(np.int64), dtype=pl.Int64)
        else:
            days = x.astype(np.int64) - dt.date(1970, 1, 1).toordinal()
            series = pl.Series(name, days, dtype=pl.Int32).cast(pl.Date)
        return series.scatter(np.flatnonzero(null), None) if null.any() else series


def _as_numbers(series: pl.Series, column: TableColumn) -> np.ndarray:
    """Float values (dates as proleptic ordinals), NaN for nulls."""
    if column.type == "date":
        series = series.cast(pl.Date).cast(pl.Int64) + dt.date(1970, 1, 1).toordinal()
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy()


def _decimals(values: np.ndarray) -> int:
    finite = values[np.isfinite(values)]
    for d in range(MAX_DECIMALS + 1):
        if np.all(np.abs(finite - np.round(finite, d)) <= 1e-9 * np.maximum(1, np.abs(finite))):
            return d
    return MAX_DECIMALS


def _show(lo: float, hi: float, column: TableColumn) -> str:
    if column.type == "date":
        return f"{dt.date.fromordinal(int(lo))} to {dt.date.fromordinal(int(hi))}"
    return f"{lo:g} to {hi:g}"


def _faker(seed: int):
    from faker import Faker

    faker = Faker("en_US")
    faker.seed_instance(seed)
    return faker


def _fake_identifiers(
    column: TableColumn, real: pl.Series, n: int, faker, rng: np.random.Generator
) -> pl.Series:
    """n distinct fakes of the column's kind, none equal to a real value of the column."""
    kind = column.fake_kind()
    taken = {str(v) for v in real.drop_nulls().to_list()}
    if kind == "numeric_id":
        return pl.Series(column.name, _numeric_ids(real, n, taken, rng), dtype=pl.Int64)
    templates = [str(v) for v in real.drop_nulls().to_list()] or ["ID-000000"]
    fixed = _fixed_positions(templates)
    make: Callable[[], str] = {
        "person_name": faker.name,
        "email": faker.safe_email,  # reserved example.* domains: never a real mailbox
        "phone": faker.phone_number,
        "account_number": faker.bban,
        "street_address": faker.street_address,
        "code": lambda: _like(templates[int(rng.integers(len(templates)))], fixed, rng),
    }[kind]
    out: list[str] = []
    for _ in range(n):
        for attempt in range(100):
            value = make()
            if attempt >= 50:  # a crowded space (tiny code templates): widen it
                value = f"{value}-{int(rng.integers(10**6)):06d}"
            if value not in taken:
                break
        else:
            raise RuntimeError(f"could not draw a fresh fake for {column.name!r}")
        taken.add(value)
        out.append(value)
    return pl.Series(column.name, out, dtype=pl.String)


def _numeric_ids(real: pl.Series, n: int, taken: set[str], rng: np.random.Generator) -> np.ndarray:
    """Ids with the real ids' number of digits (more when that space is crowded)."""
    values = real.drop_nulls().cast(pl.Int64).to_numpy()
    digits = len(str(int(np.abs(values).max()))) if values.size else 6
    while 9 * 10 ** (digits - 1) < 4 * (n + len(taken)):
        digits += 1
    lo, hi = 10 ** (digits - 1), 10**digits
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < n:
        for v in rng.integers(lo, hi, size=max(16, 2 * (n - len(chosen)))).tolist():
            if v not in seen and str(v) not in taken:
                seen.add(v)
                chosen.append(v)
                if len(chosen) == n:
                    break
    return np.array(chosen, dtype=np.int64)


def _fixed_positions(templates: list[str]) -> dict[int, list[bool]]:
    """Per value length, which letter positions hold the same letter in every real value (a
    prefix like "CUST-" stays). Digits are always redrawn: sequential ids share leading
    zeros, and keeping them would leave too few fresh values. A lone value keeps nothing."""
    by_length: dict[int, list[str]] = {}
    for t in templates:
        by_length.setdefault(len(t), []).append(t)
    out = {}
    for length, values in by_length.items():
        if len(set(values)) < 2:
            out[length] = [False] * length
        else:
            out[length] = [
                len({v[i] for v in values}) == 1 and not values[0][i].isdigit()
                for i in range(length)
            ]
    return out


def _like(template: str, fixed: dict[int, list[bool]], rng: np.random.Generator) -> str:
    """A random string of the template's shape: the varying digits and ASCII letters redrawn
    (case kept), fixed positions and punctuation kept."""
    keep = fixed.get(len(template), [False] * len(template))
    out = []
    for ch, kept in zip(template, keep, strict=True):
        if kept:
            out.append(ch)
        elif ch.isdigit():
            out.append(str(int(rng.integers(10))))
        elif ch.isalpha() and ch.isascii():
            letter = chr(ord("a") + int(rng.integers(26)))
            out.append(letter.upper() if ch.isupper() else letter)
        else:
            out.append(ch)
    return "".join(out)
