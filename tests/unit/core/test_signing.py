"""Signed links: a valid one verifies; forged, expired or misdirected ones are refused with a reason."""

from __future__ import annotations

import pytest

from bedrock_watch.signing import InvalidSignature, sign, verify

SECRET = b"k" * 32


def test_a_fresh_link_verifies_for_its_subject() -> None:
    token = sign(SECRET, purpose="ack", subject="inc-1", ttl_seconds=60, now=1000)
    claims = verify(SECRET, token, purpose="ack", subject="inc-1", now=1030)
    assert (claims.subject, claims.expires_at) == ("inc-1", 1060)


@pytest.mark.parametrize(
    ("mutate", "purpose", "subject", "now", "reason"),
    [
        (lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"), "ack", "inc-1", 1030, "forged"),
        (lambda t: t, "ack", "inc-1", 1061, "expired"),
        (lambda t: t, "ack", "inc-2", 1030, "different incident"),
        (lambda t: t, "approve", "inc-1", 1030, "not 'approve'"),
        (lambda t: "garbage", "ack", "inc-1", 1030, "malformed"),
    ],
)
def test_bad_links_are_refused_with_the_reason(mutate, purpose, subject, now, reason) -> None:  # type: ignore[no-untyped-def]
    token = mutate(sign(SECRET, purpose="ack", subject="inc-1", ttl_seconds=60, now=1000))
    with pytest.raises(InvalidSignature, match=reason):
        verify(SECRET, token, purpose=purpose, subject=subject, now=now)


def test_another_secret_cannot_forge_a_link() -> None:
    token = sign(b"other" * 8, purpose="ack", subject="inc-1", ttl_seconds=60, now=1000)
    with pytest.raises(InvalidSignature, match="forged"):
        verify(SECRET, token, purpose="ack", subject="inc-1", now=1001)
