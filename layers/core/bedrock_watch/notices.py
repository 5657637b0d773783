"""A bounded number of messages per channel and window, and one digest for the rest.

In an alarm storm (a region-wide outage: 50+ alarms in a minute, many root causes) every channel
would otherwise get a page per incident plus every update. Each channel (`slack:devops`, `sns`,
`pagerduty:senior` …) may send `limit` messages per fixed window of `window_seconds`; past that,
messages are held: one line each on the window's digest, sent once the window has ended by the
digest sweep (a one-minute schedule of the page function) as a single message listing them, with
a fresh acknowledge link per incident. Closing messages to stateful channels (PagerDuty
acknowledge/resolve, JSM close, ServiceNow resolve) are never held: they wake nobody and leave
nothing open.

Items in the incidents table (short-lived, TTL a day after the window):
- `NOTICES#<channel>#<window start>`: `sent`, the messages admitted (conditional ADD below the limit)
- `DIGEST#<channel>#<window start>`: `held` lines (capped), `heldCount`, `sentAt` once sent
- `DIGESTS#pending`: the digests waiting to be sent (a string set: one read per sweep)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bedrock_watch.correlation import SEVERITY_RANK
from bedrock_watch.errors import conditional_check_failed
from bedrock_watch.pages import Message
from bedrock_watch.policy import parse_channel

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

# Kinds a stateful channel must always get: they close what a page opened and page nobody.
CLOSING = frozenset({"acknowledged", "resolved"})
STATEFUL = frozenset({"pagerduty", "jsm", "servicenow"})
MAX_HELD_LINES = 50  # lines kept per digest; the count goes on
PENDING = "DIGESTS#pending"


def limited(channel: str, kind: str) -> bool:
    """Whether a message of `kind` on `channel` counts against the channel's budget."""
    return not (parse_channel(channel)[0] in STATEFUL and kind in CLOSING)


@dataclass(frozen=True, slots=True)
class HeldDigest:
    channel: str
    window_start: int
    lines: list[dict[str, Any]]  # {incident, kind, severity, title}
    count: int


class NoticeBudget:
    """Per-channel message counts and digests, in the incidents table."""

    def __init__(
        self,
        table: Table,
        *,
        limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self.limit = limit
        self.window = max(1, window_seconds)
        self._clock = clock

    def window_start(self, now: float | None = None) -> int:
        moment = self._clock() if now is None else now
        return int(moment // self.window * self.window)

    def _expires(self, start: int) -> int:
        return start + self.window + 86400

    def admit(self, channel: str, message: Message) -> bool:
        """Count one message on the channel; False when the window's budget is spent (hold it)."""
        if self.limit <= 0 or not limited(channel, message.kind):
            return True
        start = self.window_start()
        try:
            self._table.update_item(
                Key={"pk": f"NOTICES#{channel}#{start}"},
                UpdateExpression="ADD sent :one SET expiresAt = :exp",
                ConditionExpression="attribute_not_exists(sent) OR sent < :limit",
                ExpressionAttributeValues={":one": 1, ":limit": self.limit, ":exp": self._expires(start)},
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            return False
        return True

    def hold(self, channel: str, message: Message) -> None:
        """Put the message on the channel's digest for this window (one line; lines capped)."""
        start = self.window_start()
        key = {"pk": f"DIGEST#{channel}#{start}"}
        line = {
            "incident": message.incident_id,
            "kind": message.kind,
            "severity": message.severity,
            "title": message.title[:300],
        }
        values: dict[str, Any] = {
            ":one": 1,
            ":line": [line],
            ":empty": [],
            ":cap": MAX_HELD_LINES,
            ":exp": self._expires(start),
            ":channel": channel,
            ":start": start,
        }
        try:
            self._table.update_item(
                Key=key,
                UpdateExpression="SET held = list_append(if_not_exists(held, :empty), :line), "
                "expiresAt = :exp, channel = :channel, windowStart = :start ADD heldCount :one",
                ConditionExpression="attribute_not_exists(heldCount) OR heldCount < :cap",
                ExpressionAttributeValues=values,
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            self._table.update_item(
                Key=key, UpdateExpression="ADD heldCount :one", ExpressionAttributeValues={":one": 1}
            )
        self._table.update_item(
            Key={"pk": PENDING},
            UpdateExpression="ADD digests :d SET expiresAt = :exp",
            ExpressionAttributeValues={":d": {f"{channel}#{start}"}, ":exp": self._expires(start)},
        )

    def due(self, now: float | None = None) -> list[str]:
        """Digests whose window has ended (`<channel>#<window start>`)."""
        moment = self._clock() if now is None else now
        item = self._table.get_item(Key={"pk": PENDING}, ConsistentRead=True).get("Item") or {}
        keys = sorted(str(k) for k in item.get("digests", set()))  # type: ignore[union-attr]
        return [k for k in keys if int(k.rsplit("#", 1)[1]) + self.window <= moment]

    def take(self, digest: str) -> HeldDigest | None:
        """Claim a due digest for sending (exactly once); None if another sweep took it."""
        channel, _, start = digest.rpartition("#")
        try:
            result = self._table.update_item(
                Key={"pk": f"DIGEST#{digest}"},
                UpdateExpression="SET sentAt = :now",
                ConditionExpression="attribute_exists(heldCount) AND attribute_not_exists(sentAt)",
                ExpressionAttributeValues={":now": int(self._clock())},
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if not conditional_check_failed(err):
                raise
            self.done(digest)
            return None
        item: dict[str, Any] = dict(result["Attributes"])
        lines = [dict(x) for x in item.get("held", [])]
        return HeldDigest(channel, int(start), lines, int(item.get("heldCount", len(lines))))

    def done(self, digest: str) -> None:
        self._table.update_item(
            Key={"pk": PENDING},
            UpdateExpression="DELETE digests :d",
            ExpressionAttributeValues={":d": {digest}},
        )


def digest_message(held: HeldDigest, window_seconds: int, links: dict[str, str]) -> Message:
    """One message for the notices a channel did not get: a line per notice (an acknowledge link
    per incident still open), the most severe first."""
    lines = sorted(held.lines, key=lambda line: -SEVERITY_RANK.get(str(line.get("severity")), 0))
    severity = str(lines[0].get("severity", "warning")) if lines else "warning"
    incidents = list(dict.fromkeys(str(line["incident"]) for line in lines))
    minutes = max(1, window_seconds // 60)
    head = (
        f"{held.count} notice{'s' if held.count != 1 else ''} held on {held.channel} in {minutes} minute"
        f"{'s' if minutes != 1 else ''} (alarm storm), about {len(incidents)} incident"
        f"{'s' if len(incidents) != 1 else ''}"
    )
    body = [f"- {line['title']} ({line['incident']})" for line in lines]
    if held.count > len(lines):
        body.append(f"- … and {held.count - len(lines)} more")
    facts = [(f"Acknowledge {incident}", links[incident]) for incident in incidents[:20] if incident in links]
    return Message(
        kind="digest",
        incident_id=f"digest-{held.channel}-{held.window_start}",
        severity=severity,
        tier="digest",
        title=f"[{severity.upper()}] bedrock-watch digest: {head}",
        summary="\n".join([head + ":", *body]),
        facts=facts,
        links=[],
    )
