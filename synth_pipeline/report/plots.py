"""Report figures as base64 PNG data URIs (matplotlib's Agg canvas, no pyplot state)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from synth_pipeline.report.metrics import ClassifierResult, Detectability

REAL = "#4C72B0"
SYNTHETIC = "#DD8452"
CANDIDATES = "#8C8C8C"
AUGMENTED = "#55A868"
PART_COLORS = {
    "fidelity": "#4C72B0",
    "utility": "#55A868",
    "diversity": "#8172B3",
    "privacy": "#C44E52",
    "content": "#937860",
}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig: Figure, dpi: int = 96) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def data_uri_bytes(uri: str) -> bytes:
    """The PNG bytes of a `to_data_uri` string."""
    return base64.b64decode(uri.split(",", 1)[1])


def scorecard(
    headline: float,
    parts: dict[str, float | None],
    candidate_parts: dict[str, float | None] | None = None,
) -> Figure:
    """Headline and the parts (0-100); candidates' parts as dotted ticks when given.

    A "content" part (100 x (1 - junk share)) multiplies the others' weighted mean: its bar
    is labelled "content (×)" and drawn hatched.
    """
    names = ["headline", *(f"{p} (×)" if p == "content" else p for p in parts)]
    values = [headline] + [100 * v if v is not None else np.nan for v in parts.values()]
    fig = _figure(6.4, 0.45 * len(names) + 0.5)
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    colors = ["#333333"] + [PART_COLORS.get(p, SYNTHETIC) for p in parts]
    bars = ax.barh(y, np.nan_to_num(values), color=colors, height=0.6)
    for bar, p in zip(bars[1:], parts, strict=True):
        if p == "content":
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    for yi, v in zip(y, values, strict=True):
        ax.text(
            np.nan_to_num(v) + 1.5,
            yi,
            "n/a" if np.isnan(v) else f"{v:.0f}",
            va="center",
            fontsize=9,
        )
    if candidate_parts:
        for yi, p in zip(y[1:], parts, strict=True):
            cv = candidate_parts.get(p)
            if cv is not None:
                ax.plot([100 * cv] * 2, [yi - 0.4, yi + 0.4], color="black", lw=1.6, ls=":")
        ax.plot([], [], color="black", ls=":", label="candidates (before curation)")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=7, frameon=False)
    ax.set_yticks(y, names)
    ax.set_xlim(0, 110)
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel("score (0–100)")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def label_distribution(
    labels: Sequence[str], series: dict[str, Sequence[float]], title: str = "Label shares"
) -> Figure:
    fig = _figure(max(6.0, 0.8 * len(labels) + 2), 3.2)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    palette = {"real (holdout)": REAL, "synthetic": SYNTHETIC, "candidates": CANDIDATES}
    for i, (name, values) in enumerate(series.items()):
        ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            values,
            width,
            label=name,
            color=palette.get(name),
        )
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("share of records")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False, ncols=len(series), loc="upper center")
    top = max((max(v) for v in series.values() if len(v)), default=1.0)
    ax.set_ylim(0, max(top, 0.01) * 1.25)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def length_histograms(per_field: dict[str, dict[str, Sequence[int]]]) -> Figure:
    n = max(1, len(per_field))
    fig = _figure(min(6.0 * n, 12.0), 3.0)
    palette = {"real (holdout)": REAL, "synthetic": SYNTHETIC, "candidates": CANDIDATES}
    for i, (fname, series) in enumerate(per_field.items(), start=1):
        ax = fig.add_subplot(1, n, i)
        all_values = [v for s in series.values() for v in s]
        if not all_values:
            continue
        hi = np.percentile(all_values, 99) if len(all_values) > 10 else max(all_values)
        bins = np.linspace(0, max(hi, 1), 40)
        for name, values in series.items():
            if len(values):
                ax.hist(
                    np.clip(values, 0, bins[-1]),
                    bins=bins,
                    density=True,
                    alpha=0.45,
                    label=name,
                    color=palette.get(name),
                )
        ax.set_title(f"characters of {fname!r}", fontsize=10)
        ax.set_xlabel("length (chars)")
        ax.legend(fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def roc(curves: dict[str, Detectability]) -> Figure:
    fig = _figure(4.4, 4.0)
    ax = fig.add_subplot()
    palette = {"synthetic": SYNTHETIC, "candidates": CANDIDATES}
    for name, det in curves.items():
        if det.auc is None:
            continue
        ax.plot(det.fpr, det.tpr, label=f"{name} (AUC {det.auc:.3f})", color=palette.get(name))
    ax.plot([0, 1], [0, 1], ls="--", color="#999999", label="indistinguishable (0.5)")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Detectability: real vs synthetic classifier ROC", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_aspect("equal")
    return fig


def confusion(result: ClassifierResult, title: str) -> Figure:
    cm = np.asarray(result.confusion, dtype=float)
    labels = result.labels
    size = max(4.0, 0.55 * len(labels) + 2.5)
    fig = _figure(size, size * 0.9)
    ax = fig.add_subplot()
    if cm.size == 0:
        ax.text(0.5, 0.5, "no test records", ha="center")
        return fig
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.6 else "black",
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (holdout)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.7, label="row share")
    return fig


def per_label_f1(labels: Sequence[str], results: dict[str, ClassifierResult]) -> Figure:
    fig = _figure(max(6.0, 0.8 * len(labels) + 2), 3.2)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(results))
    palette = {"TRTR": REAL, "TSTR": SYNTHETIC, "augmented": AUGMENTED}
    for i, (name, r) in enumerate(results.items()):
        vals = [r.per_label_f1.get(lbl, 0.0) for lbl in labels]
        ax.bar(
            x + (i - (len(results) - 1) / 2) * width,
            vals,
            width,
            label=name,
            color=palette.get(name),
        )
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.25)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("F1 on holdout")
    ax.set_title("Per-label F1", fontsize=10)
    ax.legend(fontsize=8, frameon=False, ncols=len(results), loc="upper center")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def dcr_histogram(series: dict[str, np.ndarray], threshold: float) -> Figure:
    """Distance to the closest seed (1 - cosine similarity) per record."""
    fig = _figure(6.4, 3.0)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 41)
    palette = {
        "real holdout → seeds": REAL,
        "synthetic → seeds": SYNTHETIC,
        "candidates → seeds": CANDIDATES,
    }
    for name, sim in series.items():
        if len(sim):
            ax.hist(
                1 - sim, bins=bins, density=True, alpha=0.45, label=name, color=palette.get(name)
            )
    ax.axvline(
        1 - threshold, color="#C44E52", ls="--", label=f"near-copy (similarity ≥ {threshold:g})"
    )
    ax.set_xlabel("distance to closest seed record (1 − TF-IDF cosine)")
    ax.set_ylabel("density")
    ax.set_title("Memorisation: distance to closest seed", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def judge_histogram(series: dict[str, Sequence[float]]) -> Figure:
    fig = _figure(5.0, 2.8)
    ax = fig.add_subplot()
    palette = {"synthetic": SYNTHETIC, "candidates": CANDIDATES}
    for name, scores in series.items():
        if len(scores):
            ax.hist(scores, bins=20, alpha=0.5, label=name, color=palette.get(name))
    ax.set_xlabel("judge score")
    ax.set_title("Judge scores", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return fig


def trend(
    versions: Sequence[str],
    scores: dict[str, Sequence[float | None]],
    rates: dict[str, Sequence[float | None]],
) -> Figure:
    """Scores (0-100) in the left panel, rates (0-1) in the right one."""
    fig = _figure(10.0, 3.4)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    x = np.arange(len(versions))
    for ax, series in ((left, scores), (right, rates)):
        for name, values in series.items():
            y = np.array([np.nan if v is None else v for v in values], dtype=float)
            ax.plot(x, y, marker="o", label=name)
    for ax, title in ((left, "Scores (0–100)"), (right, "Key figures (0–1)")):
        ax.set_xticks(x, versions, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    left.set_ylim(0, 105)
    right.set_ylim(0, 1.05)
    return fig
