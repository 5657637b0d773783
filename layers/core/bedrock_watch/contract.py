"""The metric contract (DESIGN.md): names, units and dimensions other parts rely on.

Single source of truth for the EMF writer, the budget guard, dashboards/alarm tests and the
sandbox. A dashboard or alarm naming a metric that is not here (or in AWS_BEDROCK_METRICS) is a typo.
"""

from __future__ import annotations

from typing import Final

DIMENSION_MODEL: Final = "ModelId"
DIMENSION_APPLICATION: Final = "Application"
UNATTRIBUTED: Final = "unattributed"
OTHER_APPLICATION: Final = "other"

# Dimension sets in every metering document: all traffic, per model, per application, per pair.
DIMENSION_SETS: Final[tuple[tuple[str, ...], ...]] = (
    (),
    (DIMENSION_MODEL,),
    (DIMENSION_APPLICATION,),
    (DIMENSION_MODEL, DIMENSION_APPLICATION),
)

# Metering metrics (invocation_metrics) -> unit.
METERING_METRICS: Final[dict[str, str]] = {
    "Requests": "Count",
    "Errors": "Count",
    "Throttles": "Count",
    "Timeouts": "Count",
    "ServerErrors": "Count",
    "ModelErrors": "Count",
    "ValidationErrors": "Count",
    "AuthErrors": "Count",
    "OtherErrors": "Count",
    "InputTokens": "Count",
    "CacheReadInputTokens": "Count",
    "CacheWriteInputTokens": "Count",
    "OutputTokens": "Count",
    "TotalTokens": "Count",
    "CostUSD": "None",
    "UnpricedRequests": "Count",
    "Latency": "Milliseconds",
    "TimeToFirstToken": "Milliseconds",
    "OutputTokensPerSecond": "Count/Second",
    "TruncatedResponses": "Count",
    "GuardrailInterventions": "Count",
    "MalformedRecords": "Count",  # published with the [] dimension set only
}

# Per-request metrics: one sample per request so CloudWatch percentiles are exact.
PER_REQUEST_METRICS: Final = frozenset({"Latency", "TimeToFirstToken", "OutputTokensPerSecond"})

# Denominators alarms divide by: always present in a document, even when zero.
ALWAYS_PRESENT_METRICS: Final = frozenset({"Requests", "Errors"})

# Budget metrics (budget_guard), dimension sets [] and [Application].
BUDGET_METRICS: Final[dict[str, str]] = {
    "MonthToDateSpendUSD": "None",
    "BudgetUtilization": "Percent",
    "BurnRateUSDPerHour": "None",
    "ProjectedMonthEndSpendUSD": "None",
    "HoursUntilBudgetExhausted": "None",
}

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
REMEDIATIONS: Final = frozenset({"none", "failover", "downgrade"})

# The most MonitoredModels entries a stack takes: each adds 7 alarms, and the stack must stay
# under CloudFormation's 500 resources with room for the rest of the stack (about 140 after the
# SAM transform). Refused above this at deploy time by the ConfigurationCheck resource.
MAX_MONITORED_MODELS: Final = 40
