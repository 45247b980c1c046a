"""The report's human-review block and figures, rendered at build time and after a review.

Verdicts usually arrive after the report was built, so `update_report_review` rewrites the
block in report.html (between its markers) and the `review.*` metrics in metrics.json
without rebuilding the rest of the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
BLOCK_TEMPLATE = "review_block.html.j2"
START, END = "<!-- review:start -->", "<!-- review:end -->"
PREFIX = "review."


def review_metrics(review: dict[str, Any] | None) -> dict[str, float]:
    return dict(review.get("metrics") or {}) if review else {}


def review_block(review: dict[str, Any] | None) -> Markup:
    """The block's HTML, markers included (empty between them before any verdict)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Markup(env.get_template(BLOCK_TEMPLATE).render(review=review).strip())


def review_payload(review: dict[str, Any] | None) -> dict[str, Any] | None:
    """What metrics.json keeps under "review" (the metrics also go to "metrics")."""
    return {k: v for k, v in review.items() if k != "metrics"} if review else None


def update_report_review(folder: Path, review: dict[str, Any] | None) -> bool:
    """Put the review figures into an existing report; False when there is no report."""
    html_path, json_path = folder / "report.html", folder / "metrics.json"
    if not json_path.is_file():
        return False
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    metrics = {k: v for k, v in payload.get("metrics", {}).items() if not k.startswith(PREFIX)}
    metrics.update(review_metrics(review))
    payload["metrics"] = dict(sorted(metrics.items()))
    payload["review"] = review_payload(review)
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    if html_path.is_file():
        html = html_path.read_text(encoding="utf-8")
        start, end = html.find(START), html.find(END)
        block = str(review_block(review))
        if start >= 0 and end > start:
            html = html[:start] + block + html[end + len(END) :]
        else:  # a report built before the block existed: add it before the notes
            anchor = html.find('<section id="notes">')
            at = anchor if anchor >= 0 else html.find("</main>")
            at = at if at >= 0 else len(html)
            html = html[:at] + f'<section id="review-figures">{block}</section>\n' + html[at:]
        html_path.write_text(html, encoding="utf-8")
    return True
