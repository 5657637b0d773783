"""The escalation part of template.yaml, deployed into moto by the sandbox (sandbox.stack): table,
topic, secrets, the four functions (real handlers, run in-process), the state machine from
statemachines/escalation.asl.json and the EventBridge rules — names, environment, substitutions
and patterns all come from the template through the sandbox deployer, as for remediation.
Vendor endpoints (Slack, PagerDuty, JSM) point at a local Recorder on 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from bedrock_watch import signing
from sandbox.events import load_event
from sandbox.intrinsics import ACCOUNT_ID, REGION
from sandbox.recorder import Recorder
from sandbox.stack import Stack as SandboxStack
from sandbox.stack import template_subset
from sandbox.template import load_template

STACK = "bedrock-watch"
PREFIXES = ("Escalation", "Incidents")
SLACK_SIGNING_SECRET = "slack-signing-secret"
PD_WEBHOOK_SECRET = "pd-webhook-secret"
SN_WEBHOOK_SECRET = "sn-webhook-secret"


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


# Tier 2 is a minute away: nothing changes on the incident while a test looks at it.
WAITING = policy(
    ("devops", 0, ["sns", "slack:devops", "pagerduty:devops"]), ("senior", 60, ["sns"]), final=60
)


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
    """template.yaml's escalation resources deployed by the sandbox (sandbox.stack), with the
    vendor secret pointing at the recorder and an SQS queue subscribed to the page topic."""

    recorder: Recorder
    parameters: dict[str, Any]

    def __post_init__(self) -> None:
        self.sandbox = SandboxStack(
            template_subset(load_template(), PREFIXES), stack_name=STACK, parameters=self.parameters
        ).create()
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.lam = boto3.client("lambda", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)
        self.cw = boto3.client("cloudwatch", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        # the operator fills in the vendor secret after the first deploy; here: the recorder
        secrets.put_secret_value(
            SecretId=self.names["EscalationChannelSecret"], SecretString=json.dumps(self.channel_secret())
        )
        self.link_secret = secrets.get_secret_value(SecretId=self.names["LinkSigningSecret"])["SecretString"]
        self.table = boto3.resource("dynamodb", region_name=REGION).Table(self.names["IncidentsTable"])
        self.state_machine_arn = self.names["EscalationStateMachine"]
        self.queue_url = self.sqs.create_queue(QueueName="pages")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        boto3.client("sns", region_name=REGION).subscribe(
            TopicArn=self.names["EscalationTopic"], Protocol="sqs", Endpoint=queue_arn
        )

    @property
    def names(self) -> dict[str, str]:
        """Physical id (what Ref returns) of every deployed resource, by logical id."""
        return {lid: str(resource.physical_id) for lid, resource in self.sandbox.resources.items()}

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
            "servicenow": {
                "instanceUrl": f"{r}/servicenow",
                "username": "bedrock-watch",
                "password": "sn-password",
                "assignmentGroups": {t: f"group-{t}" for t in tiers},
                "webhookSecret": SN_WEBHOOK_SECRET,
            },
        }

    # ---------------------------------------------------------------- driving
    def create_alarm(self, suffix: str, **tags: str) -> str:
        """An alarm named like this stack's alarms, tagged; returns its name."""
        name = f"{STACK}.{suffix}"
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
        event["resources"] = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{alarm}"]
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

    def emf_documents(self, logical: str, metric: str) -> list[dict[str, Any]]:
        """The EMF documents carrying `metric` that a function wrote to its log group."""
        logs = boto3.client("logs", region_name=REGION)
        group = self.sandbox.resources[logical].properties["LoggingConfig"]["LogGroup"]
        out = []
        for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
            events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
            for event in events:
                for line in event["message"].splitlines():
                    if f'"{metric}"' in line and '"_aws"' in line:
                        out.append(json.loads(line))
        return out

    def engine(self) -> Any:
        """The escalation engine as the deployed functions build it (their environment from the
        template), called directly: a test can act on an incident while a function is running
        (the in-process Lambda shim runs one invocation at a time)."""
        from bedrock_watch.escalation import Escalation, EscalationSettings
        from bedrock_watch.incidents import IncidentStore

        env = self.lam.get_function_configuration(FunctionName=self.names["EscalationAckFunction"])
        settings = EscalationSettings.from_env(environ=env["Environment"]["Variables"])
        return Escalation(
            settings,
            store=IncidentStore(settings.table_name, table=self.table),
            channel_secret=self.channel_secret,
            link_secret=self.link_secret.encode,
            cloudwatch=self.cw,
            sfn=self.sfn,
            sns=boto3.client("sns", region_name=REGION),
        )

    def sign(self, incident_id: str, *, ttl: int = 3600, now: float | None = None) -> str:
        return signing.sign(
            self.link_secret.encode(), purpose="ack", subject=incident_id, ttl_seconds=ttl, now=now
        )
