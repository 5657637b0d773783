"""JSON over HTTPS with retries: exponential backoff with jitter, Retry-After honoured on 429/503.

Uses urllib.request (stdlib) so the layer needs no HTTP library; tests pass their own transport.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bedrock_watch.channels import ChannelRejected, ChannelUnavailable


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    def __call__(
        self, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float, method: str = "POST"
    ) -> HttpResponse: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A vendor asking us to wait longer than this would stall the page for everyone else.
    max_retry_after: float = 10.0
    timeout: float = 5.0


def urllib_transport(
    url: str, body: bytes | None, headers: Mapping[str, str], timeout: float, method: str = "POST"
) -> HttpResponse:
    """Send `body` to `url` (http/https only); an HTTP error status is returned, not raised."""
    if not url.startswith(("https://", "http://")):
        raise ChannelRejected(f"refusing to call non-HTTP URL {url.split(':', 1)[0]}:…")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            return HttpResponse(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return HttpResponse(err.code, dict(err.headers.items()) if err.headers else {}, err.read() or b"")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None  # an HTTP-date: fall back to our own backoff
    return None


def send_json(
    channel: str,
    url: str,
    payload: Any,
    *,
    headers: Mapping[str, str] | None = None,
    transport: Transport = urllib_transport,
    retry: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    method: str = "POST",
) -> HttpResponse:
    """Send `payload` as JSON (POST unless told; a GET sends none); retries 429, 5xx and network
    errors, raises ChannelError when done trying."""
    body = None if method == "GET" else json.dumps(payload, separators=(",", ":")).encode()
    all_headers = {
        "Accept": "application/json",
        "User-Agent": "bedrock-watch",
        **({"Content-Type": "application/json"} if body is not None else {}),
        **(headers or {}),
    }
    last = ""
    for attempt in range(retry.attempts):
        wait: float | None = None
        try:
            response = transport(url, body, all_headers, retry.timeout, method)
        except (OSError, TimeoutError, http.client.HTTPException) as err:
            # URLError is an OSError; a malformed status line, a broken chunked body or a dropped
            # connection is an http.client.HTTPException: all are transport failures, retried.
            last = f"transport error: {type(err).__name__}"
        else:
            if 200 <= response.status < 300:
                return response
            last = f"HTTP {response.status}"
            if response.status != 429 and response.status < 500:
                raise ChannelRejected(f"{channel}: {last} {response.body[:200].decode(errors='replace')}")
            if response.status in (429, 503):
                retry_after = _retry_after(response.headers)
                if retry_after is not None:
                    wait = min(retry_after, retry.max_retry_after)
        if attempt + 1 < retry.attempts:
            if wait is None:
                backoff = min(retry.max_delay, retry.base_delay * 2**attempt)
                wait = backoff / 2 + random.uniform(0, backoff / 2)
            sleep(wait)
    raise ChannelUnavailable(f"{channel}: {last} after {retry.attempts} attempts")


@dataclass(frozen=True, slots=True)
class HttpClient:
    """The HTTP session channels share: transport, retry policy and sleep are injectable for tests."""

    transport: Transport = urllib_transport
    retry: RetryPolicy = RetryPolicy()
    sleep: Callable[[float], None] = time.sleep

    def post_json(
        self, channel: str, url: str, payload: Any, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """POST JSON with retries (see send_json)."""
        return self.request_json(channel, "POST", url, payload, headers)

    def request_json(
        self,
        channel: str,
        method: str,
        url: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Any method, JSON in and out, with retries (see send_json)."""
        return send_json(
            channel,
            url,
            payload,
            headers=headers,
            transport=self.transport,
            retry=self.retry,
            sleep=self.sleep,
            method=method,
        )
