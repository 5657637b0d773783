"""An alarm storm (a region-wide outage: 55 alarms of 55 root causes within a minute) through the
real escalation workflow: every incident is opened and escalated, but each channel gets at most
ChannelMessageLimit messages per window and then one digest listing the rest, with an acknowledge
link per incident still open."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.recorder import Recorder
from tests.contracts.pagerduty import assert_events_v2
from tests.integration.escalation.stack import EscalationStack, policy, wait_for

pytestmark = pytest.mark.integration

ALARMS = 55
LIMIT = 5
WINDOW = 15
ONE_TIER = policy(("devops", 0, ["sns", "slack:devops", "pagerduty:devops"]), final=600)


def _event(stack: EscalationStack, alarm: str, n: int) -> dict[str, Any]:
    event = stack.alarm_event(alarm, at=f"2026-11-26T14:05:{n % 60:02d}.000+0000")
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {
        "ModelId": f"us.example.model-{n:02d}-v1:0"
    }
    return event


def _windows(stack: EscalationStack, channel: str) -> dict[int, int]:
    """Messages admitted per window on a channel (the budget's own counts)."""
    counts = {}
    for item in stack.table.scan(ConsistentRead=True)["Items"]:
        pk = str(item["pk"])
        if pk.startswith(f"NOTICES#{channel}#"):
            counts[int(pk.rsplit("#", 1)[1])] = int(item["sent"])  # type: ignore[arg-type]
    return counts


def test_an_alarm_storm_sends_each_channel_a_bounded_number_of_messages_and_one_digest_per_window(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given 55 alarms about 55 different models (55 root causes), all firing within a minute
    stack = make_stack(ONE_TIER, ChannelMessageLimit=LIMIT, ChannelWindowSeconds=WINDOW)
    alarms = [
        stack.create_alarm(f"model-{n:02d}-throttle-rate-critical", Area="traffic") for n in range(ALARMS)
    ]
    for n, alarm in enumerate(alarms):
        stack.put(_event(stack, alarm, n))

    # When every incident has been escalated (its tier paged or held for the digest)
    def escalated() -> list[dict[str, Any]] | None:
        incidents = stack.incidents()
        done = [i for i in incidents if i["pagedTiers"]]
        return incidents if len(done) == ALARMS else None

    incidents = wait_for("55 escalated incidents", escalated, timeout=180)
    assert len(incidents) == ALARMS  # one incident per root cause: the budget holds pages, never merges
    # and the windows they fell in have ended, and the digest sweep ran
    last = max(max(_windows(stack, c) or {0: 0}) for c in ("sns", "slack:devops", "pagerduty:devops"))
    time.sleep(max(0.0, last + WINDOW - time.time()) + 0.5)
    swept = stack.invoke("EscalationPageFunction", {"action": "digests"})
    assert stack.invoke("EscalationPageFunction", {"action": "digests"}) == {"sent": [], "failed": []}

    # Then each channel got at most LIMIT pages per window, and one digest per window that held some
    slack = [r.json()["text"] for r in recorder.requests("/slack/devops")]
    pd = [r.json() for r in recorder.requests("/pagerduty")]
    sns = stack.sns_messages()
    for channel, texts in (
        ("slack:devops", slack),
        ("pagerduty:devops", [e["payload"]["summary"] for e in pd]),
        ("sns", [m["Subject"] for m in sns]),
    ):
        windows = _windows(stack, channel)
        pages = [t for t in texts if "digest" not in t]
        digests = [t for t in texts if "digest" in t]
        assert 0 < len(pages) <= LIMIT * len(windows), (channel, len(pages), windows)
        assert len(pages) == sum(windows.values())
        held_windows = [k for k in swept["sent"] if k.startswith(f"{channel}#")]
        assert len(digests) == len(held_windows) >= 1, (channel, digests)
        assert len(pages) < ALARMS

    # and the digests together name every incident that did not get its own page
    paged_on_slack = {i["incidentId"] for i in incidents if "slack:devops" in _delivered(i)}
    held_on_slack = {i["incidentId"] for i in incidents if "slack:devops" in _held(i)}
    assert paged_on_slack | held_on_slack == {i["incidentId"] for i in incidents}
    assert not paged_on_slack & held_on_slack
    full = "\n".join(
        _all_text(r.json()) for r in recorder.requests("/slack/devops") if "digest" in r.json()["text"]
    )
    for incident_id in held_on_slack:
        assert incident_id in full
    assert "Acknowledge" in full
    assert "/ack?incident=" in full
    # PagerDuty: a digest is its own alert, never an update of one incident's
    for body in pd:
        assert_events_v2(body)
    pd_digests = [e for e in pd if e["payload"]["class"] == "digest"]
    assert pd_digests
    assert all(e["dedup_key"].startswith("digest-pagerduty:devops-") for e in pd_digests)

    # and every held incident records where its notice went
    held = next(i for i in incidents if i["incidentId"] in held_on_slack)
    latest = next(i for i in stack.incidents() if i["incidentId"] == held["incidentId"])
    assert any(e["event"] == "digest" and e["detail"].startswith("slack:devops") for e in latest["timeline"])


def _delivered(incident: dict[str, Any]) -> set[str]:
    return {c for p in incident["pagedTiers"] for c in p.get("delivered", [])}


def _held(incident: dict[str, Any]) -> set[str]:
    return {c for p in incident["pagedTiers"] for c in p.get("held", [])}


def _all_text(payload: dict[str, Any]) -> str:
    """A Slack message's text and block text, flattened."""
    parts = [str(payload.get("text", ""))]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in {"text", "url"} and isinstance(v, str):
                    parts.append(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(payload.get("blocks", []))
    return "\n".join(parts)
