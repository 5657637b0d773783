"""What a fleet would pay to run this stack: template.yaml + the fleet's traffic -> bedrock_watch.costmodel.

Everything countable is counted, not typed: alarms, dashboards, log widgets, schedules and state
machines from template.yaml as deployed (ForEach unrolled, parameters resolved, sandbox.cfn_expand);
which metric is published at which dimension set from the contract (bedrock_watch.contract), so a
metric, alarm or function added later is priced without touching this file; how often a request
makes each metering metric non-zero, and how many bytes the EMF writer prints, measured by running
the real meter over generated traffic (sandbox.traffic).

What is assumed (and printed with the estimate): how often CloudWatch Logs delivers a subscription
batch, how long the functions run at 128 MB, how often the dashboards' log widgets are refreshed,
how many incidents a month start the escalation and remediation workflows.

Metric-months: CloudWatch bills a custom metric for the hours it receives data. A (metric, value)
receiving requests at λ per hour and made non-zero by a request with probability p has data in an
hour with probability 1 - e^(-λp), so it costs that share of a metric-month; it is counted among
the month's distinct metrics with probability 1 - e^(-730λp).
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from bedrock_watch import contract, costmodel
from bedrock_watch.costmodel import DAYS_PER_MONTH, GB, HOURS_PER_MONTH, Bill, Usage
from bedrock_watch.emf import EmfWriter
from bedrock_watch.metering import Meter, MeteredBatch, MeteringSettings
from bedrock_watch.owncost import count_states, own_usage_metric_count, runs_per_day, schema_of
from bedrock_watch.records import InvocationRecord, parse_line

ALARM_TYPES: Final = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
# CloudWatch Logs bills each event's size plus 26 bytes.
LOG_EVENT_OVERHEAD_BYTES: Final = 26
S3_STANDARD_GB_MONTH: Final = 0.023  # us-east-1 list price


@dataclass(frozen=True, slots=True)
class Fleet:
    """A fleet of Bedrock callers: how many models and applications, how busy."""

    name: str
    models: int
    applications: int
    active_pairs: int  # (model, application) pairs that call at all
    requests_per_day: float
    budgeted_applications: int = 0  # entries of ApplicationBudgets
    zipf_exponent: float = 1.0  # traffic share of the pair ranked r is ∝ 1 / r^s

    def __post_init__(self) -> None:
        if not 1 <= self.active_pairs <= self.models * self.applications:
            raise ValueError(f"{self.name}: active pairs must be 1..{self.models * self.applications}")
        if min(self.models, self.applications) < 1 or self.requests_per_day < 0:
            raise ValueError(f"{self.name}: models and applications must be at least 1")

    def label(self) -> str:
        return (
            f"{self.models} models x {self.applications} applications, {self.active_pairs} active pairs, "
            f"{self.requests_per_day:,.0f} requests/day"
        )


FLEETS: Final[tuple[Fleet, ...]] = (
    Fleet("small", 2, 3, 6, 20_000),
    Fleet("reference", 10, 40, 360, 1_000_000),
    Fleet("large", 25, 200, 2_000, 5_000_000),
)


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What the estimate cannot count and takes as given (printed with it)."""

    delivery_seconds: float = 5.0  # a subscription delivery to the metering function every N s
    metering_ms_per_invocation: float = 5.0  # at 128 MB: decode, import-warm overhead
    metering_ms_per_record: float = 0.25  # at 128 MB (~1/14 of a vCPU): ~14x the bench's µs/record
    platform_log_bytes_per_invocation: int = 900  # Lambda's JSON start/report lines
    other_function_seconds: float = 0.5  # any other function run, at 128 MB
    sweep_seconds: float = 0.05  # a digest sweep with nothing due: one DynamoDB read
    insights_refreshes_per_day: float = 48.0  # each log widget, over a 3-hour range
    insights_range_hours: float = 3.0
    incidents_per_month: float = 30.0  # alarm episodes that page (escalation executions)
    remediations_per_month: float = 10.0
    functions_per_incident: float = 6.0  # open, page per tier, ack/resolve
    functions_per_remediation: float = 8.0


# ---------------------------------------------------------------------------------- measured rates
@dataclass(frozen=True, slots=True)
class Measured:
    """What the real meter does with generated traffic (sandbox.traffic defaults)."""

    nonzero: Mapping[str, float]  # metric -> share of requests that make it non-zero in their series
    document_bytes: float  # EMF bytes of one document, beyond its per-request samples
    bytes_per_request: float  # EMF bytes each request adds to its document (samples, sums)
    summary_log_bytes: float  # the function's "metered batch" log line


@functools.cache
def measured(level: str = contract.DEFAULT_METRIC_DETAIL, records: int = 4000) -> Measured:
    """Run the meter over generated records (one series per record for the non-zero shares; many
    documents of one request and one document of many for the bytes)."""
    from sandbox.traffic import PROFILE_MAP, TrafficProfile, generate

    settings = MeteringSettings(metric_detail=level, profile_map=PROFILE_MAP)
    meter = Meter.from_settings(settings)
    parsed = [
        r
        for e in generate(TrafficProfile(seed=11, requests=records, duration_s=600))
        if type(r := parse_line(e["message"], timestamp_ms=int(e["timestamp"]))) is InvocationRecord
    ]
    counts: dict[str, int] = defaultdict(int)
    for record in parsed:
        batch = MeteredBatch(record.timestamp_ms)
        meter.add_records((record,), batch)
        (series,) = batch.series.values()
        for name, value in series.sums.items():
            if value or name in contract.ALWAYS_PRESENT_METRICS:
                counts[name] += 1
        for name, samples in series.samples.items():
            if samples:
                counts[name] += 1
    nonzero = {name: counts.get(name, 0) / len(parsed) for name in contract.METERING_METRICS}
    writer = EmfWriter(settings.namespace, level)
    singles = _render_bytes(writer, meter, parsed[:400], one_series=False)
    many = _render_bytes(writer, meter, parsed[:400], one_series=True)
    # singles: 400 documents of 1 request; many: ~4 documents of 400 requests (100-sample pages)
    per_request = (many[0] - singles[0] * many[1] / singles[1]) / (400 - many[1])
    per_request = max(per_request, 0.0)
    document = singles[0] / singles[1] - per_request
    return Measured(nonzero, document, per_request, 620.0)


def _render_bytes(
    writer: EmfWriter, meter: Meter, records: Sequence[InvocationRecord], *, one_series: bool
) -> tuple[float, int]:
    """(EMF bytes, documents) for `records` in one series each, or all in one series."""
    batch = MeteredBatch(records[0].timestamp_ms)
    for i, record in enumerate(records):
        same = replace(
            record,
            request_id=f"bench-{i}",
            timestamp_ms=records[0].timestamp_ms,
            model=records[0].model,
            application=records[0].application,
            identity=records[0].identity,
        )
        if not one_series:
            same = replace(same, application=f"app-{i}")
        meter.add_records((same,), batch)
    documents, _ = writer.documents(batch.series, {}, now_ms=batch.now_ms)
    return float(len(EmfWriter.render(documents))), len(documents)


# ---------------------------------------------------------------------------------- traffic shape
@dataclass(frozen=True, slots=True)
class Shape:
    """Requests per hour per dimension value."""

    total: float
    models: tuple[float, ...]
    applications: tuple[float, ...]  # after the cardinality guard (names past the cap are `other`)
    pairs: tuple[float, ...]


def shape(fleet: Fleet, max_applications: int) -> Shape:
    """Zipf-distributed traffic over `active_pairs` pairs, chosen by a fixed shuffle of all pairs
    (every model and application then appears in some pair for any fleet of these sizes)."""
    per_hour = fleet.requests_per_day / 24
    combos = [(m, a) for m in range(fleet.models) for a in range(fleet.applications)]
    random.Random(1).shuffle(combos)
    active = combos[: fleet.active_pairs]
    weights = [1 / (rank + 1) ** fleet.zipf_exponent for rank in range(len(active))]
    total_weight = sum(weights)
    # the guard admits names in arrival order; the busiest applications arrive first
    app_rate: dict[int, float] = defaultdict(float)
    pair_rate: dict[tuple[int, int], float] = {}
    model_rate: dict[int, float] = defaultdict(float)
    for (m, a), w in zip(active, weights, strict=True):
        rate = per_hour * w / total_weight
        app_rate[a] += rate
        model_rate[m] += rate
        pair_rate[(m, a)] = rate
    ranked = sorted(app_rate, key=lambda a: -app_rate[a])
    admitted = set(ranked[:max_applications])
    guarded: dict[int | str, float] = defaultdict(float)
    guarded_pairs: dict[tuple[int, int | str], float] = defaultdict(float)
    for (m, a), rate in pair_rate.items():
        name: int | str = a if a in admitted else contract.OTHER_APPLICATION
        guarded[name] += rate
        guarded_pairs[(m, name)] += rate
    return Shape(per_hour, tuple(model_rate.values()), tuple(guarded.values()), tuple(guarded_pairs.values()))


# ---------------------------------------------------------------------------------- the template
@dataclass(frozen=True, slots=True)
class Inventory:
    """What template.yaml creates, as deployed with `parameters`."""

    parameters: Mapping[str, Any]
    alarms: tuple[Mapping[str, Any], ...]
    dashboards: int
    log_widgets: int
    log_groups: int
    functions: int
    state_machine_states: tuple[int, ...]  # states per state machine (transitions per run, at most)
    budget_guard_runs_per_day: float
    # fixed `rate(…)` schedules of other functions (the escalation digest sweep): runs a day
    sweep_runs_per_day: float = 0.0


def _fixed_schedule_runs(resources: Mapping[str, Any]) -> float:
    runs = 0.0
    for r in resources.values():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        for event in (r["Properties"].get("Events") or {}).values():
            expression = (event.get("Properties") or {}).get("ScheduleExpression")
            if (
                event.get("Type") == "ScheduleV2"
                and isinstance(expression, str)
                and expression.startswith("rate(")
            ):
                runs += runs_per_day(expression)
    return runs


def inventory(overrides: Mapping[str, Any] | None = None) -> Inventory:
    """Count the stack's billed resources in template.yaml rendered with `overrides`."""
    from sandbox.cfn_expand import render
    from sandbox.template import ROOT

    rendered = render(overrides)
    resources = rendered.resources
    alarms = tuple(r["Properties"] for r in resources.values() if r["Type"] in ALARM_TYPES)
    dashboards = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    log_widgets = sum(
        1
        for d in dashboards
        for w in json.loads(d["Properties"]["DashboardBody"])["widgets"]
        if w.get("type") == "log"
    )
    states = []
    for r in resources.values():
        if r["Type"] == "AWS::Serverless::StateMachine":
            uri = r["Properties"].get("DefinitionUri")
            definition = json.loads((ROOT / uri).read_text()) if isinstance(uri, str) else {}
            states.append(count_states(definition))
    return Inventory(
        rendered.parameters,
        alarms,
        len(dashboards),
        log_widgets,
        sum(1 for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"),
        sum(1 for r in resources.values() if r["Type"] == "AWS::Serverless::Function"),
        tuple(states),
        runs_per_day(str(rendered.parameters["BudgetGuardSchedule"])),
        _fixed_schedule_runs(resources),
    )


# ---------------------------------------------------------------------------------- the estimate
@dataclass(frozen=True, slots=True)
class Estimate:
    fleet: Fleet
    level: str
    distinct_metrics: float
    usage: Usage
    bill: Bill
    assumptions: Assumptions
    notes: tuple[str, ...] = field(default_factory=tuple)


def _population(
    fleet: Fleet, spec: contract.MetricSpec, dimension: str, traffic: Shape
) -> Sequence[float] | int:
    population = spec.population(dimension)
    if population == contract.POPULATION_MODELS:
        return traffic.models if spec.publisher == contract.METERING else fleet.models
    if population == contract.POPULATION_APPLICATIONS:
        return traffic.applications if spec.publisher == contract.METERING else len(traffic.applications)
    if population == contract.POPULATION_BUDGETED_APPLICATIONS:
        return fleet.budgeted_applications
    raise ValueError(
        f"metric {spec.name}: the cost model has no fleet figure for population {population!r} "
        "(sandbox/fleet_cost.py _population)"
    )


def metric_counts(fleet: Fleet, level: str, max_applications: int) -> tuple[float, float]:
    """(expected distinct custom metrics in a month, metric-months billed) for the contract at `level`."""
    traffic = shape(fleet, max_applications)
    rates = measured(level).nonzero
    distinct = months = 0.0
    for spec in contract.METRICS:
        for dimension_set in spec.dimension_sets(level):
            if spec.publisher != contract.METERING:
                # published on a schedule by its function, for every value of its population
                values = 1
                for dimension in dimension_set:
                    population = _population(fleet, spec, dimension, traffic)
                    values *= population if isinstance(population, int) else len(population)
                distinct += values
                months += values
                continue
            p = rates.get(spec.name, 0.0)
            if not dimension_set:
                streams: Sequence[float] = (traffic.total,)
            elif len(dimension_set) == 2:
                streams = traffic.pairs
            else:
                found = _population(fleet, spec, dimension_set[0], traffic)
                streams = found if not isinstance(found, int) else (traffic.total / max(found, 1),) * found
            for rate in streams:
                distinct += 1 - math.exp(-rate * p * HOURS_PER_MONTH)
                months += 1 - math.exp(-rate * p)
    return distinct, months


def estimate(
    fleet: Fleet,
    overrides: Mapping[str, Any] | None = None,
    assumptions: Assumptions = Assumptions(),
) -> Estimate:
    """The fleet's monthly bill for this stack as template.yaml deploys it (with `overrides`)."""
    given = dict(overrides or {})
    if fleet.budgeted_applications and "ApplicationBudgets" not in given:
        given["ApplicationBudgets"] = json.dumps(
            {f"app-{i}": 100 for i in range(fleet.budgeted_applications)}
        )
    stack = inventory(given)
    level = str(stack.parameters["MetricDetail"])
    max_apps = int(stack.parameters["MaxApplications"])
    distinct, metric_months = metric_counts(fleet, level, max_apps)
    traffic = shape(fleet, max_apps)
    m = measured(level)
    a = assumptions

    def insights_metrics(query: str) -> int:
        read = schema_of(query)
        if read is None:
            return 1
        name, keys = read
        spec = contract.spec(name)
        count = 1
        for key in keys:
            found = _population(fleet, spec, key, traffic)
            count *= found if isinstance(found, int) else len(found)
        return count

    alarms = costmodel.total_alarm_units(stack.alarms, insights_metrics)

    # metering: deliveries, documents, bytes
    seconds_per_day = 86400.0
    deliveries_per_day = min(seconds_per_day / a.delivery_seconds, fleet.requests_per_day)
    window_hours = a.delivery_seconds / 3600
    # a series (pair; route and identity follow the application here) has a document in a delivery
    # when at least one of its requests falls in it
    documents_per_day = sum(
        seconds_per_day / a.delivery_seconds * (1 - math.exp(-rate * window_hours)) for rate in traffic.pairs
    )
    emf_bytes = (
        documents_per_day * (m.document_bytes + LOG_EVENT_OVERHEAD_BYTES)
        + fleet.requests_per_day * m.bytes_per_request
    )
    invocation_log_bytes = deliveries_per_day * (
        m.summary_log_bytes + a.platform_log_bytes_per_invocation + 4 * LOG_EVENT_OVERHEAD_BYTES
    )
    guard_runs = stack.budget_guard_runs_per_day
    scopes = 1 + fleet.budgeted_applications
    guard_log_bytes = guard_runs * (scopes * 420 + 600 + a.platform_log_bytes_per_invocation)
    other_runs_per_month = (
        a.incidents_per_month * a.functions_per_incident
        + a.remediations_per_month * a.functions_per_remediation
    )
    other_log_bytes_per_month = other_runs_per_month * (1500 + a.platform_log_bytes_per_invocation)
    sweeps = stack.sweep_runs_per_day
    other_log_bytes_per_month += sweeps * DAYS_PER_MONTH * a.platform_log_bytes_per_invocation
    ingested_gb = (
        (emf_bytes + invocation_log_bytes + guard_log_bytes) * DAYS_PER_MONTH + other_log_bytes_per_month
    ) / GB
    retention_days = float(stack.parameters["LogRetentionDays"])
    stored_gb = ingested_gb / DAYS_PER_MONTH * min(retention_days, 3653)
    metering_bytes_per_hour = (emf_bytes + invocation_log_bytes) / 24
    insights_gb = (
        stack.log_widgets
        * a.insights_refreshes_per_day
        * DAYS_PER_MONTH
        * metering_bytes_per_hour
        * a.insights_range_hours
        / GB
    )

    # Lambda (128 MB)
    gb = 128 / 1024
    metering_seconds = (
        deliveries_per_day * a.metering_ms_per_invocation + fleet.requests_per_day * a.metering_ms_per_record
    ) / 1000
    lambda_requests = (deliveries_per_day + guard_runs + sweeps) * DAYS_PER_MONTH + other_runs_per_month
    lambda_gb_s = (
        (metering_seconds + guard_runs * a.other_function_seconds + sweeps * a.sweep_seconds) * DAYS_PER_MONTH
        + other_runs_per_month * a.other_function_seconds
    ) * gb

    # Step Functions: each execution passes through its machine's states at most once per tier
    escalation_states, remediation_states = (*stack.state_machine_states, 0, 0)[:2]
    transitions = a.incidents_per_month * escalation_states + a.remediations_per_month * remediation_states

    # GetMetricData: the guard's spend queries every run, its own-usage queries every hour
    own_metrics = own_usage_metric_count(stack.log_groups, len(stack.state_machine_states))
    gmd = guard_runs * DAYS_PER_MONTH * scopes + 24 * DAYS_PER_MONTH * own_metrics
    gmd += a.incidents_per_month * 1 + a.remediations_per_month * 8  # burn rate; health and tokens
    api = 24 * DAYS_PER_MONTH * 3  # ListMetrics and DescribeAlarms pages, hourly

    usage = Usage(
        custom_metric_months=metric_months,
        alarms=alarms,
        dashboards=stack.dashboards,
        log_ingested_gb=ingested_gb,
        log_stored_gb=stored_gb,
        insights_scanned_gb=insights_gb,
        lambda_requests=lambda_requests,
        lambda_gb_seconds=lambda_gb_s,
        state_transitions=transitions,
        get_metric_data_metrics=gmd,
        api_requests=api,
    )
    return Estimate(fleet, level, distinct, usage, costmodel.monthly_bill(usage), a)


def bedrock_logging_costs(
    bytes_per_day: float,
    records_per_day: float,
    metadata_bytes_per_record: float,
    gzip_share: float = 1.0,
) -> dict[str, float]:
    """What Bedrock invocation logging costs a month: into CloudWatch Logs as logged (bodies
    inline, $0.50/GB ingested plus 26 bytes an event), with text delivery off (metadata and token
    counts only), and to S3 instead (Standard storage of the gzip objects Bedrock writes, no
    ingestion charge; PUT requests left out: Bedrock batches records into objects)."""
    prices = costmodel.PRICES
    inline_gb = (bytes_per_day + records_per_day * LOG_EVENT_OVERHEAD_BYTES) * DAYS_PER_MONTH / GB
    metadata_gb = (
        records_per_day * (metadata_bytes_per_record + LOG_EVENT_OVERHEAD_BYTES) * DAYS_PER_MONTH / GB
    )
    s3_gb = bytes_per_day * gzip_share * DAYS_PER_MONTH / GB
    return {
        "cloudwatch_logs_as_logged": inline_gb * prices.logs_ingested_gb,
        "text_delivery_off": metadata_gb * prices.logs_ingested_gb,
        "s3_delivery": s3_gb * S3_STANDARD_GB_MONTH,
    }


def table(estimates: Sequence[Estimate]) -> str:
    """The "What it costs to run" table (Markdown), as the README shows it."""
    head = ["", *(f"**{e.fleet.name}**" for e in estimates)]
    rows = [
        ["fleet", *(e.fleet.label() for e in estimates)],
        ["distinct custom metrics", *(f"{e.distinct_metrics:,.0f}" for e in estimates)],
    ]
    items = [line.item for line in estimates[0].bill.lines]
    for item in items:
        values = [e.bill.usd(item) for e in estimates]
        if any(round(v, 2) for v in values):
            rows.append([item, *(f"${v:,.2f}" for v in values)])
    rows.append(["**total per month**", *(f"**${e.bill.total:,.2f}**" for e in estimates)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def estimates(levels: Sequence[str] = (contract.DEFAULT_METRIC_DETAIL,)) -> list[Estimate]:
    return [estimate(fleet, {"MetricDetail": level}) for level in levels for fleet in FLEETS]


def as_dict(estimate_: Estimate) -> dict[str, Any]:
    """An estimate as `bedrock-watch cost --json` prints it."""
    return {
        "fleet": {
            "name": estimate_.fleet.name,
            "models": estimate_.fleet.models,
            "applications": estimate_.fleet.applications,
            "active_pairs": estimate_.fleet.active_pairs,
            "requests_per_day": estimate_.fleet.requests_per_day,
            "budgeted_applications": estimate_.fleet.budgeted_applications,
        },
        "metric_detail": estimate_.level,
        "distinct_custom_metrics": round(estimate_.distinct_metrics, 1),
        "lines": [
            {
                "item": line.item,
                "quantity": round(line.quantity, 4),
                "unit": line.unit,
                "usd": round(line.usd, 4),
            }
            for line in estimate_.bill.lines
        ],
        "total_usd": round(estimate_.bill.total, 2),
    }


def assumptions_text(a: Assumptions) -> str:
    """What the estimate assumes, in one paragraph (printed under the table)."""
    return (
        "Prices: us-east-1 list prices before the free tier (FACTS §10). Counted: alarms, dashboards, "
        "log widgets, schedules and state machines of template.yaml with its defaults; metrics from the "
        "contract (bedrock_watch.contract) at the MetricDetail shown, billed for the hours they receive "
        "data; EMF bytes and per-request metric shares measured by running the meter. Assumed: a "
        f"subscription delivery every {a.delivery_seconds:g} s, {a.metering_ms_per_record:g} ms per "
        f"record and {a.metering_ms_per_invocation:g} ms per delivery at 128 MB, each Logs Insights "
        f"widget refreshed {a.insights_refreshes_per_day:g} times a day over {a.insights_range_hours:g} h, "
        f"{a.incidents_per_month:g} paging incidents and {a.remediations_per_month:g} remediations a "
        f"month, {a.sweep_seconds * 1000:g} ms per run of the escalation digest sweep, the account's "
        "three free dashboards available."
    )
