"""Fixtures: the recorder standing in for the vendors, and a factory for the escalation stack."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.recorder import Recorder
from sandbox.template import resources
from tests.integration.escalation.stack import WAITING, EscalationStack


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as rec:
        yield rec


@pytest.fixture
def paged(make_stack: Callable[..., EscalationStack]) -> Iterator[tuple[EscalationStack, dict[str, Any]]]:
    """A stack whose incident has paged tier 1 and waits for an acknowledgement."""
    stack = make_stack(WAITING)
    alarm = stack.create_alarm("ModelErrors-chat")
    stack.put(stack.alarm_event(alarm))
    incident = stack.wait_paged("devops")
    yield stack, incident
    # end the execution so no thread outlives the test
    stack.put(stack.alarm_event(alarm, state="OK"))
    stack.finished()


@pytest.fixture
def make_stack(aws: None, recorder: Recorder) -> Callable[..., EscalationStack]:
    """Build the stack with the given policy (and other parameter overrides)."""

    def make(escalation_policy: str, **parameters: Any) -> EscalationStack:
        return EscalationStack(recorder, {"EscalationPolicy": escalation_policy, **parameters})

    return make


@pytest.fixture
def incidents_table(aws: None) -> Any:
    """The incidents table on moto, shaped as template.yaml declares it (named "incidents")."""
    import boto3

    props = resources()["IncidentsTable"]["Properties"]
    return boto3.resource("dynamodb", region_name="us-east-1").create_table(
        TableName="incidents",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
    )
