"""The incident store's rules on moto DynamoDB (table shape read from template.yaml): one incident
per root cause, one per alarm episode, and the races that must still end with one incident."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import boto3
import pytest

from bedrock_watch.incidents import IncidentClosed, IncidentStore, LinkReplayed
from tests.integration.escalation.arrivals import T0, arrival, ok, open_alarm

pytestmark = pytest.mark.integration

ALARM = "bedrock-watch.Errors"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.fixture
def store(incidents_table: Any) -> IncidentStore:
    return IncidentStore("incidents", table=incidents_table, retention_days=1, clock=lambda: 1_800_000_000.0)


def test_the_same_alarm_transition_opens_one_incident(store: IncidentStore) -> None:
    first = open_alarm(store, arrival(ALARM))
    again = open_alarm(store, arrival(ALARM))

    assert first.outcome == "opened"
    assert (again.outcome, again.incident_id) == ("duplicate", first.incident_id)


def test_a_new_transition_while_on_an_incident_is_folded_into_it(store: IncidentStore) -> None:
    first = open_alarm(store, arrival(ALARM))

    folded = open_alarm(store, arrival(ALARM, T0 + 60))

    assert (folded.outcome, folded.incident_id) == ("folded", first.incident_id)
    assert store.require(first.incident_id)["timeline"][-1]["event"] == "alarm entered ALARM again"


def test_a_flapping_alarm_cannot_grow_the_timeline_without_bound(
    store: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bedrock_watch import incidents

    monkeypatch.setattr(incidents, "MAX_TIMELINE", 6)
    first = open_alarm(store, arrival(ALARM))
    for i in range(incidents.MAX_TIMELINE + 5):
        open_alarm(store, arrival(ALARM, T0 + 60 * (i + 1)))

    assert len(store.require(first.incident_id)["timeline"]) == incidents.MAX_TIMELINE


def test_after_ok_the_next_transition_opens_a_new_incident(store: IncidentStore) -> None:
    first = open_alarm(store, arrival(ALARM))
    assert ok(store, ALARM, T0 + 60).all_ok
    store.resolve(first.incident_id, reason="OK")

    second = open_alarm(store, arrival(ALARM, T0 + 120))

    assert second.outcome == "opened"
    assert second.incident_id != first.incident_id
    assert store.open_incident_for(ALARM) == second.incident_id


def test_a_late_duplicate_of_an_episode_that_ended_opens_nothing(store: IncidentStore) -> None:
    first = open_alarm(store, arrival(ALARM))
    ok(store, ALARM, T0 + 60)
    store.resolve(first.incident_id, reason="OK")

    late = open_alarm(store, arrival(ALARM))  # EventBridge re-delivered the old ALARM event late

    assert late.outcome == "stale"
    assert store.open_incident_for(ALARM) is None
    assert open_alarm(store, arrival(ALARM, T0 + 180)).outcome == "opened"


def test_an_ok_that_arrives_first_keeps_its_older_alarm_from_opening(store: IncidentStore) -> None:
    assert ok(store, ALARM, T0 + 60).incident is None  # nothing open yet: only remembered

    assert open_alarm(store, arrival(ALARM, T0)).outcome == "stale"
    assert open_alarm(store, arrival(ALARM, T0 + 120)).outcome == "opened"


def test_an_older_ok_does_not_end_a_newer_episode(store: IncidentStore) -> None:
    newer = open_alarm(store, arrival(ALARM, T0 + 120))

    assert ok(store, ALARM, T0 + 60).incident is None  # the OK of an earlier episode, delivered late

    assert store.open_incident_for(ALARM) == newer.incident_id
    assert store.require(newer.incident_id)["firing"] == 1


# ------------------------------------------------------------------ one incident per root cause
def test_a_models_throttle_error_and_latency_alarms_are_one_incident(store: IncidentStore) -> None:
    throttle = open_alarm(store, arrival("bw.model-throttle-rate-critical", model=SONNET, route="chat"))
    errors = open_alarm(
        store, arrival("bw.model-server-error-rate-critical", T0 + 60, model=SONNET, route="chat")
    )
    latency = open_alarm(
        store,
        arrival("bw.model-latency-p95-warning", T0 + 300, model=SONNET, route="chat", severity="warning"),
    )

    assert throttle.outcome == "opened"
    assert (errors.outcome, errors.incident_id) == ("joined", throttle.incident_id)
    assert (latency.outcome, latency.incident_id) == ("joined", throttle.incident_id)
    incident = store.require(throttle.incident_id)
    assert sorted(incident["alarms"]) == sorted(
        [
            "bw.model-throttle-rate-critical",
            "bw.model-server-error-rate-critical",
            "bw.model-latency-p95-warning",
        ]
    )
    assert incident["firing"] == 3


def test_two_different_models_failing_at_once_are_two_incidents(store: IncidentStore) -> None:
    sonnet = open_alarm(store, arrival("bw.model-throttle-rate-critical-sonnet", model=SONNET, route="chat"))
    haiku = open_alarm(
        store, arrival("bw.model-throttle-rate-critical-haiku", model=HAIKU, route="summarise")
    )

    assert (sonnet.outcome, haiku.outcome) == ("opened", "opened")
    assert sonnet.incident_id != haiku.incident_id


def test_stack_wide_alarms_join_the_incident_their_model_alarm_opened_and_the_other_way_round(
    store: IncidentStore,
) -> None:
    # the all-traffic error rate fires first, the model's own alarm a minute later
    stack_wide = open_alarm(store, arrival("bw.error-rate-critical"))
    model = open_alarm(store, arrival("bw.model-throttle-rate-critical", T0 + 60, model=SONNET, route="chat"))
    later = open_alarm(store, arrival("bw.throttles-sustained", T0 + 300, severity="warning"))

    assert (model.outcome, model.incident_id) == ("joined", stack_wide.incident_id)
    assert (later.outcome, later.incident_id) == ("joined", stack_wide.incident_id)
    # the incident is now about that model: another model's alarm is another incident
    other = open_alarm(store, arrival("bw.model-throttle-rate-critical-haiku", T0 + 320, model=HAIKU))
    assert other.outcome == "opened"


def test_alarms_of_different_areas_never_group_even_on_the_same_route(store: IncidentStore) -> None:
    storm = open_alarm(store, arrival("bw.model-throttle-rate-critical", model=SONNET, route="chat"))
    budget = open_alarm(store, arrival("bw.budget-critical", T0 + 30, area="spend", route="chat"))

    assert budget.outcome == "opened"
    assert budget.incident_id != storm.incident_id


def test_an_alarm_outside_the_correlation_window_opens_its_own_incident(store: IncidentStore) -> None:
    first = open_alarm(store, arrival("bw.model-throttle-rate-critical", model=SONNET), window=600)
    late = open_alarm(store, arrival("bw.model-latency-p95-critical", T0 + 601, model=SONNET), window=600)

    assert late.outcome == "opened"
    assert late.incident_id != first.incident_id


def test_a_composite_and_its_inputs_are_one_incident(store: IncidentStore) -> None:
    composite = open_alarm(store, arrival("bw.degradation", area="", inputs=("ops.latency", "ops.errors")))
    child = open_alarm(store, arrival("ops.errors", T0 + 10, area=""))
    unrelated = open_alarm(store, arrival("ops.disk-full", T0 + 20, area=""))

    assert (child.outcome, child.incident_id) == ("joined", composite.incident_id)
    assert unrelated.outcome == "opened"  # no area and nothing shared: alone


def test_an_incident_resolves_only_when_every_alarm_is_ok_again(store: IncidentStore) -> None:
    first = open_alarm(store, arrival("bw.model-throttle-rate-critical", model=SONNET))
    open_alarm(store, arrival("bw.model-server-error-rate-critical", T0 + 60, model=SONNET))

    one = ok(store, "bw.model-throttle-rate-critical", T0 + 600)
    assert (one.all_ok, one.incident["firing"]) == (False, 1)
    with pytest.raises(IncidentClosed):
        store.resolve(first.incident_id, reason="too early")

    both = ok(store, "bw.model-server-error-rate-critical", T0 + 660)
    assert both.all_ok
    assert store.resolve(first.incident_id, reason="all OK")["status"] == "resolved"
    # a resolved incident frees its cause: the model's next alarm opens a new incident
    assert (
        open_alarm(store, arrival("bw.model-latency-p95-critical", T0 + 700, model=SONNET)).outcome
        == "opened"
    )


def test_a_higher_severity_joining_raises_the_incident_and_replans_without_repaging(
    store: IncidentStore,
) -> None:
    warning = open_alarm(store, arrival("bw.error-rate-warning", severity="warning"))
    store.record_page(
        warning.incident_id,
        step={"index": 0, "tier": "devops"},
        kind="page",
        delivered=["sns", "slack:devops"],
        failures=[],
    )

    critical = open_alarm(store, arrival("bw.error-rate-critical", T0 + 5))

    assert (critical.outcome, critical.raised) == ("joined", True)
    incident = store.require(warning.incident_id)
    assert incident["severity"] == "critical"
    assert incident["planVersion"] == 2
    # devops already has this incident on SNS and Slack: only PagerDuty is new to them
    assert [(s["tier"], s["channels"], s["skip"]) for s in incident["steps"]] == [
        ("devops", ["pagerduty:devops"], False),
        ("senior", ["sns", "slack:senior"], False),
    ]


def test_two_alarms_of_one_cause_arriving_at_the_same_moment_open_one_incident(
    store: IncidentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two alarms of one model, both looking for an incident before either has opened one
    both_looked = threading.Barrier(2, timeout=10)
    find = IncidentStore._find

    def find_then_wait(self: IncidentStore, *args: Any, **kwargs: Any) -> Any:
        found = find(self, *args, **kwargs)
        if threading.current_thread().name.startswith("racer"):
            with contextlib.suppress(threading.BrokenBarrierError):
                both_looked.wait()  # the first round of each racer only
        return found

    monkeypatch.setattr(IncidentStore, "_find", find_then_wait)
    results: dict[str, Any] = {}

    def race(name: str) -> None:
        try:
            results[name] = open_alarm(store, arrival(name, T0, model=SONNET, route="chat"))
        except Exception as err:  # surfaced by the assertion below
            results[name] = err
        both_looked.abort()  # later rounds of the other racer do not wait

    threads = [
        threading.Thread(target=race, args=(n,), name=f"racer-{n}") for n in ("bw.throttle", "bw.errors")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    # Then one opened the incident and the other joined it (its transaction lost the cause pointer)
    assert sorted(r.outcome for r in results.values()) == ["joined", "opened"]
    assert len({r.incident_id for r in results.values()}) == 1
    [incident] = [i for i in store._table.scan()["Items"] if str(i["pk"]).startswith("INCIDENT#")]
    assert sorted(incident["alarms"]) == ["bw.errors", "bw.throttle"]


def test_an_acknowledge_nonce_works_once(store: IncidentStore) -> None:
    incident_id = open_alarm(store, arrival(ALARM)).incident_id
    store.acknowledge(incident_id, by="Sam", via="link", nonce="n1")

    with pytest.raises(LinkReplayed):
        store.acknowledge(incident_id, by="Eve", via="link", nonce="n1")
    with pytest.raises(IncidentClosed, match="already acknowledged"):
        store.acknowledge(incident_id, by="Ana", via="link", nonce="n2")
    assert store.require(incident_id)["acknowledgedBy"] == "Sam"


def test_a_task_token_is_not_parked_on_a_closed_incident(store: IncidentStore) -> None:
    incident_id = open_alarm(store, arrival(ALARM)).incident_id
    ok(store, ALARM, T0 + 60)
    store.resolve(incident_id, reason="OK")

    with pytest.raises(IncidentClosed, match="is resolved"):
        store.register_task_token(incident_id, "token")


def test_every_item_expires(store: IncidentStore) -> None:
    open_alarm(store, arrival(ALARM, model=SONNET))

    items = store._table.scan(ConsistentRead=True)["Items"]
    assert {str(i["pk"]).split("#")[0] for i in items} == {"INCIDENT", "ALARM", "CAUSE"}
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
    incident_id = open_alarm(store, arrival(ALARM, context=context.as_dict())).incident_id
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
