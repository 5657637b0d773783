"""Approval of a remediation by a person: a task token behind signed approve/reject links.

The workflow pauses on a `.waitForTaskToken` task; `request_approval` keeps the token in the
state table (keyed by execution name, expiring with the approval timeout), signs an approve and
a reject link for that execution and publishes them to the remediation topic and, through the
escalation channels (`notify_approvers`), to the people who would be paged. The link endpoint
(`decide`) checks the signature, takes the token out of the table exactly once (a second click
or a replayed link finds nothing) and answers Step Functions; an answer Step Functions did not
take (throttled, unreachable) puts the token back, so the link is used up only by a decision.

Links open a confirmation page (GET) and act only on its button (POST): mail scanners and chat
unfurlers fetch links, and must not approve a failover by doing so.
"""

from __future__ import annotations

import contextlib
import html
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from bedrock_watch.channels import ChannelError
from bedrock_watch.errors import BedrockWatchError, aws_error_code
from bedrock_watch.pages import Message
from bedrock_watch.signing import InvalidSignature, LinkClaims, sign, verify

DECISIONS = ("approve", "reject")
NO_LONGER_NEEDED = (
    "This approval is no longer needed: the remediation was already decided, timed out or ended. "
    "Nothing was changed."
)
# What Step Functions answers for a task token that no longer waits (timed out, execution ended).
_GONE = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


class ApprovalNotPending(BedrockWatchError):
    """The approval was already decided, timed out or never existed."""


@dataclass(frozen=True, slots=True)
class ApprovalLinks:
    approve: str
    reject: str


def links(
    secret: bytes, *, base_url: str, execution: str, ttl_seconds: int, now: float | None = None
) -> ApprovalLinks:
    """Signed approve/reject links for `execution`, valid as long as the approval waits."""

    def link(decision: str) -> str:
        token = sign(secret, purpose=decision, subject=execution, ttl_seconds=ttl_seconds, now=now)
        return f"{base_url.rstrip('/')}/?{urlencode({'decision': decision, 'token': token})}"

    return ApprovalLinks(approve=link("approve"), reject=link("reject"))


def request_approval(
    *,
    dynamodb: Any,
    sns: Any,
    table_name: str,
    topic_arn: str,
    secret: bytes,
    base_url: str,
    task_token: str,
    execution: str,
    request: Mapping[str, Any],
    plan: Mapping[str, Any],
    target: str,
    timeout_seconds: int,
    now: datetime,
) -> ApprovalLinks:
    """Store the task token and publish the approve/reject links; the links."""
    expires = int(now.timestamp()) + timeout_seconds
    dynamodb.put_item(
        TableName=table_name,
        Item={
            "pk": {"S": f"approval#{execution}"},
            "taskToken": {"S": task_token},
            "route": {"S": str(request.get("route", ""))},
            "target": {"S": target},
            "expiresAt": {"N": str(expires)},
        },
    )
    approval = links(
        secret, base_url=base_url, execution=execution, ttl_seconds=timeout_seconds, now=now.timestamp()
    )
    message = {
        "summary": f"Approval needed: {request.get('action')} route {request.get('route')} "
        f"from {plan.get('previous')} to {target}",
        "reason": request.get("reason"),
        "requestedBy": request.get("requestedBy"),
        "plan": plan.get("why"),
        "approve": approval.approve,
        "reject": approval.reject,
        "expiresInSeconds": timeout_seconds,
        "execution": request.get("executionArn"),
    }
    sns.publish(
        TopicArn=topic_arn,
        Subject=f"[bedrock-watch] approve {request.get('action')} of route {request.get('route')}?"[:100],
        Message=json.dumps(message, indent=1),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "approval"}},
    )
    return approval


def approval_message(
    *,
    request: Mapping[str, Any],
    plan: Mapping[str, Any],
    target: str,
    approval: ApprovalLinks,
    timeout_seconds: int,
) -> Message:
    """The approval request as an escalation-channel message (Slack, PagerDuty, JSM, SNS)."""
    action, route = str(request.get("action", "")), str(request.get("route", ""))
    facts = [
        ("Action", action),
        ("Route", route),
        ("From", str(plan.get("previous", ""))),
        ("To", target),
        ("Why", str(plan.get("why", ""))),
        ("Reason", str(request.get("reason") or "")),
        ("Requested by", str(request.get("requestedBy") or "")),
        ("Execution", str(request.get("executionArn") or request.get("executionName") or "")),
    ]
    return Message(
        kind="page",
        incident_id=f"approval-{request.get('executionName', '')}",
        severity="warning",
        tier="approvers",
        title=f"Approval needed: {action} route {route} to {target}",
        summary=(
            f"A remediation waits for a person. Approve or reject within {max(1, timeout_seconds // 60)} "
            "minute(s); without an answer it fails and the route stays as it is."
        ),
        facts=[(label, value) for label, value in facts if value],
        links=[("Approve", approval.approve), ("Reject", approval.reject)],
    )


def notify_approvers(channels: Mapping[str, Any], message: Message) -> list[str]:
    """Send `message` on every channel (ref -> channel); the failures as "ref: error" lines.

    A failing channel never stops the others: the links also went to the remediation topic."""
    failures = []
    for ref, channel in channels.items():
        try:
            channel.send(message)
        except ChannelError as err:
            failures.append(f"{ref}: {type(err).__name__}: {err}")
    return failures


@dataclass(frozen=True, slots=True)
class Decision:
    decision: str
    execution: str
    route: str
    target: str


def decide(
    *,
    dynamodb: Any,
    sfn: Any,
    table_name: str,
    secret: bytes,
    token: str,
    decision: str,
    decided_by: str,
    now: float | None = None,
) -> Decision:
    """Verify the link and answer the waiting task once; InvalidSignature or ApprovalNotPending
    (already decided, timed out or ended: then nothing changes and the clicker is told so)."""
    claims = check_link(secret, token, decision)
    try:
        # Deleting with a condition and ReturnValues makes the token single-use even under
        # concurrent clicks; an approval past its wait (DynamoDB TTL deletes lazily) is not taken.
        item = dynamodb.delete_item(
            TableName=table_name,
            Key={"pk": {"S": f"approval#{claims.subject}"}},
            ConditionExpression="attribute_exists(pk) AND expiresAt > :now",
            ExpressionAttributeValues={":now": {"N": str(int(time.time() if now is None else now))}},
            ReturnValues="ALL_OLD",
        )["Attributes"]
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise ApprovalNotPending(NO_LONGER_NEEDED) from None
    result = Decision(decision, claims.subject, item["route"]["S"], item["target"]["S"])
    task_token = item["taskToken"]["S"]
    try:
        if decision == "approve":
            sfn.send_task_success(taskToken=task_token, output=json.dumps({"approvedBy": decided_by}))
        else:
            sfn.send_task_failure(
                taskToken=task_token,
                error="ApprovalRejected",
                cause=f"rejected by {decided_by}: route {result.route} left unchanged",
            )
    except Exception as err:
        if isinstance(err, ClientError) and aws_error_code(err) in _GONE:
            raise ApprovalNotPending(NO_LONGER_NEEDED) from None
        # Throttled, unreachable, refused: the workflow was not answered, so the link must keep
        # working. The item goes back and the clicker is told to try again (a 500, logged).
        _put_back(dynamodb, table_name, item)
        raise
    return result


def _put_back(dynamodb: Any, table_name: str, item: dict[str, Any]) -> None:
    """Restore an approval taken for an answer Step Functions did not accept; never over a newer
    item of the same execution."""
    with contextlib.suppress(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(TableName=table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")


def check_link(secret: bytes, token: str, decision: str) -> LinkClaims:
    """The link's claims; InvalidSignature unless it is a valid, unexpired `decision` link.
    Checking does not use the link up."""
    if decision not in DECISIONS:
        raise InvalidSignature(f"decision must be approve or reject, got {decision!r}")
    return verify(secret, token, purpose=decision)


def page(title: str, body: str, *, status: int = 200) -> dict[str, Any]:
    """A small HTML response for a Lambda function URL."""
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'><meta name='robots' content='noindex'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return {"statusCode": status, "headers": {"content-type": "text/html; charset=utf-8"}, "body": doc}


def confirmation_page(decision: str, token: str) -> dict[str, Any]:
    """The GET page: a button that POSTs the decision (link prefetchers never press it)."""
    form = (
        "<form method='post'>"
        f"<input type='hidden' name='decision' value='{html.escape(decision)}'>"
        f"<input type='hidden' name='token' value='{html.escape(token)}'>"
        f"<button type='submit'>{html.escape(decision.capitalize())} this remediation</button></form>"
    )
    return page(f"{decision.capitalize()} remediation?", form)
