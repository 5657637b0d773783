"""Month-to-date spend, burn rate and month-end projection against monthly budgets.

The budget guard reads hourly sums of the metering metric `CostUSD` (whole stack and per
budgeted application) from CloudWatch, turns them into one `BudgetStatus` per scope and
publishes the BUDGET_METRICS of the contract as EMF, dimension sets `[]` and `[Application]`.

Time is UTC throughout: a month starts at 00:00 UTC on its first day, whatever the account's
home region.

Bounding the projection on a thin first day: the burn rate is spend over the trailing
BURN_WINDOW_HOURS (24 h, or the part of the month elapsed so far), but the denominator is never
shorter than MIN_BURN_WINDOW_HOURS (6 h). Fifteen minutes into a month, $3 of spend projects
from $0.50/h (3 / 6), not $12/h (3 / 0.25) — the unobserved rest of the 6 h counts as quiet.
After six hours the rate is exact again; after a day it follows the last 24 hours, so a traffic
surge shows in the projection within hours rather than being diluted by the whole month.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from bedrock_watch.config import aws_client, env_str
from bedrock_watch.contract import DIMENSION_APPLICATION, emf_metadata
from bedrock_watch.errors import BedrockWatchError, ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

HOUR: Final = timedelta(hours=1)
BURN_WINDOW_HOURS: Final = 24.0
MIN_BURN_WINDOW_HOURS: Final = 6.0
# GetMetricData allows 500 queries per call; one EMF document per application is cheap, but a
# budgets parameter with hundreds of entries is a mistake worth stopping at deploy time.
MAX_APPLICATION_BUDGETS: Final = 100
COST_METRIC: Final = "CostUSD"
_APPLICATION_NAME = re.compile(r"^[^\x00-\x1f]{1,255}$")


class SpendReadError(BedrockWatchError):
    """CloudWatch GetMetricData failed (after the SDK's retries) or returned a partial result."""


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class Budgets:
    """The whole stack's monthly budget and the per-application ones, in USD."""

    monthly_usd: float
    applications: Mapping[str, float] = field(default_factory=dict)


def _positive_usd(raw: Any, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ConfigurationError(f"{what} must be a positive number of USD, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{what} must be a positive number of USD, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{what} must be a positive number of USD, got {raw!r}")
    return value


def parse_application_budgets(
    applications_json: str, *, setting: str = "APPLICATION_BUDGETS"
) -> dict[str, float]:
    """A JSON object of application -> positive monthly USD; errors name `setting` (the
    environment variable at run time, the stack parameter at deploy time) and the entry."""
    try:
        raw = json.loads(applications_json)
    except json.JSONDecodeError as err:
        raise ConfigurationError(
            f"{setting} is not valid JSON ({err.msg} at position {err.pos}); "
            'expected an object such as {"chat": 500, "search": 120}'
        ) from None
    if not isinstance(raw, dict):
        raise ConfigurationError(
            f"{setting} must be a JSON object of application -> monthly USD, got {type(raw).__name__}"
        )
    if len(raw) > MAX_APPLICATION_BUDGETS:
        raise ConfigurationError(
            f"{setting} has {len(raw)} entries; at most {MAX_APPLICATION_BUDGETS} are supported"
        )
    applications: dict[str, float] = {}
    for name, amount in raw.items():
        if not _APPLICATION_NAME.match(name):
            raise ConfigurationError(
                f"{setting} has an invalid application name {name!r} (1-255 printable characters)"
            )
        applications[name] = _positive_usd(amount, f"{setting}[{name!r}]")
    return applications


def parse_budgets(monthly_usd: str, applications_json: str) -> Budgets:
    """Validate the budget settings: a positive monthly budget and a JSON object of
    application -> positive monthly USD. Errors name the setting and the offending entry."""
    monthly = _positive_usd(monthly_usd, "MONTHLY_BUDGET_USD")
    return Budgets(monthly_usd=monthly, applications=parse_application_budgets(applications_json))


@dataclass(frozen=True, slots=True)
class BudgetGuardSettings:
    """What the budget guard needs, read once at cold start."""

    namespace: str
    budgets: Budgets

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BudgetGuardSettings:
        """Settings from METRICS_NAMESPACE, MONTHLY_BUDGET_USD and APPLICATION_BUDGETS."""
        return cls(
            namespace=env_str("METRICS_NAMESPACE", environ=environ),
            budgets=parse_budgets(
                env_str("MONTHLY_BUDGET_USD", environ=environ),
                env_str("APPLICATION_BUDGETS", "{}", environ=environ),
            ),
        )


# ---------------------------------------------------------------------------- the arithmetic


def month_window(now: datetime) -> tuple[datetime, datetime]:
    """Start of `now`'s month and start of the next one, both 00:00 UTC."""
    now = now.astimezone(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + 1, 1, 1, tzinfo=UTC) if now.month == 12 else start.replace(month=now.month + 1)
    return start, end


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Where one scope (the whole stack, or one application) stands against its budget."""

    application: str | None
    budget_usd: float
    month_to_date_usd: float
    burn_rate_usd_per_hour: float
    projected_month_end_usd: float
    # None when nothing is being spent: the budget is never exhausted at a rate of zero.
    hours_until_exhausted: float | None

    @property
    def utilization_percent(self) -> float:
        return 100.0 * self.month_to_date_usd / self.budget_usd


def assess(
    hourly_spend: Iterable[tuple[datetime, float]],
    budget_usd: float,
    now: datetime,
    application: str | None = None,
) -> BudgetStatus:
    """Month-to-date spend, burn rate, projection and time to exhaustion for one scope.

    `hourly_spend` holds (start of hour, USD spent in that hour) pairs; hours outside the
    current month or not yet started are ignored, missing hours count as zero.
    """
    now = now.astimezone(UTC)
    start, end = month_window(now)
    spend = [(t.astimezone(UTC), v) for t, v in hourly_spend if start <= t.astimezone(UTC) < now]
    month_to_date = sum(v for _, v in spend)

    window_start = _floor_hour(max(start, now - timedelta(hours=BURN_WINDOW_HOURS)))
    window_spend = sum(v for t, v in spend if t >= window_start)
    window_hours = max((now - window_start) / HOUR, MIN_BURN_WINDOW_HOURS)
    burn_rate = window_spend / window_hours

    remaining_hours = (end - now) / HOUR
    projected = month_to_date + burn_rate * remaining_hours
    left = budget_usd - month_to_date
    if left <= 0:
        hours_until: float | None = 0.0
    elif burn_rate > 0:
        hours_until = left / burn_rate
    else:
        hours_until = None
    return BudgetStatus(
        application=application,
        budget_usd=budget_usd,
        month_to_date_usd=month_to_date,
        burn_rate_usd_per_hour=burn_rate,
        projected_month_end_usd=projected,
        hours_until_exhausted=hours_until,
    )


# ---------------------------------------------------------------------------- CloudWatch adapter


def _query(query_id: str, namespace: str, application: str | None) -> dict[str, Any]:
    dimensions = [] if application is None else [{"Name": DIMENSION_APPLICATION, "Value": application}]
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": COST_METRIC, "Dimensions": dimensions},
            "Period": 3600,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }


def read_hourly_spend(
    namespace: str,
    applications: Sequence[str],
    now: datetime,
    client: CloudWatchClient | None = None,
) -> dict[str | None, list[tuple[datetime, float]]]:
    """Hourly `CostUSD` sums since the start of `now`'s month: key None is the whole stack
    (dimension set []), other keys are applications (dimension set [Application])."""
    if client is None:
        client = aws_client("cloudwatch")
    from botocore.exceptions import BotoCoreError, ClientError

    start, _ = month_window(now)
    scopes: dict[str, str | None] = {"total": None}
    scopes.update({f"app{index}": name for index, name in enumerate(applications)})
    queries = [_query(query_id, namespace, scope) for query_id, scope in scopes.items()]
    series: dict[str | None, list[tuple[datetime, float]]] = {scope: [] for scope in scopes.values()}
    request: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": start,
        # The current, partial hour is included: its bucket holds what was spent so far.
        "EndTime": _floor_hour(now) + HOUR,
        "ScanBy": "TimestampAscending",
    }
    try:
        while True:
            page = client.get_metric_data(**request)
            for result in page["MetricDataResults"]:
                if result.get("StatusCode") == "InternalError":
                    raise SpendReadError(f"GetMetricData returned an internal error for {result['Id']}")
                scope = scopes[result["Id"]]
                series[scope].extend(zip(result["Timestamps"], result["Values"], strict=True))
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
    except (ClientError, BotoCoreError) as err:
        raise SpendReadError(f"GetMetricData for {COST_METRIC} in {namespace} failed: {err}") from err
    return series


def guard_budgets(
    settings: BudgetGuardSettings, now: datetime, client: CloudWatchClient | None = None
) -> list[BudgetStatus]:
    """Read this month's spend and assess the stack budget and every application budget."""
    applications = list(settings.budgets.applications)
    series = read_hourly_spend(settings.namespace, applications, now, client)
    statuses = [assess(series[None], settings.budgets.monthly_usd, now)]
    statuses.extend(
        assess(series[name], settings.budgets.applications[name], now, application=name)
        for name in applications
    )
    return statuses


# ---------------------------------------------------------------------------- EMF output


def emf_documents(statuses: Iterable[BudgetStatus], namespace: str, now: datetime) -> list[dict[str, Any]]:
    """One EMF document per scope, carrying the contract's BUDGET_METRICS.

    The whole-stack document uses the empty dimension set; application documents use
    [Application]. HoursUntilBudgetExhausted is left out while nothing is being spent (there
    is no finite answer, and a made-up cap would mislead the dashboard).
    """
    timestamp_ms = int(now.timestamp() * 1000)
    documents = []
    for status in statuses:
        values: dict[str, float] = {
            "MonthToDateSpendUSD": round(status.month_to_date_usd, 6),
            "BudgetUtilization": round(status.utilization_percent, 4),
            "BurnRateUSDPerHour": round(status.burn_rate_usd_per_hour, 6),
            "ProjectedMonthEndSpendUSD": round(status.projected_month_end_usd, 6),
        }
        if status.hours_until_exhausted is not None:
            values["HoursUntilBudgetExhausted"] = round(status.hours_until_exhausted, 3)
        dimensions: list[list[str]] = [[]] if status.application is None else [[DIMENSION_APPLICATION]]
        document: dict[str, Any] = {
            "_aws": emf_metadata(namespace, timestamp_ms, values, dimensions),
            **values,
        }
        if status.application is not None:
            document[DIMENSION_APPLICATION] = status.application
        documents.append(document)
    return documents
