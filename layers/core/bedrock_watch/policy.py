"""Escalation policy: who is paged, through which channels, and when, per alarm Severity.

The policy is a JSON document (stack parameter `EscalationPolicy`; the word `default` selects
DEFAULT_POLICY). One entry per severity:

    {"critical": {"tiers": [{"name": "devops", "after_seconds": 0, "channels": ["sns", "slack"]}, ...],
                  "repeat": 0, "repeat_after_seconds": 1800, "final_ack_timeout_seconds": 1800}}

A tier is paged `after_seconds` after the incident opened unless someone acknowledged first; the
wait for an acknowledgement at a tier lasts until the next tier is due. `repeat` pages the whole
ladder again that many times, `repeat_after_seconds` after the last tier. After the last page the
engine waits `final_ack_timeout_seconds`, then sends the final notice to the last tier.
Channels are `type` or `type:target` (`slack:devops`): the target names an entry in the vendor
secret (a webhook URL, a routing key), `default` when left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bedrock_watch.contract import SEVERITIES
from bedrock_watch.errors import ConfigurationError

CHANNEL_TYPES = frozenset({"sns", "slack", "pagerduty", "jsm", "servicenow"})
_TARGET = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TIER_NAME = re.compile(r"^[A-Za-z0-9 _.-]{1,64}$")
# Step Functions' TimeoutSeconds ceiling is a year; a week is more than any sane page wait.
MAX_SECONDS = 7 * 24 * 3600

DEFAULT_POLICY: dict[str, Any] = {
    "critical": {
        "tiers": [
            {"name": "devops", "after_seconds": 0, "channels": ["sns", "slack", "pagerduty"]},
            {"name": "senior-engineers", "after_seconds": 900, "channels": ["sns", "slack", "pagerduty"]},
            {"name": "management", "after_seconds": 1800, "channels": ["sns", "slack"]},
            {"name": "executives", "after_seconds": 3600, "channels": ["sns"]},
        ],
        "repeat": 0,
        "final_ack_timeout_seconds": 1800,
    },
    "warning": {
        "tiers": [{"name": "devops", "after_seconds": 0, "channels": ["sns", "slack"]}],
        "repeat": 1,
        "repeat_after_seconds": 1800,
        "final_ack_timeout_seconds": 1800,
    },
}


class PolicyError(ConfigurationError):
    """The escalation policy document is malformed; the message names the offending field."""


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    after_seconds: int
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SeverityPolicy:
    tiers: tuple[Tier, ...]
    repeat: int
    repeat_after_seconds: int
    final_ack_timeout_seconds: int


@dataclass(frozen=True, slots=True)
class Step:
    """One page of the plan: which tier, through which channels, and how long to wait for an ack."""

    index: int
    tier: str
    channels: tuple[str, ...]
    round: int  # 0 for the first pass over the tiers, 1.. for repeats
    at_seconds: int  # offset from the incident opening
    ack_timeout_seconds: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tier": self.tier,
            "channels": list(self.channels),
            "round": self.round,
            "atSeconds": self.at_seconds,
            "ackTimeoutSeconds": self.ack_timeout_seconds,
        }


def _seconds(raw: Any, field: str, *, required: bool = True, default: int = 0) -> int:
    if raw is None and not required:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw):
        raise PolicyError(f"{field} must be a whole number of seconds, got {raw!r}")
    if not 0 <= int(raw) <= MAX_SECONDS:
        raise PolicyError(f"{field} must be between 0 and {MAX_SECONDS}, got {raw!r}")
    return int(raw)


def parse_channel(ref: str) -> tuple[str, str]:
    """`slack:devops` -> ("slack", "devops"); `sns` -> ("sns", "default")."""
    kind, _, target = ref.partition(":")
    return kind, target or "default"


def _tier(raw: Any, field: str) -> Tier:
    if not isinstance(raw, dict):
        raise PolicyError(f"{field} must be an object, got {type(raw).__name__}")
    unknown = set(raw) - {"name", "after_seconds", "channels"}
    if unknown:
        raise PolicyError(f"{field} has unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _TIER_NAME.match(name):
        raise PolicyError(f"{field}.name must be 1-64 letters, digits, spaces or _.-, got {name!r}")
    channels = raw.get("channels")
    if not isinstance(channels, list) or not channels:
        raise PolicyError(f"{field}.channels must be a non-empty list, got {channels!r}")
    for i, ref in enumerate(channels):
        where = f"{field}.channels[{i}]"
        if not isinstance(ref, str):
            raise PolicyError(f"{where} must be a string, got {ref!r}")
        kind, target = parse_channel(ref)
        if kind not in CHANNEL_TYPES:
            raise PolicyError(
                f"{where}: unknown channel type {kind!r} (expected one of {sorted(CHANNEL_TYPES)})"
            )
        if not _TARGET.match(target):
            raise PolicyError(f"{where}: target {target!r} must be 1-64 letters, digits or _.-")
    if len(set(channels)) != len(channels):
        raise PolicyError(f"{field}.channels lists a channel twice")
    return Tier(name, _seconds(raw.get("after_seconds"), f"{field}.after_seconds"), tuple(channels))


def _severity_policy(raw: Any, field: str) -> SeverityPolicy:
    if not isinstance(raw, dict):
        raise PolicyError(f"{field} must be an object, got {type(raw).__name__}")
    unknown = set(raw) - {"tiers", "repeat", "repeat_after_seconds", "final_ack_timeout_seconds"}
    if unknown:
        raise PolicyError(f"{field} has unknown keys {sorted(unknown)}")
    tiers_raw = raw.get("tiers")
    if not isinstance(tiers_raw, list) or not tiers_raw:
        raise PolicyError(f"{field}.tiers must be a non-empty list")
    tiers = tuple(_tier(t, f"{field}.tiers[{i}]") for i, t in enumerate(tiers_raw))
    for i in range(1, len(tiers)):
        if tiers[i].after_seconds <= tiers[i - 1].after_seconds:
            raise PolicyError(
                f"{field}.tiers[{i}].after_seconds ({tiers[i].after_seconds}) must be later than "
                f"tiers[{i - 1}] ({tiers[i - 1].after_seconds})"
            )
    repeat = raw.get("repeat", 0)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= 10:
        raise PolicyError(f"{field}.repeat must be an integer from 0 to 10, got {repeat!r}")
    repeat_after = raw.get("repeat_after_seconds")
    if repeat and repeat_after is None:
        raise PolicyError(f"{field}.repeat_after_seconds is required when repeat > 0")
    repeat_after_s = _seconds(repeat_after, f"{field}.repeat_after_seconds", required=False)
    if repeat and repeat_after_s < 1:
        raise PolicyError(f"{field}.repeat_after_seconds must be at least 1 when repeat > 0")
    final = _seconds(raw.get("final_ack_timeout_seconds"), f"{field}.final_ack_timeout_seconds")
    if final < 1:
        raise PolicyError(f"{field}.final_ack_timeout_seconds must be at least 1")
    return SeverityPolicy(tiers, repeat, repeat_after_s, final)


def parse_policy(document: str | dict[str, Any]) -> dict[str, SeverityPolicy]:
    """The validated policy per severity; PolicyError naming the field when it is malformed.

    `document` is the JSON text, the word `default`, or an already-parsed mapping.
    """
    raw: Any = document
    if isinstance(document, str):
        if document.strip() in ("", "default"):
            raw = DEFAULT_POLICY
        else:
            try:
                raw = json.loads(document)
            except json.JSONDecodeError as err:
                raise PolicyError(f"escalation policy is not valid JSON: {err.msg} at {err.pos}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"escalation policy must be a JSON object, got {type(raw).__name__}")
    unknown = set(raw) - SEVERITIES
    if unknown:
        raise PolicyError(
            f"escalation policy has unknown severities {sorted(unknown)} (expected {sorted(SEVERITIES)})"
        )
    missing = SEVERITIES - set(raw)
    if missing:
        raise PolicyError(f"escalation policy has no entry for severities {sorted(missing)}")
    return {sev: _severity_policy(raw[sev], sev) for sev in sorted(SEVERITIES)}


def plan(policy: SeverityPolicy) -> list[Step]:
    """The pages in order: the tiers, then each repeat of them, with the ack wait after each."""
    pages: list[tuple[Tier, int, int]] = []  # tier, round, at_seconds
    offset = 0
    for rnd in range(policy.repeat + 1):
        if rnd:
            offset = pages[-1][2] + policy.repeat_after_seconds - policy.tiers[0].after_seconds
        pages.extend((tier, rnd, offset + tier.after_seconds) for tier in policy.tiers)
    steps = []
    for i, (tier, rnd, at) in enumerate(pages):
        timeout = pages[i + 1][2] - at if i + 1 < len(pages) else policy.final_ack_timeout_seconds
        steps.append(Step(i, tier.name, tier.channels, rnd, at, max(timeout, 1)))
    return steps
