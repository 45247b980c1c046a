"""The local review page: one sampled record at a time, Accept / Reject with a reason.

A stdlib `ThreadingHTTPServer` on 127.0.0.1 runs in a background thread; a browser's idle
preconnected sockets then cannot stall it. The pages themselves are served one at a time
(a lock): each opens and closes its own DuckDB connection, and two at once in one process
could clash (read-only and read-write connections to the same file). Every form carries a
per-session token and the Host header must name this server, so another web page open in
the reviewer's browser cannot post verdicts.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from synth_pipeline.review.gate import ReviewDecision, decide, review_required
from synth_pipeline.review.sampling import SampleRow
from synth_pipeline.review.session import ReviewSession
from synth_pipeline.review.verdicts import StoredVerdict, Verdict, VerdictError, make_verdict

TEMPLATES = Path(__file__).parent / "templates"
MAX_BODY = 64 * 1024
MAX_REASON = 2000

OnVerdict = Callable[[SampleRow, Verdict], None]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["rate"] = lambda v: "–" if v is None else f"{v:.1%}"
    env.filters["bound"] = lambda v: "–" if v is None else f"{v:.3f}"
    return env


class ReviewServer:
    """Serve one session's review page until the reviewer presses Finish (or `stop`)."""

    def __init__(
        self,
        session: ReviewSession,
        reviewer: str | None,
        port: int = 0,
        on_verdict: OnVerdict | None = None,
    ):
        self.session = session
        self.reviewer = reviewer
        self.on_verdict = on_verdict
        self.token = secrets.token_urlsafe(24)
        self.finished = threading.Event()
        self.lock = threading.Lock()
        self.env = _environment()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="review-page", daemon=True
        )
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """True once the reviewer finished; short waits keep Ctrl-C responsive."""
        return self.finished.wait(timeout)

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()  # waits for the request in progress
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- pages -------------------------------------------------------------------------

    def _common(self, verdicts: dict[str, StoredVerdict]) -> dict[str, Any]:
        s = self.session
        figures = s.figures(verdicts)
        return {
            "spec": s.spec,
            "version": s.version,
            "figures": figures,
            "decision": self.decision(verdicts),
            "required": review_required(s.spec, s.wh, s.version),
            "token": self.token,
            "reviewer": self.reviewer,
        }

    def decision(self, verdicts: dict[str, StoredVerdict]) -> ReviewDecision:
        return decide(self.session.spec.review, self.session.figures(verdicts))

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def row_page(self, position: int, error: str | None = None, reason: str = "") -> str:
        s = self.session
        verdicts = s.verdicts()
        row = s.row(position)
        assert row is not None
        current = verdicts.get(row.record_id)
        fields = [
            {"name": f.name, "description": f.description, "value": row.record.get(f.name)}
            for f in s.spec.fields
            if f.name != s.spec.label_field
        ]
        known = {f.name for f in s.spec.fields}
        fields += [
            {"name": k, "description": "", "value": v}
            for k, v in row.record.items()
            if k not in known
        ]
        return self.render(
            "row.html.j2",
            **self._common(verdicts),
            row=row,
            total=len(s.rows),
            fields=fields,
            label_field=s.spec.label_field,
            current=current,
            error=error,
            reason=reason or (current.reason if current and current.reason else ""),
        )

    def summary_page(self) -> str:
        s = self.session
        verdicts = s.verdicts()
        return self.render(
            "summary.html.j2",
            **self._common(verdicts),
            rows=[(r, verdicts.get(r.record_id)) for r in s.rows],
            next_position=s.next_unreviewed(0, verdicts),
        )

    def done_page(self) -> str:
        return self.render("done.html.j2", **self._common(self.session.verdicts()))

    def post_verdict(self, position: int, form: dict[str, str]) -> tuple[int | None, str | None]:
        """Record one verdict; returns (next position or None for the summary, error)."""
        row = self.session.row(position)
        assert row is not None
        reason = form.get("reason", "")
        if len(reason) > MAX_REASON:
            return position, f"the reason is too long (at most {MAX_REASON} characters)"
        try:
            verdict = make_verdict(row.record_id, form.get("verdict"), reason)
        except VerdictError as e:
            return position, str(e)
        self.session.record([verdict], self.reviewer)
        if self.on_verdict:
            self.on_verdict(row, verdict)
        return self.session.next_unreviewed(position), None


def _handler_for(app: ReviewServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "synth-review"
        timeout = 30  # seconds an idle connection may hold a thread

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the terminal shows verdicts, not request lines

        # --- plumbing ----------------------------------------------------------------

        def _host_ok(self) -> bool:
            host = (self.headers.get("Host") or "").lower()
            return host in {f"127.0.0.1:{app.port}", f"localhost:{app.port}"}

        def _send(self, status: int, body: str = "", content_type: str = "text/html") -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Frame-Options", "DENY")
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, location: str) -> None:
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _position(self, path: str) -> int | None:
            parts = path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "review" and parts[1].isdigit():
                n = int(parts[1])
                if app.session.row(n) is not None:
                    return n
            return None

        def _form(self) -> dict[str, str] | None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return None
            if length > MAX_BODY:
                return None
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        # --- routes ------------------------------------------------------------------

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            with app.lock:
                self._get()

        def do_POST(self) -> None:  # noqa: N802
            with app.lock:
                self._post()

        def _get(self) -> None:
            if not self._host_ok():
                return self._send(HTTPStatus.FORBIDDEN, "unexpected Host header", "text/plain")
            path = urlsplit(self.path).path
            if path == "/":
                nxt = app.session.next_unreviewed(0)
                return self._redirect(f"/review/{nxt}" if nxt else "/summary")
            if path == "/summary":
                return self._send(HTTPStatus.OK, app.summary_page())
            if path == "/favicon.ico":
                return self._send(HTTPStatus.NO_CONTENT)
            position = self._position(path)
            if position is None:
                return self._send(HTTPStatus.NOT_FOUND, "no such page", "text/plain")
            self._send(HTTPStatus.OK, app.row_page(position))

        def _post(self) -> None:
            if not self._host_ok():
                return self._send(HTTPStatus.FORBIDDEN, "unexpected Host header", "text/plain")
            form = self._form()
            if form is None:
                return self._send(HTTPStatus.BAD_REQUEST, "bad form", "text/plain")
            if not secrets.compare_digest(form.get("token", ""), app.token):
                return self._send(HTTPStatus.FORBIDDEN, "stale or foreign form", "text/plain")
            path = urlsplit(self.path).path
            if path == "/finish":
                self._send(HTTPStatus.OK, app.done_page())
                app.finished.set()  # after the answer is out: the caller then stops us
                return None
            position = self._position(path)
            if position is None:
                return self._send(HTTPStatus.NOT_FOUND, "no such page", "text/plain")
            nxt, error = app.post_verdict(position, form)
            if error:
                page = app.row_page(position, error=error, reason=form.get("reason", ""))
                return self._send(HTTPStatus.BAD_REQUEST, page)
            self._redirect(f"/review/{nxt}" if nxt else "/summary")

    return Handler
