"""A fake Hugging Face Hub on 127.0.0.1: just what `HfApi.create_repo` and `upload_folder`
call (huggingface_hub 2.4), so a push is tested without the network.

- `POST /api/repos/create`: `{"name", "organization", "type", "visibility"?}`; 409 when the
  repository exists (the client's `exist_ok` accepts it), else `{"url": ...}`.
- `POST /api/validate-yaml`: `{"content", "repoType"}`, a README.md the client checks before
  uploading it; 400 with `errors` when its front matter is not a YAML mapping.
- `POST /api/{type}s/{owner}/{name}/preupload/{revision}`: every file is a "regular" one
  (sent inline in the commit, base64), so neither LFS nor Xet storage is needed.
- `POST /api/{type}s/{owner}/{name}/commit/{revision}`: an NDJSON body (a header line, then
  one `file` line per file); the files are kept in `repos[repo_id]`.

Every request must carry `Authorization: Bearer <token>`, else 401. Requests to any other
path get 404 and are kept in `unexpected`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

_REPO_PATH = re.compile(
    r"^/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)"
    r"/(?P<op>preupload|commit)/(?P<rev>[^/?]+)"
)


@dataclass
class FakeHub:
    token: str
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo id -> path -> bytes
    repo_types: dict[str, str] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)  # header values, in order
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hub.requests.append(("GET", self.path))
                hub.unexpected.append(("GET", self.path))
                self._send(404, {"error": "not implemented by the fake Hub"})

            def do_POST(self) -> None:  # noqa: N802
                hub.requests.append(("POST", self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != f"Bearer {hub.token}":
                    self._send(401, {"error": "Invalid credentials in Authorization header"})
                    return
                path = self.path.split("?", 1)[0]
                if path == "/api/repos/create":
                    self._send(*hub.create(json.loads(body)))
                    return
                if path == "/api/validate-yaml":
                    self._send(*_validate_yaml(json.loads(body)["content"]))
                    return
                m = _REPO_PATH.match(path)
                if m is None or m["repo"] not in hub.repos:
                    hub.unexpected.append(("POST", self.path))
                    self._send(404, {"error": "Repository not found"})
                    return
                if m["op"] == "preupload":
                    files = json.loads(body)["files"]
                    self._send(200, {"files": [_regular(f["path"]) for f in files]})
                else:
                    self._send(*hub.commit(m["repo"], m["type"], body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def create(self, payload: dict[str, Any]) -> tuple[int, Any]:
        repo_id = f"{payload.get('organization')}/{payload['name']}"
        kind = payload.get("type") or "model"
        if repo_id in self.repos:
            return 409, {
                "error": "You already created this dataset repo",
                "url": self._url(repo_id, kind),
            }
        self.repos[repo_id] = {}
        self.repo_types[repo_id] = kind
        return 200, {"url": self._url(repo_id, kind)}

    def commit(self, repo_id: str, url_type: str, body: bytes) -> tuple[int, Any]:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        for line in lines:
            if line["key"] == "file":
                value = line["value"]
                self.repos[repo_id][value["path"]] = base64.b64decode(value["content"])
            elif line["key"] != "header":  # lfsFile, deletedFile, ...: never asked for here
                return 400, {"error": f"the fake Hub does not accept {line['key']}"}
        oid = hashlib.sha1(body).hexdigest()
        self.commits.append({"repo_id": repo_id, **header})
        return 200, {
            "commitUrl": f"{self.url}/{url_type}/{repo_id}/commit/{oid}",
            "commitOid": oid,
            "pullRequestUrl": None,
        }

    def _url(self, repo_id: str, kind: str) -> str:
        return f"{self.url}/{repo_id}" if kind == "model" else f"{self.url}/{kind}s/{repo_id}"


def _validate_yaml(content: str) -> tuple[int, Any]:
    if content.startswith("---\n"):
        try:
            meta = yaml.safe_load(content[4 : content.index("\n---", 4)])
        except (ValueError, yaml.YAMLError) as e:
            return 400, {"errors": [{"message": str(e)}]}
        if not isinstance(meta, dict):
            return 400, {"errors": [{"message": "the front matter is not a mapping"}]}
    return 200, {"errors": [], "warnings": []}


def _regular(path: str) -> dict[str, Any]:
    return {"path": path, "uploadMode": "regular", "shouldIgnore": False, "oid": None}
