"""The incident store's episode rules on moto DynamoDB (table shape read from template.yaml)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from bedrock_watch.incidents import IncidentClosed, IncidentStore, LinkReplayed, incident_id_for

pytestmark = pytest.mark.integration

ALARM = "bedrock-watch.Errors"
ARN = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM}"


@pytest.fixture
def store(incidents_table: Any) -> IncidentStore:
    return IncidentStore("incidents", table=incidents_table, retention_days=1, clock=lambda: 1_800_000_000.0)


def _open(store: IncidentStore, transition: str) -> tuple[bool, str]:
    incident_id = incident_id_for(ARN, transition)
    outcome = store.open(
        incident_id=incident_id,
        alarm_name=ALARM,
        severity="critical",
        context={"state_reason": "Threshold Crossed", "threshold": 25.0},
        steps=[{"index": 0, "tier": "devops"}],
    )
    return outcome.opened, outcome.incident_id


def test_the_same_alarm_transition_opens_one_incident(store: IncidentStore) -> None:
    assert _open(store, "t1")[0] is True
    assert _open(store, "t1") == (False, incident_id_for(ARN, "t1"))


def test_a_new_transition_while_open_is_folded_into_the_open_incident(store: IncidentStore) -> None:
    _, first = _open(store, "t1")

    opened, into = _open(store, "t2")

    assert (opened, into) == (False, first)
    assert store.require(first)["timeline"][-1]["event"] == "alarm entered ALARM again"


def test_a_flapping_alarm_cannot_grow_the_timeline_without_bound(
    store: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedrock_watch import incidents

    monkeypatch.setattr(incidents, "MAX_TIMELINE", 6)
    _, first = _open(store, "t0")
    for i in range(incidents.MAX_TIMELINE + 5):
        _open(store, f"t{i + 1}")

    assert len(store.require(first)["timeline"]) == incidents.MAX_TIMELINE


def test_after_ok_the_next_transition_opens_a_new_incident(store: IncidentStore) -> None:
    _, first = _open(store, "t1")
    store.resolve(first, reason="OK")

    opened, second = _open(store, "t2")

    assert opened is True
    assert second != first
    assert store.open_incident_for(ALARM) == second


def test_a_late_duplicate_of_a_resolved_episode_does_not_rearm_the_alarm(store: IncidentStore) -> None:
    _, first = _open(store, "t1")
    store.resolve(first, reason="OK")

    assert _open(store, "t1") == (False, first)  # EventBridge re-delivered the old ALARM event late

    assert store.open_incident_for(ALARM) is None
    assert _open(store, "t3")[0] is True


def test_an_acknowledge_nonce_works_once(store: IncidentStore) -> None:
    _, incident_id = _open(store, "t1")
    store.acknowledge(incident_id, by="Sam", via="link", nonce="n1")

    with pytest.raises(LinkReplayed):
        store.acknowledge(incident_id, by="Eve", via="link", nonce="n1")
    with pytest.raises(IncidentClosed, match="already acknowledged"):
        store.acknowledge(incident_id, by="Ana", via="link", nonce="n2")
    assert store.require(incident_id)["acknowledgedBy"] == "Sam"


def test_a_task_token_is_not_parked_on_a_closed_incident(store: IncidentStore) -> None:
    _, incident_id = _open(store, "t1")
    store.resolve(incident_id, reason="OK")

    with pytest.raises(IncidentClosed, match="is resolved"):
        store.register_task_token(incident_id, "token")


def test_every_item_expires(store: IncidentStore) -> None:
    _open(store, "t1")

    items = store._table.scan(ConsistentRead=True)["Items"]
    assert {str(i["pk"]).split("#")[0] for i in items} == {"INCIDENT", "ALARM"}
    assert {int(i["expiresAt"]) for i in items} == {1_800_000_000 + 86400}


def test_a_retried_page_task_does_not_page_the_tier_twice(store: IncidentStore) -> None:
    from bedrock_watch.escalation import Escalation, EscalationSettings
    from bedrock_watch.pages import context_from_alarm
    from sandbox.events import load_event

    # Given an open incident whose devops tier pages through the escalation topic
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="pages")["TopicArn"]
    inbox = sqs.create_queue(QueueName="devops")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    settings = EscalationSettings(
        table_name="incidents",
        topic_arn=topic,
        channel_secret_id="unused",
        link_secret_id="unused",
        ack_url="https://ack.example",
        policy_document="default",
        dashboard_name="d",
        runbook_base_url="https://runbook.example",
        metrics_namespace="BedrockWatch",
        link_ttl_seconds=3600,
        retention_days=1,
    )
    engine = Escalation(settings, store=store, channel_secret=dict, link_secret=lambda: b"k" * 32, sns=sns)
    context = context_from_alarm(
        load_event("escalation/alarm"), {"Severity": "critical"}, dashboard_name="d", runbook_base_url=""
    )
    incident_id = incident_id_for(ARN, "t1")
    store.open(
        incident_id=incident_id, alarm_name=ALARM, severity="critical", context=context.as_dict(), steps=[]
    )
    step = {"index": 0, "tier": "devops", "channels": ["sns:devops"], "atSeconds": 0}

    # When Step Functions runs the page task twice for the same step (a Lambda service error
    # after the first delivery makes its Retry run it again)
    first = engine.page(incident_id, step, task_token="token-1")
    second = engine.page(incident_id, step, task_token="token-2")

    # Then the tier got one page, and the wait listens on the newest task token
    received = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
    assert len(received) == 1
    assert "repeated" not in first
    assert second["repeated"] is True
    incident = store.require(incident_id)
    assert [p["tier"] for p in incident["pagedTiers"]] == ["devops"]
    assert incident["taskToken"] == "token-2"
