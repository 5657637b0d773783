"""Slack and PagerDuty request signatures: only the vendor holding the secret gets through."""

from __future__ import annotations

import pytest

from bedrock_watch.signing import InvalidSignature
from bedrock_watch.webhooks import sign_pagerduty, sign_slack, verify_pagerduty, verify_slack

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
NOW = 1_800_000_000


def _slack_headers(timestamp: int = NOW, body: bytes = BODY, secret: str = SLACK_SECRET) -> dict[str, str]:
    return {
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": sign_slack(secret, timestamp, body),
    }


def test_a_request_signed_by_slack_is_accepted() -> None:
    verify_slack(SLACK_SECRET, _slack_headers(), BODY, now=NOW + 30)


def test_slack_signature_matches_slacks_documented_example() -> None:
    # api.slack.com/authentication/verifying-requests-from-slack worked example
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign_slack(SLACK_SECRET, 1531420618, body) == expected


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (_slack_headers(), BODY + b"x", "does not match"),
        (_slack_headers(secret="someone-else"), BODY, "does not match"),
        (_slack_headers(timestamp=NOW - 301), BODY, "more than 5 minutes"),
        ({"x-slack-request-timestamp": str(NOW)}, BODY, "missing Slack signature headers"),
        ({"x-slack-request-timestamp": "yesterday", "x-slack-signature": "v0=00"}, BODY, "malformed"),
    ],
)
def test_a_forged_tampered_or_stale_slack_request_is_refused(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        verify_slack(SLACK_SECRET, headers, body, now=NOW)


def test_slack_verification_refuses_everything_while_the_secret_is_unset() -> None:
    with pytest.raises(InvalidSignature, match="not configured"):
        verify_slack("", _slack_headers(secret=""), BODY, now=NOW)


PD_SECRET = "pd-webhook-secret"
PD_BODY = b'{"event":{"event_type":"incident.acknowledged"}}'


def test_a_pagerduty_webhook_signed_with_the_subscription_secret_is_accepted() -> None:
    verify_pagerduty(PD_SECRET, {"X-PagerDuty-Signature": sign_pagerduty(PD_SECRET, PD_BODY)}, PD_BODY)


def test_any_of_several_pagerduty_signatures_may_match_during_secret_rotation() -> None:
    header = f"v1=deadbeef,{sign_pagerduty(PD_SECRET, PD_BODY)}"
    verify_pagerduty(PD_SECRET, {"x-pagerduty-signature": header}, PD_BODY)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"x-pagerduty-signature": sign_pagerduty("other", PD_BODY)}, "does not match"),
        ({"x-pagerduty-signature": sign_pagerduty(PD_SECRET, PD_BODY + b" ")}, "does not match"),
        ({}, "missing"),
    ],
)
def test_a_forged_pagerduty_webhook_is_refused(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        verify_pagerduty(PD_SECRET, headers, PD_BODY)
