"""The remediation workflow's template and ASL: names, placeholders, IAM scoping, encryption."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from bedrock_watch import approvals, remediation, routes
from bedrock_watch.errors import BedrockWatchError
from sandbox.template import STATEMACHINES, load_asl, load_template, resources

ASL = load_asl("remediation")
MACHINE = load_template()["Resources"]["RemediationStateMachine"]["Properties"]
FUNCTIONS = {
    k: v
    for k, v in resources(type_="AWS::Serverless::Function").items()
    if "Remediation" in k or "Route" in k
}
AWS_ERROR_PREFIXES = ("States.", "Lambda.", "DynamoDB.")
ARN = "arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:"
ROUTE_PARAMETERS = ARN.replace("{service}", "ssm") + "parameter/${AWS::StackName}/routes/*"
STACK_ALARMS = ARN.replace("{service}", "cloudwatch") + "alarm:${AWS::StackName}.*"


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def asl_error_names() -> set[str]:
    names: set[str] = set()
    for key, value in walk(ASL):
        if key == "ErrorEquals":
            names.update(value)
        elif key == "Error" and isinstance(value, str):
            names.add(value)
    return {n for n in names if not n.startswith(AWS_ERROR_PREFIXES)}


def test_every_domain_error_the_asl_names_is_a_real_exception_class() -> None:
    names = asl_error_names()
    assert names, "the ASL should catch named domain errors"
    for name in names:
        cls = (
            getattr(remediation, name, None) or getattr(approvals, name, None) or getattr(routes, name, None)
        )
        assert isinstance(cls, type), f"{name} is not an exception class"
        assert issubclass(cls, BedrockWatchError), name


def test_placeholders_and_substitutions_match_both_ways() -> None:
    text = (STATEMACHINES / "remediation.asl.json").read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    assert placeholders == set(MACHINE["DefinitionSubstitutions"])


def test_every_task_resource_is_a_placeholder_or_a_service_integration() -> None:
    for key, value in walk(ASL):
        if key in ("Resource", "FunctionName", "TopicArn", "TableName"):
            assert value.startswith(("${", "arn:aws:states:::")), value


def statements(fn: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in fn["Properties"].get("Policies", []):
        out.extend(policy.get("Statement", []) if isinstance(policy, dict) else [])
    return out


def actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else list(value)


def test_only_the_probe_may_invoke_models_and_only_the_routes_candidates() -> None:
    invokers = {
        name: s
        for name, fn in FUNCTIONS.items()
        for s in statements(fn)
        if "bedrock:InvokeModel" in actions(s)
    }
    assert set(invokers) == {"RemediationProbeFunction"}
    assert invokers["RemediationProbeFunction"]["Resource"] == {
        "Fn::Split": [",", {"Fn::GetAtt": ["RoutesDeclaration", "InvokeArns"]}]
    }


# The one other parameter the stack writes: Bedrock logging as it was before the stack enabled it.
PREVIOUS_LOGGING = (
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/"
    "${AWS::StackName}/invocation-logging/previous"
)


def test_ssm_writes_are_scoped_to_the_stacks_route_prefix() -> None:
    writers = 0
    for fn in resources(type_="AWS::Serverless::Function").values():
        for s in statements(fn):
            if any(a.startswith(("ssm:Put", "ssm:Delete", "ssm:*")) for a in actions(s)):
                if s["Resource"] == {"Fn::Sub": PREVIOUS_LOGGING}:
                    continue
                writers += 1
                assert s["Resource"] == {"Fn::Sub": ROUTE_PARAMETERS}
    assert writers == 2  # the seeder and the apply step


def test_alarm_reads_are_scoped_to_this_stacks_alarms() -> None:
    alarm_arn = {"Fn::Sub": STACK_ALARMS}
    trigger = statements(FUNCTIONS["RemediationTriggerFunction"])
    assert [s["Resource"] for s in trigger if "cloudwatch:ListTagsForResource" in actions(s)] == [alarm_arn]
    machine = [s for p in MACHINE["Policies"] if isinstance(p, dict) for s in p.get("Statement", [])]
    assert [s["Resource"] for s in machine if "cloudwatch:DescribeAlarms" in actions(s)] == [alarm_arn]
    pattern = FUNCTIONS["RemediationTriggerFunction"]["Properties"]["Events"]["AlarmStateChange"][
        "Properties"
    ]
    assert pattern["Pattern"]["detail"]["alarmName"] == [{"prefix": {"Fn::Sub": "${AWS::StackName}."}}]


@pytest.mark.parametrize("name", ["RemediationStateTable", "RemediationAuditTable"])
def test_tables_are_encrypted(name: str) -> None:
    assert load_template()["Resources"][name]["Properties"]["SSESpecification"] == {"SSEEnabled": True}


def test_the_lock_expires_through_the_table_ttl() -> None:
    ttl = load_template()["Resources"]["RemediationStateTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiresAt", "Enabled": True}


def test_the_topic_is_encrypted() -> None:
    assert load_template()["Resources"]["RemediationTopic"]["Properties"]["KmsMasterKeyId"] == {
        "Ref": "TopicKey"
    }


def test_the_async_trigger_has_an_on_failure_destination() -> None:
    config = FUNCTIONS["RemediationTriggerFunction"]["Properties"]["EventInvokeConfig"]
    assert config["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_the_workflow_is_standard_and_releases_the_lock_from_every_finish() -> None:
    assert MACHINE["Type"] == "STANDARD"
    states = ASL["States"]
    # every outcome goes through Record -> Notify -> EmitFinished -> ReleaseLock -> Finished
    for name in ("Applied", "DryRun", "Unchanged", "RolledBack", "MarkFailed", "CancelledOutcome"):
        assert states[name]["Next"] == "Record"
    assert states["Notify"]["Next"] == states["Notify"]["Catch"][0]["Next"] == "EmitFinished"
    assert states["EmitFinished"]["Next"] == states["EmitFinished"]["Catch"][0]["Next"] == "ReleaseLock"
    assert states["ReleaseLock"]["Next"] == "Finished"
    # every task after the lock is taken is caught
    after_lock = ["AcquireLock", "Plan", "Probe", "RequestApproval", "Apply", "Verify", "Rollback"]
    for name in after_lock:
        assert any("States.ALL" in c["ErrorEquals"] for c in states[name]["Catch"]), name


def test_the_outcomes_the_workflow_reports_are_the_ones_the_domain_knows() -> None:
    set_by_asl = {s["Result"] for s in ASL["States"].values() if s.get("ResultPath") == "$.outcome"}
    assert set_by_asl == set(remediation.OUTCOMES)
