"""`bedrock-watch drill --scenario NAME|PATH` (what `make demo` runs): a live incident drill.

The whole stack from template.yaml runs on moto (sandbox.runtime): the scenario's applications
send traffic minute by minute through the real invocation-log path (put_log_events → the
subscription filter → the invocation_metrics function → EMF → the metric store), the AWS/Bedrock
native metrics Bedrock itself would publish are derived from the same records, the budget guard
runs on its schedule, every template alarm is evaluated each simulated minute, and the state
changes reach the escalation and remediation state machines through EventBridge. Pages go to a
local recorder standing in for Slack, PagerDuty and JSM, and to SNS; the scenario's people
acknowledge through the real signed link in the page; applications read their model from the
route in SSM, so a failover moves their traffic.

Simulated time runs `scale` times faster than real time (the drill paces itself), and the waits
the state machines really sleep — tier delays, settle time, fail-back cool-down — are divided by
the same scale when the stack is deployed, so both timelines agree to within a few simulated
seconds (docs/decisions.md, "How the drill scales time").

The drill prints its timeline as it goes, a summary at the end, and writes `timeline.json` and
`report.html` into out/drill-<scenario>/.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

from bedrock_watch.contract import short_alarm_name
from sandbox.intrinsics import REGION
from sandbox.scenario import Acknowledge, Application, Scenario, ScenarioError, load
from sandbox.template import ROOT
from sandbox.traffic import (
    ANTHROPIC_OPERATIONS,
    NOVA_OPERATIONS,
    OPEN_WEIGHTS_OPERATIONS,
    AppSpec,
    ModelSpec,
    TrafficProfile,
    generate,
)
from sandbox.unmetered import MANTLE_NAMESPACE

OUT = ROOT / "out"
NATIVE = "AWS/Bedrock"
OPERATIONS = {
    "anthropic": ANTHROPIC_OPERATIONS,
    "nova": NOVA_OPERATIONS,
    "llama": OPEN_WEIGHTS_OPERATIONS,
    "mistral": OPEN_WEIGHTS_OPERATIONS,
}
# Normal traffic fails only with client errors; incidents add the classes they are about.
BASELINE_ERRORS = {"ValidationException": 0.8, "AccessDeniedException": 0.2}
STORM_ERRORS = {"ThrottlingException": 1.0}
SERVER_ERRORS = {"InternalServerException": 0.6, "ServiceUnavailableException": 0.4}
THROTTLE_CODES = {"ThrottlingException", "ModelNotReadyException", "ServiceQuotaExceededException"}
SERVER_CODES = {"InternalServerException", "ServiceUnavailableException", "ModelTimeoutException"}
# Refused during input validation, before Bedrock accepts the request: not an `Invocation`.
REJECTED_BEFORE_PROCESSING = {"ValidationException"}
# Output tokens count 5x against the TPM quota for these models (FACTS §6).
BURNDOWN_MODELS = ("claude-sonnet-4", "claude-opus-4")
DRILL_PERSON = "bedrock-watch drill"


@dataclass
class Entry:
    """One line of the timeline."""

    minute: float  # simulated minutes since the drill started
    at: str  # simulated time, ISO
    kind: str  # alarm | page | update | ack | resolved | route | remediation | incident | traffic | note
    title: str
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        hours, minutes = divmod(int(self.minute), 60)
        head = f"[+{hours}:{minutes:02d} {self.at[11:16]}] {self.kind.upper():<8} {self.title}"
        if self.detail:
            head += "\n" + "\n".join(f"{' ' * 24}{line}" for line in self.detail.splitlines())
        return head


@dataclass
class DrillResult:
    scenario: Scenario
    timeline: list[Entry]
    incidents: list[dict[str, Any]]
    models: list[dict[str, Any]]
    routes: dict[str, dict[str, Any]]
    wall_seconds: float
    out_dir: Path
    stack_name: str = "bedrock-watch"

    def of(self, kind: str) -> list[Entry]:
        return [e for e in self.timeline if e.kind == kind]


class Timeline:
    """Collects entries and prints each as it happens."""

    def __init__(self, out: TextIO, start: datetime) -> None:
        self.out = out
        self.start = start
        self.entries: list[Entry] = []

    def add(self, now: datetime, kind: str, title: str, detail: str = "", **data: Any) -> Entry:
        entry = Entry((now - self.start).total_seconds() / 60, now.isoformat(), kind, title, detail, data)
        self.entries.append(entry)
        self.out.write(entry.line() + "\n")
        self.out.flush()
        return entry


def _relative(path: str) -> str:
    """`path` relative to the repository when it lies inside it (shorter to read)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def _excerpt(text: str, lines: int = 4, width: int = 100) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()][:lines]
    return "\n".join(f"| {line[:width]}" for line in kept)


# ---------------------------------------------------------------------------- traffic
class Traffic:
    """The scenario's applications calling their routes, one simulated minute at a time."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.carry: dict[str, float] = defaultdict(float)

    def spec(self, model_id: str) -> ModelSpec:
        m = self.scenario.models[model_id]
        return ModelSpec(
            model_id,
            m.family,
            OPERATIONS[m.family],
            1.0,
            m.latency_ms,
            m.ms_per_output_token,
            m.ttft_ms,
            supports_cache=m.family in {"anthropic", "nova"},
        )

    def minute(self, minute: int, start: datetime, active: dict[str, str]) -> list[dict[str, Any]]:
        """Log events for every application's calls in [start, start + 1 min)."""
        events: list[dict[str, Any]] = []
        for index, app in enumerate(self.scenario.applications):
            model = active[app.route]
            factor = 1.0
            for incident in self.scenario.incidents:
                if (
                    incident.kind == "spend_surge"
                    and incident.application == app.name
                    and incident.active(minute)
                ):
                    factor *= incident.factor
            self.carry[app.name] += app.requests_per_minute * factor
            count = int(self.carry[app.name])
            self.carry[app.name] -= count
            if count:
                generated = generate(
                    self.profile(
                        app, model, minute=minute, index=index, count=count, start=start, factor=factor
                    )
                )
                if not app.metered:  # reaches Bedrock, never the invocation log
                    for event in generated:
                        event["unmetered"] = app.endpoint
                events += generated
        events.sort(key=lambda e: int(e["timestamp"]))
        return events

    def profile(
        self,
        app: Application,
        model: str,
        *,
        minute: int,
        index: int,
        count: int,
        start: datetime,
        factor: float,
    ) -> TrafficProfile:
        error_rate, mix, latency = app.error_rate, BASELINE_ERRORS, 1.0
        for incident in self.scenario.incidents:
            if incident.model != model or not incident.active(minute):
                continue
            if incident.kind == "throttling":
                error_rate, mix = incident.rate, STORM_ERRORS
            elif incident.kind == "server_errors":
                error_rate, mix = incident.rate, SERVER_ERRORS
            elif incident.kind == "latency":
                latency *= incident.factor
        # a surge is longer prompts as well as more of them
        grow = min(factor, 2.0)
        return TrafficProfile(
            seed=self.scenario.seed * 100_003 + minute * 101 + index,
            requests=count,
            start_ms=int(start.timestamp() * 1000),
            duration_s=55.0,  # calls end (and are logged) within the minute
            models=(self.spec(model),),
            applications=(AppSpec(app.name, 1.0, (model,)),),
            error_rate=error_rate,
            error_mix=mix,
            model_latency_factors={model: latency},
            input_tokens=(int(app.input_tokens[0] * grow), int(app.input_tokens[1] * grow)),
            output_tokens=app.output_tokens,
            max_tokens=max(2048, app.output_tokens[1] + 1),
            truncation_rate=0.01,
            body_kb=(0.3, 0.8),
            s3_offload_rate=0.0,
        )


def incident_label(item: dict[str, Any]) -> str:
    """How the timeline names an incident: its earliest alarm (by transition time, then name), so
    alarms of one evaluation give the same name whatever order their executions ran in."""
    alarms = item.get("alarms") or {}
    if not alarms:
        return str(item["alarmName"])
    return min(alarms.items(), key=lambda kv: (float(kv[1].get("at") or 0), kv[0]))[0]


def native_metrics(events: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """What Bedrock itself publishes in AWS/Bedrock for these calls, per ModelId as invoked
    (FACTS §3): `Invocations` for every request Bedrock accepted, failed ones included, and
    throttles apart (neither in Invocations nor in an error metric); client/server errors by
    class; latency per successful call, tokens, and the quota burn (output tokens count 5x for
    the newest Claude). A ValidationException is refused during input validation, before Bedrock
    accepts the request, so it is a client error but not an invocation."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for event in events:
        record = json.loads(event["message"])
        model = str(record["modelId"])
        metrics = out[model]
        code = record.get("errorCode")
        if code in THROTTLE_CODES:
            metrics["InvocationThrottles"].append(1)
            continue
        if code not in REJECTED_BEFORE_PROCESSING:
            metrics["Invocations"].append(1)
        if code:
            metrics["InvocationServerErrors" if code in SERVER_CODES else "InvocationClientErrors"].append(1)
            continue
        started = datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00"))
        metrics["InvocationLatency"].append(max(1.0, int(event["timestamp"]) - started.timestamp() * 1000))
        inputs = record.get("input") or {}
        outputs = record.get("output") or {}
        input_tokens = float(inputs.get("inputTokenCount") or 0)
        cache_write = float(inputs.get("cacheWriteInputTokenCount") or 0)
        output_tokens = float(outputs.get("outputTokenCount") or 0)
        metrics["InputTokenCount"].append(input_tokens)
        metrics["OutputTokenCount"].append(output_tokens)
        burn = 5 if any(m in model for m in BURNDOWN_MODELS) else 1
        metrics["EstimatedTPMQuotaUsage"].append(input_tokens + cache_write + burn * output_tokens)
    return out


# ---------------------------------------------------------------------------- the drill
class Drill:
    """One scenario run against the stack on moto (call inside `Drill.running()`)."""

    def __init__(self, scenario: Scenario, out: TextIO) -> None:
        self.scenario = scenario
        self.out = out
        self.traffic = Traffic(scenario)
        self.seen_changes = 0
        self.incident_marks: dict[str, int] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.routes: dict[str, dict[str, Any]] = {}
        self.pending_acks: list[tuple[datetime, Acknowledge, dict[str, Any]]] = []
        self.acks_done: set[tuple[int, str]] = set()
        # (incident, tier) -> the text of the tier's latest page: what a person holds when an alarm joins
        self.page_texts: dict[tuple[str, str], str] = {}
        self.executions_seen: set[str] = set()
        self.sns_pages: list[str] = []  # page texts received and not yet shown
        self.spend = 0.0
        self.unmetered_sent = 0  # calls the scenario sent past the invocation log

    # ------------------------------------------------------------------ setup
    @contextlib.contextmanager
    def running(self) -> Iterator[Drill]:
        from sandbox.fake_bedrock import fake_converse
        from sandbox.recorder import Recorder
        from sandbox.runtime import running

        # moto's Step Functions engine logs every state failure as ERROR, even one a Catch handles
        # (a tier's ack timeout is the normal way escalation moves on); the timeline reports outcomes
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        # the emulated account's region, for clients the handlers and the route client create
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        # Default start: the whole hour two to three hours ago. Handlers that read the wall clock
        # (month-to-date spend up to "now") then see every simulated datapoint, and 15-minute
        # periods (the budget alarms') fall on the same scenario minutes in every run.
        start = self.scenario.start or (datetime.now(UTC) - timedelta(hours=2)).replace(
            minute=0, second=0, microsecond=0
        )
        if start + timedelta(minutes=self.scenario.duration_minutes) > datetime.now(UTC):
            raise ScenarioError(
                f"start: {start.isoformat()} + duration_minutes would end after now; the budget "
                "guard reads month-to-date spend up to the wall clock, so a drill must lie in the past"
            )
        with (
            Recorder() as recorder,
            fake_converse() as bedrock,
            running(self.scenario.stack_parameters(), start=start, scale=self.scenario.scale) as sb,
        ):
            self.recorder, self.bedrock, self.sb = recorder, bedrock, sb
            self.stack = sb.stack
            self.timeline = Timeline(self.out, start)
            self._connect_channels()
            try:
                yield self
            finally:
                self._stop_executions()

    def _connect_channels(self) -> None:
        """What an operator does after the first deploy: fill the vendor secret (here with the
        recorder's URLs) and subscribe to the page and remediation topics (here an SQS queue)."""
        stack, url = self.stack, self.recorder.url
        targets = {"default"}
        for severity in self.scenario.escalation.values():
            for tier in severity.get("tiers", []):
                targets |= {c.split(":", 1)[1] for c in tier.get("channels", []) if ":" in c}
        secret = {
            "slack": {
                "webhooks": {t: f"{url}/slack/{t}" for t in targets},
                "signingSecret": secrets.token_hex(16),
            },
            "pagerduty": {
                "routingKeys": {t: f"drill-{t}" for t in targets},
                "webhookSecret": secrets.token_hex(16),
                "eventsUrl": f"{url}/pagerduty/enqueue",
            },
            "jsm": {"apiKeys": {t: f"drill-{t}" for t in targets}, "alertsUrl": f"{url}/jsm/v2/alerts"},
            "servicenow": {
                "instanceUrl": f"{url}/servicenow",
                "username": "bedrock-watch",
                "password": secrets.token_hex(8),
                "assignmentGroups": {t: f"{t} on-call" for t in targets},
                "webhookSecret": secrets.token_hex(16),
            },
        }
        from sandbox.recorder import FakeServiceNow

        self.recorder.respond("/servicenow/api/now/table/incident", FakeServiceNow())
        stack.client("secretsmanager").put_secret_value(
            SecretId=stack.physical_id("EscalationChannelSecret"), SecretString=json.dumps(secret)
        )
        sqs = stack.client("sqs")
        self.inbox = sqs.create_queue(QueueName="drill-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for topic in ("EscalationTopic", "RemediationTopic"):
            stack.client("sns").subscribe(
                TopicArn=stack.physical_id(topic), Protocol="sqs", Endpoint=inbox_arn
            )
        self.log_group = str(stack.parameters["InvocationLogGroupName"])
        logs = stack.client("logs")
        self.log_stream = "aws/bedrock/modelinvocations"
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=self.log_group, logStreamName=self.log_stream)
        from bedrock_watch.routing import RouteClient

        # max_age=0: the drill's applications see a route change at their next call
        self.route_client = RouteClient(f"/{stack.stack_name}/routes", max_age=0)

    def _stop_executions(self) -> None:
        """Executions still waiting (an unacknowledged tier, a cool-down) end with the drill."""
        sfn = self.stack.client("stepfunctions")
        for machine in self.stack.of_type(
            "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"
        ):
            arn = self.stack.arn(machine)
            for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                # it may have ended between the listing and the stop
                with contextlib.suppress(sfn.exceptions.ClientError):
                    sfn.stop_execution(executionArn=execution["executionArn"], cause="drill ended")

    # ------------------------------------------------------------------ the loop
    def run(self) -> DrillResult:
        sc = self.scenario
        started = time.monotonic()
        self._announce()
        real_start = time.monotonic()
        step = 60.0 / sc.scale
        for minute in range(sc.duration_minutes):
            now = self.sb.clock.now()
            for incident in sc.incidents:
                if incident.from_minute == minute:
                    self.timeline.add(
                        now, "incident", f"starts: {incident.describe()}", until=incident.to_minute
                    )
                    if incident.kind == "throttling" and incident.model:
                        self.bedrock.fail(incident.model, "ThrottlingException")
                    if incident.kind == "server_errors" and incident.model:
                        self.bedrock.fail(incident.model, "InternalServerException")
                if incident.to_minute == minute:
                    self.timeline.add(now, "incident", f"ends: {incident.describe()}")
                    if incident.model:
                        self.bedrock.heal(incident.model)
            active = {name: self.route_client.active_model(name) for name in sc.routes}
            events = self.traffic.minute(minute, now, active)
            self._send(events, now)
            self.sb.advance(60)
            self._observe()
            if minute % 10 == 9:
                self._progress(minute + 1, len(events), active)
            # pace: simulated time may not run ahead of the state machines' real sleeps
            deadline = real_start + (minute + 1) * step
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(left, 0.1))
                self._observe_async()
        self._settle()
        self._observe()
        self._unmetered_note()
        return self._finish(time.monotonic() - started)

    def _unmetered_note(self) -> None:
        """What AWS/Bedrock and AWS/BedrockMantle counted that the meter did not, per model."""
        if not self.unmetered_sent:
            return
        from sandbox.unmetered import unmetered_by_model

        ns = str(self.stack.parameters["MetricsNamespace"])
        rows, mantle = unmetered_by_model(self.sb.store, ns, self.timeline.start, self.sb.clock.now())
        detail = "\n".join(
            f"{model}: {count:,.0f} calls Bedrock counted, the meter did not" for model, count in rows
        )
        if mantle:
            detail += (
                f"\nbedrock-mantle: {mantle:,.0f} inferences (AWS/BedrockMantle; never in the invocation log)"
            )
        total = sum(count for _, count in rows) + mantle
        self.timeline.add(
            self.sb.clock.now(), "note", f"unmetered traffic: {total:,.0f} calls", detail, unmetered=total
        )

    def _settle(self, timeout: float = 15.0) -> None:
        """Let remediations already under way finish (escalations wait for people: they stop)."""
        if "RemediationStateMachine" not in self.stack.resources:
            return
        sfn = self.stack.client("stepfunctions")
        arn = self.stack.arn("RemediationStateMachine")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            if not running:
                return
            time.sleep(0.2)
            self._observe_async()

    def _announce(self) -> None:
        sc, stack = self.scenario, self.stack
        self.out.write(
            f"bedrock-watch drill: scenario {sc.name!r} ({_relative(sc.source)})\n"
            f"{sc.description}\n"
            f"stack {stack.stack_name}: {len(stack.resources)} resources created in moto from template.yaml, "
            f"{len(stack.metric_alarms) + len(stack.composite_alarms)} alarms; "
            f"{len(stack.unsupported)} not created, {len(stack.emulated)} emulated\n"
            + "".join(f"  not created: {u.logical_id} ({u.type}): {u.reason}\n" for u in stack.unsupported)
            + f"{sc.duration_minutes} simulated minutes at {sc.scale:g}x "
            f"(about {sc.duration_minutes * 60 / sc.scale:.0f} s); tier delays and waits scaled alike\n\n"
        )

    def _send(self, events: list[dict[str, Any]], now: datetime) -> None:
        """Bedrock's two outputs for this minute: the invocation log (→ the meter) and its own
        metrics; calls of unlogged applications reach only the metrics, bedrock-mantle calls only
        AWS/BedrockMantle."""
        logged = [e for e in events if "unmetered" not in e]
        if logged:
            self.stack.client("logs").put_log_events(
                logGroupName=self.log_group,
                logStreamName=self.log_stream,
                logEvents=[{"timestamp": int(e["timestamp"]), "message": str(e["message"])} for e in logged],
            )
        at = now + timedelta(seconds=30)
        mantle = [e for e in events if e.get("unmetered") == "mantle"]
        if mantle:
            self.sb.store.seed(MANTLE_NAMESPACE, "Inferences", float(len(mantle)), timestamp=at)
        self.unmetered_sent += len(events) - len(logged)
        events = [e for e in events if e.get("unmetered") != "mantle"]
        totals: dict[str, list[float]] = defaultdict(list)
        for model, metrics in native_metrics(events).items():
            for name, values in metrics.items():
                sums = name not in {"InvocationLatency"}
                value: float | list[float] = sum(values) if sums else values
                self.sb.store.seed(NATIVE, name, value, dimensions={"ModelId": model}, timestamp=at)
                totals[name] += [sum(values)] if sums else values
        for name, values in totals.items():
            value = sum(values) if name != "InvocationLatency" else values
            self.sb.store.seed(NATIVE, name, value, timestamp=at)

    # ------------------------------------------------------------------ watching
    def _observe(self) -> None:
        now = self.sb.clock.now()
        changes = self.sb.changes
        for change in changes[self.seen_changes :]:
            if change.previous.value == "INSUFFICIENT_DATA" and change.current.value == "OK":
                continue  # every alarm starts that way; not news
            self.timeline.add(
                now,
                "alarm",
                f"{short_alarm_name(change.alarm, self.stack.stack_name)} "
                f"{change.previous.value} -> {change.current.value}",
                change.current.reason,
                alarm=change.alarm,
                state=change.current.value,
                previous=change.previous.value,
            )
        self.seen_changes = len(changes)
        self._observe_async()

    def _observe_async(self) -> None:
        """What the state machines did in the background: incidents, pages, routes, remediations."""
        now = self.sb.clock.now()
        self._watch_incidents(now)
        self._watch_routes(now)
        self._watch_remediations(now)
        self._due_acks(now)

    def _messages(self) -> list[dict[str, Any]]:
        sqs = self.stack.client("sqs")
        out = []
        while got := sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", []):
            for message in got:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])
        return out

    def _watch_incidents(self, now: datetime) -> None:
        topic = self.stack.physical_id("EscalationTopic")
        self.sns_pages += [str(m.get("Message", "")) for m in self._messages() if m.get("TopicArn") == topic]
        table = self.stack.client("dynamodb")
        from boto3.dynamodb.types import TypeDeserializer

        plain = TypeDeserializer()
        items = table.scan(TableName=self.stack.physical_id("IncidentsTable"), ConsistentRead=True)["Items"]
        for raw in items:
            item = {k: plain.deserialize(v) for k, v in raw.items()}
            if not str(item.get("pk", "")).startswith("INCIDENT#"):
                continue
            incident_id = str(item["incidentId"])
            # the incident store stamps real time; the drill reports the simulated minute it saw
            item["openedAtSimulated"] = self.incidents.get(incident_id, {}).get(
                "openedAtSimulated", now.isoformat()
            )
            self.incidents[incident_id] = item
            seen = self.incident_marks.get(incident_id, 0)
            alarm = short_alarm_name(incident_label(item), self.stack.stack_name)
            for entry in list(item.get("timeline", []))[seen:]:
                self._incident_entry(now, item, alarm, entry)
            self.incident_marks[incident_id] = len(item.get("timeline", []))

    def _incident_entry(
        self,
        now: datetime,
        item: dict[str, Any],
        alarm: str,
        entry: dict[str, Any],
    ) -> None:
        event, detail = str(entry.get("event")), str(entry.get("detail", ""))
        severity = str(item.get("severity"))
        if event == "opened":
            self.timeline.add(
                now,
                "incident",
                f"opened {item['incidentId']} for {alarm} ({severity})",
                alarm=item["alarmName"],
                incident=item["incidentId"],
            )
        elif event in {"paged", "final"}:
            paged = list(item.get("pagedTiers", []))
            tier = str(paged[-1]["tier"]) if paged else "?"
            text = self._claim_page(item)
            delivered = paged[-1].get("delivered") if paged else None
            channels = ", ".join(map(str, delivered)) if isinstance(delivered, list) else str(delivered or "")
            self.timeline.add(
                now,
                "page",
                f"{alarm}: tier {tier} paged ({severity})" + (" - final notice" if event == "final" else ""),
                (f"{detail}\n" if detail else "")
                + (f"delivered: {channels}\n" if channels else "")
                + _excerpt(text),
                alarm=item["alarmName"],
                incident=item["incidentId"],
                tier=tier,
                text=text,
            )
            self.page_texts[(str(item["incidentId"]), tier)] = text
            self._schedule_acks(now, item, tier, text)
        elif event == "acknowledged":
            self.timeline.add(
                now,
                "ack",
                f"{alarm}: {detail}",
                alarm=item["alarmName"],
                incident=item["incidentId"],
                by=item.get("acknowledgedBy", ""),
            )
        elif event == "resolved":
            self.timeline.add(
                now,
                "resolved",
                f"{alarm}: incident resolved",
                detail,
                alarm=item["alarmName"],
                incident=item["incidentId"],
            )
        elif event == "alarm joined":
            joined = short_alarm_name(detail.split(" (", 1)[0], self.stack.stack_name)
            channels = ", ".join(map(str, sorted(item.get("pagedChannels", []) or []))) or "nobody yet"
            self.timeline.add(
                now,
                "update",
                f"{alarm}: {joined} joined the incident (same root cause)",
                f"update to the channels already paged: {channels}",
                alarm=item["alarmName"],
                incident=item["incidentId"],
                joined=joined,
            )
            # Alarms of one cause reach the incident in any order (their events run concurrently):
            # the people already paged act on the alarm they watch once it is on the incident.
            for (incident, tier), text in list(self.page_texts.items()):
                if incident == str(item["incidentId"]):
                    self._schedule_acks(now, item, tier, text)
        elif event == "alarm OK":
            still = [
                short_alarm_name(name, self.stack.stack_name)
                for name, entry in (item.get("alarms") or {}).items()
                if entry.get("state") == "ALARM"
            ]
            self.timeline.add(
                now,
                "incident",
                f"{alarm}: {short_alarm_name(detail.split(' is OK', 1)[0], self.stack.stack_name)} is OK",
                f"still firing: {', '.join(still)}" if still else "",
                incident=item["incidentId"],
            )
        elif event == "channel failed":
            self.timeline.add(now, "note", f"{alarm}: a channel failed", detail)
        else:
            self.timeline.add(now, "incident", f"{alarm}: {event}", detail, incident=item["incidentId"])

    def _claim_page(self, item: dict[str, Any]) -> str:
        """The text of the SNS page for this incident (its ack link names the incident; a final
        notice names the alarm), each message once; updates about joined alarms are not pages."""
        for key in (str(item["incidentId"]), f"{item['alarmName']} "):
            for index, message in enumerate(self.sns_pages):
                if key in message and "] Update on " not in message.split("\n", 1)[0]:
                    del self.sns_pages[index]
                    return message
        return ""

    def _schedule_acks(self, now: datetime, item: dict[str, Any], tier: str, text: str) -> None:
        # the person acknowledges the page about their alarm: any alarm of the incident paged
        names = [str(item["alarmName"]), *(item.get("alarms") or {})]
        for index, ack in enumerate(self.scenario.acknowledgements):
            key = (index, str(item["incidentId"]))
            if any(ack.alarm in name for name in names) and ack.tier == tier and key not in self.acks_done:
                self.acks_done.add(key)
                self.pending_acks.append(
                    (now + timedelta(seconds=ack.after_seconds), ack, {**item, "_page_text": text})
                )

    def _due_acks(self, now: datetime) -> None:
        due = [p for p in self.pending_acks if p[0] <= now]
        self.pending_acks = [p for p in self.pending_acks if p[0] > now]
        for _, ack, item in due:
            self._acknowledge(now, ack, item)

    def _acknowledge(self, now: datetime, ack: Acknowledge, item: dict[str, Any]) -> None:
        """The person opens the signed link from the page and confirms (or types the console input)."""
        incident = str(item["incidentId"])
        if ack.via == "console":
            answer = self._invoke("EscalationAckFunction", {"incidentId": incident, "acknowledgedBy": ack.by})
            self.timeline.add(
                now,
                "note",
                f"{ack.by} acknowledges {incident} from the console",
                str(answer.get("message", "")),
            )
            return
        link = next((w for w in str(item.get("_page_text", "")).split() if "token=" in w), "")
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        if not query.get("token"):
            self.timeline.add(now, "note", f"{ack.by} found no acknowledge link in the page for {incident}")
            return
        self._http("GET", "/ack", query=query)
        answer = self._http("POST", "/ack", body=urlencode({**query, "by": ack.by}))
        self.timeline.add(
            now,
            "note",
            f"{ack.by} opens the acknowledge link from the page and confirms",
            f"POST {urlsplit(link).path} -> HTTP {answer.get('statusCode')}",
        )

    def _invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        response = self.stack.client("lambda").invoke(
            FunctionName=self.stack.function_name(logical_id), Payload=json.dumps(event).encode()
        )
        payload: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
        return payload

    def _http(
        self, method: str, path: str, *, query: dict[str, str] | None = None, body: str = ""
    ) -> dict[str, Any]:
        from sandbox.events import load_event

        event = json.loads(json.dumps(load_event("escalation/function-url-request")))
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["rawQueryString"] = urlencode(query or {})
        event["queryStringParameters"] = query or None
        event["body"] = body
        event["isBase64Encoded"] = False
        return self._invoke("EscalationAckFunction", event)

    def _watch_routes(self, now: datetime) -> None:
        ssm = self.stack.client("ssm")
        for name in self.scenario.routes:
            parameter = ssm.get_parameter(Name=f"/{self.stack.stack_name}/routes/{name}")["Parameter"]
            doc = json.loads(parameter["Value"])
            before = self.routes.get(name)
            self.routes[name] = doc
            if before is None or before.get("active") == doc.get("active"):
                continue
            kind = (
                "failback"
                if doc["active"] == doc.get("primary")
                else ("downgrade" if doc["active"] == doc.get("cheaper") else "failover")
            )
            self.timeline.add(
                now,
                "route",
                f"{kind}: route {name} {before['active']} -> {doc['active']}",
                f"by {doc.get('changedBy')}: {doc.get('reason')}",
                route=name,
                action=kind,
                model=doc["active"],
                previous=before["active"],
            )

    def _watch_remediations(self, now: datetime) -> None:
        if "RemediationStateMachine" not in self.stack.resources:
            return
        sfn = self.stack.client("stepfunctions")
        arn = self.stack.arn("RemediationStateMachine")
        for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
            if execution["status"] == "RUNNING" or execution["executionArn"] in self.executions_seen:
                continue
            self.executions_seen.add(execution["executionArn"])
            desc = sfn.describe_execution(executionArn=execution["executionArn"])
            output = json.loads(desc.get("output") or "{}") if desc.get("output") else {}
            request = json.loads(desc.get("input") or "{}")
            # the workflow ends with its whole state; Record's summary holds the outcome and text
            finished = (output.get("summary") or {}).get("event") or {}
            summary = finished.get("summary")
            outcome = finished.get("outcome") or output.get("outcome") or desc["status"]
            action = request.get("action", "?")
            self.timeline.add(
                now,
                "remediation",
                f"{action} of route {request.get('route', '?')}: {outcome}",
                str(summary or desc.get("cause") or "")[:300],
                action=action,
                route=request.get("route"),
                outcome=outcome,
                status=desc["status"],
            )

    def _progress(self, minute: int, calls: int, active: dict[str, str]) -> None:
        ns = str(self.stack.parameters["MetricsNamespace"])
        from sandbox.metrics import MetricKey

        start = self.timeline.start
        cost = self.sb.store.statistic(MetricKey.of(ns, "CostUSD"), "Sum", start, self.sb.clock.now()) or 0.0
        budget = float(self.stack.parameters["MonthlyBudgetUSD"])
        routes = ", ".join(f"{r}->{m}" for r, m in active.items())
        self.timeline.add(
            self.sb.clock.now(),
            "traffic",
            f"minute {minute}/{self.scenario.duration_minutes}: {calls} calls in the last minute, "
            f"spend ${cost:,.2f} ({100 * cost / budget:.0f} % of ${budget:g}); {routes}",
            spend=cost,
        )

    # ------------------------------------------------------------------ the end
    def _metering_output(self) -> list[str]:
        """Every line the metering function printed (its log group, as Logs Insights reads it)."""
        from sandbox.metering import log_lines

        return log_lines(self.stack.client("logs"), str(self.stack.physical_id("InvocationMetricsLogGroup")))

    def _finish(self, wall: float) -> DrillResult:
        from sandbox.drill_report import model_rows, write_outputs

        result = DrillResult(
            self.scenario,
            self.timeline.entries,
            sorted(self.incidents.values(), key=lambda i: str(i.get("openedAtSimulated"))),
            model_rows(self._metering_output(), self.timeline.start, self.sb.clock.now()),
            self.routes,
            wall,
            OUT / f"drill-{self.scenario.name}",
            self.stack.stack_name,
        )
        write_outputs(result, self.sb, self.out, [r.path for r in self.recorder.requests()])
        return result


def run(scenario: str, out: TextIO = sys.stdout) -> DrillResult:
    """Load `scenario` (a shipped name or a path), run it and return what happened."""
    loaded = load(scenario)
    drill = Drill(loaded, out)
    with drill.running():
        return drill.run()


def timeline_json(result: DrillResult) -> dict[str, Any]:
    """The raw timeline as written to timeline.json."""
    return {
        "scenario": result.scenario.name,
        "source": result.scenario.source,
        "scale": result.scenario.scale,
        "wall_seconds": round(result.wall_seconds, 1),
        "timeline": [asdict(e) for e in result.timeline],
        "incidents": result.incidents,
        "routes": result.routes,
        "models": result.models,
    }
