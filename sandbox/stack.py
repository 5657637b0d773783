"""Create template.yaml's resources in moto, the way `sam deploy` would, and report what it could not.

Call `Stack(...).create()` inside an active `mock_aws` (with sandbox.shims' in-process Lambdas and
EventBridge target delivery). Resources are created in dependency order (Ref / GetAtt / Sub /
DependsOn); every property goes through sandbox.intrinsics first. Physical names are the
template's names when given, else `<stack>-<LogicalId>`.

Nothing is skipped silently: a resource that cannot be created is listed in `unsupported` with
the reason, and a resource represented by the sandbox rather than by moto (anomaly detectors,
composite alarms created through moto's backend, layers put on sys.path) is listed in `emulated`
with how. IAM (roles' policies, policies, permissions) is not enforced by moto: roles and managed
policies are created so ARNs resolve, other policy resources are listed as not created for that
reason (tests/infra check IAM against AWS's reference instead).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import string
import sys
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bedrock_watch.limits import CUSTOM_RESOURCE_RESPONSE_BYTES  # CloudFormation refuses a larger reply
from sandbox import calls
from sandbox.alarms import (
    ActionSink,
    AlarmEvaluator,
    CompositeAlarm,
    EventSink,
    MetricAlarm,
    moto_action_sink,
    moto_event_sink,
)
from sandbox.intrinsics import (
    ACCOUNT_ID,
    REGION,
    ForEachHook,
    IntrinsicError,
    Resolver,
    UnresolvedReference,
    default_foreach_hook,
    expand_template,
    references,
    resolve_parameters,
    without_foreach,
)
from sandbox.metricmath import AnomalyModel
from sandbox.metrics import MetricStore
from sandbox.parameters import constraint_problems
from sandbox.shims import zip_directory
from sandbox.template import ROOT, load_template

_LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
_STATES_TRUST = _LAMBDA_TRUST.replace("lambda.amazonaws.com", "states.amazonaws.com")
_SCHEDULER_TRUST = _LAMBDA_TRUST.replace("lambda.amazonaws.com", "scheduler.amazonaws.com")
_NOT_ENFORCED = "not created: moto does not enforce IAM, so this policy or permission would change nothing"
_IAM_ONLY = {
    "AWS::IAM::Policy",
    "AWS::Lambda::Permission",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::Events::EventBusPolicy",
    "AWS::Logs::ResourcePolicy",
}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class StackError(RuntimeError):
    """A resource could not be created (the message names the resource and why)."""


class ResourceFailed(StackError):
    """What CloudFormation reports as CREATE_FAILED and rolls the whole stack back for (a custom
    resource answering FAILED, a log group that already exists), as opposed to a resource the
    sandbox merely cannot emulate."""


@dataclass
class Resource:
    """A created resource: its physical id (what Ref returns) and the attributes GetAtt returns."""

    logical_id: str
    type: str
    physical_id: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unsupported:
    """A template resource the sandbox did not create, and why."""

    logical_id: str
    type: str
    reason: str


@dataclass(frozen=True)
class Emulated:
    """A template resource the sandbox represents itself rather than through moto's API."""

    logical_id: str
    type: str
    how: str


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule the simulated clock fires: EventBridge Scheduler schedules and scheduled rules."""

    logical_id: str
    name: str
    expression: str
    target_arn: str
    input: str | None
    source: str  # "scheduler" or "events-rule"
    rule_arn: str | None = None
    enabled: bool = True

    def occurrences(self, anchor: datetime, since: datetime, until: datetime) -> list[datetime]:
        """Fire times in (since, until]; rate() schedules count from `anchor` (creation time)."""
        if not self.enabled:
            return []
        return schedule_times(self.expression, anchor, since, until)


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_times(expression: str, anchor: datetime, since: datetime, until: datetime) -> list[datetime]:
    """Times in (since, until] at which a rate()/cron()/at() expression fires."""
    expression = expression.strip()
    if match := _RATE.match(expression):
        step = int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]
        k = max(1, int((since - anchor).total_seconds() // step))
        out = []
        while (t := anchor + timedelta(seconds=k * step)) <= until:
            if t > since:
                out.append(t)
            k += 1
        return out
    if expression.startswith("at(") and expression.endswith(")"):
        when = datetime.fromisoformat(expression[3:-1]).replace(tzinfo=UTC)
        return [when] if since < when <= until else []
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1].split()
        if len(fields) != 6:
            raise StackError(f"cron expression {expression!r} needs 6 fields")
        out = []
        t = since.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while t <= until:
            if _cron_matches(fields, t):
                out.append(t)
            t += timedelta(minutes=1)
        return out
    raise StackError(f"schedule expression {expression!r} is not rate(), cron() or at()")


def _cron_field(spec: str, value: int, low: int) -> bool:
    if spec in {"*", "?"}:
        return True
    for part in spec.split(","):
        base, _, step = part.partition("/")
        if base in {"*", ""}:
            start, end = low, 10_000
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(base)
            end = start if not step else 10_000
        if start <= value <= end and (value - start) % int(step or 1) == 0:
            return True
    return False


def _cron_matches(fields: list[str], t: datetime) -> bool:
    minute, hour, dom, month, dow, year = fields
    # EventBridge day-of-week: 1 = Sunday … 7 = Saturday; named days are not supported here
    weekday = (t.isoweekday() % 7) + 1
    return (
        _cron_field(minute, t.minute, 0)
        and _cron_field(hour, t.hour, 0)
        and _cron_field(dom, t.day, 1)
        and _cron_field(month, t.month, 1)
        and _cron_field(dow, weekday, 1)
        and _cron_field(year, t.year, 1970)
    )


def _merge_globals(globals_: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals merge: maps merge (resource wins), lists concatenate (Globals first), scalars
    are overridden."""
    out: dict[str, Any] = dict(globals_)
    for key, value in props.items():
        base = out.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            out[key] = _merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            out[key] = [*base, *value]
        else:
            out[key] = value
    return out


def _tags_list(tags: Any) -> list[dict[str, str]]:
    if isinstance(tags, Mapping):
        return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags or []]


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _parameter_text(value: Any) -> str:
    """A parameter override as CloudFormation receives it (lists are comma-joined)."""
    return ",".join(str(v) for v in value) if isinstance(value, list | tuple) else _env_text(value)


def _name(stack: str, logical_id: str, limit: int = 64) -> str:
    """The name CloudFormation generates for a resource the template leaves unnamed:
    `<stack>-<LogicalId>-<SUFFIX>`, cut before the suffix so the suffix always survives. The
    suffix is random, as CloudFormation's is: no two creations share a name, so nothing of one
    stack (or one test's emulator) can reach another's resources by a name it guessed."""
    suffix = uuid.uuid4().hex[:12].upper()
    return f"{f'{stack}-{logical_id}'[: limit - len(suffix) - 1]}-{suffix}"


class Stack:
    """template.yaml, deployed into the active moto as `stack_name`."""

    def __init__(
        self,
        template: Mapping[str, Any] | None = None,
        *,
        stack_name: str = "bedrock-watch",
        parameters: Mapping[str, Any] | None = None,
        region: str = REGION,
        account_id: str = ACCOUNT_ID,
        root: Path = ROOT,
        foreach_hook: ForEachHook | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        raw = dict(template if template is not None else load_template())
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.root = root
        self.now = now or (lambda: datetime.now(UTC))
        refused = constraint_problems(raw, {k: _parameter_text(v) for k, v in (parameters or {}).items()})
        if refused:
            # CloudFormation refuses the CreateStack call itself: not one resource is created
            raise StackError(f"parameters refused (ValidationError): {'; '.join(refused)}")
        self.parameters = resolve_parameters(raw, parameters)
        hook = foreach_hook if foreach_hook is not None else default_foreach_hook()
        self.template, leftover = expand_template(raw, self.parameters, hook)
        self.resources: dict[str, Resource] = {}
        self.unsupported: list[Unsupported] = [
            Unsupported(key, "Fn::ForEach", f"{section} loop not expanded by the Fn::ForEach hook")
            for section, key in leftover
        ]
        self.emulated: list[Emulated] = []
        self.omitted: dict[str, str] = {}  # logical id -> why (its Condition is false)
        # logical id -> why CloudFormation would fail it; a failure rolls a real stack back, so
        # nothing that depends on a failed resource is created either
        self.failed: dict[str, str] = {}
        self.schedules: list[ScheduleSpec] = []
        self.metric_alarms: list[MetricAlarm] = []
        self.composite_alarms: list[CompositeAlarm] = []
        self.created_at: datetime | None = None
        self.resolver = Resolver.for_template(
            self.template, self.parameters, stack_name, self._lookup, region=region, account_id=account_id
        )
        self._clients: dict[str, Any] = {}

    # ------------------------------------------------------------------ lookups
    def _lookup(self, logical_id: str, attribute: str | None) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise UnresolvedReference(logical_id, attribute)
        if attribute is None:
            return resource.physical_id
        if attribute not in resource.attributes:
            raise IntrinsicError(
                f"{logical_id} ({resource.type}) has no attribute {attribute} in the sandbox"
            )
        return resource.attributes[attribute]

    def physical_id(self, logical_id: str) -> Any:
        """What `Ref: logical_id` returns in this stack (name, URL or ARN by resource type)."""
        return self._lookup(logical_id, None)

    def attribute(self, logical_id: str, attribute: str) -> Any:
        """What `Fn::GetAtt: [logical_id, attribute]` returns."""
        return self._lookup(logical_id, attribute)

    def arn(self, logical_id: str) -> str:
        """The ARN of a resource (its `Arn` attribute, or its physical id when that is an ARN)."""
        resource = self.resources[logical_id]
        arn = resource.attributes.get("Arn") or resource.attributes.get("TopicArn") or resource.physical_id
        return str(arn)

    def of_type(self, *types: str) -> dict[str, Resource]:
        """Created resources of the given types, by logical id."""
        return {k: r for k, r in self.resources.items() if r.type in types}

    def function_name(self, logical_id: str) -> str:
        return str(self.physical_id(logical_id))

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    # ------------------------------------------------------------------ creation
    def create(self) -> Stack:
        """Create every resource in dependency order (inside an active mock_aws); returns self."""
        self.created_at = self.now()
        calls.remember_stack(self)
        declared = without_foreach(self.template.get("Resources") or {})
        globals_ = self.template.get("Globals") or {}
        specs: dict[str, dict[str, Any]] = {}
        for logical_id, declared_spec in declared.items():
            condition = declared_spec.get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                self.omitted[logical_id] = f"Condition {condition} is false"
                continue
            spec = dict(declared_spec)
            section = {
                "AWS::Serverless::Function": "Function",
                "AWS::Serverless::StateMachine": "StateMachine",
                "AWS::Serverless::SimpleTable": "SimpleTable",
                "AWS::Serverless::LayerVersion": "LayerVersion",
            }.get(str(spec.get("Type")))
            if section and section in globals_:
                spec["Properties"] = _merge_globals(globals_[section], spec.get("Properties") or {})
            specs[logical_id] = spec
        for logical_id in self._order(specs):
            spec = specs[logical_id]
            type_ = str(spec.get("Type"))
            blocked = sorted(self._dependencies(logical_id, specs) & set(self.failed))
            if blocked:
                why = f"not created: it depends on {', '.join(blocked)}, which failed (the stack rolls back)"
                self.failed[logical_id] = why
                self.unsupported.append(Unsupported(logical_id, type_, why))
                continue
            try:
                self._create_one(logical_id, type_, spec.get("Properties") or {})
            except ResourceFailed as exc:
                self.failed[logical_id] = str(exc)
                self.unsupported.append(Unsupported(logical_id, type_, f"CREATE_FAILED: {exc}"))
            except Exception as exc:
                self.unsupported.append(Unsupported(logical_id, type_, f"{type(exc).__name__}: {exc}"))
        return self

    def send_custom_resource(
        self, logical_id: str, request_type: str, properties: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """CloudFormation's Update (with `properties` as the new ones) or Delete request for a
        created custom resource, answered by its real handler; the answer. What a stack update or
        deletion would send, for tests of what a custom resource does then."""
        resource = self.resources[logical_id]
        new = dict(properties) if properties is not None else resource.properties
        response = custom_resource_request(
            self,
            logical_id,
            resource.type,
            new,
            request_type=request_type,
            physical_id=str(resource.physical_id),
            old_props=resource.properties if request_type == "Update" else None,
        )
        if request_type == "Update":
            resource.properties = new
        else:
            del self.resources[logical_id]
        return response

    def rollback_reason(self) -> str | None:
        """Why CloudFormation would have rolled this stack back (the first failed resource and
        its message, as the stack events would show it), or None when nothing failed."""
        first = next((k for k, why in self.failed.items() if not why.startswith("not created:")), None)
        return None if first is None else f"{first}: {self.failed[first]}"

    def _dependencies(self, logical_id: str, specs: Mapping[str, Mapping[str, Any]]) -> set[str]:
        return _declared_dependencies(specs[logical_id]) & set(specs)

    def _order(self, specs: Mapping[str, Mapping[str, Any]]) -> list[str]:
        deps: dict[str, set[str]] = {}
        for logical_id, spec in specs.items():
            refs = _declared_dependencies(spec)
            # SAM-generated ids (FnRole, FnUrl…) are created with their function
            implicit = {r for r in refs if r not in specs and r not in self.parameters}
            owners = {s for r in implicit for s in specs if r.startswith(s) and s != logical_id}
            deps[logical_id] = ({r for r in refs if r in specs} | owners) - {logical_id}
        order: list[str] = []
        done: set[str] = set()
        pending = dict(deps)
        while pending:
            ready = sorted(k for k, d in pending.items() if d <= done)
            if not ready:
                for logical_id in sorted(pending):
                    self.unsupported.append(
                        Unsupported(
                            logical_id,
                            str(specs[logical_id].get("Type")),
                            f"circular or unsatisfiable references: {sorted(pending[logical_id] - done)}",
                        )
                    )
                break
            for logical_id in ready:
                order.append(logical_id)
                done.add(logical_id)
                del pending[logical_id]
        return order

    def _create_one(self, logical_id: str, type_: str, raw_props: Mapping[str, Any]) -> None:
        if type_ in _IAM_ONLY:
            self.unsupported.append(Unsupported(logical_id, type_, _NOT_ENFORCED))
            # still something a Ref can name, so what refers to it (for ordering) deploys
            self._register(logical_id, type_, _name(self.stack_name, logical_id), {})
            return
        handler = _HANDLERS.get(type_)
        if type_.startswith("Custom::") or type_ == "AWS::CloudFormation::CustomResource":
            handler = _custom_resource
        if handler is None:
            self.unsupported.append(
                Unsupported(logical_id, type_, "the sandbox has no creator for this resource type")
            )
            return
        # Events of serverless resources are resolved by their handler after the resource exists
        props = {k: v for k, v in raw_props.items() if k != "Events"}
        resolved = self.resolver.resolve(props)
        handler(self, logical_id, type_, resolved, raw_props)

    def _register(
        self, logical_id: str, type_: str, physical_id: Any, props: dict[str, Any], **attributes: Any
    ) -> Resource:
        resource = Resource(logical_id, type_, physical_id, dict(attributes), props)
        self.resources[logical_id] = resource
        return resource

    # ------------------------------------------------------------------ IAM
    def _role(self, logical_id: str, trust: str) -> str:
        iam = self.client("iam")
        name = _name(self.stack_name, logical_id)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]
        self._register(logical_id, "AWS::IAM::Role", name, {}, Arn=role["Arn"], RoleId=role["RoleId"])
        return str(role["Arn"])

    def outputs(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The template's Outputs resolved in this stack, and the ones that could not be (why)."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, spec in without_foreach(self.template.get("Outputs") or {}).items():
            condition = spec.get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                continue
            try:
                values[name] = self.resolver.resolve(spec.get("Value"))
            except IntrinsicError as exc:
                errors[name] = str(exc)
        return values, errors

    # ------------------------------------------------------------------ reporting
    def report(self) -> str:
        """A human-readable account of what was created, emulated and not created."""
        lines = [f"stack {self.stack_name}: {len(self.resources)} resources created in moto"]
        lines.extend(f"  emulated     {e.logical_id} ({e.type}): {e.how}" for e in self.emulated)
        reason = self.rollback_reason()
        if reason:
            lines.append(f"  ROLLBACK     CloudFormation would roll this stack back: {reason}")
        lines.extend(f"  not created  {u.logical_id} ({u.type}): {u.reason}" for u in self.unsupported)
        for logical_id, why in self.omitted.items():
            lines.append(f"  omitted      {logical_id}: {why}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ alarms and schedules
    def evaluator(
        self,
        store: MetricStore,
        *,
        now: Callable[[], datetime] | None = None,
        sink: EventSink | None = None,
        anomaly: AnomalyModel | None = None,
        include_alarm_tags: bool = False,
        action_sink: ActionSink | None = None,
    ) -> AlarmEvaluator:
        """An evaluator of this stack's alarms that puts state changes on moto's default bus."""
        return AlarmEvaluator(
            self.metric_alarms,
            self.composite_alarms,
            store,
            now=now or self.now,
            region=self.region,
            account=self.account_id,
            sink=sink if sink is not None else moto_event_sink(self.region),
            anomaly=anomaly,
            include_alarm_tags=include_alarm_tags,
            action_sink=action_sink if action_sink is not None else moto_action_sink(self.region),
        )

    def fire_schedules(self, since: datetime, until: datetime) -> list[tuple[ScheduleSpec, datetime]]:
        """Invoke every schedule target due in (since, until], in time order; returns what fired."""
        anchor = self.created_at or since
        due = sorted(
            ((when, spec) for spec in self.schedules for when in spec.occurrences(anchor, since, until)),
            key=lambda item: item[0],
        )
        for when, spec in due:
            self.fire(spec, when)
        return [(spec, when) for when, spec in due]

    def fire(self, spec: ScheduleSpec, when: datetime) -> None:
        """Deliver one occurrence of a schedule to its target, as Scheduler or EventBridge would."""
        stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if spec.input is not None:
            payload = (
                spec.input.replace("<aws.scheduler.scheduled-time>", stamp)
                .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
                .replace("<aws.scheduler.schedule-arn>", spec.rule_arn or "")
                .replace("<aws.scheduler.attempt-number>", "1")
            )
        elif spec.source == "events-rule":
            payload = json.dumps(
                {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "Scheduled Event",
                    "source": "aws.events",
                    "account": self.account_id,
                    "time": stamp,
                    "region": self.region,
                    "resources": [spec.rule_arn] if spec.rule_arn else [],
                    "detail": {},
                }
            )
        else:
            payload = "{}"
        service = spec.target_arn.split(":")[2]
        if service == "lambda":
            self.client("lambda").invoke(
                FunctionName=spec.target_arn, InvocationType="Event", Payload=payload.encode()
            )
        elif service == "states":
            self.client("stepfunctions").start_execution(
                stateMachineArn=spec.target_arn, name=f"sched-{uuid.uuid4().hex[:24]}", input=payload
            )
        elif service == "sns":
            self.client("sns").publish(TopicArn=spec.target_arn, Message=payload)
        elif service == "sqs":
            url = self.client("sqs").get_queue_url(QueueName=spec.target_arn.rsplit(":", 1)[1])["QueueUrl"]
            self.client("sqs").send_message(QueueUrl=url, MessageBody=payload)
        else:
            raise StackError(f"schedule {spec.name}: target service {service} is not emulated")


def _depends_on(spec: Mapping[str, Any]) -> set[str]:
    """A resource's `DependsOn` (one id or a list) as a set."""
    depends = spec.get("DependsOn") or []
    return {depends} if isinstance(depends, str) else set(depends)


def _declared_dependencies(spec: Mapping[str, Any]) -> set[str]:
    """What a resource waits for: the ids its properties refer to, and its `DependsOn`."""
    return references(spec.get("Properties") or {}) | _depends_on(spec)


def template_subset(template: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """`template` with only the resources whose logical id starts with one of `prefixes`, plus
    every resource they (or Globals) refer to, transitively, and no Outputs.

    What a test of one area deploys: names, code, environment and ASL still come from the
    template, without the time the rest of the stack would take to create.
    """
    resources: Mapping[str, Any] = template["Resources"]

    def needs(logical_id: str) -> set[str]:
        return references(resources[logical_id]) | _depends_on(resources[logical_id])

    chosen = {k for k in resources if k.startswith(prefixes)} | (
        references(template.get("Globals") or {}) & set(resources)
    )
    frontier = set(chosen)
    while frontier:
        referred = set().union(*(needs(k) for k in frontier)) & set(resources)
        frontier = referred - chosen
        chosen |= frontier
    return {**template, "Resources": {k: v for k, v in resources.items() if k in chosen}, "Outputs": {}}


def template_alarms(
    template: Mapping[str, Any] | None = None,
    *,
    stack_name: str = "bedrock-watch",
    parameters: Mapping[str, Any] | None = None,
    region: str = REGION,
    account_id: str = ACCOUNT_ID,
    foreach_hook: ForEachHook | None = None,
) -> tuple[list[MetricAlarm], list[CompositeAlarm], list[Unsupported]]:
    """The template's alarms as the evaluator needs them, without moto (for backtests on logs).

    References to other resources resolve to the names the sandbox would give them
    (`<stack>-<LogicalId>`, ARNs built from those), so alarm names, dimensions and rules come
    out as in a sandbox deployment. Alarms that cannot be resolved are returned as Unsupported.
    """
    raw = dict(template if template is not None else load_template())
    params = resolve_parameters(raw, parameters)
    hook = foreach_hook if foreach_hook is not None else default_foreach_hook()
    expanded, leftover = expand_template(raw, params, hook)
    declared = without_foreach(expanded.get("Resources") or {})

    def lookup(logical_id: str, attribute: str | None) -> Any:
        spec = declared.get(logical_id)
        if spec is None:
            raise UnresolvedReference(logical_id, attribute)
        props = spec.get("Properties") or {}
        name = next(
            (props[k] for k in ("AlarmName", "FunctionName", "TopicName", "Name") if k in props), None
        )
        physical = resolver.resolve(name) if name is not None else _name(stack_name, logical_id)
        if attribute is None:
            return physical
        return f"arn:aws:{str(spec.get('Type', '')).split('::')[1].lower()}:{region}:{account_id}:{physical}"

    resolver = Resolver.for_template(
        expanded, params, stack_name, lookup, region=region, account_id=account_id
    )
    metric: list[MetricAlarm] = []
    composite: list[CompositeAlarm] = []
    unsupported = [Unsupported(key, "Fn::ForEach", "loop not expanded") for _, key in leftover]
    for logical_id, spec in declared.items():
        type_ = spec.get("Type")
        if type_ not in {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"}:
            continue
        condition = spec.get("Condition")
        if condition is not None and not resolver.condition(str(condition)):
            continue
        try:
            props = resolver.resolve(spec.get("Properties") or {})
            props.setdefault("AlarmName", _name(stack_name, logical_id, 255))
            kwargs = {"region": region, "account": account_id, "logical_id": logical_id}
            if type_ == "AWS::CloudWatch::Alarm":
                metric.append(MetricAlarm.from_properties(props, **kwargs))
            else:
                composite.append(CompositeAlarm.from_properties(props, **kwargs))
        except Exception as exc:
            unsupported.append(Unsupported(logical_id, str(type_), f"{type(exc).__name__}: {exc}"))
    return metric, composite, unsupported


# ---------------------------------------------------------------------- resource creators
Creator = Callable[[Stack, str, str, dict[str, Any], Mapping[str, Any]], None]


def _layer(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    content = props.get("ContentUri")
    if not isinstance(content, str):
        raise StackError(f"layer {lid}: only a local ContentUri folder is supported")
    path = str((stack.root / content).resolve())
    if path not in sys.path:
        sys.path.insert(0, path)  # handlers import the layer as Lambda's /opt/python would provide it
    name = str(props.get("LayerName") or _name(stack.stack_name, lid))
    arn = f"arn:aws:lambda:{stack.region}:{stack.account_id}:layer:{name}:1"
    stack._register(lid, type_, arn, props, Arn=arn)
    stack.emulated.append(Emulated(lid, type_, f"not published to moto; {content} is put on sys.path"))


def _inline_zip(handler: str, code: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(handler.rpartition(".")[0].replace(".", "/") + ".py", code)
    return buf.getvalue()


def _function(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("FunctionName") or _name(stack.stack_name, lid))
    handler = str(props.get("Handler") or "")
    if isinstance(props.get("CodeUri"), str):
        code = zip_directory(stack.root / str(props["CodeUri"]))
    elif "InlineCode" in props:
        code = _inline_zip(handler, str(props["InlineCode"]))
    else:
        raise StackError(f"function {lid}: only a local CodeUri folder or InlineCode can be packaged")
    role = props.get("Role") or stack._role(f"{lid}Role", _LAMBDA_TRUST)
    env = {k: _env_text(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
    created = stack.client("lambda").create_function(
        FunctionName=name,
        Runtime=str(props.get("Runtime", "python3.13")),
        Role=str(role),
        Handler=handler,
        Code={"ZipFile": code},
        Description=str(props.get("Description", "")),
        Timeout=int(props.get("Timeout", 3)),
        MemorySize=int(props.get("MemorySize", 128)),
        Architectures=list(props.get("Architectures") or ["x86_64"]),
        Environment={"Variables": env},
        Tags={str(k): str(v) for k, v in (props.get("Tags") or {}).items()},
    )
    stack._register(lid, type_, name, props, Arn=created["FunctionArn"])
    log_group = (props.get("LoggingConfig") or {}).get("LogGroup")
    if log_group:
        # moto ignores LoggingConfig and always writes to /aws/lambda/<name>: point it at the
        # function's own group, as Lambda does (the smallest shim; docs/decisions.md).
        from moto.awslambda.utils import get_backend

        get_backend(stack.account_id, stack.region).get_function(name).logs_group_name = str(log_group)
    else:
        # Lambda creates /aws/lambda/<name> on first use when the template does not (moto does not)
        _ensure_log_group(stack, f"/aws/lambda/{name}")
    invoke = props.get("EventInvokeConfig")
    if invoke:
        _event_invoke_config(stack, name, invoke)
    if props.get("FunctionUrlConfig"):
        url = stack.client("lambda").create_function_url_config(
            FunctionName=name, AuthType=str(props["FunctionUrlConfig"].get("AuthType", "AWS_IAM"))
        )
        stack._register(
            f"{lid}Url", "AWS::Lambda::Url", url["FunctionUrl"], {}, FunctionUrl=url["FunctionUrl"]
        )
        stack.emulated.append(
            Emulated(f"{lid}Url", "AWS::Lambda::Url", "URL registered in moto but not served")
        )
    for event_name, event in (raw.get("Events") or {}).items():
        _source_event(stack, lid, event_name, event, created["FunctionArn"])


def _event_invoke_config(stack: Stack, function_name: str, config: Mapping[str, Any]) -> None:
    destinations: dict[str, Any] = {}
    for outcome in ("OnSuccess", "OnFailure"):
        target = (config.get("DestinationConfig") or {}).get(outcome)
        if target:
            if not target.get("Destination"):
                raise StackError(f"{function_name}: {outcome} destination without an ARN is not emulated")
            destinations[outcome] = {"Destination": str(target["Destination"])}
    kwargs: dict[str, Any] = {"FunctionName": function_name, "DestinationConfig": destinations}
    if "MaximumRetryAttempts" in config:
        kwargs["MaximumRetryAttempts"] = int(config["MaximumRetryAttempts"])
    if "MaximumEventAgeInSeconds" in config:
        kwargs["MaximumEventAgeInSeconds"] = int(config["MaximumEventAgeInSeconds"])
    stack.client("lambda").put_function_event_invoke_config(**kwargs)


def _ensure_log_group(stack: Stack, name: str) -> None:
    logs = stack.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    if not any(g["logGroupName"] == name for g in groups):
        logs.create_log_group(logGroupName=name)


def _source_event(stack: Stack, lid: str, event_name: str, event: Mapping[str, Any], target_arn: str) -> None:
    """One entry of a serverless function's or state machine's Events."""
    kind = str(event.get("Type"))
    props = stack.resolver.resolve(event.get("Properties") or {})
    where = f"{lid}.Events.{event_name}"
    if kind == "CloudWatchLogs":
        group = str(props["LogGroupName"])
        _ensure_log_group(stack, group)
        stack.client("logs").put_subscription_filter(
            logGroupName=group,
            filterName=_name(stack.stack_name, f"{lid}{event_name}", 512),
            filterPattern=str(props.get("FilterPattern", "")),
            destinationArn=target_arn,
        )
    elif kind in {"EventBridgeRule", "CloudWatchEvent", "Schedule"}:
        rule_name = str(
            props.get("RuleName") or props.get("Name") or _name(stack.stack_name, f"{lid}{event_name}")
        )
        rule: dict[str, Any] = {"Name": rule_name, "State": "ENABLED"}
        if kind == "Schedule":
            rule["ScheduleExpression"] = str(props["Schedule"])
            if props.get("Enabled") is False or str(props.get("State", "ENABLED")) == "DISABLED":
                rule["State"] = "DISABLED"
        else:
            # a pattern built with !Sub is already JSON text; a YAML mapping is not
            pattern = props.get("Pattern") or {}
            rule["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if props.get("EventBusName"):
            rule["EventBusName"] = str(props["EventBusName"])
        events = stack.client("events")
        rule_arn = events.put_rule(**rule)["RuleArn"]
        target: dict[str, Any] = {
            "Id": str((props.get("Target") or {}).get("Id") or f"{lid}Target"),
            "Arn": target_arn,
        }
        for key in ("Input", "InputPath", "InputTransformer"):
            if key in props:
                target[key] = props[key]
        put: dict[str, Any] = {"Rule": rule_name, "Targets": [target]}
        if props.get("EventBusName"):
            put["EventBusName"] = str(props["EventBusName"])
        events.put_targets(**put)
        stack._register(f"{lid}{event_name}", "AWS::Events::Rule", rule_name, props, Arn=rule_arn)
        if kind == "Schedule":
            _remember(
                stack,
                where,
                name=rule_name,
                expression=str(props["Schedule"]),
                target=target,
                source="events-rule",
                arn=rule_arn,
                state=rule["State"],
            )
    elif kind == "ScheduleV2":
        name = str(props.get("Name") or _name(stack.stack_name, f"{lid}{event_name}"))
        role_arn = props.get("RoleArn") or stack._role(f"{lid}{event_name}Role", _SCHEDULER_TRUST)
        target = {"Arn": target_arn, "RoleArn": str(role_arn)}
        if "Input" in props:
            target["Input"] = str(props["Input"])
        _create_schedule(stack, where, {**props, "Name": name, "Target": target})
    elif kind == "SNS":
        stack.client("sns").subscribe(TopicArn=str(props["Topic"]), Protocol="lambda", Endpoint=target_arn)
    elif kind == "SQS":
        stack.client("lambda").create_event_source_mapping(
            EventSourceArn=str(props["Queue"]),
            FunctionName=target_arn,
            BatchSize=int(props.get("BatchSize", 10)),
        )
    else:
        stack.unsupported.append(
            Unsupported(where, f"event {kind}", f"event source type {kind} is not emulated by the sandbox")
        )


def _log_group(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("LogGroupName") or _name(stack.stack_name, lid, 512))
    logs = stack.client("logs")
    try:
        logs.create_log_group(logGroupName=name)
    except logs.exceptions.ResourceAlreadyExistsException:
        # What CloudFormation answers when something (Lambda, logging on first use) created the
        # group before the stack did: the deployment fails; it never adopts the group.
        raise ResourceFailed(f"log group {name} already exists") from None
    if props.get("RetentionInDays") is not None:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    arn = f"arn:aws:logs:{stack.region}:{stack.account_id}:log-group:{name}:*"
    stack._register(lid, type_, name, props, Arn=arn)


def _subscription_filter(
    stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]
) -> None:
    name = str(props.get("FilterName") or _name(stack.stack_name, lid, 512))
    stack.client("logs").put_subscription_filter(
        logGroupName=str(props["LogGroupName"]),
        filterName=name,
        filterPattern=str(props.get("FilterPattern", "")),
        destinationArn=str(props["DestinationArn"]),
    )
    stack._register(lid, type_, name, props)


def _queue(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    fifo = str(props.get("FifoQueue", "false")).lower() == "true"
    name = str(props.get("QueueName") or _name(stack.stack_name, lid, 75 if fifo else 80))
    if fifo and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {
        k: (json.dumps(v) if isinstance(v, dict) else _env_text(v))
        for k, v in props.items()
        if k not in {"QueueName", "Tags"}
    }
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = f"arn:aws:sqs:{stack.region}:{stack.account_id}:{name}"
    stack._register(lid, type_, url, props, Arn=arn, QueueName=name, QueueUrl=url)


def _lifecycle_rule(index: int, rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the API's shape (the expirations the template uses)."""
    out: dict[str, Any] = {
        "ID": str(rule.get("Id", f"rule{index}")),
        "Status": str(rule.get("Status", "Enabled")),
        "Filter": {"Prefix": str(rule.get("Prefix", ""))},
    }
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(noncurrent["NoncurrentDays"])}
    return out


def _bucket(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    # S3 bucket names are global and lower-case; CloudFormation derives one from the stack.
    name = str(props.get("BucketName") or f"{stack.stack_name}-{lid}-{stack.account_id}".lower()[:63])
    s3 = stack.client("s3")
    if stack.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": stack.region})
    encryption = props.get("BucketEncryption")
    if encryption:
        # CloudFormation's rule list, in the API's names ({"Rules": [{"ApplyServerSide…": …}]})
        rules = {
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                for rule in encryption["ServerSideEncryptionConfiguration"]
            ]
        }
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=rules)
    if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if props.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                k: bool(v) for k, v in props["PublicAccessBlockConfiguration"].items()
            },
        )
    lifecycle = [
        _lifecycle_rule(i, rule)
        for i, rule in enumerate((props.get("LifecycleConfiguration") or {}).get("Rules") or [])
    ]
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle})
    arn = f"arn:aws:s3:::{name}"
    stack._register(lid, type_, name, props, Arn=arn, DomainName=f"{name}.s3.amazonaws.com")


def _bucket_policy(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    bucket = str(props["Bucket"])
    document = dict(props["PolicyDocument"])
    statements = list(document.get("Statement") or [])
    # moto sees every in-process call as plain HTTP, so a TLS-only Deny would refuse them all; the
    # handlers' clients use HTTPS in AWS. Such statements are left out here (reported as emulated).
    kept = [st for st in statements if "aws:SecureTransport" not in json.dumps(st.get("Condition", {}))]
    if len(kept) != len(statements):
        stack.emulated.append(Emulated(lid, type_, "TLS-only statements not applied: moto cannot tell TLS"))
    if kept:
        stack.client("s3").put_bucket_policy(
            Bucket=bucket, Policy=json.dumps({**document, "Statement": kept})
        )
    stack._register(lid, type_, bucket, props)


def _loopback(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


def _subscribe(
    stack: Stack, where: str, topic_arn: str, *, protocol: str, endpoint: str, attrs: Mapping[str, Any]
) -> None:
    if protocol in {"http", "https"} and not _loopback(endpoint):
        # moto would POST to it for real: the sandbox never contacts a non-loopback address
        stack.unsupported.append(
            Unsupported(
                where,
                "AWS::SNS::Subscription",
                f"{protocol} endpoint {endpoint} is not loopback; not subscribed",
            )
        )
        return
    attributes = {k: (json.dumps(v) if isinstance(v, dict) else _env_text(v)) for k, v in attrs.items()}
    stack.client("sns").subscribe(
        TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint, Attributes=attributes
    )


def _topic(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("TopicName") or _name(stack.stack_name, lid, 256))
    attributes = {
        k: _env_text(v)
        for k, v in props.items()
        if k in {"DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "TracingConfig"}
    }
    arn = stack.client("sns").create_topic(
        Name=name, Attributes=attributes, Tags=_tags_list(props.get("Tags"))
    )["TopicArn"]
    stack._register(lid, type_, arn, props, TopicArn=arn, TopicName=name)
    for index, sub in enumerate(props.get("Subscription") or []):
        _subscribe(
            stack,
            f"{lid}.Subscription[{index}]",
            arn,
            protocol=str(sub["Protocol"]),
            endpoint=str(sub["Endpoint"]),
            attrs={},
        )


def _subscription(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    keys = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
    attrs: dict[str, Any] = {k: props[k] for k in keys if k in props}
    _subscribe(
        stack,
        lid,
        str(props["TopicArn"]),
        protocol=str(props["Protocol"]),
        endpoint=str(props["Endpoint"]),
        attrs=attrs,
    )
    stack._register(lid, type_, f"{props['TopicArn']}:{lid}", props)


def _table(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("TableName") or _name(stack.stack_name, lid, 255))
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": str(props.get("BillingMode", "PROVISIONED")),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = props.get("ProvisionedThroughput") or {
            "ReadCapacityUnits": 5,
            "WriteCapacityUnits": 5,
        }
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            kwargs[key] = [
                {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"}
                for index in props[key]
            ]
    if props.get("StreamSpecification"):
        # CloudFormation names only the view type; the API also wants StreamEnabled
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    sse = props.get("SSESpecification")
    if sse:
        # CloudFormation's SSEEnabled is the API's Enabled
        kwargs["SSESpecification"] = {
            ("Enabled" if k == "SSEEnabled" else k): v for k, v in sse.items() if k != "KMSMasterKeyId" or v
        }
    if props.get("Tags"):
        kwargs["Tags"] = _tags_list(props["Tags"])
    dynamodb = stack.client("dynamodb")
    table = dynamodb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    attrs = {"Arn": table["TableArn"]}
    if table.get("LatestStreamArn"):
        attrs["StreamArn"] = table["LatestStreamArn"]
    stack._register(lid, type_, name, props, **attrs)


def _simple_table(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    attr_type = {"String": "S", "Number": "N", "Binary": "B"}[str(key.get("Type", "String"))]
    table_props: dict[str, Any] = {
        "TableName": props.get("TableName"),
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": attr_type}],
        "BillingMode": "PROVISIONED" if props.get("ProvisionedThroughput") else "PAY_PER_REQUEST",
        "ProvisionedThroughput": props.get("ProvisionedThroughput"),
        "SSESpecification": props.get("SSESpecification"),
        "Tags": props.get("Tags"),
    }
    _table(stack, lid, type_, {k: v for k, v in table_props.items() if v is not None}, raw)


def _parameter(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("Name") or _name(stack.stack_name, lid, 2048))
    value = props["Value"]
    kwargs: dict[str, Any] = {
        "Name": name,
        "Value": value if isinstance(value, str) else json.dumps(value),
        "Type": str(props.get("Type", "String")),
    }
    for key in ("Description", "AllowedPattern", "Tier", "DataType"):
        if props.get(key):
            kwargs[key] = str(props[key])
    if props.get("Tags"):
        kwargs["Tags"] = _tags_list(props["Tags"])
    stack.client("ssm").put_parameter(**kwargs)
    stack._register(lid, type_, name, props, Type=kwargs["Type"], Value=kwargs["Value"])


def generate_secret(spec: Mapping[str, Any]) -> str:
    """A value for GenerateSecretString, honouring its length and character-class options."""
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if spec.get("IncludeSpace"):
        alphabet += " "
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    if not alphabet:
        raise StackError("GenerateSecretString excludes every character")
    length = int(spec.get("PasswordLength", 32))
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    if template is not None:
        document = json.loads(str(template))
        document[str(spec.get("GenerateStringKey", "password"))] = value
        return json.dumps(document)
    return value


def _secret(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("Name") or _name(stack.stack_name, lid, 512))
    if "SecretString" in props:
        value = str(props["SecretString"])
    elif "GenerateSecretString" in props:
        value = generate_secret(props["GenerateSecretString"])
    else:
        value = generate_secret({})
    kwargs: dict[str, Any] = {
        "Name": name,
        "SecretString": value,
        "Description": str(props.get("Description", "")),
    }
    if props.get("Tags"):
        kwargs["Tags"] = _tags_list(props["Tags"])
    arn = stack.client("secretsmanager").create_secret(**kwargs)["ARN"]
    stack._register(lid, type_, arn, props, Id=arn, Arn=arn)


def _kms_key(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    kms = stack.client("kms")
    key = kms.create_key(
        Description=str(props.get("Description", "")),
        KeyUsage=str(props.get("KeyUsage", "ENCRYPT_DECRYPT")),
        Policy=json.dumps(props.get("KeyPolicy") or {}),
    )["KeyMetadata"]
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    stack._register(lid, type_, key["KeyId"], props, Arn=key["Arn"], KeyId=key["KeyId"])
    stack.emulated.append(Emulated(lid, type_, "key created in moto; its key policy is not enforced"))


def _managed_policy(
    stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]
) -> None:
    # Created so roles can refer to its ARN; moto does not enforce it.
    name = str(props.get("ManagedPolicyName") or _name(stack.stack_name, lid, 128))
    arn = stack.client("iam").create_policy(
        PolicyName=name,
        PolicyDocument=json.dumps(props.get("PolicyDocument") or {}),
        Description=str(props.get("Description", "")),
    )["Policy"]["Arn"]
    stack._register(lid, type_, arn, props, PolicyArn=arn)
    stack.emulated.append(Emulated(lid, type_, "policy created in moto; not enforced"))


def _definition(stack: Stack, lid: str, props: Mapping[str, Any]) -> str:
    if props.get("DefinitionUri"):
        if not isinstance(props["DefinitionUri"], str):
            raise StackError(f"state machine {lid}: only a local DefinitionUri file is supported")
        text = (stack.root / str(props["DefinitionUri"])).read_text()
    elif props.get("Definition") is not None:
        text = json.dumps(props["Definition"])
    elif props.get("DefinitionString") is not None:
        text = str(props["DefinitionString"])
    else:
        raise StackError(f"state machine {lid}: no DefinitionUri, Definition or DefinitionString")
    substitutions = props.get("DefinitionSubstitutions") or {}

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        return _env_text(substitutions[key]) if key in substitutions else match.group(0)

    text = _PLACEHOLDER.sub(fill, text)
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        raise StackError(f"state machine {lid}: placeholders without DefinitionSubstitutions: {left}")
    # moto accepts any definition silently (FACTS §8): check the basics it would have rejected
    definition = json.loads(text)
    if "StartAt" not in definition or definition["StartAt"] not in (definition.get("States") or {}):
        raise StackError(f"state machine {lid}: StartAt does not name a state")
    return text


def _state_machine(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("Name") or props.get("StateMachineName") or _name(stack.stack_name, lid, 80))
    definition = _definition(stack, lid, props)
    role = props.get("Role") or props.get("RoleArn") or stack._role(f"{lid}Role", _STATES_TRUST)
    kwargs: dict[str, Any] = {
        "name": name,
        "definition": definition,
        "roleArn": str(role),
        "type": str(props.get("Type", "STANDARD")),
    }
    if props.get("Tags"):
        kwargs["tags"] = [{"key": t["Key"], "value": t["Value"]} for t in _tags_list(props["Tags"])]
    arn = stack.client("stepfunctions").create_state_machine(**kwargs)["stateMachineArn"]
    stack._register(lid, type_, arn, props, Arn=arn, Name=name)
    for event_name, event in (raw.get("Events") or {}).items():
        _source_event(stack, lid, event_name, event, arn)


def _rule(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("Name") or _name(stack.stack_name, lid))
    rule: dict[str, Any] = {"Name": name, "State": str(props.get("State", "ENABLED"))}
    if props.get("EventPattern") is not None:
        pattern = props["EventPattern"]
        rule["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if props.get("ScheduleExpression"):
        rule["ScheduleExpression"] = str(props["ScheduleExpression"])
    for key in ("EventBusName", "Description"):
        if props.get(key):
            rule[key] = str(props[key])
    events = stack.client("events")
    arn = events.put_rule(**rule)["RuleArn"]
    targets = []
    for target in props.get("Targets") or []:
        item = {
            k: v
            for k, v in target.items()
            if k
            in {
                "Id",
                "Arn",
                "Input",
                "InputPath",
                "InputTransformer",
                "RoleArn",
                "RetryPolicy",
                "DeadLetterConfig",
            }
        }
        targets.append(item)
        if rule.get("ScheduleExpression"):
            _remember(
                stack,
                lid,
                name=name,
                expression=rule["ScheduleExpression"],
                target=item,
                source="events-rule",
                arn=arn,
                state=rule["State"],
            )
    if targets:
        put: dict[str, Any] = {"Rule": name, "Targets": targets}
        if rule.get("EventBusName"):
            put["EventBusName"] = rule["EventBusName"]
        events.put_targets(**put)
    stack._register(lid, type_, name, props, Arn=arn)


def _remember(
    stack: Stack,
    where: str,
    *,
    name: str,
    expression: str,
    target: Mapping[str, Any],
    source: str,
    arn: str,
    state: str,
) -> None:
    spec = ScheduleSpec(
        where, name, expression, str(target["Arn"]), target.get("Input"), source, arn, state == "ENABLED"
    )
    stack.schedules.append(spec)


def _create_schedule(stack: Stack, where: str, props: Mapping[str, Any]) -> str:
    """An EventBridge Scheduler schedule in moto, remembered for the simulated clock; returns its ARN."""
    target = dict(props["Target"])
    kwargs: dict[str, Any] = {
        "Name": str(props["Name"]),
        "ScheduleExpression": str(props["ScheduleExpression"]),
        "FlexibleTimeWindow": props.get("FlexibleTimeWindow") or {"Mode": "OFF"},
        "Target": {
            k: v
            for k, v in target.items()
            if k in {"Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig"}
        },
        "State": str(props.get("State", "ENABLED")),
    }
    if props.get("GroupName"):
        kwargs["GroupName"] = str(props["GroupName"])
    arn = str(stack.client("scheduler").create_schedule(**kwargs)["ScheduleArn"])
    _remember(
        stack,
        where,
        name=kwargs["Name"],
        expression=kwargs["ScheduleExpression"],
        target=target,
        source="scheduler",
        arn=arn,
        state=kwargs["State"],
    )
    return arn


def _scheduler_schedule(
    stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]
) -> None:
    name = str(props.get("Name") or _name(stack.stack_name, lid))
    arn = _create_schedule(stack, lid, {**props, "Name": name})
    stack._register(lid, type_, name, props, Arn=arn)


def _schedule_group(
    stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]
) -> None:
    name = str(props.get("Name") or _name(stack.stack_name, lid))
    arn = stack.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
    stack._register(lid, type_, name, props, Arn=arn)


def _event_bus(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props["Name"])
    arn = stack.client("events").create_event_bus(Name=name)["EventBusArn"]
    stack._register(lid, type_, name, props, Arn=arn, Name=name)


_ALARM_KEYS = {
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
}


def _alarm(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("AlarmName") or _name(stack.stack_name, lid, 255))
    props = {**props, "AlarmName": name}
    definition = MetricAlarm.from_properties(
        props, region=stack.region, account=stack.account_id, logical_id=lid
    )
    kwargs = {k: v for k, v in props.items() if k in _ALARM_KEYS}
    if "Threshold" in kwargs:
        kwargs["Threshold"] = float(kwargs["Threshold"])
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in kwargs:
            kwargs[key] = int(kwargs[key])
    if props.get("Tags"):
        kwargs["Tags"] = _tags_list(props["Tags"])
    stack.client("cloudwatch").put_metric_alarm(**kwargs)
    _initial_state(stack, name)
    stack.metric_alarms.append(definition)
    stack._register(lid, type_, name, props, Arn=definition.arn)


def _initial_state(stack: Stack, name: str) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    alarm = cloudwatch_backends[stack.account_id][stack.region].alarms[name]
    # CloudWatch starts every alarm in INSUFFICIENT_DATA (moto starts them in OK)
    alarm.state_value = "INSUFFICIENT_DATA"
    alarm.state_reason = "Unchecked: Initial alarm creation"


def _composite(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    name = str(props.get("AlarmName") or _name(stack.stack_name, lid, 255))
    props = {**props, "AlarmName": name}
    definition = CompositeAlarm.from_properties(
        props, region=stack.region, account=stack.account_id, logical_id=lid
    )
    backend = cloudwatch_backends[stack.account_id][stack.region]
    backend.put_metric_alarm(
        name=name,
        namespace="",
        metric_name="",
        comparison_operator="",
        evaluation_periods=0,
        period=0,
        threshold=0.0,
        statistic="",
        description=definition.description,
        dimensions=[],
        alarm_actions=list(props.get("AlarmActions") or []),
        ok_actions=list(props.get("OKActions") or []),
        insufficient_data_actions=list(props.get("InsufficientDataActions") or []),
        actions_enabled=definition.actions_enabled,
        rule=definition.rule,
        tags=_tags_list(props.get("Tags")),
    )
    _initial_state(stack, name)
    stack.composite_alarms.append(definition)
    stack._register(lid, type_, name, props, Arn=definition.arn)
    stack.emulated.append(
        Emulated(
            lid, type_, "created through moto's backend (moto 5.2.5 does not implement PutCompositeAlarm)"
        )
    )


def _anomaly_detector(
    stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]
) -> None:
    stack._register(lid, type_, f"{stack.stack_name}-{lid}", props)
    stack.emulated.append(
        Emulated(
            lid,
            type_,
            "moto has no anomaly detectors; ANOMALY_DETECTION_BAND is approximated by "
            "sandbox.metricmath.AnomalyModel",
        )
    )


def _dashboard(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("DashboardName") or _name(stack.stack_name, lid, 255))
    body = props["DashboardBody"]
    body = body if isinstance(body, str) else json.dumps(body)
    json.loads(body)  # CloudWatch rejects a body that is not JSON; moto does not check
    stack.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=body)
    stack._register(lid, type_, name, props)


def _iam_role(stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]) -> None:
    name = str(props.get("RoleName") or _name(stack.stack_name, lid))
    trust = props.get("AssumeRolePolicyDocument") or {}
    role = stack.client("iam").create_role(
        RoleName=name,
        AssumeRolePolicyDocument=trust if isinstance(trust, str) else json.dumps(trust),
        Path=str(props.get("Path", "/")),
    )["Role"]
    stack._register(lid, type_, name, props, Arn=role["Arn"], RoleId=role["RoleId"])
    if props.get("Policies") or props.get("ManagedPolicyArns"):
        stack.emulated.append(Emulated(lid, type_, "role created; its policies are not enforced by moto"))


def _event_invoke_resource(
    stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]
) -> None:
    config = {k: v for k, v in props.items() if k not in {"FunctionName", "Qualifier"}}
    _event_invoke_config(stack, str(props["FunctionName"]), config)
    stack._register(lid, type_, f"{props['FunctionName']}-invoke-config", props)


class _ResponseCatcher:
    """CloudFormation's presigned response URL, played by a one-shot HTTP server on 127.0.0.1."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.bodies: dict[str, bytes] = {}
        catcher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                catcher.bodies[self.path.lstrip("/")] = self.rfile.read(length)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep the drill's output clean

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{key}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cfn_strings(value: Any) -> Any:
    """CloudFormation hands custom resources every scalar property as a string."""
    if isinstance(value, dict):
        return {k: _cfn_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cfn_strings(v) for v in value]
    return _env_text(value)


def custom_resource_request(
    stack: Stack,
    lid: str,
    type_: str,
    props: Mapping[str, Any],
    *,
    request_type: str = "Create",
    physical_id: str | None = None,
    old_props: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Send a custom resource's Lambda the request CloudFormation would and return its answer
    (SUCCESS); ResourceFailed for a FAILED answer or one over the size limit."""
    token = str(props.get("ServiceToken", ""))
    if ":lambda:" not in token:
        raise StackError(f"custom resource {lid}: only a Lambda ServiceToken is emulated, got {token!r}")
    request_id = str(uuid.uuid4())
    catcher = _ResponseCatcher()
    try:
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ServiceToken": token,
            "ResponseURL": catcher.url(request_id),
            "StackId": stack.resolver.pseudo["AWS::StackId"],
            "RequestId": request_id,
            "ResourceType": type_,
            "LogicalResourceId": lid,
            "ResourceProperties": _cfn_strings(dict(props)),
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old_props is not None:
            event["OldResourceProperties"] = _cfn_strings(dict(old_props))
        result = stack.client("lambda").invoke(FunctionName=token, Payload=json.dumps(event).encode())
        body = catcher.bodies.get(request_id)
    finally:
        catcher.close()
    if body is None:
        error = result.get("Payload").read().decode() if result.get("FunctionError") else "no response"
        raise StackError(
            f"custom resource {lid}: the function sent no response to CloudFormation ({error[:300]})"
        )
    if len(body) > CUSTOM_RESOURCE_RESPONSE_BYTES:
        raise ResourceFailed(
            f"response of {len(body)} bytes exceeds CloudFormation's "
            f"{CUSTOM_RESOURCE_RESPONSE_BYTES}-byte limit"
        )
    response: dict[str, Any] = json.loads(body)
    if response.get("Status") != "SUCCESS":
        # CloudFormation's own wording in the stack events
        raise ResourceFailed(
            "Received response status [FAILED] from custom resource. "
            f"Message returned: {response.get('Reason')}"
        )
    return response


def _custom_resource(
    stack: Stack, lid: str, type_: str, props: dict[str, Any], raw: Mapping[str, Any]
) -> None:
    response = custom_resource_request(stack, lid, type_, props)
    stack._register(
        lid, type_, response.get("PhysicalResourceId") or lid, props, **(response.get("Data") or {})
    )
    stack.emulated.append(
        Emulated(lid, type_, "Create request sent to its Lambda; the response caught on a 127.0.0.1 URL")
    )


_HANDLERS: dict[str, Creator] = {
    "AWS::Serverless::LayerVersion": _layer,
    "AWS::Serverless::Function": _function,
    "AWS::Lambda::EventInvokeConfig": _event_invoke_resource,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Logs::SubscriptionFilter": _subscription_filter,
    "AWS::SQS::Queue": _queue,
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::DynamoDB::Table": _table,
    "AWS::Serverless::SimpleTable": _simple_table,
    "AWS::SSM::Parameter": _parameter,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::Serverless::StateMachine": _state_machine,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Events::Rule": _rule,
    "AWS::Events::EventBus": _event_bus,
    "AWS::Scheduler::Schedule": _scheduler_schedule,
    "AWS::Scheduler::ScheduleGroup": _schedule_group,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::CloudWatch::CompositeAlarm": _composite,
    "AWS::CloudWatch::AnomalyDetector": _anomaly_detector,
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::IAM::Role": _iam_role,
    "AWS::IAM::ManagedPolicy": _managed_policy,
    "AWS::KMS::Key": _kms_key,
}

SUPPORTED_TYPES = frozenset(_HANDLERS)
