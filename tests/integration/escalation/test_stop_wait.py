"""Closing an incident stops the escalation's wait; a stop Step Functions refuses is an ERROR, not news.

Step Functions answers through a stubbed client (botocore's Stubber: the real client, the real
error parsing) because moto evaluates no IAM: on AWS a statement scoping SendTaskSuccess to a state
machine ARN answers every call with AccessDeniedException.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bedrock_watch.escalation import Escalation, EscalationSettings
from bedrock_watch.incidents import IncidentStore, incident_id_for

pytestmark = pytest.mark.integration

ALARM = "bedrock-watch.ModelErrors-chat"
ARN = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM}"


@pytest.fixture
def store(incidents_table: Any) -> IncidentStore:
    return IncidentStore("incidents", table=incidents_table, retention_days=1)


@pytest.fixture
def states() -> Iterator[Stubber]:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield stubber


def _waiting_incident(store: IncidentStore) -> str:
    incident_id = incident_id_for(ARN, "t1")
    store.open(
        incident_id=incident_id,
        alarm_name=ALARM,
        severity="critical",
        context={"alarm_name": ALARM},
        steps=[{"index": 0, "tier": "devops"}],
    )
    store.register_task_token(incident_id, "token-of-the-waiting-page-task")
    return incident_id


def _engine(store: IncidentStore, states: Stubber) -> Escalation:
    settings = EscalationSettings.from_env(
        {
            "INCIDENTS_TABLE": "incidents",
            "ESCALATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:escalation",
            "CHANNEL_SECRET_ARN": "channels",
            "LINK_SIGNING_SECRET_ARN": "link",
        }
    )
    return Escalation(
        settings,
        store=store,
        channel_secret=lambda: {},
        link_secret=lambda: b"k" * 32,
        sfn=states.client,  # type: ignore[arg-type]
    )


def _records(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == message]


def test_an_acknowledgement_the_workflow_refuses_is_logged_as_an_error(
    store: IncidentStore, states: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an incident whose escalation waits on a page task, and a role Step Functions refuses
    caplog.set_level(logging.INFO)
    incident_id = _waiting_incident(store)
    states.add_client_error(
        "send_task_success",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: states:SendTaskSuccess",
        http_status_code=400,
    )

    # When someone acknowledges it
    result = _engine(store, states).acknowledge(incident_id, by="alice", via="console")

    # Then the incident is acknowledged, and the failed stop is an ERROR naming the incident and cause
    assert result.acknowledged
    states.assert_no_pending_responses()
    [record] = _records(caplog, "could not stop the escalation wait")
    assert record.levelno == logging.ERROR
    assert vars(record)["incident"] == incident_id
    assert vars(record)["error"] == "AccessDeniedException"


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist"])
def test_a_wait_that_already_ended_is_not_an_error(
    store: IncidentStore, states: Stubber, caplog: pytest.LogCaptureFixture, code: str
) -> None:
    # Given an incident whose escalation already ended (its wait timed out)
    caplog.set_level(logging.INFO)
    incident_id = _waiting_incident(store)
    states.add_client_error("send_task_success", service_error_code=code, http_status_code=400)

    # When someone acknowledges it
    _engine(store, states).acknowledge(incident_id, by="alice", via="console")

    # Then nothing is reported as failed: there was nothing left to stop
    assert not _records(caplog, "could not stop the escalation wait")
    [record] = _records(caplog, "task token no longer waiting")
    assert record.levelno == logging.INFO
