"""Remediations typed in the Step Functions console, run by the real ASL and handlers on moto."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.events import EVENTS, load_event
from sandbox.fake_bedrock import FakeBedrock
from tests.integration.remediation.conftest import failure_message
from tests.integration.remediation.harness import Stack


def console(name: str) -> dict[str, object]:
    event: dict[str, object] = load_event(f"remediation/{name}")
    return event


def test_failover_switches_the_route_to_the_first_fallback_and_tells_everyone(stack: Stack) -> None:
    # Given route chat on its primary
    before = stack.route()
    assert before["active"] == before["primary"]

    # When the on-call starts the console failover
    desc = stack.wait(stack.start(console("failover"), name="console-failover"))

    # Then the route points at its first fallback, with a new version and who/why
    assert desc["status"] == "SUCCEEDED", failure_message(desc)
    route = stack.route()
    assert route["active"] == before["fallbacks"][0]
    assert route["version"] == before["version"] + 1
    assert "console-failover" in route["changedBy"]
    assert route["reason"] == console("failover")["reason"]
    # and the audit record holds before, after, who, why and outcome
    (audit,) = stack.audit()
    assert audit["before"] == before["primary"]
    assert audit["after"] == before["fallbacks"][0]
    assert audit["outcome"] == "applied"
    assert audit["requestedBy"] == "console"
    assert audit["reason"] == console("failover")["reason"]
    # and subscribers and the incident (via the Remediation Finished event) hear about it
    (note,) = stack.notifications()
    assert note["message"]["outcome"] == "applied"
    (event,) = stack.finished_events()
    assert event["outcome"] == "applied"
    assert event["route"] == "chat"
    assert event["action"] == "failover"
    assert event["executionArn"] == desc["executionArn"]
    # and the lock is released
    assert stack.lock() is None


def test_dry_run_changes_nothing_and_reports_the_plan(stack: Stack, bedrock: FakeBedrock) -> None:
    before = stack.route()

    desc = stack.wait(stack.start(console("failover-dry-run")))

    assert desc["status"] == "SUCCEEDED", failure_message(desc)
    assert stack.route() == before
    assert bedrock.calls == []  # nothing probed
    (note,) = stack.notifications()
    assert note["message"]["outcome"] == "dry_run"
    assert note["message"]["target"] == before["fallbacks"][0]
    assert "would switch" in note["message"]["summary"]
    assert stack.audit()[0]["outcome"] == "dry_run"
    assert stack.lock() is None


def test_an_unhealthy_first_fallback_is_skipped_for_the_next(stack: Stack, bedrock: FakeBedrock) -> None:
    route = stack.route()
    bedrock.fail(route["fallbacks"][0], "ThrottlingException")

    desc = stack.wait(stack.start(console("failover")))

    assert desc["status"] == "SUCCEEDED", failure_message(desc)
    assert stack.route()["active"] == route["fallbacks"][1]
    assert [c["modelId"] for c in bedrock.calls if c["modelId"] == route["fallbacks"][1]]
    assert all(c["maxTokens"] == 1 for c in bedrock.calls)
    assert stack.lock() is None


def test_all_fallbacks_unhealthy_fails_leaves_the_route_and_notifies(
    stack: Stack, bedrock: FakeBedrock
) -> None:
    before = stack.route()
    for model in before["fallbacks"]:
        bedrock.fail(model, "ServiceUnavailableException")

    desc = stack.wait(stack.start(console("failover")))

    assert desc["status"] == "FAILED"
    assert desc["error"] == "NoHealthyTarget"
    for model in before["fallbacks"]:
        assert model in desc["cause"]
    assert stack.route() == before
    (note,) = stack.notifications()
    assert note["message"]["outcome"] == "failed"
    assert stack.finished_events()[0]["outcome"] == "failed"
    assert stack.lock() is None


def test_failed_verification_rolls_back_to_the_previous_model(stack: Stack) -> None:
    # Given the first fallback is answering probes but failing real traffic (AWS/Bedrock says so)
    before = stack.route()
    target = before["fallbacks"][0]
    stack.put_bedrock_metrics(target, Invocations=28, InvocationServerErrors=12)

    desc = stack.wait(stack.start(console("failover")))

    assert desc["status"] == "FAILED"
    assert desc["error"] == "VerificationFailed"
    route = stack.route()
    assert route["active"] == before["primary"]
    assert route["version"] == before["version"] + 2  # switched, then rolled back
    assert "rollback" in route["reason"]
    assert stack.audit()[0]["outcome"] == "rolled_back"
    assert stack.finished_events()[0]["outcome"] == "rolled_back"
    assert stack.lock() is None


def test_downgrade_then_restore(stack: Stack) -> None:
    # Given the primary served 1M input and 100K output tokens in the last hour
    before = stack.route()
    stack.put_bedrock_metrics(before["primary"], InputTokenCount=1_000_000, OutputTokenCount=100_000)

    down = stack.wait(stack.start(console("downgrade")))
    assert down["status"] == "SUCCEEDED", failure_message(down)
    assert stack.route()["active"] == before["cheaper"]
    # and the audit record and the incident hear what it saves (us. Sonnet 4.5 -> us. Haiku 4.5)
    saved = stack.finished_events()[0]["estimatedSavingsPerHourUSD"]
    assert saved == pytest.approx((3.3 - 1.1) * 1 + (16.5 - 5.5) * 0.1)
    assert float(stack.audit()[0]["estimatedSavingsPerHourUSD"]) == saved

    # a failback does not undo a downgrade (it is not a failover)
    noop = stack.wait(stack.start(console("failback")))
    assert noop["status"] == "SUCCEEDED"
    assert stack.route()["active"] == before["cheaper"]

    up = stack.wait(stack.start(console("restore")))
    assert up["status"] == "SUCCEEDED", failure_message(up)
    assert stack.route()["active"] == before["primary"]
    outcomes = sorted(a["outcome"] for a in stack.audit())
    assert outcomes == ["applied", "applied", "unchanged"]
    assert stack.lock() is None


INVALID = sorted((EVENTS / "remediation" / "invalid").glob("*.json"))


def test_every_invalid_console_input_fails_fast_naming_the_field(stack: Stack) -> None:
    # Given the invalid console inputs of events/remediation/invalid (file name: <field>--<what>)
    before = stack.route()
    started = {path: stack.start(load_event(f"remediation/invalid/{path.stem}")) for path in INVALID}

    for path, arn in started.items():
        desc = stack.wait(arn)
        field = path.stem.split("--")[0]
        assert desc["status"] == "FAILED", path.name
        assert desc["error"] in ("InvalidInput", "UnknownRoute"), path.name
        assert failure_message(desc).startswith(f"{field}:"), (path.name, failure_message(desc))
    # and none of them touched the route or took its lock
    assert stack.route() == before
    assert stack.lock() is None


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_examples_say_what_is_wrong(path: Path) -> None:
    assert load_event(f"remediation/invalid/{path.stem}")["comment"]
