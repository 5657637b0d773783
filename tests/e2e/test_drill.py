"""`make demo`: the default drill, end to end on moto. One run, read by every test below: a
regression anywhere in the chain (meter → metrics → alarms → EventBridge → escalation and
remediation state machines → pages, acknowledgement, routes) changes this timeline."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest

from sandbox.drill import DrillResult, Entry, run
from sandbox.scenario import load
from sandbox.template import ROOT

pytestmark = pytest.mark.e2e

SCENARIO = load("default")
STORM = next(i for i in SCENARIO.incidents if i.kind == "throttling")
ACK = SCENARIO.acknowledgements[0]
CHAT = SCENARIO.routes["chat"]


@pytest.fixture(scope="module")
def drill() -> Iterator[tuple[DrillResult, str]]:
    out = io.StringIO()
    result = run("default", out)
    return result, out.getvalue()


def first(result: DrillResult, kind: str, **match: str) -> Entry:
    """The first timeline entry of `kind` whose title contains every given text and whose data
    has the given values."""
    for entry in result.of(kind):
        if all(str(entry.data.get(k)) == v if k != "title" else v in entry.title for k, v in match.items()):
            return entry
    raise AssertionError(
        f"no {kind} entry with {match}; timeline:\n" + "\n".join(e.line() for e in result.timeline)
    )


def incident_of(result: DrillResult, alarm: str) -> dict:
    """The incident the alarm is on (opened it or joined it)."""
    return next(i for i in result.incidents if alarm in (i.get("alarms") or {}))


def test_the_throttling_storm_pages_is_acknowledged_at_tier_two_and_fails_over(
    drill: tuple[DrillResult, str],
) -> None:
    result, _ = drill
    throttle_alarm = f"bedrock-watch.model-throttle-rate-critical-{STORM.model}"
    # Given the storm on the chat route's primary, the per-model throttle-rate alarm fires after it started
    fired = first(result, "alarm", alarm=throttle_alarm, state="ALARM")
    assert fired.minute > STORM.from_minute
    assert "Threshold Crossed" in fired.detail
    # Then its incident (one for the whole storm) pages tier 1 and then tier 2, with the reason
    storm = incident_of(result, throttle_alarm)
    tier1 = first(result, "page", incident=storm["incidentId"], tier="devops")
    tier2 = first(result, "page", incident=storm["incidentId"], tier="senior-engineers")
    assert fired.minute <= tier1.minute + 1
    assert tier1.minute < tier2.minute
    assert "Threshold Crossed" in tier1.data["text"]
    # and the person acknowledges through the signed link in the tier-2 page: paging stops there
    ack = first(result, "ack", incident=storm["incidentId"])
    assert ack.data["by"] == ACK.by
    assert "via link" in ack.title
    assert ack.minute >= tier2.minute
    assert not [
        e
        for e in result.of("page")
        if e.data.get("incident") == storm["incidentId"] and e.minute > ack.minute
    ]
    # and the chat route fails over to its first fallback, so its traffic leaves the storm
    failover = first(result, "route", route="chat", action="failover")
    assert failover.data["previous"] == CHAT.primary
    assert failover.data["model"] == CHAT.fallbacks[0]
    assert fired.minute <= failover.minute < STORM.to_minute
    # and once every alarm of it is OK again the incident resolves
    ok = first(result, "alarm", alarm=throttle_alarm, state="OK")
    resolved = first(result, "resolved", incident=storm["incidentId"])
    assert ok.minute <= resolved.minute
    assert storm["status"] == "resolved"
    assert storm["acknowledgedBy"] == ACK.by


def test_one_incident_per_injected_root_cause_and_the_pages_it_takes(drill: tuple[DrillResult, str]) -> None:
    result, printed = drill
    # Given four root causes (a throttling storm, a slow model, a spend surge, an application whose
    # calls are not logged)
    # Then there are four incidents, one per cause, each holding the alarms that cause tripped
    assert len(result.incidents) == len(SCENARIO.root_causes()) == 4
    storm = incident_of(result, f"bedrock-watch.model-throttle-rate-critical-{STORM.model}")
    slow = next(i for i in SCENARIO.incidents if i.kind == "latency")
    latency = incident_of(result, f"bedrock-watch.model-latency-p95-warning-{slow.model}")
    spend = incident_of(result, "bedrock-watch.budget-critical")
    unlogged = incident_of(result, "bedrock-watch.unmetered-requests")
    assert len({storm["incidentId"], latency["incidentId"], spend["incidentId"], unlogged["incidentId"]}) == 4
    # the storm's all-traffic and per-model alarms are one incident, the budget lines another
    assert {"bedrock-watch.error-rate-critical", "bedrock-watch.throttle-rate-critical"} <= set(
        storm["alarms"]
    )
    assert {"bedrock-watch.budget-elevated", "bedrock-watch.budget-critical"} <= set(spend["alarms"])
    # and the pages stay few: the storm two tiers (acknowledged at the second), the slow model one,
    # the spend surge its warning and then its critical raise (seniors are due at the drill's very
    # end, so a third page may or may not fall inside it); every other alarm is an update
    pages = result.of("page")

    def paged(incident: dict) -> list[str]:
        return [str(e.data["tier"]) for e in pages if e.data.get("incident") == incident["incidentId"]]

    assert paged(storm) == ["devops", "senior-engineers"], "\n".join(e.line() for e in pages)
    assert paged(latency) == ["devops"]
    assert paged(spend)[:2] == ["devops", "devops"]
    assert paged(unlogged) == ["devops"]
    assert len(pages) <= 7
    assert len(result.of("update")) >= 4
    # a new deployment pages nobody for its own start-up
    assert not [e for e in result.of("alarm") if "budget-metrics-stale" in e.title]
    # and the summary says so
    assert (
        "4 root causes injected (throttling, latency, spend_surge, unlogged: notes-sync), "
        f"4 incidents, {len(pages)} pages" in printed
    )


def test_the_route_fails_back_after_the_cool_down_then_the_budget_downgrades_it(
    drill: tuple[DrillResult, str],
) -> None:
    result, _ = drill
    changes = [(e.data["action"], e.data["model"]) for e in result.of("route") if e.data["route"] == "chat"]
    # Then chat went: fallback, back to its primary, then to its cheaper model, in that order
    assert changes == [
        ("failover", CHAT.fallbacks[0]),
        ("failback", CHAT.primary),
        ("downgrade", CHAT.cheaper),
    ]
    # the failback waited for the storm's alarm to be OK (and then its cool-down)
    failback = first(result, "route", route="chat", action="failback")
    ok = first(result, "alarm", alarm=f"bedrock-watch.model-throttle-rate-critical-{STORM.model}", state="OK")
    assert failback.minute > ok.minute
    assert "returned to OK" in failback.detail
    assert result.routes["chat"]["active"] == CHAT.cheaper
    # and each remediation workflow reported its outcome
    outcomes = [
        (e.data["action"], e.data["outcome"]) for e in result.of("remediation") if e.data["route"] == "chat"
    ]
    assert outcomes == [("failover", "applied"), ("failback", "applied"), ("downgrade", "applied")]


def test_the_spend_surge_crosses_the_75_then_the_90_percent_budget_lines(
    drill: tuple[DrillResult, str],
) -> None:
    result, _ = drill
    surge = next(i for i in SCENARIO.incidents if i.kind == "spend_surge")
    elevated = first(result, "alarm", alarm="bedrock-watch.budget-elevated", state="ALARM")
    critical = first(result, "alarm", alarm="bedrock-watch.budget-critical", state="ALARM")
    assert surge.from_minute < elevated.minute < critical.minute
    # the reason carries the utilisation the budget guard published, above each line
    assert "(75.0)" in elevated.detail
    assert "(90.0)" in critical.detail
    # the critical budget alarm raises its incident to critical (a page) and downgrades the route
    spend = incident_of(result, "bedrock-watch.budget-critical")
    assert spend["severity"] == "critical"
    assert [p["tier"] for p in spend["pagedTiers"]][:2] == ["devops", "devops"]  # warning, then critical
    downgrade = first(result, "route", route="chat", action="downgrade")
    assert downgrade.minute >= critical.minute


def test_the_latency_regression_raises_the_model_warning_only(drill: tuple[DrillResult, str]) -> None:
    result, _ = drill
    slow = next(i for i in SCENARIO.incidents if i.kind == "latency")
    warning = first(
        result, "alarm", alarm=f"bedrock-watch.model-latency-p95-warning-{slow.model}", state="ALARM"
    )
    assert slow.from_minute < warning.minute <= slow.to_minute + 1
    latency = incident_of(result, f"bedrock-watch.model-latency-p95-warning-{slow.model}")
    page = first(result, "page", incident=latency["incidentId"])
    assert "warning" in page.title
    assert not [e for e in result.of("route") if e.data["route"] == "summarise"]


def test_the_drill_prints_its_timeline_and_summary_and_writes_the_report(
    drill: tuple[DrillResult, str],
) -> None:
    result, printed = drill
    # the live timeline and the summary tables are printed
    for text in (
        "ALARM    model-throttle-rate-critical",
        "PAGE     ",
        "ACK      ",
        "ROUTE    failover",
        "summary",
        "incidents:",
        "all models",
    ):
        assert text in printed
    # the per-model table adds up to the all-models row
    body, total = result.models[:-1], result.models[-1]
    assert sum(r["requests"] for r in body) == total["requests"] > 0
    # timeline.json holds the same timeline; report.html charts the alarms that fired
    saved = json.loads((result.out_dir / "timeline.json").read_text())
    assert [e["title"] for e in saved["timeline"]] == [e.title for e in result.timeline]
    report = (result.out_dir / "report.html").read_text()
    assert report.count("<svg") >= 3
    assert "budget-critical" in report
    assert f"report:   {result.out_dir / 'report.html'}" in printed


def test_the_readme_excerpt_shows_lines_the_drill_prints(drill: tuple[DrillResult, str]) -> None:
    result, _ = drill
    readme = (ROOT / "README.md").read_text()
    excerpt = readme.split("## Two commands", 1)[1].split("## The flows", 1)[0]
    shown = re.findall(r"^\[\+\d+:\d\d \d\d:\d\d\] (\w+)\s+(.+)$", excerpt, re.M)
    assert len(shown) >= 10
    # the README shortens model ids (no date/version suffix); times differ from run to run
    printed = {(e.kind.upper(), re.sub(r"-\d{8}-v\d+:\d+", "", e.title)) for e in result.timeline}
    for kind, title in shown:
        assert (kind, title) in printed, f"README shows {kind} {title!r}, which the drill no longer prints"


def test_the_storm_drill_is_acknowledged_from_the_console_and_fails_over_and_back() -> None:
    # Given the short scenario whose devops engineer acknowledges from the console
    storm = load("storm")
    (ack,) = storm.acknowledgements
    out = io.StringIO()
    result = run("storm", out)
    throttle_alarm = f"bedrock-watch.model-throttle-rate-critical-{storm.routes['chat'].primary}"
    # Then the storm is one incident: every alarm it tripped joined the first one
    assert len(result.incidents) == len(storm.incidents) == 1
    [incident] = result.incidents
    assert throttle_alarm in incident["alarms"]
    # and its first tier's page is acknowledged through the ack function's console input
    page = first(result, "page", incident=incident["incidentId"], tier="devops")
    acked = first(result, "ack", incident=incident["incidentId"])
    assert ack.via == "console"
    assert "via console" in acked.title
    assert acked.data["by"] == ack.by
    assert acked.minute >= page.minute
    assert [e.data["tier"] for e in result.of("page")] == ["devops"]
    assert "1 root causes injected (throttling), 1 incidents, 1 pages" in out.getvalue()
    assert len(storm.root_causes()) == 1
    # and the route went to its fallback and back to its primary
    chat = storm.routes["chat"]
    assert [(e.data["action"], e.data["model"]) for e in result.of("route")] == [
        ("failover", chat.fallbacks[0]),
        ("failback", chat.primary),
    ]


def test_the_drill_shows_the_traffic_the_meter_never_saw(drill: tuple[DrillResult, str]) -> None:
    # Given the default scenario's notes-sync (logging off) and ide-assistant (bedrock-mantle)
    result, printed = drill
    # Then AWS/Bedrock's count against the meter's fires unmetered-requests
    fired = first(result, "alarm", alarm="bedrock-watch.unmetered-requests", state="ALARM")
    assert "Threshold Crossed" in fired.detail
    # and the drill names the model and the mantle inferences it could not meter
    (note,) = [e for e in result.of("note") if e.title.startswith("unmetered traffic")]
    assert "anthropic.claude-haiku-4-5-20251001-v1:0" in note.detail
    assert "bedrock-mantle" in note.detail
    assert note.data["unmetered"] > 0
    assert "unmetered traffic" in printed
