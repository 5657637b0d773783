"""The per-channel message budget and its digest (bedrock_watch.notices) on the incidents table."""

from __future__ import annotations

from typing import Any

import pytest

from bedrock_watch.notices import MAX_HELD_LINES, NoticeBudget, digest_message, limited
from bedrock_watch.pages import Kind, Message

pytestmark = pytest.mark.integration

T0 = 1_795_701_900.0  # a window boundary for 300-second windows


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _message(incident: str, kind: Kind = "page", severity: str = "critical") -> Message:
    return Message(
        kind=kind,
        incident_id=incident,
        severity=severity,
        tier="devops",
        title=f"[{severity.upper()}] {incident}-alarm is in ALARM",
        summary="",
        facts=[],
        links=[],
    )


def _budget(table: Any, clock: Clock, limit: int = 3) -> NoticeBudget:
    return NoticeBudget(table, limit=limit, window_seconds=300, clock=clock)


def test_a_channel_gets_its_limit_per_window_then_the_rest_waits_for_one_digest(
    incidents_table: Any,
) -> None:
    clock = Clock()
    budget = _budget(incidents_table, clock)
    admitted = []
    for n in range(7):
        message = _message(f"inc-{n}")
        if budget.admit("slack:devops", message):
            admitted.append(n)
        else:
            budget.hold("slack:devops", message)
    assert admitted == [0, 1, 2]
    assert budget.admit("sns", _message("inc-0"))  # every channel has its own budget
    assert budget.due() == []  # the window has not ended

    clock.now = T0 + 300
    assert budget.admit("slack:devops", _message("inc-7"))  # a new window, a new budget
    [due] = budget.due()
    assert due == f"slack:devops#{int(T0)}"
    held = budget.take(due)
    assert held is not None
    assert held.count == 4
    assert [line["incident"] for line in held.lines] == ["inc-3", "inc-4", "inc-5", "inc-6"]
    assert budget.take(due) is None  # taken exactly once (a second sweep finds nothing)
    assert budget.due() == []


def test_closing_notices_to_stateful_channels_are_never_held() -> None:
    assert not limited("pagerduty:senior", "resolved")
    assert not limited("jsm", "acknowledged")
    assert not limited("servicenow:devops", "resolved")
    assert limited("slack:devops", "resolved")  # a Slack line is a message like any other
    assert limited("pagerduty:senior", "page")
    assert limited("pagerduty:senior", "update")


def test_a_digest_keeps_a_bounded_list_and_counts_the_rest(incidents_table: Any) -> None:
    clock = Clock()
    budget = _budget(incidents_table, clock, limit=1)
    budget.admit("sns", _message("first"))
    for n in range(MAX_HELD_LINES + 20):
        budget.hold("sns", _message(f"inc-{n}", severity="warning" if n % 2 else "critical"))
    clock.now = T0 + 301
    held = budget.take(budget.due()[0])
    assert held is not None
    assert len(held.lines) == MAX_HELD_LINES
    assert held.count == MAX_HELD_LINES + 20
    message = digest_message(held, 300, {"inc-0": "https://ack.example/ack?incident=inc-0"})
    assert message.kind == "digest"
    assert message.severity == "critical"
    assert message.title.startswith("[CRITICAL] bedrock-watch digest: 70 notices held on sns in 5 minutes")
    assert message.summary.splitlines()[-1] == "- … and 20 more"
    # the most severe first
    assert message.summary.splitlines()[1].startswith("- [CRITICAL]")
    assert message.facts == [("Acknowledge inc-0", "https://ack.example/ack?incident=inc-0")]


def test_no_limit_admits_everything(incidents_table: Any) -> None:
    budget = _budget(incidents_table, Clock(), limit=0)
    assert all(budget.admit("slack:devops", _message(f"inc-{n}")) for n in range(50))
    assert incidents_table.scan()["Items"] == []  # nothing counted, nothing stored
