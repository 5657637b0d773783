"""Verify the signatures Slack and PagerDuty put on the requests they send us.

Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}">`
with the app's signing secret; requests older than 5 minutes are refused (replay).
PagerDuty v3 webhooks: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>` with the
subscription's secret; the header may list several signatures (secret rotation).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from bedrock_watch.signing import InvalidSignature

SLACK_MAX_AGE_SECONDS = 300


def header(headers: Mapping[str, str], name: str) -> str:
    """A header's value, whatever case the caller used (function URLs lower-case them)."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), "")


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_slack(
    signing_secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Raise InvalidSignature unless the request is signed by Slack in the last 5 minutes."""
    if not signing_secret:
        raise InvalidSignature("Slack signing secret is not configured")
    timestamp = header(headers, "X-Slack-Request-Timestamp")
    signature = header(headers, "X-Slack-Signature")
    if not timestamp or not signature:
        raise InvalidSignature("missing Slack signature headers")
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        raise InvalidSignature("malformed Slack request timestamp") from None
    if age > SLACK_MAX_AGE_SECONDS:
        raise InvalidSignature("Slack request timestamp is more than 5 minutes off (replayed?)")
    expected = "v0=" + _hex_hmac(signing_secret, b"v0:" + timestamp.encode() + b":" + body)
    if not hmac.compare_digest(expected, signature):
        raise InvalidSignature("Slack signature does not match")


def verify_pagerduty(webhook_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise InvalidSignature unless one of the v1 signatures matches the body."""
    if not webhook_secret:
        raise InvalidSignature("PagerDuty webhook secret is not configured")
    signatures = [s.strip() for s in header(headers, "X-PagerDuty-Signature").split(",") if s.strip()]
    if not signatures:
        raise InvalidSignature("missing X-PagerDuty-Signature header")
    expected = "v1=" + _hex_hmac(webhook_secret, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise InvalidSignature("PagerDuty signature does not match")


def sign_slack(signing_secret: str, timestamp: int, body: bytes) -> str:
    """The X-Slack-Signature value for a body (what Slack computes; used by tests and the sandbox)."""
    return "v0=" + _hex_hmac(signing_secret, b"v0:" + str(timestamp).encode() + b":" + body)


def sign_pagerduty(webhook_secret: str, body: bytes) -> str:
    """The X-PagerDuty-Signature value for a body (what PagerDuty computes)."""
    return "v1=" + _hex_hmac(webhook_secret, body)
