"""Evaluate the template's CloudWatch alarms the way CloudWatch does, and publish state changes.

Metric alarms (single metric, metric math, anomaly band) are evaluated over an *evaluation
range* of EvaluationPeriods + 2 complete, epoch-aligned periods ending at the clock's now
(CloudWatch retrieves "more datapoints than Evaluation Periods"; its documented examples use
N + 2, e.g. 5 for 3). The decision follows the CloudWatch user guide's missing-data rules
("How alarm state is evaluated when data is missing", reproduced by `decide`): with at least
N real datapoints the N most recent decide and TreatMissingData is not used; with fewer, the
real ones are all used and missing ones filled per TreatMissingData as few times as possible.

Composite alarms evaluate their AlarmRule (ALARM/OK/INSUFFICIENT_DATA of other alarms by
name or ARN, AND/OR/NOT, parentheses, TRUE/FALSE) after the metric alarms.

Each state change updates moto's alarm (so DescribeAlarms shows it) and is put on the default
event bus as a "CloudWatch Alarm State Change" event shaped like CloudWatch's own, so rules and
their targets (sandbox.shims.eventbridge_targets) receive it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.metricmath import (
    AnomalyModel,
    Band,
    Contributors,
    Evaluation,
    MathError,
    Query,
    Series,
    grid_for,
)
from sandbox.metrics import MetricKey, MetricStore, percentile_of, period_start

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT)
EXTRA_PERIODS = 2  # evaluation range = EvaluationPeriods + this

_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
_BAND_COMPARISONS = {
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
}
_MISSING_TREATMENTS = {"missing", "ignore", "breaching", "notBreaching"}


class AlarmDefinitionError(ValueError):
    """An alarm definition the evaluator cannot evaluate (names the alarm and the problem)."""


# ---------------------------------------------------------------------- the decision
@dataclass(frozen=True)
class Datapoint:
    """One period of the evaluation range: its start, value (None = missing) and band if any."""

    timestamp: datetime
    value: float | None
    breaching: bool = False
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class ChartPoint:
    """One period of an alarm's chart: the value (None = no data) and the threshold line(s)."""

    timestamp: datetime
    value: float | None
    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation: new state, the datapoints it rests on, fills used."""

    state: str
    evaluated: tuple[Datapoint, ...]
    filled: int = 0
    filled_breaching: bool = False


def decide(points: Sequence[Datapoint], n: int, m: int, treat: str, current: str) -> Decision:
    """The alarm state CloudWatch sets for `points` (oldest first) of the evaluation range.

    `n` = EvaluationPeriods, `m` = DatapointsToAlarm. Reproduces both tables of the CloudWatch
    user guide (3 of 3 and 2 of 3, each missing-data treatment). For `missing`/`ignore` with
    fewer than N real datapoints: ALARM if at least M of them breach; OK if any does not breach
    (ALARM can no longer be reached); and when all of them breach but fewer than M: with `missing`,
    ALARM if none lies in the N most recent periods (the guide's "X - - - -" row: CloudWatch then
    falls back to the most recent real datapoints, which all breach), else INSUFFICIENT_DATA;
    with `ignore`, the current state.
    """
    if treat not in _MISSING_TREATMENTS:
        raise AlarmDefinitionError(f"TreatMissingData {treat!r} is not one of {sorted(_MISSING_TREATMENTS)}")
    existing = [p for p in points if p.value is not None]
    if len(existing) >= n:
        evaluated = tuple(existing[-n:])
        breaching = sum(p.breaching for p in evaluated)
        return Decision(ALARM if breaching >= m else OK, evaluated)
    fills = n - len(existing)
    if treat in {"breaching", "notBreaching"}:
        fill_breaches = treat == "breaching"
        breaching = sum(p.breaching for p in existing) + (fills if fill_breaches else 0)
        return Decision(ALARM if breaching >= m else OK, tuple(existing), fills, fill_breaches)
    undecided = INSUFFICIENT if treat == "missing" else current
    if not existing:
        return Decision(undecided, ())
    breaching = sum(p.breaching for p in existing)
    if breaching >= m:
        return Decision(ALARM, tuple(existing))
    if breaching < len(existing):
        return Decision(OK, tuple(existing))
    recent = points[-n:]
    if treat == "missing" and not any(p.value is not None for p in recent):
        return Decision(ALARM, tuple(existing))
    return Decision(undecided, tuple(existing))


# ---------------------------------------------------------------------- definitions
def _alarm_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


def _actions(props: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        ALARM: [str(a) for a in props.get("AlarmActions") or []],
        OK: [str(a) for a in props.get("OKActions") or []],
        INSUFFICIENT: [str(a) for a in props.get("InsufficientDataActions") or []],
    }


def _tags(props: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in props.get("Tags") or []}


@dataclass
class MetricAlarm:
    """A resolved AWS::CloudWatch::Alarm (single metric, metric math or anomaly band)."""

    name: str
    arn: str
    queries: list[Query]
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    period: int
    treat_missing: str = "missing"
    threshold: float | None = None
    threshold_metric_id: str | None = None
    description: str = ""
    low_sample_percentile: str | None = None
    actions_enabled: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    logical_id: str | None = None
    actions: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_properties(
        cls, props: Mapping[str, Any], *, region: str, account: str, logical_id: str | None = None
    ) -> MetricAlarm:
        """From a resolved AWS::CloudWatch::Alarm Properties map (or PutMetricAlarm arguments)."""
        name = str(props.get("AlarmName") or logical_id or "")
        comparison = str(props.get("ComparisonOperator", ""))
        if comparison not in _COMPARISONS and comparison not in _BAND_COMPARISONS:
            raise AlarmDefinitionError(f"alarm {name}: ComparisonOperator {comparison!r} is not known")
        if props.get("Metrics"):
            queries = [Query.from_api(q) for q in props["Metrics"]]
            periods = [q.period for q in queries if q.period and q.metric is not None]
            periods = periods or [q.period for q in queries if q.period]  # e.g. a Metrics Insights query
            if not periods:
                raise AlarmDefinitionError(f"alarm {name}: no MetricStat gives the period")
            period = min(periods)
        else:
            stat = props.get("ExtendedStatistic") or props.get("Statistic")
            if not stat or not props.get("MetricName") or not props.get("Namespace"):
                raise AlarmDefinitionError(f"alarm {name}: needs MetricName, Namespace and a statistic")
            period = int(props["Period"])
            queries = [
                Query(
                    id="m1",
                    metric=MetricKey.of(
                        str(props["Namespace"]), str(props["MetricName"]), props.get("Dimensions")
                    ),
                    stat=str(stat),
                    period=period,
                    unit=props.get("Unit"),
                )
            ]
        n = int(props.get("EvaluationPeriods", 1))
        m = int(props.get("DatapointsToAlarm") or n)
        if not 1 <= m <= n:
            raise AlarmDefinitionError(
                f"alarm {name}: DatapointsToAlarm {m} must be 1..EvaluationPeriods {n}"
            )
        threshold = props.get("Threshold")
        threshold_metric_id = props.get("ThresholdMetricId")
        if comparison in _BAND_COMPARISONS and not threshold_metric_id:
            raise AlarmDefinitionError(f"alarm {name}: {comparison} needs ThresholdMetricId")
        if comparison in _COMPARISONS and threshold is None:
            raise AlarmDefinitionError(f"alarm {name}: {comparison} needs a Threshold")
        return cls(
            name=name,
            arn=_alarm_arn(region, account, name),
            queries=queries,
            comparison=comparison,
            evaluation_periods=n,
            datapoints_to_alarm=m,
            period=period,
            treat_missing=str(props.get("TreatMissingData") or "missing"),
            threshold=None if threshold is None else float(threshold),
            threshold_metric_id=str(threshold_metric_id) if threshold_metric_id else None,
            description=str(props.get("AlarmDescription") or ""),
            low_sample_percentile=props.get("EvaluateLowSampleCountPercentile"),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() != "false",
            tags=_tags(props),
            actions=_actions(props),
            logical_id=logical_id,
        )

    @property
    def value_query(self) -> Query:
        """The query whose datapoints are compared (ReturnData, not the threshold band)."""
        candidates = [q for q in self.queries if q.return_data and q.id != self.threshold_metric_id]
        if len(candidates) != 1:
            raise AlarmDefinitionError(
                f"alarm {self.name}: exactly one query must return data besides the threshold, "
                f"found {[q.id for q in candidates]}"
            )
        return candidates[0]

    def configuration(self) -> dict[str, Any]:
        """detail.configuration of the state-change event (CloudWatch's lower-camel shape)."""
        metrics = []
        for q in self.queries:
            item: dict[str, Any] = {"id": q.id, "returnData": q.return_data}
            if q.metric is not None:
                item["metricStat"] = {
                    "metric": {
                        "namespace": q.metric.namespace,
                        "name": q.metric.name,
                        "dimensions": dict(q.metric.dimensions),
                    },
                    "period": q.period,
                    "stat": q.stat,
                }
            else:
                item["expression"] = q.expression
            if q.label:
                item["label"] = q.label
            metrics.append(item)
        return {"description": self.description, "metrics": metrics}


@dataclass
class CompositeAlarm:
    """A resolved AWS::CloudWatch::CompositeAlarm."""

    name: str
    arn: str
    rule: str
    description: str = ""
    actions_enabled: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    logical_id: str | None = None
    actions: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.expression = parse_rule(self.rule)

    @classmethod
    def from_properties(
        cls, props: Mapping[str, Any], *, region: str, account: str, logical_id: str | None = None
    ) -> CompositeAlarm:
        name = str(props.get("AlarmName") or logical_id or "")
        if not props.get("AlarmRule"):
            raise AlarmDefinitionError(f"composite alarm {name}: AlarmRule is required")
        return cls(
            name=name,
            arn=_alarm_arn(region, account, name),
            rule=str(props["AlarmRule"]),
            description=str(props.get("AlarmDescription") or ""),
            actions_enabled=str(props.get("ActionsEnabled", True)).lower() != "false",
            tags=_tags(props),
            actions=_actions(props),
            logical_id=logical_id,
        )

    def children(self) -> set[str]:
        return _rule_children(self.expression)


# ---------------------------------------------------------------------- composite rules
_RULE_TOKEN = re.compile(
    r"\s*(?:(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*(?P<arg>\"[^\"]*\"|'[^']*'|[^)]*?)\s*\)"
    r"|(?P<kw>AND|OR|NOT|TRUE|FALSE)\b|(?P<paren>[()]))",
    re.IGNORECASE,
)

RuleNode = tuple[Any, ...]


def _alarm_name(ref: str) -> str:
    ref = ref.strip().strip("\"'")
    return ref.split(":alarm:", 1)[1] if ":alarm:" in ref else ref


def parse_rule(rule: str) -> RuleNode:
    """Parse a composite AlarmRule into a tree (raises AlarmDefinitionError on bad syntax)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = rule.strip()
    while pos < len(text):
        match = _RULE_TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise AlarmDefinitionError(f"AlarmRule {rule!r}: cannot parse at {text[pos:]!r}")
        if match.group("fn"):
            tokens.append((match.group("fn").upper(), _alarm_name(match.group("arg"))))
        elif match.group("kw"):
            tokens.append((match.group("kw").upper(), ""))
        else:
            tokens.append((match.group("paren"), ""))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    index = 0

    def peek() -> str | None:
        return tokens[index][0] if index < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal index
        if index >= len(tokens):
            raise AlarmDefinitionError(f"AlarmRule {rule!r}: unexpected end")
        index += 1
        return tokens[index - 1]

    def or_() -> RuleNode:
        node = and_()
        while peek() == "OR":
            take()
            node = ("OR", node, and_())
        return node

    def and_() -> RuleNode:
        node = not_()
        while peek() == "AND":
            take()
            node = ("AND", node, not_())
        return node

    def not_() -> RuleNode:
        if peek() == "NOT":
            take()
            return ("NOT", not_())
        return atom()

    def atom() -> RuleNode:
        kind, arg = take()
        if kind == "(":
            node = or_()
            if take()[0] != ")":
                raise AlarmDefinitionError(f"AlarmRule {rule!r}: missing ')'")
            return node
        if kind in {"TRUE", "FALSE"}:
            return ("CONST", kind == "TRUE")
        if kind in STATES:
            return ("STATE", kind, arg)
        raise AlarmDefinitionError(f"AlarmRule {rule!r}: unexpected {kind!r}")

    tree = or_()
    if index != len(tokens):
        raise AlarmDefinitionError(f"AlarmRule {rule!r}: unexpected {tokens[index][0]!r}")
    return tree


def evaluate_rule(node: RuleNode, states: Mapping[str, str]) -> bool:
    """The truth of a parsed rule given alarm states by name (unknown alarm = KeyError)."""
    match node[0]:
        case "CONST":
            return bool(node[1])
        case "STATE":
            return states[node[2]] == node[1]
        case "NOT":
            return not evaluate_rule(node[1], states)
        case "AND":
            return evaluate_rule(node[1], states) and evaluate_rule(node[2], states)
        case "OR":
            return evaluate_rule(node[1], states) or evaluate_rule(node[2], states)
    raise AlarmDefinitionError(f"bad rule node {node!r}")


def _rule_children(node: RuleNode) -> set[str]:
    if node[0] == "STATE":
        return {str(node[2])}
    out: set[str] = set()
    for child in node[1:]:
        if isinstance(child, tuple):
            out |= _rule_children(child)
    return out


# ---------------------------------------------------------------------- state and events
def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+0000"


def _short(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%d/%m/%y %H:%M:%S")


def _num(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True)
class AlarmState:
    """An alarm's state as CloudWatch reports it (value, reason, reasonData JSON, timestamp)."""

    value: str
    reason: str
    reason_data: str
    timestamp: datetime

    def as_event(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "reason": self.reason, "timestamp": _iso(self.timestamp)}
        if self.reason_data:
            out["reasonData"] = self.reason_data
        return out


@dataclass(frozen=True)
class StateChange:
    """One transition, with the EventBridge event that announced it."""

    alarm: str
    previous: AlarmState
    current: AlarmState
    event: dict[str, Any]


EventSink = Callable[[dict[str, Any]], None]
ActionSink = Callable[[str, dict[str, Any]], None]


def action_message(
    alarm: MetricAlarm | CompositeAlarm, previous: AlarmState, new: AlarmState, region: str, account: str
) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS actions on a state change."""
    message: dict[str, Any] = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account,
        "NewStateValue": new.value,
        "NewStateReason": new.reason,
        "StateChangeTime": _iso(new.timestamp),
        "Region": region,
        "AlarmArn": alarm.arn,
        "OldStateValue": previous.value,
        "OKActions": alarm.actions.get(OK, []),
        "AlarmActions": alarm.actions.get(ALARM, []),
        "InsufficientDataActions": alarm.actions.get(INSUFFICIENT, []),
    }
    if isinstance(alarm, CompositeAlarm):
        message["AlarmRule"] = alarm.rule
        return message
    trigger: dict[str, Any] = {
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "ComparisonOperator": alarm.comparison,
        "TreatMissingData": alarm.treat_missing,
    }
    if alarm.threshold is not None:
        trigger["Threshold"] = alarm.threshold
    if alarm.threshold_metric_id:
        trigger["ThresholdMetricId"] = alarm.threshold_metric_id
    trigger["Metrics"] = alarm.configuration()["metrics"]
    message["Trigger"] = trigger
    return message


def moto_action_sink(region: str = "us-east-1") -> ActionSink:
    """Publish alarm actions that are SNS topics to moto's SNS, as CloudWatch does."""
    import boto3

    client = boto3.client("sns", region_name=region)

    def publish(action: str, message: dict[str, Any]) -> None:
        if action.startswith("arn:aws:sns:"):
            subject = f'{message["NewStateValue"]}: "{message["AlarmName"]}" in {region}'
            client.publish(TopicArn=action, Subject=subject[:100], Message=json.dumps(message))

    return publish


def moto_event_sink(region: str = "us-east-1") -> EventSink:
    """Put events on moto's default bus with PutEvents (rules then deliver them to targets)."""
    import boto3

    client = boto3.client("events", region_name=region)

    def put(event: dict[str, Any]) -> None:
        response = client.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                    "Time": datetime.fromisoformat(event["time"].replace("Z", "+00:00")),
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents rejected the alarm event: {response['Entries']}")

    return put


def _update_moto_alarm(region: str, account: str, name: str, state: AlarmState) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account][region]
    alarm = backend.alarms.get(name)
    if alarm is not None:
        alarm.update_state(state.reason, state.reason_data or "{}", state.value)
        alarm.state_updated_timestamp = state.timestamp


class AlarmEvaluator:
    """Holds every alarm's state and re-evaluates all of them at a given (simulated) time."""

    def __init__(
        self,
        metric_alarms: Iterable[MetricAlarm],
        composite_alarms: Iterable[CompositeAlarm],
        store: MetricStore,
        *,
        now: Callable[[], datetime],
        region: str = "us-east-1",
        account: str = "123456789012",
        sink: EventSink | None = None,
        update_moto: bool = True,
        anomaly: AnomalyModel | None = None,
        include_alarm_tags: bool = False,
        action_sink: ActionSink | None = None,
    ) -> None:
        self.metric_alarms = {a.name: a for a in metric_alarms}
        self.composite_alarms = {a.name: a for a in composite_alarms}
        self.store = store
        self.now = now
        self.region = region
        self.account = account
        self.sink = sink
        self.update_moto = update_moto
        self.anomaly = anomaly or AnomalyModel()
        self.include_alarm_tags = include_alarm_tags
        self.action_sink = action_sink
        self.history: list[StateChange] = []
        self.contributor_states: dict[tuple[str, str], str] = {}
        # "CloudWatch Alarm Contributor State Change" events of the evaluation under way, and all so far
        self.contributor_events: list[dict[str, Any]] = []
        created = now()
        self.states: dict[str, AlarmState] = {
            name: AlarmState(INSUFFICIENT, "Unchecked: Initial alarm creation", "", created)
            for name in [*self.metric_alarms, *self.composite_alarms]
        }
        for composite in self.composite_alarms.values():
            unknown = composite.children() - set(self.states)
            if unknown:
                raise AlarmDefinitionError(
                    f"composite alarm {composite.name} refers to unknown alarms {sorted(unknown)}"
                )

    def state(self, name: str) -> str:
        """The current state value of alarm `name`."""
        return self.states[name].value

    # ---------------------------------------------------------------- metric alarms
    def _values(
        self, alarm: MetricAlarm, at: datetime
    ) -> tuple[list[float], Series | Contributors, Band | None]:
        """The evaluation range's grid (N + 2 complete periods), the compared value and the band."""
        period = alarm.period
        end = period_start(at.timestamp(), period)
        count = alarm.evaluation_periods + EXTRA_PERIODS
        grid = [end - (count - k) * period for k in range(count)]
        queries = {q.id: q for q in alarm.queries}
        evaluation = Evaluation(self.store, queries, grid, period, self.anomaly)
        try:
            raw = evaluation.value(alarm.value_query.id)
            band = evaluation.value(alarm.threshold_metric_id) if alarm.threshold_metric_id else None
        except MathError as exc:
            raise AlarmDefinitionError(f"alarm {alarm.name}: {exc}") from exc
        if isinstance(raw, list | Band | float | int):
            raise AlarmDefinitionError(f"alarm {alarm.name}: the compared query must be one time series")
        if alarm.threshold_metric_id and not isinstance(band, Band):
            raise AlarmDefinitionError(
                f"alarm {alarm.name}: ThresholdMetricId must be ANOMALY_DETECTION_BAND"
            )
        if isinstance(raw, Contributors):
            return grid, raw, None
        return grid, self._drop_low_samples(alarm, raw), band if isinstance(band, Band) else None

    def datapoints(self, alarm: MetricAlarm, at: datetime) -> list[Datapoint]:
        """The evaluation range of `alarm` at `at`: N + 2 complete periods, oldest first."""
        grid, series, band = self._values(alarm, at)
        if isinstance(series, Contributors):
            raise AlarmDefinitionError(f"alarm {alarm.name}: a GROUP BY query has one series per contributor")
        return self._points(alarm, grid, series, band)

    def _points(
        self, alarm: MetricAlarm, grid: list[float], series: Series, band: Band | None
    ) -> list[Datapoint]:
        points = []
        for t in grid:
            when = datetime.fromtimestamp(t, UTC)
            value = series.get(t)
            if isinstance(band, Band):
                lower, upper = band.lower.get(t), band.upper.get(t)
                if value is None or lower is None or upper is None:
                    points.append(Datapoint(when, None, lower=lower, upper=upper))
                    continue
                breaching = self._band_breach(alarm.comparison, value, lower, upper)
                points.append(Datapoint(when, value, breaching, lower, upper))
            elif value is None:
                points.append(Datapoint(when, None))
            else:
                compare = _COMPARISONS[alarm.comparison][0]
                assert alarm.threshold is not None
                points.append(Datapoint(when, value, compare(value, alarm.threshold)))
        return points

    @staticmethod
    def _band_breach(comparison: str, value: float, lower: float, upper: float) -> bool:
        if comparison == "LessThanLowerThreshold":
            return value < lower
        if comparison == "GreaterThanUpperThreshold":
            return value > upper
        return value < lower or value > upper

    def _drop_low_samples(self, alarm: MetricAlarm, series: Series) -> Series:
        """EvaluateLowSampleCountPercentile=ignore: too few samples for the percentile = missing."""
        query = alarm.queries[0]
        p = percentile_of(query.stat or "")
        if alarm.low_sample_percentile != "ignore" or p is None or query.metric is None:
            return series
        fraction = p / 100.0
        needed = 10 / (1 - fraction) if fraction >= 0.5 else 10 / max(fraction, 1e-9)
        kept: Series = {}
        for t, v in series.items():
            lo = datetime.fromtimestamp(t, UTC)
            if self.store.sample_count(query.metric, lo, lo + timedelta(seconds=alarm.period)) >= needed:
                kept[t] = v
        return kept

    def _contributors_state(
        self, alarm: MetricAlarm, grid: list[float], contributors: Contributors, at: datetime
    ) -> AlarmState:
        """Multi time series alarm: each contributor is OK or ALARM; the alarm is ALARM if any is."""
        current = self.states[alarm.name].value
        n, m = alarm.evaluation_periods, alarm.datapoints_to_alarm
        if not contributors.series:
            empty = [Datapoint(datetime.fromtimestamp(t, UTC), None) for t in grid]
            decision = decide(empty, n, m, alarm.treat_missing, current)
            if decision.state == current:
                return self.states[alarm.name]
            reason = f"Insufficient Data: the query returned no time series ({len(grid)} datapoints unknown)."
            if decision.state != INSUFFICIENT:
                reason = f"0 out of 0 time series evaluated to ALARM ({alarm.treat_missing} data)"
            return AlarmState(decision.state, reason, "", at)
        alarming: list[str] = []
        for label, series in contributors.series.items():
            key = (alarm.name, label)
            points = self._points(alarm, grid, series, None)
            previous = self.contributor_states.get(key)
            state = decide(points, n, m, alarm.treat_missing, previous or OK).state
            # a contributor exists only while it has data: it is never INSUFFICIENT_DATA
            state = ALARM if state == ALARM else OK
            self.contributor_states[key] = state
            if state == ALARM:
                alarming.append(label)
            if state != (previous or OK):
                self.contributor_events.append(self._contributor_event(alarm, label, state, points, at))
        total = len(contributors.series)
        reason = f"{len(alarming)} out of {total} time series evaluated to ALARM"
        data = {
            "version": "1.0",
            "queryDate": _iso(at),
            "period": alarm.period,
            "alarmingContributors": alarming,
        }
        return AlarmState(ALARM if alarming else OK, reason, json.dumps(data, separators=(",", ":")), at)

    def _contributor_event(
        self, alarm: MetricAlarm, label: str, state: str, points: list[Datapoint], at: datetime
    ) -> dict[str, Any]:
        """A "CloudWatch Alarm Contributor State Change" event, shaped as the CloudWatch user guide's
        example ("Alarm events and EventBridge", multi time series alarm): the contributor's id and
        attributes, its new state with a reason, no previousState and no reasonData."""
        attributes = dict(part.split("=", 1) for part in label.split(" ") if "=" in part)
        breaching = [p for p in points if p.value is not None and p.breaching]
        latest = (
            breaching[-1] if breaching else next((p for p in reversed(points) if p.value is not None), None)
        )
        words = _COMPARISONS[alarm.comparison][1]
        figure = f" [{_num(latest.value or 0.0)} ({_short(latest.timestamp)})]" if latest is not None else ""
        if state == ALARM:
            reason = (
                f"Threshold Crossed: 1 datapoint was {words} the threshold ({_num(alarm.threshold or 0.0)}). "
                f"The most recent datapoint which crossed the threshold:{figure}."
            )
        else:
            reason = (
                f"Threshold Crossed: no datapoint was {words} the threshold ({_num(alarm.threshold or 0.0)})."
            )
        detail = {
            "alarmName": alarm.name,
            "alarmContributor": {
                "id": hashlib.sha256(label.encode()).hexdigest()[:16],
                "attributes": attributes,
            },
            "state": {"value": state, "reason": reason, "timestamp": _iso(at)},
            "configuration": alarm.configuration(),
        }
        return self._envelope("CloudWatch Alarm Contributor State Change", at, alarm.arn, detail)

    def _metric_state(self, alarm: MetricAlarm, at: datetime) -> AlarmState:
        grid, series, band = self._values(alarm, at)
        if isinstance(series, Contributors):
            return self._contributors_state(alarm, grid, series, at)
        points = self._points(alarm, grid, series, band)
        current = self.states[alarm.name].value
        decision = decide(
            points, alarm.evaluation_periods, alarm.datapoints_to_alarm, alarm.treat_missing, current
        )
        if decision.state == current and current != INSUFFICIENT and not decision.evaluated:
            return self.states[alarm.name]  # `ignore`: keep the state and its reason
        reason = self._reason(alarm, decision, points, current)
        data: dict[str, Any] = {
            "version": "1.0",
            "queryDate": _iso(at),
            "startDate": _iso(points[0].timestamp),
            "period": alarm.period,
            "recentDatapoints": [p.value for p in decision.evaluated],
        }
        query = alarm.queries[0]
        if not any(q.expression for q in alarm.queries):
            data["extendedStatistic" if percentile_of(query.stat or "") is not None else "statistic"] = (
                query.stat
            )
        if alarm.threshold is not None and alarm.threshold_metric_id is None:
            data["threshold"] = alarm.threshold
        if alarm.threshold_metric_id:
            data["recentLowerThresholds"] = [p.lower for p in decision.evaluated]
            data["recentUpperThresholds"] = [p.upper for p in decision.evaluated]
        data["evaluatedDatapoints"] = [
            {"timestamp": _iso(p.timestamp), **({"value": p.value} if p.value is not None else {})}
            for p in reversed(points[-alarm.evaluation_periods :])
        ]
        return AlarmState(decision.state, reason, json.dumps(data, separators=(",", ":")), at)

    def _reason(self, alarm: MetricAlarm, decision: Decision, points: list[Datapoint], current: str) -> str:
        if decision.state == INSUFFICIENT or (decision.state == current and not decision.evaluated):
            unknown = sum(p.value is None for p in points)
            return f"Insufficient Data: {unknown} datapoint{'s were' if unknown != 1 else ' was'} unknown."
        to_alarm = decision.state == ALARM
        n, m = alarm.evaluation_periods, alarm.datapoints_to_alarm
        if decision.filled and not decision.evaluated:
            # CloudWatch's wording when only missing-data treatment decided
            fills = decision.filled
            kind = "Breaching" if decision.filled_breaching else "NonBreaching"
            periods = f"{fills} period{'s' if fills != 1 else ''}"
            treated = f"{fills} missing datapoint{'s were' if fills != 1 else ' was'} treated as [{kind}]"
            return f"Threshold Crossed: no datapoints were received for {periods} and {treated}."
        chosen = [p for p in decision.evaluated if p.breaching == to_alarm]
        count = len(chosen) + (decision.filled if decision.filled_breaching == to_alarm else 0)
        listed = ", ".join(f"{_num(p.value or 0.0)} ({_short(p.timestamp)})" for p in reversed(chosen))
        verb = "was" if count == 1 else "were"
        minimum = m if to_alarm else n - m + 1
        plural = "s" if minimum != 1 else ""
        transition = f"(minimum {minimum} datapoint{plural} for {current} -> {decision.state} transition)"
        if alarm.threshold_metric_id:
            lowers = ", ".join(_num(p.lower or 0.0) for p in reversed(chosen))
            uppers = ", ".join(_num(p.upper or 0.0) for p in reversed(chosen))
            neg = "" if to_alarm else "not "
            return (
                f"Thresholds Crossed: {count} out of the last {n} datapoints [{listed}] {verb} "
                f"{neg}less than the lower thresholds [{lowers}] or {neg}greater than the upper "
                f"thresholds [{uppers}] {transition}."
            )
        words = _COMPARISONS[alarm.comparison][1]
        neg = "" if to_alarm else "not "
        assert alarm.threshold is not None
        filled = ""
        if decision.filled:
            kind = "breaching" if decision.filled_breaching else "not breaching"
            plural = "s" if decision.filled != 1 else ""
            filled = f" ({decision.filled} missing datapoint{plural} treated as {kind})"
        return (
            f"Threshold Crossed: {count} out of the last {n} datapoints [{listed}]{filled} {verb} "
            f"{neg}{words} the threshold ({_num(alarm.threshold)}) {transition}."
        )

    def chart(self, name: str, start: datetime, end: datetime) -> dict[str, list[ChartPoint]]:
        """The compared series of metric alarm `name` over [start, end) with its threshold or band,
        one list per contributor ("" for a single series) — what a report plots."""
        alarm = self.metric_alarms[name]
        grid = grid_for(start, end, alarm.period)
        evaluation = Evaluation(
            self.store, {q.id: q for q in alarm.queries}, grid, alarm.period, self.anomaly
        )
        raw = evaluation.value(alarm.value_query.id)
        band = evaluation.value(alarm.threshold_metric_id) if alarm.threshold_metric_id else None
        if isinstance(raw, Contributors):
            lines = raw.series
        elif isinstance(raw, dict):
            lines = {"": raw}
        else:
            raise AlarmDefinitionError(f"alarm {name}: the compared query must be one time series")
        lower_is_bad = alarm.comparison.startswith("LessThan") and not isinstance(band, Band)
        out: dict[str, list[ChartPoint]] = {}
        for label, series in lines.items():
            points = []
            for t in grid:
                if isinstance(band, Band):
                    lower, upper = band.lower.get(t), band.upper.get(t)
                else:
                    lower = alarm.threshold if lower_is_bad else None
                    upper = None if lower_is_bad else alarm.threshold
                points.append(ChartPoint(datetime.fromtimestamp(t, UTC), series.get(t), lower, upper))
            out[label] = points
        return out

    # ---------------------------------------------------------------- composite alarms
    def _composite_state(self, alarm: CompositeAlarm, at: datetime) -> AlarmState:
        values = {name: state.value for name, state in self.states.items()}
        fired = evaluate_rule(alarm.expression, values)
        value = ALARM if fired else OK
        children = sorted(alarm.children(), key=lambda c: self.states[c].timestamp)
        trigger = children[-1] if children else None
        if trigger is None:
            reason = f"Rule {alarm.rule} evaluated to {'TRUE' if fired else 'FALSE'}"
            return AlarmState(value, reason, "", at)
        child = self.states[trigger]
        child_arn = _alarm_arn(self.region, self.account, trigger)
        when = child.timestamp.astimezone(UTC).strftime("%A %d %B, %Y %H:%M:%S UTC")
        reason = f"{child_arn} transitioned to {child.value} at {when}"
        data = {
            "triggeringAlarms": [
                {"arn": child_arn, "state": {"value": child.value, "timestamp": _iso(child.timestamp)}}
            ]
        }
        return AlarmState(value, reason, json.dumps(data, separators=(",", ":")), at)

    # ---------------------------------------------------------------- the loop
    def evaluate(self, at: datetime | None = None) -> list[StateChange]:
        """Evaluate every alarm at `at` (default: now); returns and publishes the state changes."""
        at = at or self.now()
        changes: list[StateChange] = []
        for alarm in self.metric_alarms.values():
            self.contributor_events = []
            changes.extend(self._apply(alarm, self._metric_state(alarm, at), alarm.configuration()))
            if self.sink is not None:
                for event in self.contributor_events:
                    self.sink(event)
        self.contributor_events = []
        # composites may refer to composites: settle until nothing changes (bounded by their count)
        for _ in range(len(self.composite_alarms) + 1):
            moved = []
            for composite in self.composite_alarms.values():
                configuration = {"alarmRule": composite.rule, "description": composite.description}
                moved.extend(self._apply(composite, self._composite_state(composite, at), configuration))
            changes.extend(moved)
            if not moved:
                break
        return changes

    def _apply(
        self, alarm: MetricAlarm | CompositeAlarm, new: AlarmState, configuration: dict[str, Any]
    ) -> list[StateChange]:
        name = alarm.name
        previous = self.states[name]
        if new.value == previous.value:
            return []
        self.states[name] = new
        event = self._event(name, previous, new, configuration, alarm.tags)
        change = StateChange(name, previous, new, event)
        self.history.append(change)
        if self.update_moto:
            _update_moto_alarm(self.region, self.account, name, new)
        if self.sink is not None:
            self.sink(event)
        if self.action_sink is not None and alarm.actions_enabled:
            for action in alarm.actions.get(new.value, []):
                self.action_sink(action, action_message(alarm, previous, new, self.region, self.account))
        return [change]

    def _event(
        self,
        name: str,
        previous: AlarmState,
        new: AlarmState,
        configuration: dict[str, Any],
        tags: Mapping[str, str],
    ) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "alarmName": name,
            "state": new.as_event(),
            "previousState": previous.as_event(),
            "configuration": configuration,
        }
        if self.include_alarm_tags:
            detail["alarmTags"] = dict(tags)
        arn = _alarm_arn(self.region, self.account, name)
        return self._envelope("CloudWatch Alarm State Change", new.timestamp, arn, detail)

    def _envelope(self, detail_type: str, at: datetime, arn: str, detail: dict[str, Any]) -> dict[str, Any]:
        """An EventBridge event from CloudWatch about one alarm."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.cloudwatch",
            "account": self.account,
            "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [arn],
            "detail": detail,
        }
