"""The remediation part of template.yaml, created in moto (with the `aws` fixture's shims).

Everything is read from template.yaml and statemachines/: resource names, function code folders,
handlers, environment, ASL and DefinitionSubstitutions, the alarm rule's pattern. Intrinsics are
resolved by a small resolver (Ref, Fn::Sub, Fn::GetAtt) for the resources created here. The
custom resource that seeds routes runs the real seeder handler; its reply to CloudFormation is
captured instead of sent.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3

from sandbox.intrinsics import Resolver
from sandbox.shims import zip_directory
from sandbox.template import ROOT, STATEMACHINES, load_template, parameter_defaults

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
PREFIXES = ("Remediation", "Route")
# Fast waits for tests; every other parameter keeps its template default.
FAST = {"VerifySettleSeconds": 1, "FailbackCooldownSeconds": 1, "ApprovalTimeoutSeconds": 30}


class _Lookup(Mapping[str, Any]):
    """A read-only mapping computed by a function (KeyError when it has no value)."""

    def __init__(self, get: Callable[[str], Any]) -> None:
        self._get = get

    def __getitem__(self, key: str) -> Any:
        return self._get(key)

    def __contains__(self, key: object) -> bool:
        try:
            self._get(str(key))
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass
class Stack:
    name: str
    params: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    physical: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    subscriber_queue: str = ""
    events_queue: str = ""

    # ------------------------------------------------------------------ resolving

    def ref(self, name: str) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::StackName":
            return self.name
        if name in self.params:
            return str(self.params[name])
        kind = self.resources[name]["Type"]
        if kind in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret", "AWS::Serverless::StateMachine"):
            return self.arns[name]
        return self.physical[name]

    def get_att(self, name: str, attr: str) -> str:
        if name.endswith("Url") and attr == "FunctionUrl":
            return f"https://{self.physical[name.removesuffix('Url')]}.lambda-url.{REGION}.on.aws/"
        if attr == "Arn":
            return self.arns[name]
        if attr in ("Name", "TopicName"):
            return self.physical[name]
        raise KeyError(f"{name}.{attr}")

    def resolve(self, value: Any) -> Any:
        """`value` with its intrinsics resolved against what this harness created."""
        return Resolver(_Lookup(self.ref), _Lookup(lambda key: self.get_att(*key.split(".", 1)))).resolve(
            value
        )

    # ------------------------------------------------------------------ clients

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    @property
    def state_machine_arn(self) -> str:
        return self.arns["RemediationStateMachine"]

    @property
    def route_prefix(self) -> str:
        return f"/{self.name}/routes"

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

    def wait_for_state(self, execution_arn: str, state: str, timeout: float = 30) -> None:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = sfn.get_execution_history(executionArn=execution_arn)["events"]
            if any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in history):
                return
            time.sleep(0.05)
        raise AssertionError(f"{execution_arn} never entered {state}")

    def route(self, name: str = "chat") -> dict[str, Any]:
        value = self.client("ssm").get_parameter(Name=f"{self.route_prefix}/{name}")["Parameter"]["Value"]
        doc: dict[str, Any] = json.loads(value)
        return doc

    def lock(self, route: str = "chat") -> dict[str, Any] | None:
        item = self.client("dynamodb").get_item(
            TableName=self.physical["RemediationStateTable"], Key={"pk": {"S": f"lock#{route}"}}
        )
        return item.get("Item")

    def audit(self, route: str = "chat") -> list[dict[str, Any]]:
        items = self.client("dynamodb").query(
            TableName=self.physical["RemediationAuditTable"],
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

    def put_model_metrics(self, model: str, **values: float) -> None:
        """What the meter publishes for `model` (namespace and dimension from the contract),
        e.g. Requests=40, Errors=12, InputTokens=1e6."""
        from bedrock_watch.contract import DIMENSION_MODEL, METERING_METRICS
        from bedrock_watch.routes import base_model_id

        dims = [{"Name": DIMENSION_MODEL, "Value": base_model_id(model)}]
        self.client("cloudwatch").put_metric_data(
            Namespace=self.params["MetricsNamespace"],
            MetricData=[
                {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": METERING_METRICS[name]}
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
            url.netloc == urlsplit(self.get_att("RemediationApprovalLinkFunctionUrl", "FunctionUrl")).netloc
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
        resp = self.client("lambda").invoke(FunctionName=self.physical[logical], Payload=json.dumps(event))
        return json.loads(resp["Payload"].read())


def _function_env(stack: Stack, props: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    template = load_template()
    env = dict(template["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    env.update(props.get("Environment", {}).get("Variables", {}))
    resolved = {k: str(stack.resolve(v)) for k, v in env.items()}
    return {**resolved, **overrides}


def deploy(name: str = "bedrock-watch", **param_overrides: Any) -> Stack:
    """Create the remediation resources of template.yaml in moto; the deployed stack."""
    template = load_template()
    params = {k: v for k, v in parameter_defaults(template).items() if v is not None}
    params.update(FAST)
    params.update(param_overrides)
    chosen = {
        k: v for k, v in template["Resources"].items() if k.startswith(PREFIXES) or k == "LinkSigningSecret"
    }
    stack = Stack(name=name, params=params, resources=chosen)

    for logical, res in chosen.items():
        kind, props = res["Type"], res.get("Properties", {})
        physical = f"{name}-{logical}"[:64]
        if kind == "AWS::Serverless::StateMachine":
            physical = stack.resolve(props.get("Name", physical))
            stack.arns[logical] = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{physical}"
        elif kind == "AWS::Serverless::Function":
            stack.arns[logical] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}"
        elif kind == "AWS::DynamoDB::Table":
            stack.arns[logical] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}"
        elif kind == "AWS::SQS::Queue":
            stack.arns[logical] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical}"
        stack.physical[logical] = physical

    # Data stores and topics first (their names and ARNs feed everything else).
    ddb, sns, sqs = stack.client("dynamodb"), stack.client("sns"), stack.client("sqs")
    for logical, res in chosen.items():
        kind, props = res["Type"], res.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            ddb.create_table(
                TableName=stack.physical[logical],
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode=props["BillingMode"],
                SSESpecification={"Enabled": props["SSESpecification"]["SSEEnabled"]},
            )
            if "TimeToLiveSpecification" in props:
                ddb.update_time_to_live(
                    TableName=stack.physical[logical],
                    TimeToLiveSpecification=props["TimeToLiveSpecification"],
                )
        elif kind == "AWS::SNS::Topic":
            stack.arns[logical] = sns.create_topic(
                Name=stack.physical[logical], Attributes={"KmsMasterKeyId": props["KmsMasterKeyId"]}
            )["TopicArn"]
        elif kind == "AWS::SQS::Queue":
            sqs.create_queue(QueueName=stack.physical[logical])
        elif kind == "AWS::SecretsManager::Secret":
            stack.arns[logical] = stack.client("secretsmanager").create_secret(
                Name=stack.physical[logical], SecretString=uuid.uuid4().hex * 2
            )["ARN"]

    logs = stack.client("logs")
    for res in chosen.values():
        if res["Type"] == "AWS::Logs::LogGroup":
            logs.create_log_group(logGroupName=stack.resolve(res["Properties"]["LogGroupName"]))

    role = stack.client("iam").create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam = stack.client("lambda")
    for logical, res in chosen.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        lam.create_function(
            FunctionName=stack.physical[logical],
            Runtime="python3.13",
            Role=role,
            Handler=props["Handler"],
            Code={"ZipFile": zip_directory(ROOT / props["CodeUri"])},
            Timeout=int(props.get("Timeout", 30)),
            Environment={"Variables": _function_env(stack, props, {})},
        )
        for event in props.get("Events", {}).values():
            if event["Type"] == "EventBridgeRule":
                events = stack.client("events")
                rule = f"{stack.physical[logical]}-rule"[:64]
                events.put_rule(
                    Name=rule, EventPattern=json.dumps(stack.resolve(event["Properties"]["Pattern"]))
                )
                events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": stack.arns[logical]}])

    sm = chosen["RemediationStateMachine"]["Properties"]
    definition = (STATEMACHINES / Path(sm["DefinitionUri"]).name).read_text()
    subs = stack.resolve(sm["DefinitionSubstitutions"])
    definition = re.sub(r"\$\{(\w+)\}", lambda m: str(subs[m.group(1)]), definition)
    stack.client("stepfunctions").create_state_machine(
        name=stack.physical["RemediationStateMachine"], definition=definition, roleArn=role, type=sm["Type"]
    )

    # Observers: a queue subscribed to the topic, and a rule catching Remediation Finished events.
    stack.subscriber_queue = sqs.create_queue(QueueName=f"{name}-observer")["QueueUrl"]
    observer_arn = sqs.get_queue_attributes(QueueUrl=stack.subscriber_queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=stack.arns["RemediationTopic"],
        Protocol="sqs",
        Endpoint=observer_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "false"},
    )
    stack.events_queue = sqs.create_queue(QueueName=f"{name}-events")["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=stack.events_queue, AttributeNames=["QueueArn"])
    events = stack.client("events")
    events.put_rule(
        Name=f"{name}-finished", EventPattern=json.dumps({"source": ["bedrock-watch.remediation"]})
    )
    events.put_targets(
        Rule=f"{name}-finished", Targets=[{"Id": "q", "Arn": events_arn["Attributes"]["QueueArn"]}]
    )

    seed_routes(stack, "Create")
    return stack


def seed_routes(stack: Stack, request_type: str, old_routes: str | None = None) -> dict[str, Any]:
    """Run the Custom::Routes seeder handler as CloudFormation would; its captured reply."""
    props = stack.resolve(stack.resources["RoutesDeclaration"]["Properties"])
    replies: list[bytes] = []
    event = {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-response.invalid/",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack.name}/x",
        "RequestId": uuid.uuid4().hex,
        "LogicalResourceId": "RoutesDeclaration",
        "ResourceType": "Custom::Routes",
        "ResourceProperties": {k: v for k, v in props.items() if k != "ServiceToken"},
    }
    if old_routes is not None:
        event["OldResourceProperties"] = {**event["ResourceProperties"], "Routes": old_routes}
    with mock.patch("bedrock_watch.custom_resource._put", lambda url, body: replies.append(body)):
        stack.invoke("RouteSeederFunction", event)
    reply: dict[str, Any] = json.loads(replies[0])
    assert reply["Status"] == "SUCCESS", reply["Reason"]
    return reply
