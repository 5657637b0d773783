"""Approval through signed links, the route lock and the version check, on the real workflow."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sandbox.events import load_event
from tests.integration.remediation.conftest import failure_message
from tests.integration.remediation.harness import Stack

APPROVAL_INPUT: dict[str, Any] = load_event("remediation/failover-with-approval")


def test_approved_remediation_is_applied_once(stack: Stack) -> None:
    # Given a failover that requires approval is waiting
    before = stack.route()
    arn = stack.start(APPROVAL_INPUT, name="needs-approval")
    request = stack.approval_request()
    assert APPROVAL_INPUT["target"] in request["summary"]
    assert stack.route() == before  # nothing changes while waiting

    # When the approver opens the link, the page only asks for confirmation
    page = stack.click(request["approve"], method="GET")
    assert page["statusCode"] == 200
    assert "<form method='post'>" in page["body"]
    assert stack.route() == before
    # and pressing the button approves
    assert stack.click(request["approve"])["statusCode"] == 200

    # Then the remediation completes and the route switches to the approved target
    desc = stack.wait(arn)
    assert desc["status"] == "SUCCEEDED", failure_message(desc)
    assert stack.route()["active"] == APPROVAL_INPUT["target"]
    # and the link cannot be used again
    assert stack.click(request["approve"])["statusCode"] == 409
    assert stack.lock() is None


def test_rejected_remediation_leaves_the_route(stack: Stack) -> None:
    before = stack.route()
    arn = stack.start(APPROVAL_INPUT)
    request = stack.approval_request()

    assert stack.click(request["reject"])["statusCode"] == 200

    desc = stack.wait(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "ApprovalRejected"
    assert stack.route() == before
    assert stack.finished_events()[0]["outcome"] == "failed"
    assert stack.lock() is None


def test_a_forged_or_swapped_link_is_refused(stack: Stack) -> None:
    before = stack.route()
    arn = stack.start(APPROVAL_INPUT)
    request = stack.approval_request()

    # a reject token presented as an approval, and a tampered token
    swapped = request["reject"].replace("decision=reject", "decision=approve")
    assert stack.click(swapped)["statusCode"] == 403
    assert stack.click(request["approve"][:-3] + "xyz")["statusCode"] == 403
    assert stack.click(swapped, method="GET")["statusCode"] == 403

    stack.click(request["reject"])
    assert stack.wait(arn)["error"] == "ApprovalRejected"
    assert stack.route() == before


def test_approval_timeout_fails_cleanly_with_the_route_untouched(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(ApprovalTimeoutSeconds=1)
    before = stack.route()

    desc = stack.wait(stack.start(APPROVAL_INPUT))

    assert desc["status"] == "FAILED"
    assert desc["error"] == "ApprovalTimedOut"
    assert "route left unchanged" in desc["cause"]
    assert stack.route() == before
    assert stack.lock() is None


def test_a_second_remediation_on_a_locked_route_gets_route_locked_naming_the_holder(stack: Stack) -> None:
    # Given one remediation holds route chat (waiting for approval)
    first = stack.start(APPROVAL_INPUT, name="first-holder")
    request = stack.approval_request()

    # When a second one starts on the same route
    second = stack.wait(stack.start(load_event("remediation/downgrade"), name="second-comer"))

    # Then it fails with RouteLocked, saying who holds the lock, and does not free it
    assert second["status"] == "FAILED"
    assert second["error"] == "RouteLocked"
    assert "first-holder" in failure_message(second)
    lock = stack.lock()
    assert lock is not None
    assert lock["holder"]["S"] == "first-holder"

    # and once the first ends the lock is free again
    stack.click(request["reject"])
    stack.wait(first)
    assert stack.lock() is None


def test_a_concurrent_change_of_the_route_fails_cleanly_and_keeps_the_other_write(stack: Stack) -> None:
    # Given a failover planned against the current route is waiting for approval
    arn = stack.start(APPROVAL_INPUT)
    request = stack.approval_request()

    # When someone edits the route in the meantime (e.g. in the Parameter Store console)
    edited = {
        **stack.route(),
        "active": stack.route()["cheaper"],
        "changedBy": "alice",
        "reason": "hand edit",
    }
    stack.client("ssm").put_parameter(
        Name=f"{stack.route_prefix}/chat", Value=json.dumps(edited), Type="String", Overwrite=True
    )
    stack.click(request["approve"])

    # Then the remediation fails with VersionConflict and Alice's change stands
    desc = stack.wait(arn)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "VersionConflict"
    assert stack.route() == edited
    assert stack.lock() is None


def test_approvers_get_the_links_through_the_escalation_channels(stack: Stack) -> None:
    # Given someone on the devops tier subscribed to the escalation topic (ApprovalChannels default)
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="devops-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.client("sns").subscribe(TopicArn=stack.sandbox.arn("EscalationTopic"), Protocol="sqs", Endpoint=arn)

    # When a failover that requires approval starts
    arn_execution = stack.start(APPROVAL_INPUT, name="approval-via-channels")
    request = stack.approval_request()

    # Then the same signed links reach the escalation topic, tagged for the devops tier
    # (published right after the remediation topic, by the same invocation: wait for it)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=10)
    notes = [json.loads(m["Body"]) for m in received["Messages"]]
    # exactly one note carries this request's links (anything else on the topic is not ours)
    [note] = [n for n in notes if request["approve"] in n["Message"]]
    assert note["Subject"].startswith("Approval needed: failover route chat")
    assert request["approve"] in note["Message"]
    assert request["reject"] in note["Message"]
    assert json.loads(note["MessageAttributes"]["tier"]["Value"]) == ["approvers"]
    assert note["MessageAttributes"]["target"]["Value"] == "devops"
    # and the Slack reference, not configured in the channel secret, is reported, not fatal
    stack.click(request["reject"])
    assert stack.wait(arn_execution)["error"] == "ApprovalRejected"


def test_a_late_approval_click_on_a_remediation_that_no_longer_waits_changes_nothing(stack: Stack) -> None:
    # Given a failover waiting for approval, and its approve link (valid for the approval's wait)
    arn = stack.start(APPROVAL_INPUT, name="answered-elsewhere")
    request = stack.approval_request()
    # When an operator answers the waiting task from the CLI instead, and the remediation finishes
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical("RemediationStateTable"), Key={"pk": {"S": "approval#answered-elsewhere"}}
    )["Item"]
    stack.client("stepfunctions").send_task_success(
        taskToken=item["taskToken"]["S"], output='{"approvedBy": "operator (CLI)"}'
    )
    assert stack.wait(arn)["status"] == "SUCCEEDED"
    after = stack.route()

    # Then a late click on the link says the approval is no longer needed, and changes nothing
    late = stack.click(request["approve"])
    assert late["statusCode"] == 409, late
    assert "no longer needed" in late["body"]
    assert "Approved" not in late["body"]
    assert stack.route() == after
    # and a second click says the same, instead of crashing on the used-up approval
    again = stack.click(request["reject"])
    assert (again["statusCode"], "no longer needed" in again["body"]) == (409, True)
    assert stack.route() == after
