"""The remediation part of template.yaml, deployed into moto by the sandbox (sandbox.stack), plus
the handful of things a test does with it: start and wait for executions, read the route, the
lock, the audit records, the notifications and the `Remediation Finished` events, click links.

Only the remediation resources (and what they refer to) are deployed: everything else in the
template is irrelevant here and would only slow each test down. Names, code, environment, ASL
and substitutions all come from template.yaml through the sandbox deployer.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3

from sandbox.intrinsics import REGION
from sandbox.stack import Stack as SandboxStack
from sandbox.stack import template_subset
from sandbox.template import load_template

PREFIXES = ("Remediation", "Route")
# Fast waits for tests; every other parameter keeps its template default.
FAST = {"VerifySettleSeconds": 1, "FailbackCooldownSeconds": 1, "ApprovalTimeoutSeconds": 30}
# Waits shorter than the template allows (CloudFormation refuses ApprovalTimeoutSeconds < 60, and
# so does the sandbox): deployed at the minimum, then the function that reads the value is given
# the test's value, as an operator could set it on the function by hand.
SHORTENED = {"ApprovalTimeoutSeconds": ("RemediationValidateFunction", "APPROVAL_TIMEOUT_SECONDS")}


def remediation_template() -> dict[str, Any]:
    """template.yaml with only the remediation resources and the resources they refer to."""
    return template_subset(load_template(), PREFIXES)


@dataclass
class Stack:
    sandbox: SandboxStack
    subscriber_queue: str = ""
    events_queue: str = ""

    @property
    def params(self) -> dict[str, Any]:
        return self.sandbox.parameters

    def physical(self, logical: str) -> str:
        return str(self.sandbox.physical_id(logical))

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    @property
    def state_machine_arn(self) -> str:
        return self.physical("RemediationStateMachine")

    @property
    def route_prefix(self) -> str:
        return str(self.sandbox.resources["RoutesDeclaration"].properties["Prefix"])

    # ------------------------------------------------------------------ using it

    def start(self, payload: dict[str, Any], name: str | None = None) -> str:
        return self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name or f"test-{uuid.uuid4().hex[:12]}",
            input=json.dumps(payload),
        )["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            desc = sfn.describe_execution(executionArn=execution_arn)
            if desc["status"] != "RUNNING":
                return desc
            time.sleep(0.05)
        raise AssertionError(f"{execution_arn} still running after {timeout}s")

    def route(self, name: str = "chat") -> dict[str, Any]:
        value = self.client("ssm").get_parameter(Name=f"{self.route_prefix}/{name}")["Parameter"]["Value"]
        doc: dict[str, Any] = json.loads(value)
        return doc

    def lock(self, route: str = "chat") -> dict[str, Any] | None:
        item = self.client("dynamodb").get_item(
            TableName=self.physical("RemediationStateTable"), Key={"pk": {"S": f"lock#{route}"}}
        )
        return item.get("Item")

    def audit(self, route: str = "chat") -> list[dict[str, Any]]:
        items = self.client("dynamodb").query(
            TableName=self.physical("RemediationAuditTable"),
            KeyConditionExpression="route = :r",
            ExpressionAttributeValues={":r": {"S": route}},
        )["Items"]
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]

    def _drain(self, queue_url: str) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    def notifications(self) -> list[dict[str, Any]]:
        """Messages published to the remediation topic: {subject, message (parsed)}."""
        return [
            {"subject": n.get("Subject"), "message": json.loads(n["Message"])}
            for n in self._drain(self.subscriber_queue)
        ]

    def finished_events(self) -> list[dict[str, Any]]:
        """`Remediation Finished` events put on the default bus (detail only)."""
        return [e["detail"] for e in self._drain(self.events_queue)]

    def put_bedrock_metrics(self, model: str, **values: float) -> None:
        """What AWS/Bedrock publishes for `model` as called (the meter publishes nothing per model
        at the default MetricDetail), e.g. Invocations=28, InvocationServerErrors=12."""
        from bedrock_watch.contract import AWS_BEDROCK_NAMESPACE, DIMENSION_MODEL

        dims = [{"Name": DIMENSION_MODEL, "Value": model}]
        self.client("cloudwatch").put_metric_data(
            Namespace=AWS_BEDROCK_NAMESPACE,
            MetricData=[
                {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": "Count"}
                for name, value in values.items()
            ],
        )

    def approval_request(self, timeout: float = 30) -> dict[str, Any]:
        """The next approval request published to the topic (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for note in self.notifications():
                if "approve" in note["message"]:
                    message: dict[str, Any] = note["message"]
                    return message
            time.sleep(0.05)
        raise AssertionError("no approval request was published")

    def click(self, link: str, method: str = "POST") -> dict[str, Any]:
        """Open a signed link as a browser would: GET shows the page, POST submits its form."""
        url = urlsplit(link)
        assert (
            url.netloc
            == urlsplit(self.sandbox.attribute("RemediationApprovalLinkFunctionUrl", "FunctionUrl")).netloc
        )
        query = dict(parse_qsl(url.query))
        event: dict[str, Any] = {
            "rawPath": url.path,
            "requestContext": {"http": {"method": method, "sourceIp": "203.0.113.9"}},
            "isBase64Encoded": False,
        }
        if method == "GET":
            event["queryStringParameters"] = query
        else:
            event["body"] = urlencode(query)
        response: dict[str, Any] = self.invoke("RemediationApprovalLinkFunction", event)
        return response

    def invoke(self, logical: str, event: Any) -> Any:
        resp = self.client("lambda").invoke(
            FunctionName=self.sandbox.function_name(logical), Payload=json.dumps(event)
        )
        return json.loads(resp["Payload"].read())


def deploy(name: str = "bedrock-watch", **param_overrides: Any) -> Stack:
    """Deploy the remediation resources of template.yaml into moto; the deployed stack, with a
    queue subscribed to the remediation topic and one catching `Remediation Finished` events."""
    template = remediation_template()
    wanted = {**FAST, **param_overrides}
    shortened = {
        key: value
        for key, value in wanted.items()
        if key in SHORTENED and value < template["Parameters"][key].get("MinValue", value)
    }
    parameters = {
        k: template["Parameters"][k]["MinValue"] if k in shortened else v for k, v in wanted.items()
    }
    sandbox = SandboxStack(template, stack_name=name, parameters=parameters)
    stack = Stack(sandbox.create())
    lam = stack.client("lambda")
    for key, value in shortened.items():
        logical, variable = SHORTENED[key]
        function = sandbox.function_name(logical)
        env = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        lam.update_function_configuration(
            FunctionName=function, Environment={"Variables": {**env, variable: str(value)}}
        )
    sqs, events = stack.client("sqs"), stack.client("events")
    # moto matches a scheduled rule (it has no pattern) against every event put on the bus, so
    # each `Remediation Finished` event would fire the month-start restore. In AWS it fires on
    # its schedule only: detach its targets; tests fire it with the sandbox's clock instead.
    for spec in sandbox.schedules:
        if spec.source == "events-rule":
            targets = events.list_targets_by_rule(Rule=spec.name)["Targets"]
            events.remove_targets(Rule=spec.name, Ids=[t["Id"] for t in targets])

    def queue(queue_name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=f"{name}-{queue_name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    stack.subscriber_queue, subscriber_arn = queue("observer")
    stack.client("sns").subscribe(
        TopicArn=sandbox.arn("RemediationTopic"), Protocol="sqs", Endpoint=subscriber_arn
    )
    stack.events_queue, events_arn = queue("events")
    events.put_rule(
        Name=f"{name}-finished", EventPattern=json.dumps({"source": ["bedrock-watch.remediation"]})
    )
    events.put_targets(Rule=f"{name}-finished", Targets=[{"Id": "q", "Arn": events_arn}])
    return stack


def seed_routes(stack: Stack, request_type: str, old_routes: str | None = None) -> dict[str, Any]:
    """Send the Custom::Routes seeder handler a CloudFormation request (the sandbox sent Create
    at deployment); its reply, captured instead of sent. `Routes` comes from stack.params."""
    props = {
        k: v
        for k, v in stack.sandbox.resources["RoutesDeclaration"].properties.items()
        if k != "ServiceToken"
    }
    props["Routes"] = stack.params["Routes"]
    replies: list[bytes] = []
    event = {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-response.invalid/",
        "StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/{stack.sandbox.stack_name}/x",
        "RequestId": uuid.uuid4().hex,
        "LogicalResourceId": "RoutesDeclaration",
        "ResourceType": "Custom::Routes",
        "PhysicalResourceId": stack.physical("RoutesDeclaration"),
        "ResourceProperties": props,
    }
    if old_routes is not None:
        event["OldResourceProperties"] = {**props, "Routes": old_routes}
    with mock.patch("bedrock_watch.custom_resource._put", lambda url, body: replies.append(body)):
        stack.invoke("RouteSeederFunction", event)
    reply: dict[str, Any] = json.loads(replies[0])
    assert reply["Status"] == "SUCCESS", reply["Reason"]
    return reply
