"""Stateful data outlives the stack, and the topics can be published to by whoever must publish.

Without `DeletionPolicy: Retain`, deleting the stack (or an update that replaces a resource)
destroys the incident history, the remediation audit and the link-signing secret; moto never
deletes a stack, so only the template shows it. An SNS topic under the AWS-managed `aws/sns`
key cannot take CloudWatch alarms or EventBridge rules as publishers, and a role publishing to a
topic under a customer-managed key needs that key too (FACTS §9): neither is enforced by moto.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.intrinsics import ACCOUNT_ID
from sandbox.template import resources
from tests.infra.aws_reference import allows, role_statements
from tests.infra.translated import Rendered, translate

# What a deleted or replaced stack must leave behind, and why.
RETAINED = {
    "IncidentsTable": "the incident history",
    "RemediationAuditTable": "who changed which route, when and why",
    "LinkSigningSecret": "the key every signed link already sent was made with",
    "EscalationChannelSecret": "the vendor credentials filled in by hand",
    "TopicKey": "the key the topics' messages are encrypted with",
}


@pytest.mark.parametrize("logical_id", RETAINED)
def test_stateful_resources_survive_stack_deletion_and_replacement(logical_id: str) -> None:
    # Given the stack as CloudFormation holds it after both transforms
    resource = translate()["Resources"][logical_id]

    # Then deleting the stack or replacing the resource keeps it
    assert resource.get("DeletionPolicy") == "Retain", f"{logical_id} holds {RETAINED[logical_id]}"
    assert resource.get("UpdateReplacePolicy") == "Retain", f"{logical_id} holds {RETAINED[logical_id]}"


@pytest.mark.parametrize(
    "logical_id", [k for k in RETAINED if resources()[k]["Type"] == "AWS::DynamoDB::Table"]
)
def test_retained_tables_can_be_restored_to_any_point_in_time(logical_id: str) -> None:
    spec = resources()[logical_id]["Properties"].get("PointInTimeRecoverySpecification") or {}

    assert spec.get("PointInTimeRecoveryEnabled") is True


def _topic_keys(translated: dict[str, Any]) -> dict[str, str]:
    """Topic logical id -> logical id of the customer-managed key it is encrypted with."""
    out = {}
    for logical_id, topic in translated.items():
        if topic["Type"] != "AWS::SNS::Topic":
            continue
        key = topic["Properties"].get("KmsMasterKeyId")
        assert isinstance(key, dict), f"{logical_id} is not under a key of this stack"
        assert set(key) == {"Ref"}, f"{logical_id} is not under a key of this stack"
        assert translated[key["Ref"]]["Type"] == "AWS::KMS::Key"
        out[logical_id] = key["Ref"]
    return out


def test_topics_use_a_rotated_customer_managed_key_cloudwatch_and_eventbridge_may_use() -> None:
    translated = translate()["Resources"]
    keys = set(_topic_keys(translated).values())

    # one key for every topic: each key is $1 a month
    assert len(keys) == 1
    for key in keys:
        props = translated[key]["Properties"]
        assert props["EnableKeyRotation"] is True
        statements = props["KeyPolicy"]["Statement"]
        by_service = {s["Principal"]["Service"]: s for s in statements if "Service" in s.get("Principal", {})}
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            assert set(by_service[service]["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
        # only alarms of this account (the confused-deputy guard AWS documents for CloudWatch)
        condition = by_service["cloudwatch.amazonaws.com"]["Condition"]
        assert condition["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}


def test_every_role_that_publishes_to_an_encrypted_topic_may_use_its_key() -> None:
    # Given the roles as AWS holds them, with representative ARNs
    template = translate()
    translated = template["Resources"]
    rendered = Rendered(template)
    key_of = _topic_keys(translated)

    # When a role may publish to a topic, Then it may make and read that topic's data keys
    publishers = set()
    for role, resource in translated.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        statements = role_statements(translated, rendered.resources, role)
        for topic, key in key_of.items():
            if not allows(statements, "sns:Publish", rendered.value(topic)):
                continue
            publishers.add(role)
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                assert allows(statements, action, rendered.value(key, "Arn")), (
                    f"{role}: {topic} without {action}"
                )
    # the page, ack, events and approval functions, and both state machines
    assert len(publishers) == 6, sorted(publishers)
