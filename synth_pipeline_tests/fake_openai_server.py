"""A fake OpenAI-compatible chat server on 127.0.0.1 for generation tests.

Answers are deterministic per request content (model, messages, response
format and sampling parameters): the same request always gets the same record,
so an interrupted-then-resumed run can be compared with an uninterrupted one.
A `decide(request)` hook injects faults per request: 429 with Retry-After, 500,
timeouts, malformed JSON, truncated output (finish_reason "length"), refusals,
401. Every request is logged with its content key and the action taken.

Run standalone (for a subprocess test): `python fake_openai_server.py PORT_FILE`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWERS = {"ok", "malformed", "truncated", "refusal"}  # actions that send a 200 answer


@dataclass
class FakeRequest:
    content_key: str  # the whole request's content
    base_key: str  # the messages without re-ask turns, and parameters: shared by a re-ask
    is_reask: bool
    attempt: int  # earlier requests with the same content_key
    body: dict[str, Any]
    authorization: str | None


@dataclass
class Event:
    content_key: str
    base_key: str
    is_reask: bool
    action: str
    at: float


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


_REASK_MARKERS = ("recall the function", "fix the errors", "correct your json")


def original_messages(messages: list[Any]) -> list[Any]:
    """The request without instructor's re-ask turns (its bad answer and the error message
    appended at the end), so a re-ask shares its original's base key whatever the number of
    example turns the prompt has."""
    out = list(messages)
    while (
        len(out) >= 2
        and out[-1].get("role") == "user"
        and out[-2].get("role") == "assistant"
        and any(m in str(out[-1].get("content", "")).lower() for m in _REASK_MARKERS)
    ):
        out = out[:-2]
    return out


def _content_of(body: dict[str, Any], messages: list[Any]) -> dict[str, Any]:
    keep = ("model", "response_format", "temperature", "top_p", "max_tokens", "seed")
    return {"messages": messages, **{k: body.get(k) for k in keep}}


def fake_record(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """A record matching the JSON schema, determined by `key`."""
    out: dict[str, Any] = {}
    h = int(key, 16)
    for name, prop in schema.get("properties", {}).items():
        if "enum" in prop:
            out[name] = prop["enum"][h % len(prop["enum"])]
        elif "const" in prop:
            out[name] = prop["const"]
        elif prop.get("type") == "integer":
            out[name] = h % 1000
        elif prop.get("type") == "number":
            out[name] = (h % 1000) / 10
        elif prop.get("type") == "boolean":
            out[name] = bool(h % 2)
        else:
            out[name] = f"Synthetic {name} {key} about order {h % 100000}, please help."
    return out


@dataclass
class FakeOpenAIServer:
    latency: float = 0.0
    decide: Callable[[FakeRequest], str] | None = None
    timeout_sleep: float = 2.0
    retry_after: str = "0.3"
    events: list[Event] = field(default_factory=list)
    _burst: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _attempts: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    authorizations: set[str] = field(default_factory=set)

    def start(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server._handle(self, body)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/v1"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def burst_429(self, n: int) -> None:
        """The next n requests get 429 with Retry-After, whatever they are."""
        with self._lock:
            self._burst = n

    # --- queries for tests ---------------------------------------------------------

    def answered(self) -> list[Event]:
        return [e for e in self.events if e.action in ANSWERS]

    def requested_after_answer(self) -> list[str]:
        """Content keys requested again after the server had answered them."""
        answered: set[str] = set()
        again = []
        for e in list(self.events):
            if e.content_key in answered:
                again.append(e.content_key)
            if e.action in ANSWERS:
                answered.add(e.content_key)
        return again

    def actions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.events:
            counts[e.action] = counts.get(e.action, 0) + 1
        return counts

    # --- handling ------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        messages = body.get("messages", [])
        original = original_messages(messages)
        content_key = _digest(_content_of(body, messages))
        base_key = _digest(_content_of(body, original))
        is_reask = len(original) < len(messages)
        with self._lock:
            attempt = self._attempts.get(content_key, 0)
            self._attempts[content_key] = attempt + 1
            burst = self._burst > 0
            if burst:
                self._burst -= 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            auth = h.headers.get("authorization")
            if auth:
                self.authorizations.add(auth)
        counted = True
        try:
            req = FakeRequest(content_key, base_key, is_reask, attempt, body, auth)
            action = "429" if burst else (self.decide(req) if self.decide else "ok")
            with self._lock:
                self.events.append(Event(content_key, base_key, is_reask, action,
                                         time.monotonic()))  # fmt: skip
                if action == "timeout":  # the client gives up: no longer in flight for it
                    self.in_flight -= 1
                    counted = False
            if self.latency and action != "429":
                time.sleep(self.latency)
            self._respond(h, body, action, base_key)
        finally:
            if counted:
                with self._lock:
                    self.in_flight -= 1

    def _respond(self, h: BaseHTTPRequestHandler, body: dict[str, Any], action: str, key: str):
        if action == "429":
            return self._send(h, 429, {"error": {"message": "slow down", "type": "rate"}},
                              {"retry-after": self.retry_after})  # fmt: skip
        if action == "500":
            return self._send(h, 500, {"error": {"message": "boom", "type": "server"}})
        if action == "401":
            return self._send(h, 401, {"error": {"message": "bad key", "type": "auth"}})
        if action == "timeout":
            time.sleep(self.timeout_sleep)
            return self._send(h, 500, {"error": {"message": "too late"}})
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
        record = fake_record(schema, key)
        finish = "stop"
        if action == "ok":
            content = json.dumps(record)
        elif action == "refusal":
            first = next(iter(record), "text")
            content = json.dumps({**record, first: "I'm sorry, but I can't help with that."})
        elif action == "malformed":
            content = '{"' + next(iter(record), "text") + '": "unterminated'
        elif action == "truncated":
            content = json.dumps(record)[:20]
            finish = "length"
        else:
            raise ValueError(f"unknown action {action!r}")
        prompt_tokens = len(json.dumps(body.get("messages", []))) // 4
        completion_tokens = max(1, len(content) // 4)
        payload = {
            "id": f"chatcmpl-{key}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        self._send(h, 200, payload)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, code: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            h.send_response(code)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


if __name__ == "__main__":  # pragma: no cover - used by subprocess tests
    srv = FakeOpenAIServer(latency=float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
    url = srv.start()
    with open(sys.argv[1], "w") as fh:
        fh.write(url)
    threading.Event().wait()
