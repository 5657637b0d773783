"""The drill's on-call person acknowledges the page about the alarm they watch whichever order
the alarms of one cause reach the incident: their events run concurrently, so the watched alarm
can join after the tier was paged (this ordering once failed the storm drill's e2e test)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sandbox.drill import Drill, Timeline
from sandbox.scenario import load

START = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
WATCHED = "bedrock-watch.model-throttle-rate-critical-us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def _drill() -> Drill:
    out = io.StringIO()
    drill = Drill(load("storm"), out)
    drill.timeline = Timeline(out, START)
    drill.stack = SimpleNamespace(stack_name="bedrock-watch")  # type: ignore[assignment]
    return drill


def _incident(alarms: list[str]) -> dict[str, Any]:
    return {
        "incidentId": "inc-1",
        "alarmName": "bedrock-watch.error-rate-critical",
        "severity": "critical",
        "alarms": {name: {"state": "ALARM"} for name in alarms},
        "pagedTiers": [{"tier": "devops", "delivered": ["sns"]}],
        "pagedChannels": ["sns"],
    }


def test_the_watched_alarm_joining_after_the_page_is_acknowledged() -> None:
    # Given the storm scenario's devops engineer, who acknowledges the model-throttle page
    drill = _drill()
    [ack] = drill.scenario.acknowledgements
    assert ack.alarm in WATCHED
    assert ack.tier == "devops"

    # When devops is paged for an incident of the cause before the watched alarm is on it
    paged_at = START + timedelta(minutes=10)
    early = _incident(["bedrock-watch.error-rate-critical", "bedrock-watch.throttle-rate-critical"])
    drill._incident_entry(paged_at, early, "error-rate-critical", {"event": "paged"})
    assert drill.pending_acks == []

    # and the watched alarm joins a minute later
    joined_at = paged_at + timedelta(minutes=1)
    later = _incident([*early["alarms"], WATCHED])
    joined = {"event": "alarm joined", "detail": WATCHED}
    drill._incident_entry(joined_at, later, "error-rate-critical", joined)

    # Then the engineer acknowledges it, once, their usual delay after they could see it
    [(when, scheduled, item)] = drill.pending_acks
    assert (when, scheduled, item["incidentId"]) == (
        joined_at + timedelta(seconds=ack.after_seconds),
        ack,
        "inc-1",
    )
    # and another alarm joining does not schedule it twice
    drill._incident_entry(joined_at, later, "error-rate-critical", {**joined, "detail": "another"})
    assert len(drill.pending_acks) == 1
