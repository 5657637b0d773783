"""The real escalation.asl.json under moto's executing Step Functions, real handlers in-process,
vendors on a local recorder: paging order, acknowledgement, auto-resolve, dedup, exhaustion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from sandbox.recorder import Recorder
from tests.integration.escalation.stack import EscalationStack, policy

pytestmark = pytest.mark.integration

FOUR_TIERS = policy(
    ("devops", 0, ["sns", "slack:devops", "pagerduty:devops"]),
    ("senior", 1, ["slack:senior", "pagerduty:senior"]),
    ("management", 2, ["slack:management", "jsm"]),
    ("executives", 3, ["slack:executives"]),
    final=1,
)


def _at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_tiers_are_paged_in_order_with_the_configured_delays(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a four-tier critical policy one second apart and a critical alarm of this stack
    stack = make_stack(FOUR_TIERS)
    alarm = stack.create_alarm("ModelErrors-chat", Route="chat", Remediation="none")

    # When the alarm goes to ALARM and nobody acknowledges
    stack.put(stack.alarm_event(alarm))
    [execution] = stack.finished()

    # Then every tier was paged once, in order, each no earlier than its delay after the first
    incident = stack.incident()
    pages = [p for p in incident["pagedTiers"] if p["kind"] == "page"]
    assert [p["tier"] for p in pages] == ["devops", "senior", "management", "executives"]
    start = _at(pages[0]["at"])
    for page, due in zip(pages, (0, 1, 2, 3), strict=True):
        assert _at(page["at"]) - start >= due - 0.5, (page["tier"], _at(page["at"]) - start)
    # and each tier's own channels got the page
    assert [r.path for r in recorder.requests("/slack")] == [
        "/slack/devops",
        "/slack/senior",
        "/slack/management",
        "/slack/executives",
        "/slack/executives",  # the final notice
    ]
    assert len(recorder.requests("/jsm")) == 1
    assert execution["status"] == "SUCCEEDED"


def test_exhaustion_leaves_the_incident_open_unacknowledged_and_tells_the_last_tier(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given a two-tier policy
    stack = make_stack(
        policy(("devops", 0, ["slack:devops"]), ("executives", 1, ["sns", "slack:executives"]), final=1)
    )
    alarm = stack.create_alarm("Spend")

    # When nobody acknowledges any page
    stack.put(stack.alarm_event(alarm))
    [execution] = stack.finished()

    # Then the incident stays open, marked exhausted and unacknowledged
    incident = stack.incident()
    assert incident["status"] == "open"
    assert incident["exhausted"] is True
    assert "acknowledgedBy" not in incident
    assert [p["kind"] for p in incident["pagedTiers"]] == ["page", "page", "final"]
    # and the final notice went to the last tier's channels, saying it is unacknowledged
    final = recorder.requests("/slack/executives")[-1].json()
    assert final["text"].startswith("[CRITICAL] UNACKNOWLEDGED")
    assert any("UNACKNOWLEDGED" in m["Subject"] for m in stack.sns_messages())
    assert execution["status"] == "SUCCEEDED"
