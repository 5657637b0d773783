"""Signed, expiring, single-purpose links (acknowledge a page, approve a remediation).

A token binds a purpose (`ack`, `approve`, `reject`…), a subject (incident id, execution id) and
an expiry, signed with HMAC-SHA256 under a secret kept in Secrets Manager (the stack's
LinkSigningSecret). Verification is constant-time and says exactly why a token is refused.
Replay protection (single use) is the caller's job: it records the token's nonce with the subject.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from bedrock_watch.errors import BedrockWatchError


class InvalidSignature(BedrockWatchError):
    """The token is forged, tampered with, malformed, expired or for another subject/purpose."""


@dataclass(frozen=True, slots=True)
class LinkClaims:
    purpose: str
    subject: str
    expires_at: int  # epoch seconds
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _bytes(text: str) -> bytes:
    # Any str a JSON event can carry (non-ASCII, lone surrogates) becomes bytes without raising.
    return text.encode("utf-8", "surrogatepass")


def same(a: str, b: str) -> bool:
    """Constant-time equality of two strings, whatever characters they hold
    (hmac.compare_digest refuses non-ASCII str, which a hostile client can send)."""
    return hmac.compare_digest(_bytes(a), _bytes(b))


def sign(secret: bytes, *, purpose: str, subject: str, ttl_seconds: int, now: float | None = None) -> str:
    """A URL-safe token for `purpose` on `subject`, valid for `ttl_seconds`."""
    claims = {
        "p": purpose,
        "s": subject,
        "e": int((time.time() if now is None else now) + ttl_seconds),
        "n": secrets.token_urlsafe(9),
    }
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def verify(
    secret: bytes, token: str, *, purpose: str, subject: str | None = None, now: float | None = None
) -> LinkClaims:
    """The token's claims, or InvalidSignature saying why it is refused."""
    if not isinstance(token, str):
        raise InvalidSignature("malformed token")
    body, sep, mac = token.partition(".")
    if not sep or not body or not mac:
        raise InvalidSignature("malformed token")
    expected = _b64(hmac.new(secret, _bytes(body), hashlib.sha256).digest())
    if not same(expected, mac):
        raise InvalidSignature("signature does not match (forged or tampered link)")
    try:
        raw = json.loads(_unb64(body))
        claims = LinkClaims(
            purpose=str(raw["p"]), subject=str(raw["s"]), expires_at=int(raw["e"]), nonce=str(raw["n"])
        )
    except (ValueError, KeyError, TypeError, RecursionError):
        raise InvalidSignature("malformed token claims") from None
    if claims.purpose != purpose:
        raise InvalidSignature(f"token is for {claims.purpose!r}, not {purpose!r}")
    if subject is not None and claims.subject != subject:
        raise InvalidSignature("token is for a different incident or execution")
    if claims.expires_at < (time.time() if now is None else now):
        raise InvalidSignature("link has expired")
    return claims
