"""The bill, every day: the meter's CostUSD against what Cost Explorer says AWS billed.

Once a day `check_bill` makes ONE Cost Explorer request (`ce:GetCostAndUsage`, $0.01 each,
FACTS §10): the last `LOOKBACK_DAYS` days, daily, the configured billing services (default
"Amazon Bedrock"), grouped by SERVICE and USAGE_TYPE. Cost Explorer lags 24-48 h, so only the
newest day that ended at least `settle_hours` ago is compared. Each usage type is read as
(model family, what it bills): on-demand token usage (`*-input-tokens`, `*-output-tokens`,
`*-cache-read-input-token-count`, `*-cache-write-input-token-count`, AWS's CUR guide) is what
the meter prices; batch, provisioned throughput and the OpenAI-compatible `bedrock-mantle`
endpoint (`*-mantle-*`) never reach the invocation log and are reported beside the drift,
never inside it. The meter's side is the day's Sum of CostUSD, in total and per ModelId
(families from the model id's provider). BillingDriftPercent = 100 x (metered - billed) /
billed, per family and overall.

`parse_cost_explorer_csv` reads the Cost Explorer console's CSV export (a day per row, a usage
type per column) into the same `BillLine`s, so `bedrock-watch report --bill` prints the same drift.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from bedrock_watch.config import aws_client, env_float, env_list, env_str
from bedrock_watch.contract import (
    BILLING_METRICS,
    DIMENSION_MODEL,
    FIELD_MODEL_FAMILY,
    emf_metadata,
)
from bedrock_watch.errors import BedrockWatchError, ConfigurationError

LOOKBACK_DAYS: Final = 4
COST_METRIC: Final = "CostUSD"
CE_ENDPOINT_REGION: Final = "us-east-1"
OVERALL: Final = "all"
OTHER_FAMILY: Final = "other"
# What a usage type bills: on-demand tokens (metered) or one of the kinds the meter cannot see.
ON_DEMAND: Final = "on-demand tokens"
BATCH: Final = "batch inference"
PROVISIONED: Final = "provisioned throughput"
MANTLE: Final = "bedrock-mantle (OpenAI-compatible endpoint)"
NOT_TOKENS: Final = "other Bedrock charges"
# Bedrock's own usage types (`USE1-NovaPro-input-tokens`, CUR guide) and the Marketplace-edition
# spelling some accounts see for third-party models (`…InputTokenCount-Units`).
_TOKEN_USAGE: Final = re.compile(
    r"(input-tokens|output-tokens|cache-read-input-token|cache-write-input-token|"
    r"inputtokencount|outputtokencount)",
    re.I,
)
# Provider family by words in the service name or usage type (checked in this order).
_FAMILY_WORDS: Final[tuple[tuple[str, str], ...]] = (
    ("claude", "anthropic"),
    ("anthropic", "anthropic"),
    ("nova", "amazon"),
    ("titan", "amazon"),
    ("llama", "meta"),
    ("ministral", "mistral"),
    ("mistral", "mistral"),
    ("pixtral", "mistral"),
    ("gpt", "openai"),
    ("openai", "openai"),
    ("deepseek", "deepseek"),
    ("qwen", "qwen"),
    ("cohere", "cohere"),
    ("command", "cohere"),
    ("jamba", "ai21"),
    ("palmyra", "writer"),
    ("writer", "writer"),
)
_MODEL_PROVIDERS: Final = frozenset(family for _, family in _FAMILY_WORDS)


class BillReadError(BedrockWatchError):
    """Cost Explorer or CloudWatch could not be read (after the SDK's retries)."""


def family_of_usage(service: str, usage_type: str) -> str:
    """The model family a bill line belongs to, from its service name and usage type."""
    text = f"{service} {usage_type}".lower()
    for word, family in _FAMILY_WORDS:
        if word in text:
            return family
    return OTHER_FAMILY


def family_of_model(model_id: str) -> str:
    """The family of a metered ModelId (`anthropic.claude-…` -> anthropic)."""
    provider = (
        model_id.split(".", 1)[0].lower() if "." in model_id and not model_id.startswith("arn:") else ""
    )
    return provider if provider in _MODEL_PROVIDERS else OTHER_FAMILY


def kind_of_usage(usage_type: str) -> str:
    text = usage_type.lower()
    if "mantle" in text:
        return MANTLE
    if "batch" in text:
        return BATCH
    if "provisioned" in text or "modelunit" in text or "model-unit" in text:
        return PROVISIONED
    return ON_DEMAND if _TOKEN_USAGE.search(text) else NOT_TOKENS


@dataclass(frozen=True, slots=True)
class BillLine:
    day: date
    service: str
    usage_type: str
    usd: float

    @property
    def family(self) -> str:
        return family_of_usage(self.service, self.usage_type)

    @property
    def kind(self) -> str:
        return kind_of_usage(self.usage_type)


@dataclass(frozen=True, slots=True)
class Drift:
    family: str  # a provider family, or OVERALL
    metered_usd: float
    billed_usd: float

    @property
    def percent(self) -> float | None:
        """100 x (metered - billed) / billed; None when neither side has spend."""
        if self.billed_usd > 0:
            return 100.0 * (self.metered_usd - self.billed_usd) / self.billed_usd
        return 100.0 if self.metered_usd > 0 else None


@dataclass(slots=True)
class BillCheck:
    day: date
    drifts: list[Drift]
    outside_meter: dict[str, float] = field(default_factory=dict)  # kind -> billed USD the meter cannot see

    @property
    def overall(self) -> Drift:
        return next(d for d in self.drifts if d.family == OVERALL)


def settled_day(now: datetime, settle_hours: float) -> date:
    """The newest UTC day that ended at least `settle_hours` before `now`."""
    return (now.astimezone(UTC) - timedelta(hours=settle_hours)).date() - timedelta(days=1)


def compare(
    day: date, bill: Iterable[BillLine], metered: Mapping[str, float], metered_total: float
) -> BillCheck:
    """Drift per family and overall for `day`: `metered` is CostUSD per ModelId, `metered_total`
    the whole stack's CostUSD (it includes unresolved profiles, priced as `other`)."""
    billed: dict[str, float] = defaultdict(float)
    outside: dict[str, float] = defaultdict(float)
    for line in bill:
        if line.day != day:
            continue
        if line.kind == ON_DEMAND:
            billed[line.family] += line.usd
        else:
            outside[line.kind] += line.usd
    if not metered:
        # The meter publishes CostUSD per model only from MetricDetail `model` up: the whole
        # stack can still be compared, the families cannot.
        return BillCheck(day, [Drift(OVERALL, metered_total, sum(billed.values()))], dict(outside))
    by_family: dict[str, float] = defaultdict(float)
    for model_id, usd in metered.items():
        by_family[family_of_model(model_id)] += usd
    # Spend the per-model series do not name (CostUSD published without a ModelId) is "other".
    unnamed = metered_total - sum(by_family.values())
    if unnamed > 1e-9:
        by_family[OTHER_FAMILY] += unnamed
    families = sorted(set(billed) | {f for f, usd in by_family.items() if usd > 0})
    drifts = [Drift(f, by_family.get(f, 0.0), billed.get(f, 0.0)) for f in families]
    drifts.append(Drift(OVERALL, metered_total, sum(billed.values())))
    return BillCheck(day, drifts, dict(outside))


# ---------------------------------------------------------------------------- Cost Explorer


def cost_explorer_request(
    services: Sequence[str], region: str, day: date, billing_view: str | None = None
) -> dict[str, Any]:
    """The one GetCostAndUsage request of a run: LOOKBACK_DAYS days ending with `day`, the
    billing services in the stack's region (the meter sees only calls made there)."""
    return {
        "TimePeriod": {
            "Start": (day - timedelta(days=LOOKBACK_DAYS - 1)).isoformat(),
            "End": (day + timedelta(days=1)).isoformat(),
        },
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "Filter": {
            "And": [
                {"Dimensions": {"Key": "SERVICE", "Values": list(services)}},
                {"Dimensions": {"Key": "REGION", "Values": [region]}},
            ]
        },
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
        # Named, so the IAM statement can name it too (GetCostAndUsage's resource type: billingview).
        **({"BillingViewArn": billing_view} if billing_view else {}),
    }


def bill_lines(answer: Mapping[str, Any]) -> list[BillLine]:
    """GetCostAndUsage's `ResultsByTime[].Groups[]` (Keys = [service, usage type]) as lines."""
    lines: list[BillLine] = []
    for result in answer.get("ResultsByTime", []):
        day = date.fromisoformat(str(result["TimePeriod"]["Start"])[:10])
        for group in result.get("Groups", []):
            keys = list(group.get("Keys", []))
            service, usage_type = (keys[0], keys[1]) if len(keys) >= 2 else ("", keys[0] if keys else "")
            amount = float(group.get("Metrics", {}).get("UnblendedCost", {}).get("Amount", 0) or 0)
            lines.append(BillLine(day, service, usage_type, amount))
    return lines


def read_bill(
    client: Any, services: Sequence[str], region: str, day: date, billing_view: str | None = None
) -> list[BillLine]:
    """One Cost Explorer request (pages only if AWS splits the answer; each page is billed)."""
    from botocore.exceptions import BotoCoreError, ClientError

    request = cost_explorer_request(services, region, day, billing_view)
    lines: list[BillLine] = []
    try:
        while True:
            answer = client.get_cost_and_usage(**request)
            lines.extend(bill_lines(answer))
            token = answer.get("NextPageToken")
            if not token:
                return lines
            request["NextPageToken"] = token
    except (ClientError, BotoCoreError) as err:
        raise BillReadError(f"ce:GetCostAndUsage for {', '.join(services)} failed: {err}") from err


# ---------------------------------------------------------------------------- the meter's side


def metered_day(client: Any, namespace: str, day: date) -> tuple[dict[str, float], float]:
    """(CostUSD per ModelId, total CostUSD) for `day`, from CloudWatch."""
    from botocore.exceptions import BotoCoreError, ClientError

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        model_ids: list[str] = []
        request: dict[str, Any] = {
            "Namespace": namespace,
            "MetricName": COST_METRIC,
            "Dimensions": [{"Name": DIMENSION_MODEL}],
        }
        while True:
            page = client.list_metrics(**request)
            for metric in page.get("Metrics", []):
                dimensions = metric.get("Dimensions", [])
                if len(dimensions) == 1 and dimensions[0]["Name"] == DIMENSION_MODEL:
                    model_ids.append(str(dimensions[0]["Value"]))
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        ids = {"total": None, **{f"m{index}": model for index, model in enumerate(sorted(set(model_ids)))}}
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": COST_METRIC,
                        "Dimensions": [] if model is None else [{"Name": DIMENSION_MODEL, "Value": model}],
                    },
                    "Period": 86400,
                    "Stat": "Sum",
                },
            }
            for query_id, model in ids.items()
        ]
        sums: dict[str, float] = dict.fromkeys(ids, 0.0)
        for offset in range(0, len(queries), 500):  # GetMetricData takes 500 queries a call
            answer = client.get_metric_data(
                MetricDataQueries=queries[offset : offset + 500],
                StartTime=start,
                EndTime=start + timedelta(days=1),
            )
            for result in answer["MetricDataResults"]:
                sums[result["Id"]] += float(sum(result.get("Values", [])))
    except (ClientError, BotoCoreError) as err:
        raise BillReadError(f"CloudWatch {COST_METRIC} for {day} in {namespace} failed: {err}") from err
    per_model = {str(model): sums[query_id] for query_id, model in ids.items() if model is not None}
    return per_model, sums["total"]


# ---------------------------------------------------------------------------- settings, EMF


@dataclass(frozen=True, slots=True)
class BillCheckSettings:
    namespace: str
    services: tuple[str, ...]
    settle_hours: float
    region: str = "us-east-1"
    billing_view: str | None = None  # the account's primary billing view ARN

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BillCheckSettings:
        """METRICS_NAMESPACE, BILLING_SERVICES (comma-separated), BILL_SETTLE_HOURS, AWS_REGION,
        BILLING_VIEW_ARN (optional)."""
        services = tuple(env_list("BILLING_SERVICES", "Amazon Bedrock", environ))
        if not services:
            raise ConfigurationError("environment variable BILLING_SERVICES names no Cost Explorer service")
        return cls(
            namespace=env_str("METRICS_NAMESPACE", environ=environ),
            services=services,
            settle_hours=env_float("BILL_SETTLE_HOURS", 48.0, minimum=24.0, environ=environ),
            region=env_str("AWS_REGION", "us-east-1", environ),
            billing_view=env_str("BILLING_VIEW_ARN", "", environ) or None,
        )


def make_clients() -> tuple[Any, Any]:
    """(Cost Explorer client — its endpoint is in us-east-1 — , CloudWatch client), standard retries."""
    return aws_client("ce", CE_ENDPOINT_REGION), aws_client("cloudwatch")


def check_bill(settings: BillCheckSettings, now: datetime, *, ce: Any, cloudwatch: Any) -> BillCheck:
    """Compare the newest settled day's bill with the meter's CostUSD for it."""
    day = settled_day(now, settings.settle_hours)
    bill = read_bill(ce, settings.services, settings.region, day, settings.billing_view)
    metered, total = metered_day(cloudwatch, settings.namespace, day)
    return compare(day, bill, metered, total)


def emf_documents(check: BillCheck, namespace: str, now: datetime) -> list[dict[str, Any]]:
    """The overall drift as EMF (BillingDriftPercent, dimension set []), stamped now (the alarm
    reads one datapoint a day), and one plain log line per family (the same fields, no metric:
    the executive dashboard's Logs Insights widget reads them). The day compared and both sides
    are fields of each line."""
    documents = []
    for drift in check.drifts:
        percent = drift.percent
        if percent is None or not math.isfinite(percent):
            continue
        document: dict[str, Any] = {
            "BillingDriftPercent": round(percent, 3),
            "SettledDay": check.day.isoformat(),
            "MeteredUSD": round(drift.metered_usd, 6),
            "BilledUSD": round(drift.billed_usd, 6),
        }
        if drift.family == OVERALL:
            document["_aws"] = emf_metadata(namespace, int(now.timestamp() * 1000), BILLING_METRICS)
            document["OutsideMeterUSD"] = {kind: round(usd, 6) for kind, usd in check.outside_meter.items()}
        else:
            document[FIELD_MODEL_FAMILY] = drift.family
        documents.append(document)
    return documents


# ---------------------------------------------------------------------------- the CSV export


def parse_cost_explorer_csv(text: str, *, service: str = "Amazon Bedrock") -> list[BillLine]:
    """The Cost Explorer console's CSV download of a daily report grouped by usage type: a header
    row `Usage type,<usage type>($),…,Total costs($)`, a `Usage type total` row, then one row per
    day (`YYYY-MM-DD,<cost>,…`). Totals are skipped. Errors name the row and column."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or len(rows[0]) < 2:
        raise ConfigurationError("Cost Explorer CSV: no header row with usage-type columns")
    header = [cell.strip() for cell in rows[0]]
    columns = [
        (index, re.sub(r"\(\$\)$", "", name).strip()) for index, name in enumerate(header) if index > 0
    ]
    lines: list[BillLine] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not row[0].strip():
            continue
        first = row[0].strip()
        if "total" in first.lower():
            continue
        try:
            day = date.fromisoformat(first[:10])
        except ValueError:
            raise ConfigurationError(
                f"Cost Explorer CSV row {number}: {first!r} is not a date (YYYY-MM-DD)"
            ) from None
        for index, usage_type in columns:
            if "total" in usage_type.lower() or index >= len(row) or not row[index].strip():
                continue
            try:
                usd = float(row[index])
            except ValueError:
                raise ConfigurationError(
                    f"Cost Explorer CSV row {number}, column {usage_type!r}: {row[index]!r} is not a number"
                ) from None
            lines.append(BillLine(day, service, usage_type, usd))
    if not lines:
        raise ConfigurationError("Cost Explorer CSV: no daily cost rows")
    return lines
