"""A bad configuration fails the deployment (sandbox.stack: template.yaml on moto, the custom
resource's real handler answering CloudFormation), naming the field, before anything that would
act on the configuration exists."""

from __future__ import annotations

import json

import pytest

from sandbox.shims import INVOCATIONS
from sandbox.stack import Stack
from tests.infra.test_configuration_check import ACTING as WAITING_FOR_THE_CHECK

pytestmark = pytest.mark.integration

TIER = {"name": "devops", "after_seconds": 0, "channels": ["sns"]}
# Resources that act on the configuration (those that wait for the check, and the escalation
# workflow their functions drive): none may exist when it was refused.
ACTING = (*WAITING_FOR_THE_CHECK, "EscalationStateMachine")


def typo_policy() -> str:
    tiers = [TIER, {"name": "senior-engineers", "after_seconds": 900, "channels": ["slak"]}]
    return json.dumps(
        {
            "critical": {"tiers": tiers, "final_ack_timeout_seconds": 1800},
            "warning": {"tiers": [TIER], "final_ack_timeout_seconds": 1800},
        }
    )


def test_a_policy_typo_fails_the_deployment_with_the_field_named(aws: None) -> None:
    # Given the whole template with a typo in the second critical tier's channel
    stack = Stack(parameters={"EscalationPolicy": typo_policy()}).create()

    # Then the deployment fails as CloudFormation reports it, naming the parameter and the field
    reason = stack.rollback_reason()
    assert reason is not None
    assert reason.startswith("ConfigurationCheck: Received response status [FAILED] from custom resource.")
    assert (
        "EscalationPolicy: critical.tiers[1].channels[0]: unknown channel type 'slak' "
        "(expected one of ['jsm', 'pagerduty', 'servicenow', 'slack', 'sns'])"
    ) in reason
    # and nothing that would have acted on the configuration was created
    assert not [lid for lid in ACTING if lid in stack.resources]
    assert not [lid for lid in stack.resources if lid.startswith("ModelThrottleRateCritical")]
    assert "CloudFormation would roll this stack back" in stack.report()
    # while the check itself ran (its real handler, in-process), and only it
    checks = [i for i in INVOCATIONS if i.function_name == stack.function_name("ConfigurationCheckFunction")]
    assert len(checks) == 1
    assert not [
        i for i in INVOCATIONS if i.function_name != stack.function_name("ConfigurationCheckFunction")
    ]


def test_a_good_configuration_deploys_with_everything_that_acts_on_it(aws: None) -> None:
    # Given the default configuration
    stack = Stack().create()
    # Then nothing failed and everything that acts on the configuration exists
    assert stack.rollback_reason() is None
    assert all(lid in stack.resources for lid in ACTING)
    assert stack.physical_id("ConfigurationCheck") == "ConfigurationCheck"
