"""Reversible route remediation: failover, failback, downgrade and restore.

The steps of statemachines/remediation.asl.json call into this module: validate the request,
lock the route, plan the switch, probe the target, verify after applying, and write the audit
record. Every refusal is a named error the ASL catches by class name (never by message text),
and every message names the field or model it is about.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bedrock_watch.errors import BedrockWatchError
from bedrock_watch.routes import (
    InvalidRoute,
    Route,
    RouteStore,
    StoredRoute,
    UnknownRoute,
    VersionConflict,
    base_model_id,
)

__all__ = [
    "ApprovalRejected",
    "ApprovalTimedOut",
    "InvalidInput",
    "InvalidRoute",
    "NoHealthyTarget",
    "RemediationFailed",
    "RouteLocked",
    "UnknownRoute",
    "VerificationFailed",
    "VersionConflict",
]

ACTIONS = ("failover", "failback", "downgrade", "restore")
OUTCOMES = ("applied", "dry_run", "unchanged", "rolled_back", "failed", "cancelled")
CONSOLE_FIELDS = frozenset({"action", "route", "target", "reason", "dryRun", "requireApproval", "comment"})
# Set by the alarm trigger, accepted from the console too.
TRIGGER_FIELDS = frozenset({"alarmName", "requestedBy"})
MAX_REASON = 500


class InvalidInput(BedrockWatchError):
    """The request is malformed; the message starts with the offending field."""


class RouteLocked(BedrockWatchError):
    """Another remediation holds the route's lock; the message names it."""


class NoHealthyTarget(BedrockWatchError):
    """Every candidate failed its probe (or the route declares none); the route is untouched."""


class VerificationFailed(BedrockWatchError):
    """After applying, the route did not read back as written or the target is erroring."""


class ApprovalRejected(BedrockWatchError):
    """The approver rejected the remediation; the route is untouched."""


class ApprovalTimedOut(BedrockWatchError):
    """Nobody approved within the approval timeout; the route is untouched."""


class RemediationFailed(BedrockWatchError):
    """The remediation failed; raised by the state machine's final Fail state (name only)."""


# ------------------------------------------------------------------ request


@dataclass(frozen=True, slots=True)
class RemediationRequest:
    action: str
    route: str
    target: str | None = None
    reason: str = ""
    dry_run: bool = False
    require_approval: bool = False
    alarm_name: str | None = None
    requested_by: str = "console"


def _bool(raw: Mapping[str, Any], name: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name}: must be true or false, got {value!r}")
    return value


def _optional_str(raw: Mapping[str, Any], name: str, limit: int = 256) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(f"{name}: must be a non-empty string of at most {limit} characters")
    return value.strip()


def parse_request(raw: Any) -> RemediationRequest:
    """The console or alarm input as a request; InvalidInput naming the field otherwise."""
    if not isinstance(raw, Mapping):
        raise InvalidInput('input: must be a JSON object such as {"action": "failover", "route": "chat"}')
    unknown = sorted(set(raw) - CONSOLE_FIELDS - TRIGGER_FIELDS)
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field (allowed: {', '.join(sorted(CONSOLE_FIELDS))})")
    action = raw.get("action")
    if action is None:
        raise InvalidInput(f"action: required, one of {', '.join(ACTIONS)}")
    if action not in ACTIONS:
        raise InvalidInput(f"action: must be one of {', '.join(ACTIONS)}, got {action!r}")
    route = raw.get("route")
    if not isinstance(route, str) or not route:
        raise InvalidInput('route: required, the name of a route such as "chat"')
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise InvalidInput(f"reason: must be a string of at most {MAX_REASON} characters")
    return RemediationRequest(
        action=str(action),
        route=route,
        target=_optional_str(raw, "target"),
        reason=reason.strip() or f"{action} requested",
        dry_run=_bool(raw, "dryRun"),
        require_approval=_bool(raw, "requireApproval"),
        alarm_name=_optional_str(raw, "alarmName"),
        requested_by=_optional_str(raw, "requestedBy") or "console",
    )


def check_against_route(request: RemediationRequest, route: Route) -> None:
    """Refuse a target the route does not declare, or an action the route cannot take."""
    spec = route.spec
    if request.target is not None:
        if request.target not in spec.candidates:
            raise InvalidInput(
                f"target: {request.target!r} is not a candidate of route {route.name!r} "
                f"(candidates: {', '.join(spec.candidates)})"
            )
        if request.action in ("failback", "restore") and request.target != spec.primary:
            raise InvalidInput(
                f"target: {request.action} always returns route {route.name!r} to its primary "
                f"{spec.primary!r}; leave target out"
            )
    if request.action == "downgrade" and request.target is None and not spec.cheaper:
        raise InvalidInput(f"route: {route.name!r} declares no cheaper variant to downgrade to")


# ------------------------------------------------------------------ plan


@dataclass(frozen=True, slots=True)
class Plan:
    """Which model becomes active and why; `candidates` in the order they will be probed."""

    action: str
    route: str
    previous: str
    candidates: tuple[str, ...]
    noop: bool
    why: str
    ssm_version: int
    route_version: int

    @property
    def target(self) -> str | None:
        return self.candidates[0] if self.candidates else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "route": self.route,
            "previous": self.previous,
            "candidates": list(self.candidates),
            "target": self.target,
            "noop": self.noop,
            "why": self.why,
            "ssmVersion": self.ssm_version,
            "routeVersion": self.route_version,
        }


def plan(request: RemediationRequest, stored: StoredRoute) -> Plan:
    """The switch `request` asks for on the route as it is now."""
    route, spec = stored.route, stored.route.spec
    active = route.active

    def make(candidates: Iterable[str], why: str, noop: bool = False) -> Plan:
        return Plan(
            action=request.action,
            route=route.name,
            previous=active,
            candidates=tuple(candidates),
            noop=noop,
            why=why,
            ssm_version=stored.ssm_version,
            route_version=route.version,
        )

    if request.action == "failover":
        if request.target is not None:
            if request.target == active:
                return make([], f"{request.target} is already active", noop=True)
            return make([request.target], f"fail over from {active} to the requested {request.target}")
        if request.alarm_name and active != spec.primary:
            # An alarm watches the primary; once off it, the alarm firing again (or a second
            # alarm on the same model) must not walk the route down the fallback list.
            return make([], f"route already moved off its primary to {active}", noop=True)
        candidates = [m for m in spec.fallbacks if m != active]
        if not candidates:
            raise NoHealthyTarget(f"route {route.name!r} declares no fallback other than the active {active}")
        return make(candidates, f"fail over from {active} to the first healthy of: {', '.join(candidates)}")
    if request.action == "downgrade":
        target = request.target or spec.cheaper
        assert target is not None  # check_against_route refused a route without a cheaper variant
        if target == active:
            return make([], f"route already uses its cheaper variant {target}", noop=True)
        return make([target], f"downgrade from {active} to the cheaper {target}")
    # failback and restore both return to the primary, but each only undoes its own kind of
    # switch: a restore must not undo a live failover (the primary may still be failing).
    if active == spec.primary:
        return make([], f"route already uses its primary {spec.primary}", noop=True)
    if request.action == "failback" and active not in spec.fallbacks:
        return make([], f"route is on {active}, not a fallback: use restore to undo a downgrade", noop=True)
    if request.action == "restore" and active != spec.cheaper:
        return make([], f"route is on {active}, not its cheaper variant: use failback", noop=True)
    return make([spec.primary], f"{request.action} from {active} to the primary {spec.primary}")


# ------------------------------------------------------------------ probe


class ConverseProbe:
    """A one-token Converse call: is the model answering right now? Never logs content."""

    PROMPT = "ping"

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "bedrock-runtime",
                config=Config(
                    connect_timeout=5, read_timeout=20, retries={"mode": "standard", "max_attempts": 2}
                ),
            )
        return self._client

    def __call__(self, model: str) -> str | None:
        """None when the model answered; otherwise the error code it failed with."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.converse(
                modelId=model,
                messages=[{"role": "user", "content": [{"text": self.PROMPT}]}],
                inferenceConfig={"maxTokens": 1},
                requestMetadata={"application": "bedrock-watch", "route": "probe"},
            )
        except ClientError as err:
            return str(err.response.get("Error", {}).get("Code", "ClientError"))
        except BotoCoreError as err:
            return type(err).__name__
        return None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    target: str
    skipped: tuple[dict[str, str], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "skipped": list(self.skipped)}


def choose_healthy(candidates: Iterable[str], probe: Callable[[str], str | None]) -> ProbeResult:
    """The first candidate that answers its probe; NoHealthyTarget listing why each failed."""
    skipped: list[dict[str, str]] = []
    for model in candidates:
        error = probe(model)
        if error is None:
            return ProbeResult(model, tuple(skipped))
        skipped.append({"model": model, "error": error})
    detail = "; ".join(f"{s['model']}: {s['error']}" for s in skipped) or "no candidates"
    raise NoHealthyTarget(f"no healthy target, route left unchanged ({detail})")


# ------------------------------------------------------------------ lock


class RouteLock:
    """One remediation per route: a conditional put on `lock#<route>` with an expiry.

    The expiry (also the table's TTL attribute) frees the route if an execution died without
    releasing; TTL deletion is lazy, so the condition checks the expiry itself.
    """

    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            import boto3

            self._dynamodb = boto3.client("dynamodb")
        return self._dynamodb

    def acquire(
        self, route: str, *, holder: str, holder_arn: str, ttl_seconds: int, now: datetime
    ) -> dict[str, Any]:
        """Take the lock or raise RouteLocked naming who holds it."""
        epoch = int(now.timestamp())
        try:
            self.dynamodb.put_item(
                TableName=self.table_name,
                Item={
                    "pk": {"S": f"lock#{route}"},
                    "holder": {"S": holder},
                    "holderArn": {"S": holder_arn},
                    "since": {"S": now.isoformat(timespec="seconds")},
                    "expiresAt": {"N": str(epoch + ttl_seconds)},
                },
                ConditionExpression="attribute_not_exists(pk) OR expiresAt < :now OR holder = :me",
                ExpressionAttributeValues={":now": {"N": str(epoch)}, ":me": {"S": holder}},
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            item = self.dynamodb.get_item(
                TableName=self.table_name, Key={"pk": {"S": f"lock#{route}"}}, ConsistentRead=True
            ).get("Item", {})
            who = item.get("holder", {}).get("S", "another remediation")
            arn = item.get("holderArn", {}).get("S", "")
            since = item.get("since", {}).get("S", "?")
            expires = datetime.fromtimestamp(int(item.get("expiresAt", {}).get("N", "0")), UTC)
            raise RouteLocked(
                f"route {route!r} is locked by remediation {who} ({arn}) since {since}; "
                "it is released when that execution ends, at the latest "
                f"{expires.isoformat(timespec='seconds')}"
            ) from None
        return {"route": route, "holder": holder, "expiresAt": epoch + ttl_seconds}


# ------------------------------------------------------------------ apply and verify


def apply_switch(
    store: RouteStore,
    *,
    route: str,
    model: str,
    expected_ssm_version: int,
    by: str,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """Make `model` the active model of `route` with the version check; the new versions."""
    stored = store.get(route)
    switched = stored.route.switched(model, by=by, at=now.isoformat(timespec="seconds"), reason=reason)
    new_ssm_version = store.write(switched, expected_ssm_version)
    return {
        "route": route,
        "previous": stored.route.active,
        "active": model,
        "ssmVersion": new_ssm_version,
        "routeVersion": switched.version,
    }


@dataclass(frozen=True, slots=True)
class Health:
    requests: float
    failures: float

    @property
    def failure_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def model_health(
    cloudwatch: Any, *, namespace: str | None, model: str, start: datetime, end: datetime
) -> Health:
    """Requests and failures (errors + throttles) of `model` between start and end.

    AWS/Bedrock (the id as called, free, every attempt) is always read; our meter (namespace, base
    model id) too when it publishes per model (`namespace` given, MetricDetail `model` or `full`),
    and then the worse of the two is kept: throttled attempts are not always logged (FACTS §1.2).
    AWS/Bedrock `Invocations` counts every request Bedrock accepted, those that later failed
    included, and no throttled one, so its attempts are Invocations + InvocationThrottles and its
    failures server errors + throttles (docs/decisions.md, "AWS/Bedrock Invocations").
    """
    base = base_model_id(model)
    period = max(60, int((end - start).total_seconds()) // 60 * 60)

    def query(qid: str, ns: str, name: str, model_id: str) -> dict[str, Any]:
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {
                    "Namespace": ns,
                    "MetricName": name,
                    "Dimensions": [{"Name": "ModelId", "Value": model_id}],
                },
                "Period": period,
                "Stat": "Sum",
            },
        }

    metered = (
        [query("bw_requests", namespace, "Requests", base), query("bw_errors", namespace, "Errors", base)]
        if namespace
        else []
    )
    queries = [
        *metered,
        query("aws_invocations", "AWS/Bedrock", "Invocations", model),
        query("aws_server", "AWS/Bedrock", "InvocationServerErrors", model),
        query("aws_throttles", "AWS/Bedrock", "InvocationThrottles", model),
    ]
    result = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    sums = {r["Id"]: float(sum(r.get("Values", []))) for r in result["MetricDataResults"]}
    ours = Health(sums.get("bw_requests", 0.0), sums.get("bw_errors", 0.0))
    throttles = sums.get("aws_throttles", 0.0)
    theirs = Health(sums.get("aws_invocations", 0.0) + throttles, sums.get("aws_server", 0.0) + throttles)
    return max(ours, theirs, key=lambda h: (h.failure_rate, h.requests))


def verify_switch(
    store: RouteStore,
    cloudwatch: Any,
    *,
    route: str,
    expected: str,
    namespace: str | None,
    max_failure_rate: float,
    window_seconds: int,
    now: datetime,
) -> dict[str, Any]:
    """Read the route back and judge the target's health since the switch; VerificationFailed
    when the route does not read back as written or the target fails above the threshold."""
    stored = store.get(route)
    if stored.route.active != expected:
        raise VerificationFailed(f"route {route!r} reads back {stored.route.active!r}, expected {expected!r}")
    health = model_health(
        cloudwatch,
        namespace=namespace,
        model=expected,
        start=now - timedelta(seconds=max(window_seconds, 60)),
        end=now + timedelta(minutes=1),  # exclusive: include the current minute
    )
    if health.requests and health.failure_rate > max_failure_rate:
        raise VerificationFailed(
            f"{expected} failed {health.failures:.0f} of {health.requests:.0f} requests since the switch "
            f"({health.failure_rate:.0%} > {max_failure_rate:.0%})"
        )
    return {
        "active": expected,
        "requests": health.requests,
        "failureRate": round(health.failure_rate, 4),
        "note": "no traffic yet" if not health.requests else "healthy",
    }


# ------------------------------------------------------------------ savings


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens."""

    input: float
    output: float


PriceLookup = Callable[[str], Price | None]


def estimate_savings_per_hour(
    from_model: str,
    to_model: str,
    *,
    input_tokens_per_hour: float,
    output_tokens_per_hour: float,
    prices: PriceLookup,
) -> float | None:
    """Dollars per hour saved by serving last hour's traffic with `to_model`; None if unpriced."""
    old, new = prices(from_model), prices(to_model)
    if old is None or new is None:
        return None

    def cost(p: Price) -> float:
        return (input_tokens_per_hour * p.input + output_tokens_per_hour * p.output) / 1_000_000

    return round(cost(old) - cost(new), 4)


def pricebook_lookup(overrides: Mapping[str, Any] | None = None) -> PriceLookup:
    """Prices from bedrock_watch.pricing (shipped table + overrides, profile surcharges
    included); None for models without a price."""
    from bedrock_watch.pricing import PriceBook
    from bedrock_watch.records import InvocationRecord, parse_model_id

    book = PriceBook.load(overrides)
    # Price a small request and scale: a 1M-token request would cross long-context thresholds.
    sample = 1_000

    def lookup(model: str) -> Price | None:
        ref = parse_model_id(model)

        def cost(input_tokens: int, output_tokens: int) -> float | None:
            record = InvocationRecord(
                request_id="estimate",
                timestamp_ms=0,
                operation="Converse",
                model=ref,
                region="",
                inference_region=None,
                application=None,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
            usd = book.cost(record, ref)
            return None if usd is None else usd * 1_000_000 / sample

        in_price, out_price = cost(sample, 0), cost(0, sample)
        return None if in_price is None or out_price is None else Price(in_price, out_price)

    return lookup


def hourly_tokens(cloudwatch: Any, *, model: str, now: datetime) -> tuple[float, float]:
    """Input and output tokens `model` (the id as called) served in the last hour, from AWS/Bedrock's
    free per-model InputTokenCount and OutputTokenCount (the meter publishes no metric per model at
    MetricDetail=lean)."""
    queries = [
        {
            "Id": qid,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Bedrock",
                    "MetricName": name,
                    "Dimensions": [{"Name": "ModelId", "Value": model}],
                },
                "Period": 3600,
                "Stat": "Sum",
            },
        }
        for qid, name in (("inp", "InputTokenCount"), ("out", "OutputTokenCount"))
    ]
    # EndTime is exclusive: reach past `now` so the current, still-filling minute counts.
    end = now + timedelta(minutes=1)
    result = cloudwatch.get_metric_data(
        MetricDataQueries=queries, StartTime=end - timedelta(hours=1), EndTime=end
    )
    sums = {r["Id"]: float(sum(r.get("Values", []))) for r in result["MetricDataResults"]}
    return sums.get("inp", 0.0), sums.get("out", 0.0)


# ------------------------------------------------------------------ outcome and audit


def _error_message(error: Mapping[str, Any] | None) -> tuple[str, str]:
    """(error name, readable message) from a Step Functions Catch result."""
    if not error:
        return "", ""
    name = str(error.get("Error", ""))
    cause = str(error.get("Cause", ""))
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = str(parsed["errorMessage"])
    except (json.JSONDecodeError, TypeError):
        pass
    return name, cause


def summarise(state: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The audit item, the notification text and the `Remediation Finished` event detail for the
    state the workflow ended in (`outcome`, `request`, `plan`, `probe`, `applied`, `error`...)."""
    request = state.get("request", {})
    plan_ = state.get("plan") or {}
    applied = state.get("applied") or {}
    outcome = str(state.get("outcome", "failed"))
    error_name, error_message = _error_message(state.get("error"))
    before = plan_.get("previous") or applied.get("previous")
    target = (state.get("probe") or {}).get("target") or plan_.get("target")
    # Where the route ended up: back where it was unless a switch was applied and kept.
    after = applied.get("active") if applied and outcome != "rolled_back" else before
    route = request.get("route", "?")
    action = request.get("action", "?")
    headline = {
        "applied": f"{action} applied on route {route}: {before} -> {after}",
        "dry_run": f"dry run of {action} on route {route}: would switch {before} -> {target}",
        "unchanged": f"{action} on route {route} changed nothing: {plan_.get('why', '')}",
        "rolled_back": f"{action} on route {route} rolled back to {before}: {error_message}",
        "cancelled": f"{action} on route {route} cancelled: alarm {request.get('alarmName')} did not stay OK",
        "failed": f"{action} on route {route} failed ({error_name}): {error_message}; "
        f"route is on {after or 'its model'}",
    }.get(outcome, f"{action} on route {route}: {outcome}")
    detail: dict[str, Any] = {
        "alarmName": request.get("alarmName"),
        "route": route,
        "action": action,
        "outcome": outcome,
        "executionArn": request.get("executionArn"),
        "before": before,
        "after": after,
        "target": target,
        "summary": headline,
    }
    savings = plan_.get("savingsPerHourUSD")
    if action == "downgrade" and savings is not None and outcome in ("applied", "dry_run"):
        detail["estimatedSavingsPerHourUSD"] = savings
    if error_name:
        detail["error"] = error_name
    at = now.isoformat(timespec="seconds")
    item: dict[str, Any] = {
        "route": {"S": route},
        "at": {"S": f"{at}#{request.get('executionName', uuid.uuid4().hex)}"},
        "action": {"S": action},
        "outcome": {"S": outcome},
        "requestedBy": {"S": str(request.get("requestedBy", "console"))},
        "reason": {"S": str(request.get("reason", "")) or "-"},
        "dryRun": {"BOOL": bool(request.get("dryRun", False))},
        "summary": {"S": headline},
        "executionArn": {"S": str(request.get("executionArn", ""))},
    }
    for key, value in (
        ("before", before),
        ("after", after),
        ("alarmName", request.get("alarmName")),
        ("error", error_name or None),
        ("plan", plan_.get("why")),
    ):
        if value:
            item[key] = {"S": str(value)}
    if "estimatedSavingsPerHourUSD" in detail:
        item["estimatedSavingsPerHourUSD"] = {"N": str(detail["estimatedSavingsPerHourUSD"])}
    subject = re.sub(r"[^\x20-\x7e]", "", f"[bedrock-watch] {action} {route}: {outcome}")[:100]
    return {
        "item": item,
        "subject": subject,
        "message": json.dumps({"summary": headline, **detail}, indent=1, default=str),
        "event": detail,
        "error": "VerificationFailed" if outcome == "rolled_back" else error_name or "RemediationFailed",
        "cause": headline,
    }


# ------------------------------------------------------------------ triggers


def execution_name(action: str, route: str, now: datetime) -> str:
    """A unique, readable execution name (≤ 80 chars, [A-Za-z0-9-_])."""
    stamp = now.strftime("%Y%m%dT%H%M%S")
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{action}-{route}")[:50] + f"-{stamp}-{uuid.uuid4().hex[:8]}"


def requests_for_alarm(
    event: Mapping[str, Any], tags: Mapping[str, str], budget_routes: Iterable[str]
) -> list[dict[str, Any]]:
    """Remediation inputs for a "CloudWatch Alarm State Change" event and the alarm's tags.

    ALARM on `Remediation=failover` fails the `Route` over; OK after ALARM on it starts a
    failback (the workflow waits the cool-down and re-checks the alarm). ALARM on `Remediation=downgrade`
    downgrades the `Route` and the budget routes. Anything else starts nothing.
    """
    detail = event.get("detail", {})
    alarm = str(detail.get("alarmName", ""))
    state = str(detail.get("state", {}).get("value", ""))
    kind = tags.get("Remediation", "none")
    routes = [tags["Route"]] if tags.get("Route") else []
    by = f"alarm:{alarm}"

    def make(action: str, route: str, reason: str) -> dict[str, Any]:
        return {"action": action, "route": route, "reason": reason, "alarmName": alarm, "requestedBy": by}

    if kind == "failover" and routes:
        if state == "ALARM":
            return [make("failover", routes[0], f"alarm {alarm} is in ALARM")]
        # Only an OK that ends an ALARM episode fails back: every new alarm reports
        # INSUFFICIENT_DATA -> OK after a deploy, and a failback started then would hold the
        # route's lock for the cool-down, so a real failover in those minutes would be refused.
        previous = str(detail.get("previousState", {}).get("value", ""))
        if state == "OK" and previous == "ALARM":
            return [make("failback", routes[0], f"alarm {alarm} returned to OK")]
    if kind == "downgrade" and state == "ALARM":
        names = list(dict.fromkeys([*routes, *budget_routes]))
        return [make("downgrade", r, f"budget alarm {alarm} is in ALARM") for r in names]
    return []


def requests_for_schedule(routes: Iterable[Route]) -> list[dict[str, Any]]:
    """The month-start restore: every route running on its cheaper variant goes back to its
    primary, since a downgrade is a budget measure and the budget starts again."""
    return [
        {
            "action": "restore",
            "route": r.name,
            "reason": "new budget month",
            "requestedBy": "schedule:month-start",
        }
        for r in routes
        if r.spec.cheaper and r.active == r.spec.cheaper
    ]


def alarm_tags(cloudwatch: Any, alarm_arn: str) -> dict[str, str]:
    """The alarm's tags (they are not in the state change event)."""
    tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm_arn).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags}


def start_remediations(
    sfn: Any, state_machine_arn: str, requests: Iterable[Mapping[str, Any]], *, now: datetime
) -> list[str]:
    """Start one execution per request; their names."""
    names = []
    for request in requests:
        name = execution_name(str(request["action"]), str(request["route"]), now)
        sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(request))
        names.append(name)
    return names


def record_outcome(
    dynamodb: Any, table_name: str, state: Mapping[str, Any], *, now: datetime
) -> dict[str, Any]:
    """Write the audit record of a finished remediation; the notification texts."""
    summary = summarise(state, now=now)
    dynamodb.put_item(TableName=table_name, Item=summary.pop("item"))
    return summary
