"""Human review without a model: sampling, Wilson bounds, the gate, verdict files, the page's
HTTP routes and the report's review block, over a small hand-built warehouse."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from synth_pipeline import stages
from synth_pipeline.gates import AWAITING_REVIEW, REVIEW, GateRefused, publish_refusal
from synth_pipeline.report.review import END, START, update_report_review
from synth_pipeline.review.config import ReviewSpec
from synth_pipeline.review.figures import ReviewFigures, wilson_lower_bound
from synth_pipeline.review.finish import finish_review
from synth_pipeline.review.gate import ReviewState, apply_review_gate, decide
from synth_pipeline.review.sampling import review_sample, sample_ids
from synth_pipeline.review.session import ReviewError, ReviewSession
from synth_pipeline.review.verdicts import (
    Verdict,
    VerdictError,
    load_verdicts,
    read_verdict_file,
    record_verdicts,
)
from synth_pipeline.warehouse import Warehouse
from synth_pipeline_tests.test_lineage import DATASET, build_version, intents_spec

KEPT = [(f"Customer message number {i} about my order", "refund") for i in range(12)]


def review_spec(**review):
    return intents_spec(review={"sample_size": 8, "min_acceptance": 0.5, "seed": 7, **review})


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "w.duckdb")
    build_version(w, "v1", KEPT, spec=review_spec(required=True))  # checked under this spec
    return w


# --- sampling ---------------------------------------------------------------------------


def test_sample_is_fixed_by_seed_and_records_not_by_row_order():
    ids = [f"r{i:03d}" for i in range(200)]
    first = sample_ids(ids, 50, seed=3)
    assert first == sample_ids(list(reversed(ids)), 50, seed=3)
    assert len(first) == len(set(first)) == 50 and set(first) <= set(ids)
    assert first != sample_ids(ids, 50, seed=4)
    assert first != sorted(first)  # review order is random, not by id
    assert sorted(sample_ids(ids[:10], 50, seed=3)) == ids[:10]  # fewer rows: all of them


def test_review_sample_reads_the_version_records(wh):
    rows = review_sample(wh, DATASET, "v1", 8, seed=7)
    assert [r.position for r in rows] == list(range(1, 9))
    again = review_sample(Warehouse(wh.path), DATASET, "v1", 8, seed=7)
    assert [r.record_id for r in rows] == [r.record_id for r in again]
    assert rows[0].record["text"] == rows[0].text and rows[0].label == "refund"
    assert review_sample(wh, DATASET, "nope", 8, seed=7) == []
    with pytest.raises(ReviewError, match="no quality-checked records"):
        ReviewSession.open(review_spec(), wh, "nope")


# --- figures and the gate ---------------------------------------------------------------


def _closed_form(k: int, n: int, z: float = 1.959963984540054) -> float:
    p = k / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [(45, 50, 0.7864), (50, 50, 0.9287), (9, 10, 0.5958), (1, 1, 0.2065), (0, 5, 0.0)],
)
def test_wilson_lower_bound_values(k, n, expected):
    assert wilson_lower_bound(k, n) == pytest.approx(expected, abs=1e-4)
    assert wilson_lower_bound(k, n) == pytest.approx(max(0.0, _closed_form(k, n)), abs=1e-9)


def test_wilson_lower_bound_edges():
    assert wilson_lower_bound(0, 0) == 0.0
    with pytest.raises(ValueError):
        wilson_lower_bound(6, 5)


def test_gate_decisions():
    cfg = ReviewSpec(min_acceptance=0.9)

    def state(sample: int, reviewed: int, accepted: int) -> ReviewState:
        return decide(cfg, ReviewFigures(sample, reviewed, accepted)).state

    assert state(50, 0, 0) is ReviewState.AWAITING
    assert state(50, 30, 30) is ReviewState.AWAITING  # bound 0.886: not sure enough yet
    assert state(50, 40, 40) is ReviewState.PASSED  # bound 0.912: passes before the end
    assert state(50, 50, 50) is ReviewState.PASSED
    assert state(50, 49, 44) is ReviewState.AWAITING  # one left to review
    assert state(50, 50, 45) is ReviewState.FAILED  # bound 0.786 with nothing left
    assert decide(ReviewSpec(min_acceptance=0.0), ReviewFigures(5, 1, 0)).state is (
        ReviewState.PASSED
    )


# --- verdicts ---------------------------------------------------------------------------


def test_a_later_verdict_replaces_the_earlier_one(wh):
    rid = review_sample(wh, DATASET, "v1", 8, seed=7)[0].record_id
    record_verdicts(wh, DATASET, "v1", [Verdict(rid, "accept")], "ann")
    record_verdicts(wh, DATASET, "v1", [Verdict(rid, "reject", "echoes the prompt")], "bob")
    found = load_verdicts(wh, DATASET, "v1")
    assert list(found) == [rid]
    assert (found[rid].verdict, found[rid].reason, found[rid].reviewer) == (
        "reject",
        "echoes the prompt",
        "bob",
    )


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "verdicts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_verdict_file_errors_name_the_file_and_line(wh, tmp_path):
    rows = review_sample(wh, DATASET, "v1", 8, seed=7)
    sample = {r.record_id for r in rows}
    records = {r[0] for r in wh.rows("SELECT record_id FROM dataset_records")}
    outside = next(iter(records - sample))
    ok = json.dumps({"record_id": rows[0].record_id, "verdict": "accept"})
    cases = {
        "{not json": "malformed JSON",
        "[1, 2]": "expected an object",
        json.dumps({"record_id": "c-nope", "verdict": "accept"}): "is not a record of this version",
        json.dumps({"record_id": outside, "verdict": "accept"}): "not in its review sample",
        json.dumps({"record_id": rows[1].record_id, "verdict": "reject"}): "needs a reason",
        json.dumps({"record_id": rows[1].record_id, "verdict": "maybe"}): "'accept' or 'reject'",
        json.dumps({"record_id": rows[1].record_id, "verdit": "accept"}): "unknown key(s) verdit",
    }
    for bad, message in cases.items():
        path = _file(tmp_path, ok, "", bad)
        with pytest.raises(VerdictError) as err:
            read_verdict_file(path, sample, records)
        assert f"{path}:3:" in str(err.value) and message in str(err.value), str(err.value)
    with pytest.raises(VerdictError, match="no verdicts"):
        read_verdict_file(_file(tmp_path, ""), sample, records)
    with pytest.raises(VerdictError, match="cannot read"):
        read_verdict_file(tmp_path / "missing.jsonl", sample, records)
    good = read_verdict_file(
        _file(
            tmp_path,
            ok,
            json.dumps(
                {"record_id": rows[1].record_id, "verdict": "reject", "reason": " off topic "}
            ),
        ),
        sample,
        records,
    )
    assert good == [
        Verdict(rows[0].record_id, "accept"),
        Verdict(rows[1].record_id, "reject", "off topic"),
    ]


# --- the gate in publication ------------------------------------------------------------


def _review(wh: Warehouse, spec, accept: int, reject: int) -> ReviewSession:
    session = ReviewSession.open(spec, wh, "v1")
    ids = session.sample_ids
    verdicts = [Verdict(i, "accept") for i in ids[:accept]]
    verdicts += [Verdict(i, "reject", "junk") for i in ids[accept : accept + reject]]
    session.record(verdicts, "tester")
    return session


def test_required_review_holds_then_publishes(wh, tmp_path):
    spec = review_spec(required=True)
    out = stages.publish(spec, wh, "v1")
    assert out.figures["published"] is False
    assert wh.version_status(DATASET, "v1") == AWAITING_REVIEW
    assert wh.published_version(DATASET) is None
    assert "awaiting human review" in publish_refusal(wh, DATASET, "v1")

    session = _review(wh, spec, accept=2, reject=0)  # bound 0.34 < 0.5: still awaiting
    outcome = finish_review(session, tmp_path / "reports")
    assert outcome.decision.state is ReviewState.AWAITING and not outcome.publish_due
    assert not outcome.report_updated  # no report was built in this test

    session = _review(wh, spec, accept=7, reject=1)  # 7/8: bound 0.53
    outcome = finish_review(session, tmp_path / "reports")
    assert outcome.decision.state is ReviewState.PASSED and outcome.publish_due
    assert REVIEW in wh.passed_checks(DATASET, "v1")
    assert publish_refusal(wh, DATASET, "v1") is None
    out = stages.publish(spec, wh, "v1")
    assert wh.published_version(DATASET) == "v1"
    assert out.figures["review.acceptance_rate"] == pytest.approx(7 / 8)
    metrics = dict(wh.rows("SELECT metric, value FROM report_metrics WHERE version = 'v1'"))
    assert metrics["review.reviewed"] == 8 and metrics["review.acceptance_rate"] == 7 / 8


def test_a_failed_review_can_never_publish(wh, tmp_path):
    spec = review_spec(required=True)
    stages.publish(spec, wh, "v1")
    session = _review(wh, spec, accept=4, reject=4)
    outcome = finish_review(session, tmp_path / "reports")
    assert outcome.decision.state is ReviewState.FAILED and not outcome.publish_due
    assert REVIEW in wh.failed_checks(DATASET, "v1")
    assert wh.version_status(DATASET, "v1") == "failed"
    # Accepting everything afterwards changes the figures, never the outcome.
    _review(wh, spec, accept=8, reject=0)
    assert apply_review_gate(ReviewSession.open(spec, wh, "v1")).state is ReviewState.PASSED
    assert "failed the check(s) review" in publish_refusal(wh, DATASET, "v1")
    with pytest.raises(GateRefused, match="review"):
        stages.publish(spec, wh, "v1")
    with pytest.raises(GateRefused, match="review"):
        stages.publish(review_spec(required=False), wh, "v1")
    assert wh.published_version(DATASET) is None


def test_without_required_review_verdicts_are_only_figures(tmp_path):
    spec = review_spec()
    wh = Warehouse(tmp_path / "unrequired.duckdb")
    build_version(wh, "v1", KEPT, spec=spec)
    _review(wh, spec, accept=0, reject=8)
    outcome = finish_review(ReviewSession.open(spec, wh, "v1"), tmp_path / "reports")
    assert not outcome.required and not outcome.publish_due
    assert wh.failed_checks(DATASET, "v1") == []
    out = stages.publish(spec, wh, "v1")
    assert wh.published_version(DATASET) == "v1"
    assert out.figures["review.acceptance_rate"] == 0.0 and "review.state" in out.figures


# --- the report's review block ----------------------------------------------------------


def test_review_figures_update_an_existing_report(tmp_path):
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"metrics": {"score.headline": 70.0}}))
    (folder / "report.html").write_text(f"<main><section>{START}\n{END}</section></main>")
    review = {
        "sample_size": 10, "reviewed": 10, "accepted": 9, "rejected": 1, "remaining": 0,
        "acceptance_rate": 0.9, "acceptance_lower_bound": 0.5958, "state": "passed",
        "required": True, "min_acceptance": 0.5,
        "metrics": {"review.reviewed": 10.0, "review.acceptance_rate": 0.9,
                    "review.acceptance_lower_bound": 0.5958},
    }  # fmt: skip
    assert update_report_review(folder, review)
    payload = json.loads((folder / "metrics.json").read_text())
    assert payload["metrics"]["review.acceptance_lower_bound"] == 0.5958
    assert payload["metrics"]["score.headline"] == 70.0 and payload["review"]["accepted"] == 9
    html = (folder / "report.html").read_text()
    assert "Human review" in html and 'data-metric="review.acceptance_rate">0.900' in html
    assert html.count(START) == 1 and html.count(END) == 1
    assert update_report_review(folder, {**review, "accepted": 8, "acceptance_rate": 0.8})
    assert ">0.800<" in (folder / "report.html").read_text()
    assert not update_report_review(tmp_path / "missing", review)


# --- the page's routes, without a browser -----------------------------------------------


def test_review_page_routes_record_verdicts(wh):
    from synth_pipeline.review.server import ReviewServer

    session = ReviewSession.open(review_spec(required=True), wh, "v1")
    seen = []
    with ReviewServer(session, "ann", on_verdict=lambda r, v: seen.append(v)) as server:
        base = server.url.rstrip("/")
        opener = urllib.request.build_opener(_NoRedirect)

        def post(path: str, **form: str) -> tuple[int, str, str]:
            data = urllib.parse.urlencode(form).encode()
            try:
                r = opener.open(urllib.request.Request(base + path, data=data))
                return r.status, r.headers.get("Location", ""), r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.headers.get("Location", ""), e.read().decode()

        page = urllib.request.urlopen(base + "/review/1").read().decode()
        assert "1 / 8" in page and session.rows[0].record_id in page
        assert post("/review/1", verdict="accept", token="wrong")[0] == 403
        status, _, body = post("/review/1", verdict="reject", reason=" ", token=server.token)
        assert status == 400 and "needs a reason" in body
        assert post("/review/1", verdict="accept", token=server.token)[:2] == (303, "/review/2")
        status, location, _ = post(
            "/review/2", verdict="reject", reason="off topic", token=server.token
        )
        assert (status, location) == (303, "/review/3")
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(base + "/review/99")
        foreign = urllib.request.Request(base + "/summary", headers={"Host": "evil.test"})
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(foreign)
        assert "2 / 8" in urllib.request.urlopen(base + "/summary").read().decode()
        assert not server.finished.is_set()
        assert post("/finish", token=server.token)[0] == 200
        assert server.wait(5)
    assert [v.verdict for v in seen] == ["accept", "reject"]
    assert session.figures().reviewed == 2


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
