"""Acknowledging: signed link, Slack button, PagerDuty webhook, console — and every refusal."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from bedrock_watch.webhooks import sign_pagerduty, sign_slack
from sandbox.events import load_event
from sandbox.recorder import Recorder
from tests.integration.escalation.stack import PD_WEBHOOK_SECRET, WAITING, EscalationStack

pytestmark = pytest.mark.integration


def _link(recorder: Recorder) -> dict[str, str]:
    """incident and token of the acknowledge link in the Slack page."""
    page = recorder.requests("/slack/devops")[0].json()
    button = next(b for b in page["blocks"] if b["type"] == "actions")["elements"][0]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(button["url"]).query)
    return {"incident": query["incident"][0], "token": query["token"][0]}


def _post_link(stack: EscalationStack, form: dict[str, str]) -> dict[str, Any]:
    return stack.http(
        "POST",
        "/ack",
        body=urllib.parse.urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _unchanged(stack: EscalationStack, before: dict[str, Any]) -> None:
    assert stack.incident() == before


def test_opening_the_link_only_asks_for_confirmation(
    paged: tuple[EscalationStack, dict[str, Any]], recorder: Recorder
) -> None:
    # Given the acknowledge link from a page
    stack, incident = paged
    link = _link(recorder)

    # When a browser (or a mail scanner) opens it
    response = stack.http("GET", "/ack", query=link)

    # Then it sees a confirmation form, and the incident is still open
    assert response["statusCode"] == 200
    assert '<form method="post"' in response["body"]
    assert "Acknowledge and stop escalation" in response["body"]
    _unchanged(stack, incident)


def test_the_signed_link_acknowledges_once_and_a_replay_is_refused_and_recorded(
    paged: tuple[EscalationStack, dict[str, Any]], recorder: Recorder
) -> None:
    stack, _ = paged
    link = _link(recorder)

    # When the on-call confirms the link
    first = _post_link(stack, {**link, "by": "Sam"})

    # Then the incident is acknowledged and escalation stops at once
    assert first["statusCode"] == 200
    assert "Acknowledged by Sam" in first["body"]
    [execution] = stack.finished()
    assert execution["output_json"]["outcome"]["outcome"] == "acknowledged"
    acknowledged = stack.incident()
    assert (acknowledged["status"], acknowledged["acknowledgedBy"], acknowledged["acknowledgedVia"]) == (
        "acknowledged",
        "Sam",
        "link",
    )

    # When the same link is replayed
    replay = _post_link(stack, {**link, "by": "Mallory"})

    # Then it is refused with a clear message, recorded, and nothing about the incident changes
    assert replay["statusCode"] == 403
    assert "already used" in replay["body"]
    _unchanged(stack, acknowledged)
    assert [r["reason"] for r in stack_refusals(stack)] == ["this acknowledge link was already used"]
    # and opening the used link just says who already acknowledged
    reopened = stack.http("GET", "/ack", query=link)
    assert reopened["statusCode"] == 200
    assert "already acknowledged by Sam" in reopened["body"]
    assert "<form" not in reopened["body"]


def stack_refusals(stack: EscalationStack) -> list[dict[str, Any]]:
    """The refusals the ack endpoint counted (RefusedRequests EMF lines in its log group)."""
    return stack.emf_documents("EscalationAckFunction", "RefusedRequests")


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda s, link: {**link, "token": _tampered(link["token"])}, "signature does not match"),
        (
            lambda s, link: {**link, "token": s.sign(link["incident"], ttl=60, now=time.time() - 3600)},
            "link has expired",
        ),
        (
            lambda s, link: {**link, "token": s.sign("inc-someone-elses-incident")},
            "token is for a different incident",
        ),
        (
            lambda s, link: {"incident": link["incident"], "token": _foreign_token(link["incident"])},
            "signature does not match",
        ),
    ],
    ids=["tampered", "expired", "wrong-incident", "signed-with-another-key"],
)
def test_a_forged_expired_or_wrong_incident_link_is_refused_and_changes_nothing(
    paged: tuple[EscalationStack, dict[str, Any]],
    recorder: Recorder,
    forge: Callable[[EscalationStack, dict[str, str]], dict[str, str]],
    reason: str,
) -> None:
    stack, before = paged
    form = forge(stack, _link(recorder))

    response = _post_link(stack, {**form, "by": "Mallory"})

    assert response["statusCode"] == 403
    assert reason in response["body"]
    _unchanged(stack, before)
    [refusal] = stack_refusals(stack)
    assert refusal["reason"].startswith(reason)
    assert refusal["endpoint"] == "/ack"
    assert refusal["source"] == "203.0.113.10"


def _tampered(token: str) -> str:
    """The token with one claim changed (a later expiry), keeping the old MAC."""
    import base64

    body, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["e"] += 86400
    forged = (
        base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    )
    return f"{forged}.{mac}"


def _foreign_token(incident_id: str) -> str:
    from bedrock_watch import signing

    return signing.sign(b"not-the-stack-secret", purpose="ack", subject=incident_id, ttl_seconds=3600)


def test_a_slack_request_with_a_bad_signature_is_refused(
    paged: tuple[EscalationStack, dict[str, Any]], recorder: Recorder
) -> None:
    stack, before = paged
    body = urllib.parse.urlencode({"payload": json.dumps(load_event("escalation/slack-block-actions"))})
    now = int(time.time())
    headers = {
        "X-Slack-Request-Timestamp": str(now),
        "X-Slack-Signature": sign_slack("guessed", now, body.encode()),
    }

    response = stack.http("POST", "/slack/actions", body=body, headers=headers)

    assert response["statusCode"] == 403
    assert "Slack signature does not match" in response["body"]
    _unchanged(stack, before)


def _pagerduty_webhook(
    stack: EscalationStack, incident_id: str, secret: str = PD_WEBHOOK_SECRET
) -> dict[str, Any]:
    """events/escalation/pagerduty-incident-acknowledged.json for this incident, signed as PagerDuty signs."""
    webhook = load_event("escalation/pagerduty-incident-acknowledged")
    webhook["event"]["data"]["incident_key"] = incident_id
    body = json.dumps(webhook)
    return stack.http(
        "POST",
        "/pagerduty/webhook",
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-PagerDuty-Signature": sign_pagerduty(secret, body.encode()),
        },
    )


def test_pagerduty_trigger_acknowledge_and_resolve_share_one_dedup_key(
    make_stack: Callable[..., EscalationStack], recorder: Recorder
) -> None:
    # Given tier 1 was paged through PagerDuty
    stack = make_stack(WAITING)
    alarm = stack.create_alarm("ModelErrors-chat")
    stack.put(stack.alarm_event(alarm))
    incident = stack.wait_paged("devops")

    # When the on-call acknowledges in PagerDuty (v3 webhook) and later the alarm clears
    response = stack.http(
        "POST", "/pagerduty/webhook", body="{}", headers={"X-PagerDuty-Signature": "v1=forged"}
    )
    assert response["statusCode"] == 403  # a forged webhook first: refused
    acked = _pagerduty_webhook(stack, incident["incidentId"])
    stack.finished()
    stack.put(stack.alarm_event(alarm, state="OK"))
    wait_resolved(stack)

    # Then PagerDuty saw trigger, acknowledge, resolve — all on the incident id as dedup_key
    assert json.loads(acked["body"]) == {"acknowledged": True, "status": "acknowledged"}
    events = [r.json() for r in recorder.requests("/pagerduty/enqueue")]
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {incident["incidentId"]}
    assert {e["routing_key"] for e in events} == {"pd-key-devops"}
    assert events[0]["payload"]["severity"] == "critical"
    assert stack.incident()["acknowledgedBy"] == "Priya Patel (PagerDuty)"


def test_a_pagerduty_webhook_for_an_incident_we_did_not_open_is_ignored(
    paged: tuple[EscalationStack, dict[str, Any]],
) -> None:
    stack, before = paged

    response = _pagerduty_webhook(stack, "some-other-tools-incident-key")

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"ignored": True}
    _unchanged(stack, before)


def wait_resolved(stack: EscalationStack) -> dict[str, Any]:
    from tests.integration.escalation.stack import wait_for

    return wait_for(
        "the incident resolved",
        lambda: next((i for i in stack.incidents() if i["status"] == "resolved"), None),
    )


def test_the_console_input_acknowledges(paged: tuple[EscalationStack, dict[str, Any]]) -> None:
    # Given the console test event from events/ with the incident id filled in
    stack, incident = paged
    event = {**load_event("escalation/ack-console"), "incidentId": incident["incidentId"]}

    # When an operator runs it from the function's test tab
    result = stack.invoke("EscalationAckFunction", event)

    # Then the incident is acknowledged by them and escalation stops
    assert result["acknowledged"] is True
    [execution] = stack.finished()
    assert execution["output_json"]["outcome"]["via"] == "console"
    assert stack.incident()["acknowledgedBy"] == "Jane Doe (console)"
