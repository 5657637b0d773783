"""Every PagerDuty body bedrock-watch sends is an Events API v2 body (tests/contracts/pagerduty.py):
each kind of notice, a grouped incident's update, an alarm storm's digest, and text long enough to
need cutting."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from bedrock_watch.channels import pagerduty
from bedrock_watch.notices import HeldDigest, digest_message
from bedrock_watch.pages import Kind, context_from_alarm, render
from sandbox.events import load_event
from tests.contracts.pagerduty import assert_events_v2

TAGS = {"Severity": "critical", "Runbook": "model-errors", "Remediation": "failover", "Route": "chat"}


def _context(reason: str | None = None) -> Any:
    event = load_event("escalation/alarm")
    if reason is not None:
        event["detail"]["state"]["reason"] = reason
    return context_from_alarm(
        event, TAGS, dashboard_name="bedrock-watch", runbook_base_url="https://r.example"
    )


@pytest.mark.parametrize("kind", get_args(Kind))
def test_every_kind_of_notice_is_an_events_v2_body(kind: Kind) -> None:
    message = render(
        _context(),
        kind=kind,
        incident_id="inc-381bd704e0408bef0bd4b3d6",
        tier="devops",
        ack_url="https://ack.example/ack?incident=inc-1&token=t",
        ack_token="t",
        note="Another alarm of the same root cause is in ALARM.",
        alarms=[("bedrock-watch.a", "ALARM"), ("bedrock-watch.b", "OK")],
    )
    assert_events_v2(pagerduty.event(message, "R0UT1NGKEY", "bedrock-watch"))


def test_a_grouped_update_and_a_storm_digest_are_events_v2_bodies() -> None:
    update = render(
        _context(),
        kind="update",
        incident_id="inc-1",
        tier="devops",
        note="bedrock-watch.b is in ALARM too",
        alarms=[("bedrock-watch.a", "ALARM"), ("bedrock-watch.b", "ALARM")],
        lead="bedrock-watch.a",
    )
    assert_events_v2(pagerduty.event(update, "k", "bedrock-watch"))
    held = HeldDigest(
        "pagerduty:devops",
        1_795_701_900,
        [
            {"incident": f"inc-{n}", "kind": "page", "severity": "critical", "title": "t" * 300}
            for n in range(50)
        ],
        80,
    )
    digest = digest_message(
        held, 300, {f"inc-{n}": f"https://ack.example/ack?incident=inc-{n}" for n in range(50)}
    )
    body = pagerduty.event(digest, "k", "bedrock-watch")
    assert_events_v2(body)
    assert body["dedup_key"] == "digest-pagerduty:devops-1795701900"


def test_a_huge_alarm_reason_is_cut_to_the_summary_limit() -> None:
    message = render(_context("x" * 5000), kind="page", incident_id="inc-1", tier="devops")
    body = pagerduty.event(message, "k", "bedrock-watch")
    assert_events_v2(body)
    assert len(body["payload"]["summary"]) <= 1024
