"""The report's "Compared with the published version" section: a table of the figures side by
side, a small plot of each figure with its 95% intervals, and the gate's decision.

The comparison is made after the report (it needs the version's own figures), so
`update_report_comparison` writes the section into the existing report.html (between its
markers, or after the summary the first time) and the comparison into metrics.json, as the
review block does. `markdown_table` is the same table for the check's metadata in Dagster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from synth_pipeline.regression.compare import ACCEPTED, HELD, Comparison, FigureComparison, fmt

TEMPLATES = Path(__file__).parent / "templates"
BLOCK_TEMPLATE = "comparison_block.html.j2"
START, END = "<!-- regression:start -->", "<!-- regression:end -->"
SECTION_ID = "regression"
TITLE = "Compared with the published version"
NAV_LINK = f'<a href="#{SECTION_ID}">Compared with published</a>'


def _interval_text(f: FigureComparison, side: str) -> str:
    value = f.candidate if side == "candidate" else f.published
    iv = f.candidate_interval if side == "candidate" else f.published_interval
    text = fmt(value, f.figure)
    if iv is not None and value is not None:
        text += f" [{fmt(iv[0], f.figure)}, {fmt(iv[1], f.figure)}]"
    return text


def _change_text(f: FigureComparison) -> str:
    change = f.change
    if change is None:
        return "–"
    if f.figure.relative and f.published:
        return f"{change:+.0f} ({change / f.published:+.0%})"
    return f"{change:+.3f}"


def rows(c: Comparison) -> list[dict[str, Any]]:
    """One row per figure: what the table shows, in the report, the CLI and the check."""
    out = []
    for f in c.figures:
        out.append(
            {
                "figure": f.figure.label,
                "metric": f.figure.metric,
                "better": "higher" if f.figure.higher_is_better else "lower",
                "published": _interval_text(f, "published"),
                "version": _interval_text(f, "candidate"),
                "change": _change_text(f),
                "tolerance": f.tolerance_text(),
                "verdict": f.verdict,
                "regressed": f.regressed,
            }
        )
    return out


def plot_uri(c: Comparison) -> str | None:
    """Small multiples: each figure's published and new value with their 95% intervals; the
    band beyond the tolerance on the bad side is shaded. None when nothing was compared."""
    from synth_pipeline.report.plots import SYNTHETIC, _figure, to_data_uri

    figs = [f for f in c.figures if f.compared]
    if not figs:
        return None
    cols = min(3, len(figs))
    nrows = (len(figs) + cols - 1) // cols
    fig = _figure(3.3 * cols, 1.45 * nrows + 0.2)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, f in zip(axes.flat, figs, strict=False):
        assert f.published is not None and f.candidate is not None
        points = [(f.published, f.published_interval), (f.candidate, f.candidate_interval)]
        colors = ["#8C8C8C", "#C44E52" if f.regressed else SYNTHETIC]
        for y, ((v, iv), color) in enumerate(zip(points, colors, strict=True)):
            lo, hi = iv if iv is not None else (v, v)
            ax.errorbar(
                [v],
                [1 - y],
                xerr=[[max(0.0, v - lo)], [max(0.0, hi - v)]],
                fmt="o",
                color=color,
                capsize=3,
                ms=5,
            )
        p = f.published
        edge = f.tolerance_edge
        assert edge is not None
        values = [p, f.candidate, edge] + [b for _, iv in points if iv is not None for b in iv]
        lo_x, hi_x = min(values), max(values)
        pad = (hi_x - lo_x) * 0.15 or max(abs(p) * 0.1, 0.05)
        lo_x, hi_x = lo_x - pad, hi_x + pad
        if f.figure.higher_is_better:
            ax.axvspan(lo_x, edge, color="#C44E52", alpha=0.08, lw=0)
        else:
            ax.axvspan(edge, hi_x, color="#C44E52", alpha=0.08, lw=0)
        ax.axvline(edge, color="#C44E52", lw=0.8, ls=":")
        ax.set_xlim(lo_x, hi_x)
        ax.set_ylim(-0.6, 1.6)
        ax.set_yticks([1, 0], [f"published {c.baseline}"[:22], "this version"], fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
        mark = " — HELD" if f.regressed else ""
        ax.set_title(
            f"{f.figure.label} ({'↑' if f.figure.higher_is_better else '↓'} better){mark}",
            fontsize=8,
        )
        ax.spines[["top", "right"]].set_visible(False)
    for ax in list(axes.flat)[len(figs) :]:
        ax.set_visible(False)
    return to_data_uri(fig)


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def comparison_block(c: Comparison | None) -> Markup:
    """The section's HTML with its markers (empty between them without a comparison)."""
    html = (
        _environment()
        .get_template(BLOCK_TEMPLATE)
        .render(
            c=c,
            rows=rows(c) if c else [],
            plot=plot_uri(c) if c else None,
            title=TITLE,
            section_id=SECTION_ID,
            held=HELD,
            accepted=ACCEPTED,
        )
    )
    return Markup(html.strip())


def markdown_table(c: Comparison) -> str:
    """The side-by-side table for the check's metadata in the Dagster UI."""
    if not c.figures:
        return f"_{c.describe()}_"
    head = (
        f"| figure | published {c.baseline} | this version {c.version} | change | tolerance "
        "| verdict |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    for r in rows(c):
        verdict = f"**{r['verdict']}**" if r["regressed"] else r["verdict"]
        lines.append(
            f"| {r['figure']} (`{r['metric']}`) | {r['published']} | {r['version']} | "
            f"{r['change']} | {r['tolerance']} | {verdict} |"
        )
    return "\n".join(lines)


def _replace_block(html: str, block: str) -> str:
    start, end = html.find(START), html.find(END)
    if start >= 0 and end > start:
        return html[:start] + block + html[end + len(END) :]
    summary = html.find('<section id="summary">')
    after = html.find("</section>", summary) if summary >= 0 else -1
    if after >= 0:
        at = after + len("</section>")
    else:
        at = html.find('<section id="notes">')
        at = at if at >= 0 else html.find("</main>")
        at = at if at >= 0 else len(html)
    html = html[:at] + "\n" + block + "\n" + html[at:]
    summary_link = '<a href="#summary">Summary</a>'
    if NAV_LINK not in html and summary_link in html:
        html = html.replace(summary_link, summary_link + "\n  " + NAV_LINK, 1)
    return html


def update_report_comparison(folder: Path, c: Comparison | None) -> bool:
    """Put the comparison into an existing report; False when there is no report."""
    html_path, json_path = folder / "report.html", folder / "metrics.json"
    if not json_path.is_file():
        return False
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    payload["regression"] = _jsonable(c.as_dict()) if c else None
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    if html_path.is_file():
        html = html_path.read_text(encoding="utf-8")
        html_path.write_text(_replace_block(html, str(comparison_block(c))), encoding="utf-8")
    return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def text_section(c: Comparison) -> str:
    """The section as plain text (the CLI's and the notes' form)."""
    out = [f"{TITLE} ({c.baseline or 'none'})", c.describe()]
    if c.figures:
        table = rows(c)
        cols = ["figure", "published", "version", "change", "tolerance", "verdict"]
        heads = {
            "figure": "figure",
            "published": f"published {c.baseline}",
            "version": f"this version {c.version}",
            "change": "change",
            "tolerance": "tolerance",
            "verdict": "verdict",
        }
        widths = {k: max(len(heads[k]), *(len(str(r[k])) for r in table)) for k in cols}
        out.append("  ".join(heads[k].ljust(widths[k]) for k in cols))
        for r in table:
            out.append("  ".join(str(r[k]).ljust(widths[k]) for k in cols).rstrip())
    return "\n".join(out)
