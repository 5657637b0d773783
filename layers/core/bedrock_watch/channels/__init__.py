"""Paging channels: SNS (email/SMS subscribers), Slack, PagerDuty Events API v2, JSM/Opsgenie alerts.

Every channel takes a rendered `Message` (bedrock_watch.pages) and either delivers it or raises a
ChannelError saying why — after its own retries — so the caller can record the failure on the
incident and report it to the tier's other channels. Vendor HTTP goes through
`channels.http.send_json`, which retries with backoff and honours 429 Retry-After.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from bedrock_watch.errors import BedrockWatchError
from bedrock_watch.pages import Message


class ChannelError(BedrockWatchError):
    """A channel could not deliver a message; the message says which channel and why."""


class ChannelNotConfigured(ChannelError):
    """The vendor secret lacks the URL or key this channel needs (still a placeholder?)."""


class ChannelRejected(ChannelError):
    """The vendor refused the request (4xx other than 429): retrying would not help."""


class ChannelUnavailable(ChannelError):
    """The vendor kept failing (5xx, 429, network) after every retry."""


class PageNotDelivered(BedrockWatchError):
    """Every channel of a tier failed: the page reached nobody (Step Functions falls back to SNS)."""


class Channel(Protocol):
    """A destination a message can be delivered to."""

    name: str

    def send(self, message: Message, ref: Mapping[str, str] | None = None) -> dict[str, str] | None:
        """Deliver the message or raise ChannelError.

        `ref` is what this channel returned for an earlier message of the same incident (a
        ServiceNow sys_id, the Slack message a thread hangs off); the return value, if any, is
        stored on the incident and passed back with its later messages."""
        ...
