"""The escalation part of template.yaml, created in moto: table, topic, secrets, the four functions
(real handlers, run in-process), the state machine from statemachines/escalation.asl.json and the
EventBridge rules — names, environment, substitutions and patterns all read from the template.
Vendor endpoints (Slack, PagerDuty, JSM) point at a local Recorder on 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from bedrock_watch import signing
from sandbox.events import load_event
from sandbox.intrinsics import Resolver
from sandbox.recorder import Recorder
from sandbox.shims import zip_directory
from sandbox.template import ROOT, load_asl, load_template, parameter_defaults, resources

STACK = "bedrock-watch"
ACCOUNT = "123456789012"
REGION = "us-east-1"
ACK_BASE_URL = "https://ack.invalid/"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/escalation-test"
FUNCTIONS = (
    "EscalationOpenFunction",
    "EscalationPageFunction",
    "EscalationAckFunction",
    "EscalationEventsFunction",
)
SLACK_SIGNING_SECRET = "slack-signing-secret"
PD_WEBHOOK_SECRET = "pd-webhook-secret"


def policy(*tiers: tuple[str, int, list[str]], final: int = 1, repeat: int = 0, repeat_after: int = 1) -> str:
    """An escalation policy in seconds (critical as given; warning pages the first tier only)."""
    critical = {
        "tiers": [{"name": n, "after_seconds": s, "channels": c} for n, s, c in tiers],
        "repeat": repeat,
        "final_ack_timeout_seconds": final,
        **({"repeat_after_seconds": repeat_after} if repeat else {}),
    }
    warning = {"tiers": critical["tiers"][:1], "repeat": 0, "final_ack_timeout_seconds": final}
    return json.dumps({"critical": critical, "warning": warning})


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float = 45.0) -> T:
    """Poll until `probe` returns something truthy (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class EscalationStack:
    recorder: Recorder
    parameters: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.lam = boto3.client("lambda", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.cw = boto3.client("cloudwatch", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.dynamodb = boto3.resource("dynamodb", region_name=REGION)
        self._create()

    # ---------------------------------------------------------------- creation
    def _resolver(self) -> Resolver:
        template = load_template()
        refs: dict[str, Any] = {
            "AWS::StackName": STACK,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            **parameter_defaults(),
            **self.parameters,
            **self.names,
        }
        refs["EscalationAlarmPrefixes"] = refs["EscalationAlarmPrefixes"] or [""]
        if isinstance(refs["EscalationAlarmPrefixes"], str):
            refs["EscalationAlarmPrefixes"] = refs["EscalationAlarmPrefixes"].split(",")
        attrs = {f"{k}.Arn": v for k, v in self.arns.items()}
        attrs["EscalationAckFunctionUrl.FunctionUrl"] = ACK_BASE_URL
        return Resolver(refs, attrs, template.get("Conditions", {}))

    def _create(self) -> None:
        res = resources()
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": s}, "Action": "sts:AssumeRole"}
                for s in ("lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com")
            ],
        }
        boto3.client("iam", region_name=REGION).create_role(
            RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust)
        )
        table = res["IncidentsTable"]["Properties"]
        self.names["IncidentsTable"] = f"{STACK}-incidents"
        self.table = self.dynamodb.create_table(
            TableName=self.names["IncidentsTable"],
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table["BillingMode"],
        )
        topic_arn = self.sns.create_topic(Name=f"{STACK}-pages")["TopicArn"]
        self.names["EscalationTopic"] = topic_arn
        self.queue_url = self.sqs.create_queue(QueueName="pages")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.link_secret = uuid.uuid4().hex * 2
        self.names["LinkSigningSecret"] = self.secrets.create_secret(
            Name=f"{STACK}-link", SecretString=self.link_secret
        )["ARN"]
        self.names["EscalationChannelSecret"] = self.secrets.create_secret(
            Name=f"{STACK}-channels", SecretString=json.dumps(self.channel_secret())
        )["ARN"]
        self._create_functions(res)
        self._create_state_machine(res)
        self._create_rules(res)

    def channel_secret(self) -> dict[str, Any]:
        """The vendor secret with every endpoint on the recorder (same shape as the template's)."""
        r = self.recorder.url
        tiers = ("default", "devops", "senior", "management", "executives")
        return {
            "slack": {
                "webhooks": {t: f"{r}/slack/{t}" for t in tiers},
                "signingSecret": SLACK_SIGNING_SECRET,
            },
            "pagerduty": {
                "routingKeys": {t: f"pd-key-{t}" for t in tiers},
                "webhookSecret": PD_WEBHOOK_SECRET,
                "eventsUrl": f"{r}/pagerduty/enqueue",
            },
            "jsm": {"apiKeys": {t: f"jsm-key-{t}" for t in tiers}, "alertsUrl": f"{r}/jsm/v2/alerts"},
        }

    def _create_functions(self, res: dict[str, dict[str, Any]]) -> None:
        template = load_template()
        global_env = template["Globals"]["Function"]["Environment"]["Variables"]
        for logical in FUNCTIONS:
            self.names[logical] = f"{STACK}-{logical}"
            self.arns[logical] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.names[logical]}"
        resolver = self._resolver()
        logs = boto3.client("logs", region_name=REGION)
        for logical in FUNCTIONS:
            # the template gives every function its own log group (in-process logs land there)
            logs.create_log_group(logGroupName=f"/aws/lambda/{self.names[logical]}")
            props = res[logical]["Properties"]
            env = resolver.resolve({**global_env, **props["Environment"]["Variables"]})
            self.lam.create_function(
                FunctionName=self.names[logical],
                Runtime=template["Globals"]["Function"]["Runtime"],
                Role=ROLE,
                Handler=props["Handler"],
                Code={"ZipFile": zip_directory(ROOT / props["CodeUri"])},
                Timeout=int(props.get("Timeout", template["Globals"]["Function"]["Timeout"])),
                Environment={"Variables": {k: str(v) for k, v in env.items()}},
            )

    def _create_state_machine(self, res: dict[str, dict[str, Any]]) -> None:
        props = res["EscalationStateMachine"]["Properties"]
        substitutions = self._resolver().resolve(props["DefinitionSubstitutions"])
        definition = json.dumps(load_asl("escalation"))
        for key, value in substitutions.items():
            definition = definition.replace("${" + key + "}", value)
        self.state_machine_arn = self.sfn.create_state_machine(
            name=f"{STACK}-escalation", definition=definition, roleArn=ROLE, type=props["Type"]
        )["stateMachineArn"]
        self.names["EscalationStateMachine"] = self.state_machine_arn

    def _create_rules(self, res: dict[str, dict[str, Any]]) -> None:
        resolver = self._resolver()
        targets = {"EscalationStateMachine": self.state_machine_arn, **self.arns}
        for logical, resource in res.items():
            for name, event in (resource.get("Properties", {}).get("Events") or {}).items():
                if event["Type"] != "EventBridgeRule" or logical not in targets:
                    continue
                pattern = resolver.resolve(event["Properties"]["Pattern"])
                rule = f"{logical}-{name}"
                self.events.put_rule(
                    Name=rule, EventPattern=pattern if isinstance(pattern, str) else json.dumps(pattern)
                )
                self.events.put_targets(
                    Rule=rule, Targets=[{"Id": "1", "Arn": targets[logical], "RoleArn": ROLE}]
                )

    # ---------------------------------------------------------------- driving
    def create_alarm(self, suffix: str, **tags: str) -> str:
        """An alarm named like this stack's alarms, tagged; returns its name."""
        name = f"{STACK}-{suffix}"
        self.cw.put_metric_alarm(
            AlarmName=name,
            Namespace="BedrockWatch",
            MetricName="Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=25,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            Tags=[{"Key": k, "Value": v} for k, v in {"Severity": "critical", **tags}.items()],
        )
        return name

    def alarm_event(
        self, alarm: str, *, state: str = "ALARM", at: str = "2026-11-26T14:05:10.430+0000"
    ) -> dict[str, Any]:
        """events/escalation/alarm.json (or ok.json) for this alarm and transition time."""
        event = copy.deepcopy(load_event("escalation/alarm" if state == "ALARM" else "escalation/ok"))
        event["resources"] = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{alarm}"]
        event["detail"]["alarmName"] = alarm
        event["detail"]["state"]["timestamp"] = at
        return event

    def put(self, event: dict[str, Any]) -> None:
        """Publish an event on the default bus as its source would."""
        response = self.events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event.get("resources", []),
                }
            ]
        )
        assert response["FailedEntryCount"] == 0, response

    def executions(self) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]

    def finished(self, count: int = 1) -> list[dict[str, Any]]:
        """Wait until `count` executions ended; their descriptions (output parsed)."""

        def probe() -> list[dict[str, Any]] | None:
            done = [e for e in self.executions() if e["status"] != "RUNNING"]
            return done if len(done) >= count else None

        done = wait_for(f"{count} finished executions", probe)
        out = []
        for e in done:
            desc = self.sfn.describe_execution(executionArn=e["executionArn"])
            desc["output_json"] = json.loads(desc.get("output") or "null")
            out.append(desc)
        return out

    def incidents(self) -> list[dict[str, Any]]:
        from bedrock_watch.incidents import _plain

        items = self.table.scan(ConsistentRead=True)["Items"]
        return [_plain(i) for i in items if str(i["pk"]).startswith("INCIDENT#")]

    def incident(self) -> dict[str, Any]:
        """The one incident (waits for it)."""
        return wait_for("an incident", lambda: (self.incidents() or [None])[0])

    def wait_paged(self, tier: str, index: int | None = None) -> dict[str, Any]:
        """Wait until `tier` was paged; the incident then."""

        def probe() -> dict[str, Any] | None:
            for inc in self.incidents():
                if any(
                    p["tier"] == tier and (index is None or p["index"] == index) for p in inc["pagedTiers"]
                ):
                    return inc
            return None

        return wait_for(f"a page to {tier}", probe)

    def sns_messages(self) -> list[dict[str, Any]]:
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not got:
                return out
            for m in got:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])

    # ---------------------------------------------------------------- acknowledging
    def invoke(self, logical: str, event: dict[str, Any]) -> dict[str, Any]:
        response = self.lam.invoke(FunctionName=self.names[logical], Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise AssertionError(f"{logical} failed: {payload}")
        return payload  # type: ignore[no-any-return]

    def http(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: str = "",
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A function-URL request to the ack function (events/escalation/function-url-request.json)."""
        event = copy.deepcopy(load_event("escalation/function-url-request"))
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["rawQueryString"] = urllib.parse.urlencode(query or {})
        event["queryStringParameters"] = query or None
        event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
        event["body"] = body
        return self.invoke("EscalationAckFunction", event)

    def sign(self, incident_id: str, *, ttl: int = 3600, now: float | None = None) -> str:
        return signing.sign(
            self.link_secret.encode(), purpose="ack", subject=incident_id, ttl_seconds=ttl, now=now
        )
