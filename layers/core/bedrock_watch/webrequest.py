"""Function-URL requests read defensively, and the refusals they earn counted in a bounded way.

A function URL is public: anyone can send it anything. `Request.from_function_url` turns the
event into plain values (method, path, lower-cased headers, query, body bytes) or raises
BadRequest naming what cannot be read (a body that is not base64 or not UTF-8); it never lets a
decoding error escape as a crash. Handlers answer every request with a status.

Refusals (forged links, bad signatures, unreadable bodies) are recorded by `Refusals.record`: one
EMF line per refusal, carrying the metric RefusedRequests at the [] dimension set (one billed
metric for every endpoint together) and the reason, endpoint and source as plain fields that
Logs Insights can query. The function's log group, with its retention, is the record; nothing is
written to a table, so an anonymous client cannot fill one.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from bedrock_watch.contract import REFUSED_REQUESTS, emf_metadata
from bedrock_watch.errors import BedrockWatchError

MAX_FIELD = 200  # characters of a refusal reason or source kept in the log


class BadRequest(BedrockWatchError):
    """The request cannot be read (body encoding, form, JSON shape); answered with HTTP 400."""


def text_of(value: Any) -> str:
    """`value` if it is a string, else '' (fields of untrusted JSON and request parts)."""
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]
    body: bytes
    source_ip: str

    @classmethod
    def from_function_url(cls, event: Mapping[str, Any]) -> Request:
        """The request of a Lambda function-URL event; BadRequest when its body cannot be decoded."""
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        http = http if isinstance(http, Mapping) else {}
        raw_headers = event.get("headers")
        headers = (
            {str(k).lower(): text_of(v) for k, v in raw_headers.items()}
            if isinstance(raw_headers, Mapping)
            else {}
        )
        raw_query = event.get("queryStringParameters")
        query = {str(k): text_of(v) for k, v in raw_query.items()} if isinstance(raw_query, Mapping) else {}
        body = event.get("body")
        if body is None:
            data = b""
        elif not isinstance(body, str):
            raise BadRequest("request body is not text")
        elif event.get("isBase64Encoded") is True:
            try:
                data = base64.b64decode(body.encode("ascii"), validate=True)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                raise BadRequest("request body is marked base64 but is not valid base64") from None
        else:
            data = body.encode("utf-8", "surrogatepass")
        return cls(
            method=text_of(http.get("method")).upper() or "GET",
            path=text_of(http.get("path") or event.get("rawPath")) or "/",
            headers=headers,
            query=query,
            body=data,
            source_ip=text_of(http.get("sourceIp"))[:64],
        )

    def text(self) -> str:
        """The body as UTF-8 text; BadRequest if it is not."""
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("request body is not UTF-8 text") from None

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body (first value of each field)."""
        return parse_form(self.text())

    def fields(self) -> dict[str, str]:
        """Query parameters overlaid with the form fields of a POST body."""
        return {**self.query, **(self.form() if self.body else {})}

    def json(self) -> Any:
        """The body as JSON (any type); BadRequest if it is not JSON."""
        try:
            return json.loads(self.text())
        except (ValueError, RecursionError):
            raise BadRequest("request body is not JSON") from None


def parse_form(body: str) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (first value of each field)."""
    return {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}


def response(status: int, body: str, content_type: str = "text/html; charset=utf-8") -> dict[str, Any]:
    """A function-URL response."""
    return {"statusCode": status, "headers": {"content-type": content_type}, "body": body}


def json_response(status: int, payload: Any) -> dict[str, Any]:
    return response(status, json.dumps(payload), "application/json")


def _clean(text: str) -> str:
    """A short, printable, single-line copy of attacker-controlled text for a log field."""
    return "".join(c if c.isprintable() else "?" for c in text[:MAX_FIELD])


@dataclass
class Refusals:
    """Counts refusals as RefusedRequests (EMF, no dimensions) with the reason in the same line."""

    namespace: str
    out: TextIO | None = None  # stdout at call time (the Lambda log stream)
    clock: Callable[[], float] = time.time

    def record(self, *, endpoint: str, reason: str, source: str = "") -> None:
        """One refused request: the metric sample and its reason, endpoint and source as fields."""
        document = {
            "_aws": emf_metadata(self.namespace, int(self.clock() * 1000), (REFUSED_REQUESTS,)),
            REFUSED_REQUESTS: 1,
            "message": "request refused",
            "endpoint": endpoint,
            "reason": _clean(reason),
            "source": _clean(source),
        }
        stream = self.out or sys.stdout
        stream.write(json.dumps(document, separators=(",", ":")) + "\n")
        stream.flush()
