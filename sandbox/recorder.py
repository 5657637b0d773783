"""A local HTTP endpoint that stands in for Slack, PagerDuty, JSM and ServiceNow: it records every
request and answers as scripted (500 then 200, 429 with Retry-After, 500 forever, a malformed
status line or chunked body, a callback before answering…).

Binds 127.0.0.1 on a free port, serves from a daemon thread, and never forwards anything.

    with Recorder() as rec:
        rec.script("/slack/devops", Reply(500), Reply(200))   # first call fails, then succeeds
        rec.script("/pagerduty", Reply(500), forever=True)      # always fails
        ... point the channel secret at rec.url + "/slack/devops" ...
        rec.requests("/slack/devops")                           # what arrived, in order
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    # Bytes written to the socket instead of a well-formed response (a vendor answering a
    # malformed status line or a broken chunked body), then the connection is closed.
    raw: bytes | None = None
    # Called (with the recorded request) before answering: a test can act while a sender waits.
    before: Callable[[Recorded], None] | None = None


MALFORMED_STATUS_LINE = b"HTTP/1.1 20O OK\r\n\r\n"
BROKEN_CHUNKED_BODY = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk"


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int  # what the recorder answered

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServiceNow:
    """Answers the Table API's incident calls as an instance would: GET by `correlation_id`, POST
    creates (201, a new sys_id and number), PATCH updates; `records` is the table."""

    def __init__(self, prefix: str = "/servicenow/api/now/table/incident") -> None:
        self.prefix = prefix
        self.records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Recorded) -> Reply:
        with self._lock:
            rest = request.path[len(self.prefix) :].strip("/")
            if request.method == "GET" and not rest:
                query = (request.query.get("sysparm_query") or [""])[0]
                wanted = query.split("^", 1)[0].removeprefix("correlation_id=")
                found = [r for r in self.records.values() if r.get("correlation_id") == wanted]
                return self._json(200, [{"sys_id": r["sys_id"], "number": r["number"]} for r in found[:1]])
            if request.method == "POST" and not rest:
                sys_id = f"{len(self.records) + 1:032x}"
                record = {**request.json(), "sys_id": sys_id, "number": f"INC{10000 + len(self.records):07d}"}
                record["work_notes"] = [record["work_notes"]] if "work_notes" in record else []
                self.records[sys_id] = record
                return self._json(201, {"sys_id": sys_id, "number": record["number"]})
            if request.method == "PATCH" and rest in self.records:
                record = self.records[rest]
                fields = request.json()
                notes = record["work_notes"]
                record.update(fields)
                record["work_notes"] = [*notes, fields["work_notes"]] if "work_notes" in fields else notes
                return self._json(200, {"sys_id": rest})
            return self._json(404, {"error": {"message": "No Record found"}, "status": "failure"}, key="")

    @staticmethod
    def _json(status: int, result: Any, key: str = "result") -> Reply:
        body = json.dumps({key: result} if key else result).encode()
        return Reply(status, body, {"Content-Type": "application/json"})


class Recorder:
    def __init__(self, default: Reply | None = None) -> None:
        self._default = default or Reply(202, b'{"status":"success"}', {"Content-Type": "application/json"})
        self._scripts: dict[str, tuple[deque[Reply], bool]] = {}
        self._responders: dict[str, Callable[[Recorded], Reply]] = {}
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="recorder", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, path_prefix: str, *replies: Reply, forever: bool = False) -> None:
        """Answer requests whose path starts with `path_prefix` with `replies` in turn, then the
        default (or, with forever=True, the last reply again and again)."""
        with self._lock:
            self._scripts[path_prefix] = (deque(replies), forever)

    def respond(self, path_prefix: str, responder: Callable[[Recorded], Reply]) -> None:
        """Answer requests under `path_prefix` (when no script does) with what `responder`
        returns for each (a fake vendor with state, e.g. FakeServiceNow)."""
        with self._lock:
            self._responders[path_prefix] = responder

    def requests(self, path_prefix: str = "") -> list[Recorded]:
        """Requests received so far whose path starts with `path_prefix`, in arrival order."""
        with self._lock:
            return [r for r in self._requests if r.path.startswith(path_prefix)]

    def _reply_for(self, path: str) -> Reply | Callable[[Recorded], Reply]:
        with self._lock:
            for prefix, (replies, forever) in sorted(self._scripts.items(), key=lambda kv: -len(kv[0])):
                if path.startswith(prefix) and replies:
                    return replies[0] if forever and len(replies) == 1 else replies.popleft()
            for prefix, responder in sorted(self._responders.items(), key=lambda kv: -len(kv[0])):
                if path.startswith(prefix):
                    return responder
            return self._default

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                chosen = recorder._reply_for(parts.path)
                request = Recorded(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body, 0
                )
                reply = chosen if isinstance(chosen, Reply) else chosen(request)
                recorded = dataclasses.replace(request, status=reply.status)
                recorder._record(recorded)
                if reply.before is not None:
                    reply.before(recorded)
                if reply.raw is not None:
                    self.wfile.write(reply.raw)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

        return Handler
