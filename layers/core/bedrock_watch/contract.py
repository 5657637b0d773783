"""The metric contract (DESIGN.md): names, units and dimensions other parts rely on.

Single source of truth for the EMF writers, the budget guard, dashboards/alarm tests, the cost
model and the sandbox. A dashboard or alarm naming a metric that is not here (or in
AWS_BEDROCK_METRICS) is a typo.

Every metric is declared once in METRICS as a MetricSpec: its unit, the function that publishes
it, and — per `MetricDetail` level — the dimension sets it is published at. Each (metric,
dimension values) pair is a billed custom metric ($0.30/month, FACTS §10), so a metric is
published at a dimension set only where an alarm or a dashboard reads it there; every figure
stays a field of the EMF document either way, queryable with Logs Insights.

Levels are cumulative: `model` publishes everything `lean` does, `full` everything `model` does.
To declare a new metric, add one MetricSpec to METRICS (docs/decisions.md "How to declare a
metric"); the cost model, the bench and the contract tests pick it up from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

DIMENSION_MODEL: Final = "ModelId"
DIMENSION_APPLICATION: Final = "Application"
UNATTRIBUTED: Final = "unattributed"
OTHER_APPLICATION: Final = "other"
# requestMetadata key naming the route a call went through (bedrock_watch.routing sets it).
ROUTE_METADATA_KEY: Final = "route"
# Fields of every metering EMF document besides the metrics: never dimensions, so never billed;
# Logs Insights groups by them (the caller's identity.arn and the route).
FIELD_ROUTE: Final = "Route"
FIELD_IDENTITY: Final = "Identity"

DimensionSet = tuple[str, ...]
ALL: Final[DimensionSet] = ()
BY_MODEL: Final[DimensionSet] = (DIMENSION_MODEL,)
BY_APPLICATION: Final[DimensionSet] = (DIMENSION_APPLICATION,)
BY_PAIR: Final[DimensionSet] = (DIMENSION_MODEL, DIMENSION_APPLICATION)

# Every dimension set a metering metric can be published at (which ones it is, per level, is
# the MetricSpec's business): all traffic, per model, per application, per pair.
DIMENSION_SETS: Final[tuple[DimensionSet, ...]] = (ALL, BY_MODEL, BY_APPLICATION, BY_PAIR)

# ---------------------------------------------------------------------------- MetricDetail levels
LEAN: Final = "lean"
MODEL: Final = "model"
FULL: Final = "full"
# In order: each level publishes everything the levels before it do.
METRIC_DETAIL_LEVELS: Final[tuple[str, ...]] = (LEAN, MODEL, FULL)
DEFAULT_METRIC_DETAIL: Final = LEAN

OWN_COST_METRIC: Final = "OwnMonthlyCostUSD"

# Who publishes a metric: the function (functions/<publisher>/) whose EMF carries it.
METERING: Final = "invocation_metrics"
BUDGET_GUARD: Final = "budget_guard"
PRICE_SYNC: Final = "price_sync"
BILL_CHECK: Final = "bill_check"
# The bill check's per-family drift field (anthropic, amazon, meta, …): a log field, not a dimension.
FIELD_MODEL_FAMILY: Final = "ModelFamily"
ENDPOINTS: Final = "public_endpoints"  # the ack and approval-link function URLs

# How many values a dimension takes, by population name (the cost model counts them per fleet).
POPULATION_MODELS: Final = "models"
POPULATION_APPLICATIONS: Final = "applications"  # distinct metered names, capped by MaxApplications
POPULATION_BUDGETED_APPLICATIONS: Final = "budgeted_applications"  # entries of ApplicationBudgets
DEFAULT_POPULATIONS: Final[Mapping[str, str]] = {
    DIMENSION_MODEL: POPULATION_MODELS,
    DIMENSION_APPLICATION: POPULATION_APPLICATIONS,
}


def level_index(level: str) -> int:
    """The position of `level` in METRIC_DETAIL_LEVELS; ValueError naming the allowed ones."""
    try:
        return METRIC_DETAIL_LEVELS.index(level)
    except ValueError:
        raise ValueError(
            f"MetricDetail must be one of {', '.join(METRIC_DETAIL_LEVELS)}, got {level!r}"
        ) from None


def levels(
    lean: tuple[DimensionSet, ...] = (),
    model: tuple[DimensionSet, ...] = (),
    full: tuple[DimensionSet, ...] = (),
) -> dict[DimensionSet, str]:
    """Dimension set -> the lowest level that publishes it (and every level after it)."""
    out: dict[DimensionSet, str] = {}
    for level, sets in ((LEAN, lean), (MODEL, model), (FULL, full)):
        for dimension_set in sets:
            if dimension_set in out:
                raise ValueError(f"dimension set {list(dimension_set)} is declared at two levels")
            out[dimension_set] = level
    return out


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric of the contract."""

    name: str
    unit: str  # an EMF unit: Count, Milliseconds, Percent, Count/Second, None (dollars) …
    publisher: str  # METERING, BUDGET_GUARD, …
    # Dimension set -> lowest MetricDetail level publishing the metric there (see `levels`).
    # Empty: a field of the EMF documents only, never a billed metric.
    published: Mapping[DimensionSet, str]
    # One sample per request (an EMF array): percentiles are exact; never summed in Logs Insights.
    per_request: bool = False
    # Written even when zero, because alarms divide by it.
    always_present: bool = False
    # Dimension -> population whose size is the number of its values (DEFAULT_POPULATIONS otherwise).
    populations: Mapping[str, str] = field(default_factory=dict)
    # What reads it where (an alarm or dashboard): why it earns its price. Documentation only.
    read_by: str = ""

    def dimension_sets(self, level: str) -> tuple[DimensionSet, ...]:
        """The dimension sets published at `level`, in DIMENSION_SETS order (extra sets last)."""
        rank = level_index(level)
        chosen = [s for s, lowest in self.published.items() if level_index(lowest) <= rank]
        order = {s: i for i, s in enumerate(DIMENSION_SETS)}
        return tuple(sorted(chosen, key=lambda s: (order.get(s, len(order)), s)))

    def population(self, dimension: str) -> str:
        """Whose count sizes `dimension` for this metric (the cost model's fleet figures)."""
        return self.populations.get(dimension, DEFAULT_POPULATIONS.get(dimension, dimension))


def _metering(
    name: str,
    unit: str,
    lean: tuple[DimensionSet, ...] = (),
    *,
    per_request: bool = False,
    always_present: bool = False,
    read_by: str = "",
) -> MetricSpec:
    """A metering metric: `lean` as given; `model` adds all traffic and per model; `full` adds
    per application and per pair."""
    model = tuple(s for s in (ALL, BY_MODEL) if s not in lean)
    full = tuple(s for s in (BY_APPLICATION, BY_PAIR) if s not in lean)
    return MetricSpec(
        name,
        unit,
        METERING,
        levels(lean=lean, model=model, full=full),
        per_request=per_request,
        always_present=always_present,
        read_by=read_by,
    )


# ---------------------------------------------------------------------------- the metrics
METRICS: Final[tuple[MetricSpec, ...]] = (
    # ---- metering (invocation_metrics): one EMF document per (minute, model, application, …)
    _metering(
        "Requests",
        "Count",
        (ALL,),
        always_present=True,
        read_by="error/throttle rate alarms, anomaly, blind meter, operations",
    ),
    _metering("Errors", "Count", (ALL,), always_present=True, read_by="error rate alarms, operations"),
    _metering("Throttles", "Count", (ALL,), read_by="throttle alarms, operations"),
    _metering("Timeouts", "Count", (ALL,), read_by="operations: errors by class"),
    _metering("ServerErrors", "Count", (ALL,), read_by="operations: errors by class"),
    _metering("ModelErrors", "Count", (ALL,), read_by="operations: errors by class"),
    _metering("ValidationErrors", "Count", (ALL,), read_by="operations: errors by class"),
    _metering("AuthErrors", "Count", (ALL,), read_by="operations: errors by class"),
    _metering("OtherErrors", "Count", (ALL,), read_by="operations: errors by class"),
    _metering("InputTokens", "Count", (ALL,), read_by="operations: tokens by component"),
    _metering("CacheReadInputTokens", "Count", (ALL,), read_by="operations: tokens by component"),
    _metering("CacheWriteInputTokens", "Count", (ALL,), read_by="operations: tokens by component"),
    _metering("OutputTokens", "Count", (ALL,), read_by="operations: tokens by component"),
    _metering("TotalTokens", "Count", (ALL,), read_by="token usage and anomaly alarms"),
    _metering(
        "CostUSD",
        "None",
        (ALL, BY_APPLICATION),
        read_by="cost anomaly, budget guard (stack and per-application budgets), spend by application",
    ),
    _metering("UnpricedRequests", "Count", (ALL,), read_by="unpriced-requests alarm"),
    _metering("Latency", "Milliseconds", (ALL,), per_request=True, read_by="latency p95 alarms, degradation"),
    _metering("TimeToFirstToken", "Milliseconds", (ALL,), per_request=True, read_by="operations: TTFT"),
    _metering("OutputTokensPerSecond", "Count/Second", (ALL,), per_request=True, read_by="operations"),
    # Read by no alarm: fields in lean (Logs Insights tables), metrics from `model` up.
    _metering("TruncatedResponses", "Count", read_by="per-model alarms of your own, from `model` up"),
    _metering("GuardrailInterventions", "Count", read_by="per-model alarms of your own, from `model` up"),
    # A bad line has no trustworthy model or application: all traffic only, at every level.
    MetricSpec("MalformedRecords", "Count", METERING, levels(lean=(ALL,)), read_by="malformed-records alarm"),
    # ---- budget guard: [] for the stack, [Application] for each ApplicationBudgets entry
    *(
        MetricSpec(
            name,
            unit,
            BUDGET_GUARD,
            levels(lean=(ALL, BY_APPLICATION)),
            populations={DIMENSION_APPLICATION: POPULATION_BUDGETED_APPLICATIONS},
            read_by="budget alarms, executive dashboard",
        )
        for name, unit in (
            ("MonthToDateSpendUSD", "None"),
            ("BudgetUtilization", "Percent"),
            ("BurnRateUSDPerHour", "None"),
            ("ProjectedMonthEndSpendUSD", "None"),
            ("HoursUntilBudgetExhausted", "None"),
        )
    ),
    # ---- price sync (daily): [] only, one datapoint a day
    MetricSpec("PriceAgeHours", "None", PRICE_SYNC, levels(lean=(ALL,)), read_by="prices-stale alarm"),
    MetricSpec("PriceSyncFailed", "Count", PRICE_SYNC, levels(lean=(ALL,)), read_by="prices-stale alarm"),
    MetricSpec(
        "PriceChangesHeld", "Count", PRICE_SYNC, levels(lean=(ALL,)), read_by="price-changes-held alarm"
    ),
    # ---- bill check (daily): drift of the meter from Cost Explorer for the newest settled day.
    # [] only: the per-family drift is a field of the bill check's log lines (a Logs Insights
    # widget on the executive dashboard reads it), never a metric per family.
    MetricSpec(
        "BillingDriftPercent",
        "Percent",
        BILL_CHECK,
        levels(lean=(ALL,)),
        read_by="billing-drift alarm, executive dashboard",
    ),
    # The stack's own estimated monthly AWS bill (bedrock_watch.costmodel), once an hour.
    MetricSpec(
        OWN_COST_METRIC,
        "None",
        BUDGET_GUARD,
        levels(lean=(ALL,)),
        read_by="executive dashboard: what watching costs",
    ),
    # ---- public endpoints (escalation_ack, remediation_approval_link): one line per refusal.
    # One metric for every endpoint together, at [] only: reason, endpoint and source stay fields
    # of the line (Logs Insights), never dimensions (each value would be another billed metric).
    MetricSpec(
        "RefusedRequests",
        "Count",
        ENDPOINTS,
        levels(lean=(ALL,)),
        read_by="operations dashboard: pipeline (refused requests at the public endpoints)",
    ),
)

SPECS: Final[Mapping[str, MetricSpec]] = {spec.name: spec for spec in METRICS}
if len(SPECS) != len(METRICS):  # pragma: no cover - a declaration mistake, caught at import
    raise ValueError("a metric is declared twice in METRICS")


def spec(name: str) -> MetricSpec:
    """The declaration of metric `name`; KeyError naming it when the contract has no such metric."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"{name} is not a metric of the contract (bedrock_watch.contract.METRICS)") from None


def emf_metadata(
    namespace: str, timestamp_ms: int, names: Iterable[str], dimensions: Sequence[Sequence[str]] = ((),)
) -> dict[str, Any]:
    """The `_aws` member of an EMF document publishing `names` (units from the contract) at
    `dimensions` (default: the all-traffic set [] only)."""
    return {
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [
            {
                "Namespace": namespace,
                "Dimensions": [list(d) for d in dimensions],
                "Metrics": [{"Name": name, "Unit": spec(name).unit} for name in names],
            }
        ],
    }


def units(publisher: str) -> dict[str, str]:
    """Name -> unit of every metric `publisher` writes, in declaration order."""
    return {s.name: s.unit for s in METRICS if s.publisher == publisher}


def published_at(level: str, dimension_set: DimensionSet, publisher: str | None = None) -> tuple[str, ...]:
    """Names of the metrics published with `dimension_set` at `level` (optionally of one publisher)."""
    return tuple(
        s.name
        for s in METRICS
        if (publisher is None or s.publisher == publisher) and dimension_set in s.dimension_sets(level)
    )


# Name -> unit views other modules read (unchanged shapes from before the contract was data).
METERING_METRICS: Final[dict[str, str]] = units(METERING)
# What the budget guard writes per budget scope (the stack's own cost is a separate document).
BUDGET_METRICS: Final[dict[str, str]] = {
    name: unit for name, unit in units(BUDGET_GUARD).items() if name != OWN_COST_METRIC
}
# Per-request metrics: one sample per request so CloudWatch percentiles are exact.
PER_REQUEST_METRICS: Final = frozenset(s.name for s in METRICS if s.per_request)
# Denominators alarms divide by: always present in a document, even when zero.
ALWAYS_PRESENT_METRICS: Final = frozenset(s.name for s in METRICS if s.always_present)

PRICE_SYNC_METRICS: Final[dict[str, str]] = units(PRICE_SYNC)
BILLING_METRICS: Final[dict[str, str]] = units(BILL_CHECK)
# Every metric the stack publishes, by name -> unit (alarms and dashboards may read only these).
PUBLISHED_METRICS: Final[dict[str, str]] = {s.name: s.unit for s in METRICS}
REFUSED_REQUESTS: Final = "RefusedRequests"
ENDPOINT_METRICS: Final[dict[str, str]] = units(ENDPOINTS)

# AWS/Bedrock built-in metrics (FACTS §3), dimension ModelId (or none for all models).
AWS_BEDROCK_NAMESPACE: Final = "AWS/Bedrock"
AWS_BEDROCK_METRICS: Final = frozenset(
    {
        "Invocations",
        "InvocationLatency",
        "InvocationClientErrors",
        "InvocationServerErrors",
        "InvocationThrottles",
        "InputTokenCount",
        "OutputTokenCount",
        "LegacyModelInvocations",
        "TimeToFirstToken",
        "EstimatedTPMQuotaUsage",
        "ModelInvocationLogsCloudWatchDeliverySuccess",
        "ModelInvocationLogsCloudWatchDeliveryFailure",
        "ModelInvocationLogsS3DeliverySuccess",
        "ModelInvocationLogsS3DeliveryFailure",
        "ModelInvocationLargeDataS3DeliverySuccess",
        "ModelInvocationLargeDataS3DeliveryFailure",
    }
)

# Alarm names: "<stack>.<alarm>". Stack names hold only letters, digits and hyphens, so the dot
# makes "<stack>." a prefix no other stack's alarms can share ("bedrock-watch-" would also match
# every alarm of a stack named "bedrock-watch-prod"); EventBridge rules and IAM ARNs match on it.
ALARM_NAME_DELIMITER: Final = "."


def alarm_name_prefix(stack: str) -> str:
    """The prefix every alarm of `stack` starts with and no other stack's alarm can."""
    return f"{stack}{ALARM_NAME_DELIMITER}"


def short_alarm_name(alarm_name: str, stack: str) -> str:
    """The alarm's name without its stack prefix (other alarms unchanged)."""
    return alarm_name.removeprefix(alarm_name_prefix(stack))


# Alarm tags read by escalation and remediation.
TAG_SEVERITY: Final = "Severity"
TAG_RUNBOOK: Final = "Runbook"
TAG_REMEDIATION: Final = "Remediation"
TAG_ROUTE: Final = "Route"
# Alarms tagged Signal=composite-input feed a composite alarm and never page on their own.
TAG_SIGNAL: Final = "Signal"
SIGNAL_COMPOSITE_INPUT: Final = "composite-input"
SEVERITIES: Final = frozenset({"critical", "warning"})
# What an alarm watches, for grouping alarms of one root cause into one incident
# (bedrock_watch.correlation): alarms of different areas never share an incident.
TAG_AREA: Final = "Area"
AREA_TRAFFIC: Final = "traffic"  # latency, errors, throttles, quota, request volume of the models
AREA_SPEND: Final = "spend"  # budgets, projected spend, tokens and cost against their baselines
AREA_PIPELINE: Final = "pipeline"  # the meter, the log delivery, the budget guard themselves
AREAS: Final = frozenset({AREA_TRAFFIC, AREA_SPEND, AREA_PIPELINE})
REMEDIATIONS: Final = frozenset({"none", "failover", "downgrade"})
