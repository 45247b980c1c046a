"""The MST mechanism (McKenna et al., winner of the 2018 NIST DP synthetic-data challenge).

Vendored from smartnoise-synth 1.0.8 (`snsynth/mst/mst.py` and `snsynth/utils.py`,
MIT licence, Copyright (c) Microsoft Corporation / OpenDP), itself adapted from
private-pgm's `mechanisms/mst.py` (Apache-2.0, Ryan McKenna). Why vendored: `snsynth`
imports `smartnoise-sql`, whose ANTLR parsers need `antlr4-python3-runtime==4.9.3`, while
Dagster's asset-selection parser needs the 4.13 runtime; the two cannot share one
environment. The mechanism itself only needs `mbi` (private-pgm) and OpenDP.

Changes from upstream, none to the privacy accounting: the input is already integer codes
(no TableTransformer), noise is drawn for a whole marginal in one OpenDP call, randomness
is passed in (a numpy Generator for selection and decoding), `noise` can be swapped for a
seeded generator when no guarantee is asked, and 0/1-column tables are handled.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Noise = Callable[[float, int], np.ndarray]

DEFAULT_DELTA = 1e-9  # smartnoise-synth's default


def cdp_rho(epsilon: float, delta: float) -> float:
    """The zCDP rho that gives (epsilon, delta)-DP for a sensitivity-1 Gaussian (OpenDP)."""
    import opendp.prelude as dp

    dp.enable_features("floating-point", "contrib")
    domain = dp.atom_domain(T=float, nan=False)
    metric = dp.absolute_distance(T=float)

    def adp_gauss(scale: float):
        gauss = dp.m.make_gaussian(domain, metric, scale)
        return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gauss), delta=delta)

    scale = dp.binary_search_param(adp_gauss, d_in=1.0, d_out=(epsilon, delta))
    return float(dp.m.make_gaussian(domain, metric, scale).map(d_in=1.0))


def opendp_noise(sigma: float, size: int) -> np.ndarray:
    """Gaussian noise from OpenDP's sampler (floating-point safe, OS entropy, not seedable)."""
    import opendp.prelude as dp

    dp.enable_features("floating-point", "contrib")
    meas = dp.m.make_gaussian(
        dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float), sigma
    )
    return np.asarray(meas([0.0] * size), dtype=float)


def numpy_noise(rng: np.random.Generator) -> Noise:
    """Seeded Gaussian noise: reproducible, but no DP guarantee (numpy's sampler)."""
    return lambda sigma, size: rng.normal(0.0, sigma, size)


@dataclass
class MSTModel:
    """A fitted MST: the graphical model over compressed domains and how to undo them."""

    model: object  # mbi.MarkovRandomField
    supports: dict[str, np.ndarray]
    columns: list[str]
    cards: list[int]
    cliques: list[tuple[str, ...]]


def fit_mst(
    codes: np.ndarray,
    cards: list[int],
    *,
    rho: float,
    noise: Noise,
    rng: np.random.Generator,
    iters: int = 5000,
) -> MSTModel:
    """Fit MST on integer codes (one column per attribute, values in range(card))."""
    from mbi import Dataset, Domain, estimation, marginal_oracles

    names = [f"col{i}" for i in range(len(cards))]
    domain = Domain(names, cards)
    data = Dataset(np.asarray(codes, dtype=np.int64), domain)
    sigma = float(np.sqrt(3 / (2 * rho)))
    total = len(codes)
    log1 = _measure(data, [(c,) for c in data.domain], sigma, noise)
    data, log1, supports = _compress_domain(data, log1)
    cliques = _select(data, rho / 3.0, log1, total, rng) if len(names) > 1 else []
    log2 = _measure(data, cliques, sigma, noise)
    est = estimation.mirror_descent(
        data.domain,
        log1 + log2,
        known_total=float(total),
        iters=iters,
        marginal_oracle=marginal_oracles.message_passing_stable,
    )
    return MSTModel(est, supports, names, list(cards), [tuple(c) for c in cliques])


def sample_mst(model: MSTModel, n: int, seed: int) -> np.ndarray:
    """n rows of codes drawn from the fitted model (mbi draws from numpy's global state, which
    is seeded here and restored afterwards)."""
    state = np.random.get_state()
    try:
        np.random.seed(seed % 2**32)
        # i.i.d. sampling: mbi 1.1.0's default randomized rounding assigns every child column
        # by the row's rank inside its parent group, so two children of one parent come out
        # perfectly rank-correlated (measured: education x jobclass contingency 0.56).
        synthetic = model.model.synthetic_data(rows=n, method="sample")  # type: ignore[attr-defined]
        rng = np.random.default_rng(seed)
        df = synthetic.df
        out = np.empty((n, len(model.columns)), dtype=np.int64)
        for j, col in enumerate(model.columns):
            out[:, j] = _undo_compress(np.asarray(df[col]), model.supports[col], rng)
        return out
    finally:
        np.random.set_state(state)


def _measure(data, cliques, sigma: float, noise: Noise) -> list:
    from mbi import LinearMeasurement

    if not cliques:
        return []
    weights = np.ones(len(cliques)) / np.linalg.norm(np.ones(len(cliques)))
    out = []
    for proj, wgt in zip(cliques, weights, strict=True):
        x = np.asarray(data.project(proj).datavector())
        y = x + noise(sigma / wgt, x.size)
        out.append(LinearMeasurement(y, proj, sigma / wgt))
    return out


def _compress_domain(data, measurements) -> tuple[object, list, dict[str, np.ndarray]]:
    """Merge values whose noisy count is below 3 sigma into one 'rare' code (upstream logic)."""
    from mbi import LinearMeasurement

    supports: dict[str, np.ndarray] = {}
    new = []
    for m in measurements:
        y = np.asarray(m.noisy_measurement)
        sigma = m.stddev
        col = m.clique[0]
        sup = y >= 3 * sigma
        kept = int(sup.sum())
        if kept < 2 and y.size >= 2:
            supports[col] = np.ones(y.size, dtype=bool)
            new.append(m)
        elif kept == y.size:
            supports[col] = sup
            new.append(m)
        else:
            supports[col] = sup
            y2 = np.append(y[sup], y[~sup].sum())
            y2[-1] *= 1.0 / np.sqrt(y.size - kept + 1.0)
            new.append(LinearMeasurement(y2, m.clique, sigma))
    return _transform(data, supports), new, supports


def _transform(data, supports: dict[str, np.ndarray]):
    from mbi import Dataset, Domain

    df = data.df
    columns: dict[str, np.ndarray] = {}
    newdom = {}
    for col in data.domain:
        support = supports[col]
        size = int(support.sum())
        newdom[col] = size + (1 if size < support.size else 0)
        mapping = np.full(support.size, size, dtype=np.int64)
        mapping[support] = np.arange(size)
        columns[col] = mapping[np.asarray(df[col])]
    return Dataset(columns, Domain.fromdict(newdom))


def _undo_compress(codes: np.ndarray, support: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    kept = np.flatnonzero(support)
    rare = np.flatnonzero(~support)
    out = np.empty(codes.size, dtype=np.int64)
    is_rare = codes == kept.size
    if rare.size:
        out[is_rare] = rng.choice(rare, int(is_rare.sum()))
    out[~is_rare] = kept[codes[~is_rare]]
    return out


def _select(data, rho: float, log, total: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """A spanning tree of attribute pairs, picked by the exponential mechanism on how badly the
    1-way model misses each pair's 2-way marginal (upstream's selection)."""
    import networkx as nx
    from mbi import estimation, marginal_oracles
    from scipy.special import logsumexp

    est = estimation.mirror_descent(
        data.domain,
        log,
        known_total=float(total),
        iters=1000,
        marginal_oracle=marginal_oracles.message_passing_stable,
    )
    weights = {}
    candidates = list(itertools.combinations(data.domain.attrs, 2))
    for a, b in candidates:
        xhat = np.asarray(est.project([a, b]).datavector())
        x = np.asarray(data.project([a, b]).datavector())
        weights[a, b] = np.linalg.norm(x - xhat, 1)

    tree = nx.Graph()
    tree.add_nodes_from(data.domain.attrs)
    components = nx.utils.UnionFind(data.domain.attrs)
    r = len(data.domain.attrs)
    epsilon = np.sqrt(8 * rho / (r - 1))
    for _ in range(r - 1):
        candidates = [e for e in candidates if components[e[0]] != components[e[1]]]
        q = np.array([weights[e] for e in candidates])
        scores = 0.5 * epsilon / 1.0 * q  # sensitivity 1, not monotonic (upstream)
        probas = np.exp(scores - logsumexp(scores))
        a, b = candidates[rng.choice(q.size, p=probas)]
        tree.add_edge(a, b)
        components.union(a, b)
    return list(tree.edges)
