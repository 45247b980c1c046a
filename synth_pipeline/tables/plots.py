"""Figures comparing a synthetic table with the real one (matplotlib Agg, no pyplot state).

Render with `synth_pipeline.report.plots.to_data_uri(fig)` for the HTML report.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from synth_pipeline.report.plots import REAL, SYNTHETIC
from synth_pipeline.tables._values import NULL_LABEL, is_numeric, labels, numbers
from synth_pipeline.tables.columns import TableColumn, modelled_columns
from synth_pipeline.tables.fidelity import association_matrix, column_shapes

TOP_VALUES = 12
PANEL_COLUMNS = 3


def column_distributions(
    real: pl.DataFrame, synthetic: pl.DataFrame, columns: Sequence[TableColumn]
) -> Figure:
    """One panel per modelled column: overlaid histograms of shares (numbers, dates) or paired
    bars of shares (top 12 labels by real share), the column's shape score in the title."""
    cols = modelled_columns(list(columns))
    shapes = column_shapes(real, synthetic, cols)
    ncols = max(1, min(PANEL_COLUMNS, len(cols)))
    nrows = max(1, math.ceil(len(cols) / ncols))
    fig = _figure(4.0 * ncols, 2.9 * nrows + 0.5)
    grid = fig.add_gridspec(nrows, ncols)
    for i, c in enumerate(cols):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        if is_numeric(c):
            _histogram(ax, numbers(real, c), numbers(synthetic, c), c)
        else:
            _bars(ax, labels(real, c), labels(synthetic, c))
        score = shapes.get(c.name, float("nan"))
        shown = "n/a" if not np.isfinite(score) else f"{score:.2f}"
        ax.set_title(f"{c.name}   shape {shown}", fontsize=10, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
    handles = [
        _patch(REAL, 0.55, "real"),
        _patch(SYNTHETIC, 1.0, "synthetic"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncols=2, frameon=False, fontsize=9)
    return fig


def pair_trend_heatmaps(
    real: pl.DataFrame, synthetic: pl.DataFrame, columns: Sequence[TableColumn]
) -> Figure:
    """Association matrices side by side: real | synthetic | |difference|, lower triangle,
    annotated (Pearson r for two numeric columns, Cramér's V otherwise)."""
    cols = modelled_columns(list(columns))
    names = [c.name for c in cols]
    k = len(names)
    a_real, a_syn = association_matrix(real, cols), association_matrix(synthetic, cols)
    diff = np.abs(a_real - a_syn)
    mask = ~np.tri(k, k, -1, dtype=bool)  # keep strictly below the diagonal
    below = ~mask
    # Colour ranges fitted to the values (most associations are weak: a fixed -1..1 scale
    # leaves every cell pale), rounded up to a tenth, with a floor.
    lim = _ceil_tenth(np.nanmax(np.abs(np.r_[a_real[below], a_syn[below], 0.0])), 0.3)
    dlim = _ceil_tenth(np.nanmax(np.r_[diff[below], 0.0]), 0.2)
    side = 1.4 + 0.4 * max(k, 2)
    fig = _figure(3 * side + 1.6, 0.9 * side + 0.9)
    grid = fig.add_gridspec(1, 3)
    panels = [
        ("real", a_real, "RdBu_r", (-lim, lim)),
        ("synthetic", a_syn, "RdBu_r", (-lim, lim)),
        ("|real − synthetic|", diff, "Oranges", (0, dlim)),
    ]
    images = []
    for i, (title, m, cmap, (vmin, vmax)) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        shown = np.ma.masked_where(mask | ~np.isfinite(m), m)
        images.append(ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax))
        fontsize = max(5.5, min(9.0, 60 / max(k, 1)))
        for r in range(k):
            for c in range(r):
                v = m[r, c]
                text = "–" if not np.isfinite(v) else f"{v:.2f}".replace("0.", ".", 1)
                strong = np.isfinite(v) and abs(v) > 0.6 * vmax
                ax.text(
                    c,
                    r,
                    text,
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if strong else "#222222",
                )
        ax.set_xticks(range(k - 1), names[:-1], rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(1, k), names[1:], fontsize=8)
        ax.set_xlim(-0.5, k - 1.5)
        ax.set_ylim(k - 0.5, 0.5)
        ax.spines[:].set_visible(False)
        ax.set_title(title, fontsize=10)
    fig.colorbar(images[1], ax=fig.axes[:2], shrink=0.7, label="association")
    fig.colorbar(images[2], ax=fig.axes[2], shrink=0.7, label="difference")
    fig.suptitle(
        "Pair associations: Pearson r (two numeric columns), Cramér's V (otherwise)", fontsize=10
    )
    return fig


def _ceil_tenth(value: float, floor: float) -> float:
    return max(floor, math.ceil(float(value) * 10 - 1e-9) / 10) if np.isfinite(value) else 1.0


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _patch(color: str, alpha: float, label: str):
    from matplotlib.patches import Patch

    return Patch(facecolor=color, alpha=alpha, label=label)


def _histogram(ax, real: np.ndarray, synthetic: np.ndarray, column: TableColumn) -> None:
    r, s = real[np.isfinite(real)], synthetic[np.isfinite(synthetic)]
    both = np.concatenate([r, s])
    if both.size == 0:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        return
    lo, hi = float(both.min()), float(both.max())
    whole = column.type in ("integer", "date")
    if whole and hi - lo + 1 <= 40:
        edges = np.arange(lo - 0.5, hi + 1.5)
    else:
        edges = np.histogram_bin_edges(both, bins=30)
    wr = np.full(r.size, 1 / r.size) if r.size else None
    ws = np.full(s.size, 1 / s.size) if s.size else None
    if r.size:
        ax.hist(r, bins=edges, weights=wr, color=REAL, alpha=0.55, linewidth=0)
    if s.size:
        ax.hist(s, bins=edges, weights=ws, histtype="step", color=SYNTHETIC, linewidth=1.8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    if column.type == "date":
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _pos: dt.date.fromordinal(max(1, int(v))).isoformat())
        )
    elif whole:
        ax.xaxis.set_major_locator(MaxNLocator(6, integer=True))


def _bars(ax, real: np.ndarray, synthetic: np.ndarray) -> None:
    r_vals, r_counts = np.unique(real.astype(str), return_counts=True)
    s_vals, s_counts = np.unique(synthetic.astype(str), return_counts=True)
    r_share = dict(zip(r_vals.tolist(), (r_counts / max(1, real.size)).tolist(), strict=True))
    s_share = dict(zip(s_vals.tolist(), (s_counts / max(1, synthetic.size)).tolist(), strict=True))
    order = sorted(r_share, key=lambda v: (-r_share[v], v))
    order += sorted(set(s_share) - set(r_share), key=lambda v: -s_share[v])  # unseen labels last
    shown = order[:TOP_VALUES]
    rest = order[TOP_VALUES:]
    rows = [(v, r_share.get(v, 0.0), s_share.get(v, 0.0)) for v in shown]
    if rest:
        rows.append(
            (
                f"{len(rest)} other",
                sum(r_share.get(v, 0.0) for v in rest),
                sum(s_share.get(v, 0.0) for v in rest),
            )
        )
    y = np.arange(len(rows))[::-1]
    h = 0.38
    ax.barh(y + h / 2, [r for _, r, _ in rows], height=h, color=REAL, alpha=0.85)
    ax.barh(y - h / 2, [s for _, _, s in rows], height=h, color=SYNTHETIC)
    ax.set_yticks(y, [_short(v) for v, _, _ in rows], fontsize=8)
    pad = (max(len(rows), 4) - len(rows)) / 2  # few labels: centred, not stretched bars
    ax.set_ylim(-0.5 - pad, len(rows) - 0.5 + pad)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0%}"))
    ax.xaxis.set_major_locator(MaxNLocator(4))


def _short(label: str, limit: int = 22) -> str:
    if label == NULL_LABEL:
        return "(null)"
    return label if len(label) <= limit else label[: limit - 1] + "…"
