"""Verify the signatures Slack, PagerDuty and ServiceNow put on the requests they send us.

Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}">`
with the app's signing secret; requests older than 5 minutes are refused (replay).
PagerDuty v3 webhooks: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>` with the
subscription's secret; the header may list several signatures (secret rotation).
ServiceNow (the Business Rule of README "Setting up the channels"): `X-BedrockWatch-Timestamp`
(epoch seconds) and `X-BedrockWatch-Signature: v1=<base64 HMAC-SHA256 of "v1:{timestamp}:{raw
body}">`, computed with `GlideCertificateEncryption.generateMac`; older than 5 minutes is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bedrock_watch.signing import InvalidSignature, same


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value, whatever case the caller used (function URLs lower-case them)."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), "")


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


@dataclass(frozen=True, slots=True)
class _TimestampedScheme:
    """A vendor that signs "<version>:<timestamp>:<raw body>" and sends the timestamp alongside."""

    vendor: str
    timestamp_header: str
    signature_header: str
    version: str
    encode: Callable[[str, bytes], str]
    max_age: int = 300

    def signature(self, secret: str, timestamp: str, body: bytes) -> str:
        prefix = f"{self.version}:{timestamp}:".encode()
        return f"{self.version}=" + self.encode(secret, prefix + body)

    def verify(self, secret: str, headers: Mapping[str, str], body: bytes, now: float | None) -> None:
        if not secret:
            raise InvalidSignature(f"{self.vendor} signing secret is not configured")
        timestamp = header(headers, self.timestamp_header)
        signature = header(headers, self.signature_header)
        if not timestamp or not signature:
            raise InvalidSignature(f"missing {self.vendor} signature headers")
        if not timestamp.isascii() or not timestamp.isdigit():
            raise InvalidSignature(f"malformed {self.vendor} request timestamp")
        if abs((time.time() if now is None else now) - int(timestamp)) > self.max_age:
            raise InvalidSignature(f"{self.vendor} request timestamp is more than 5 minutes off (replayed?)")
        if not same(self.signature(secret, timestamp, body), signature):
            raise InvalidSignature(f"{self.vendor} signature does not match")


SLACK = _TimestampedScheme("Slack", "X-Slack-Request-Timestamp", "X-Slack-Signature", "v0", _hex_hmac)
SERVICENOW = _TimestampedScheme(
    "ServiceNow", "X-BedrockWatch-Timestamp", "X-BedrockWatch-Signature", "v1", _b64_hmac
)


def verify_slack(
    signing_secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Raise InvalidSignature unless the request is signed by Slack in the last 5 minutes."""
    SLACK.verify(signing_secret, headers, body, now)


def verify_servicenow(
    webhook_secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Raise InvalidSignature unless the Business Rule signed this body in the last 5 minutes."""
    SERVICENOW.verify(webhook_secret, headers, body, now)


def verify_pagerduty(webhook_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise InvalidSignature unless one of the v1 signatures matches the body."""
    if not webhook_secret:
        raise InvalidSignature("PagerDuty webhook secret is not configured")
    signatures = [s.strip() for s in header(headers, "X-PagerDuty-Signature").split(",") if s.strip()]
    if not signatures:
        raise InvalidSignature("missing X-PagerDuty-Signature header")
    expected = "v1=" + _hex_hmac(webhook_secret, body)
    if not any(same(expected, s) for s in signatures):
        raise InvalidSignature("PagerDuty signature does not match")


def sign_servicenow(webhook_secret: str, timestamp: int, body: bytes) -> str:
    """The X-BedrockWatch-Signature value the Business Rule computes for a body."""
    return SERVICENOW.signature(webhook_secret, str(timestamp), body)


def sign_slack(signing_secret: str, timestamp: int, body: bytes) -> str:
    """The X-Slack-Signature value for a body (what Slack computes; used by tests and the sandbox)."""
    return SLACK.signature(signing_secret, str(timestamp), body)


def sign_pagerduty(webhook_secret: str, body: bytes) -> str:
    """The X-PagerDuty-Signature value for a body (what PagerDuty computes)."""
    return "v1=" + _hex_hmac(webhook_secret, body)
