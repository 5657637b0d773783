"""Channel delivery: retries with backoff, 429 Retry-After honoured, named errors when it gives up.

No sockets: a scripted transport stands in for the vendor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bedrock_watch.channels import ChannelNotConfigured, ChannelRejected, ChannelUnavailable
from bedrock_watch.channels.http import HttpClient, HttpResponse, RetryPolicy
from bedrock_watch.channels.registry import ChannelFactory
from bedrock_watch.pages import Message

MESSAGE = Message("page", "inc-1", "critical", "devops", "title", "summary", [("Alarm", "a")], [])


class Vendor:
    """Answers with the scripted responses in turn (the last one repeats) and records the calls."""

    def __init__(self, *responses: HttpResponse | Exception) -> None:
        self.responses = list(responses)
        self.calls: list[tuple[str, bytes, Mapping[str, str]]] = []

    def __call__(
        self, url: str, body: bytes | None, headers: Mapping[str, str], timeout: float, method: str = "POST"
    ) -> HttpResponse:
        self.calls.append((url, body, headers))
        response = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(response, Exception):
            raise response
        return response


def _factory(vendor: Vendor, sleeps: list[float], secret: dict[str, Any] | None = None) -> ChannelFactory:
    secret = secret or {
        "slack": {"webhooks": {"default": "https://hooks.example/slack"}},
        "pagerduty": {"routingKeys": {"devops": "pd-key"}, "eventsUrl": "https://pd.example/enqueue"},
        "jsm": {"apiKeys": {"default": "jsm-key"}, "alertsUrl": "https://jsm.example/v2/alerts"},
    }
    http = HttpClient(transport=vendor, retry=RetryPolicy(attempts=3, base_delay=0.5), sleep=sleeps.append)
    return ChannelFactory(secret, sns=None, topic_arn="arn:aws:sns:us-east-1:1:t", http=http)  # type: ignore[arg-type]


def test_a_channel_answering_500_then_200_is_retried_and_delivers() -> None:
    vendor, sleeps = Vendor(HttpResponse(500, {}, b""), HttpResponse(200, {}, b"ok")), []
    _factory(vendor, sleeps).build("slack").send(MESSAGE)

    assert len(vendor.calls) == 2
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5  # jittered backoff


def test_429_waits_as_long_as_retry_after_says() -> None:
    vendor, sleeps = Vendor(HttpResponse(429, {"Retry-After": "2"}, b""), HttpResponse(202, {}, b"")), []
    _factory(vendor, sleeps).build("pagerduty:devops").send(MESSAGE)

    assert sleeps == [2.0]


def test_a_huge_retry_after_is_capped_so_one_vendor_cannot_stall_the_page() -> None:
    vendor, sleeps = Vendor(HttpResponse(429, {"retry-after": "3600"}, b""), HttpResponse(202, {}, b"")), []
    _factory(vendor, sleeps).build("pagerduty:devops").send(MESSAGE)

    assert sleeps == [10.0]


def test_a_channel_failing_forever_raises_channel_unavailable_after_every_attempt() -> None:
    vendor, sleeps = Vendor(HttpResponse(500, {}, b"")), []
    with pytest.raises(ChannelUnavailable, match=r"jsm: HTTP 500 after 3 attempts"):
        _factory(vendor, sleeps).build("jsm").send(MESSAGE)
    assert len(vendor.calls) == 3


def test_network_errors_are_retried_like_5xx() -> None:
    vendor, sleeps = Vendor(ConnectionRefusedError(), HttpResponse(200, {}, b"")), []
    _factory(vendor, sleeps).build("slack").send(MESSAGE)
    assert len(vendor.calls) == 2


def test_a_4xx_rejection_is_not_retried() -> None:
    vendor, sleeps = Vendor(HttpResponse(400, {}, b"invalid_payload")), []
    with pytest.raises(ChannelRejected, match="HTTP 400 invalid_payload"):
        _factory(vendor, sleeps).build("slack").send(MESSAGE)
    assert len(vendor.calls) == 1


def test_a_channel_whose_secret_is_still_a_placeholder_fails_with_a_clear_error() -> None:
    vendor, sleeps = Vendor(HttpResponse(200, {}, b"")), []
    factory = _factory(vendor, sleeps, {"slack": {"webhooks": {"default": ""}}})
    with pytest.raises(ChannelNotConfigured, match=r"slack:ops: slack\.webhooks\.ops is not set"):
        factory.build("slack:ops").send(MESSAGE)
    assert vendor.calls == []


def test_jsm_authenticates_with_the_genie_key() -> None:
    vendor, sleeps = Vendor(HttpResponse(202, {}, b"")), []
    _factory(vendor, sleeps).build("jsm").send(MESSAGE)

    url, _, headers = vendor.calls[0]
    assert url == "https://jsm.example/v2/alerts"
    assert headers["Authorization"] == "GenieKey jsm-key"
