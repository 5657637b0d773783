"""The alarm table of the alarms issue, read from template.yaml (ForEach unrolled with the
parameter defaults): metric, statistic, threshold parameter, comparison and tags of every row,
the composite rule, anomaly detectors, pipeline health, and the tags escalation and remediation
read (bedrock_watch.contract)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from bedrock_watch import contract
from sandbox.cfn_expand import expand_foreach, render
from sandbox.template import ROOT, load_template, parameter_defaults

ALARM_TYPES = {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"}
NAMESPACE = {"Ref": "MetricsNamespace"}
BEDROCK = contract.AWS_BEDROCK_NAMESPACE


def expanded_resources() -> dict[str, Any]:
    resources: dict[str, Any] = expand_foreach(load_template())["Resources"]
    return resources


def alarms() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in expanded_resources().items() if v.get("Type") in ALARM_TYPES}


def tags(alarm: dict[str, Any]) -> dict[str, Any]:
    return {tag["Key"]: tag["Value"] for tag in alarm["Properties"].get("Tags", [])}


def metric_stats(props: dict[str, Any]) -> list[tuple[Any, str, str, list[Any]]]:
    """(namespace, metric, statistic, dimensions) of every metric an alarm reads."""
    if "MetricName" in props:
        stat = props.get("Statistic") or props.get("ExtendedStatistic")
        return [(props["Namespace"], props["MetricName"], stat, props.get("Dimensions", []))]
    found = []
    for query in props.get("Metrics", []):
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            found.append(
                (
                    metric["Namespace"],
                    metric["MetricName"],
                    query["MetricStat"]["Stat"],
                    metric.get("Dimensions", []),
                )
            )
    return found


def expressions(props: dict[str, Any]) -> list[Any]:
    return [q["Expression"] for q in props.get("Metrics", []) if "Expression" in q]


@dataclass(frozen=True)
class Entry:
    """One default MonitoredModels entry, <ModelId>=<route>=<TPM quota>."""

    text: str

    @property
    def suffix(self) -> str:  # what &{Entry} makes of it
        return re.sub(r"[^A-Za-z0-9]", "", self.text)

    @property
    def model(self) -> str:
        return self.text.split("=")[0]

    @property
    def route(self) -> str:
        return self.text.split("=")[1]

    @property
    def quota(self) -> str:
        return self.text.split("=")[2]


def model_entries() -> list[Entry]:
    return [Entry(text) for text in parameter_defaults()["MonitoredModels"].split(",")]


@dataclass(frozen=True)
class Row:
    logical_id: str
    namespace: Any
    metrics: tuple[str, ...]  # every metric the alarm reads
    statistic: str
    threshold: str  # parameter name, or "0" for "any"
    comparison: str
    severity: str
    remediation: str = "none"


GT, GE = "GreaterThanThreshold", "GreaterThanOrEqualToThreshold"

# The issue's table (defaults asserted separately below).
STACK_ROWS = [
    Row("LatencyP95WarningAlarm", NAMESPACE, ("Latency",), "p95", "LatencyP95WarningMs", GT, "warning"),
    Row("LatencyP95CriticalAlarm", NAMESPACE, ("Latency",), "p95", "LatencyP95CriticalMs", GT, "critical"),
    Row(
        "ErrorRateWarningAlarm",
        NAMESPACE,
        ("Errors", "Requests"),
        "Sum",
        "ErrorRateWarningPercent",
        GE,
        "warning",
    ),
    Row(
        "ErrorRateCriticalAlarm",
        NAMESPACE,
        ("Errors", "Requests"),
        "Sum",
        "ErrorRateCriticalPercent",
        GE,
        "critical",
    ),
    Row("ThrottlesSustainedAlarm", NAMESPACE, ("Throttles",), "Sum", "0", GT, "warning"),
    Row(
        "ThrottleRateCriticalAlarm",
        NAMESPACE,
        ("Throttles", "Requests"),
        "Sum",
        "ThrottleRateCriticalPercent",
        GE,
        "critical",
    ),
    Row(
        "TokenUsageWarningAlarm",
        NAMESPACE,
        ("TotalTokens",),
        "Sum",
        "TokenUsageWarningPercent",
        GE,
        "warning",
    ),
    Row(
        "TokenUsageCriticalAlarm",
        NAMESPACE,
        ("TotalTokens",),
        "Sum",
        "TokenUsageCriticalPercent",
        GE,
        "critical",
    ),
    Row(
        "BudgetWarningAlarm",
        NAMESPACE,
        ("BudgetUtilization",),
        "Maximum",
        "BudgetWarningPercent",
        GE,
        "warning",
    ),
    Row(
        "BudgetElevatedAlarm",
        NAMESPACE,
        ("BudgetUtilization",),
        "Maximum",
        "BudgetElevatedPercent",
        GE,
        "warning",
    ),
    Row(
        "BudgetCriticalAlarm",
        NAMESPACE,
        ("BudgetUtilization",),
        "Maximum",
        "BudgetCriticalPercent",
        GE,
        "critical",
        "downgrade",
    ),
    Row(
        "ProjectedSpendWarningAlarm",
        NAMESPACE,
        ("ProjectedMonthEndSpendUSD",),
        "Maximum",
        "ProjectedSpendWarningPercent",
        GE,
        "warning",
    ),
    Row(
        "ProjectedSpendCriticalAlarm",
        NAMESPACE,
        ("ProjectedMonthEndSpendUSD",),
        "Maximum",
        "ProjectedSpendCriticalPercent",
        GE,
        "critical",
        "downgrade",
    ),
]


def model_rows(suffix: str) -> list[Row]:
    # AWS/Bedrock Invocations holds every accepted request, failed ones included; throttles are apart
    throttle_rate = ("InvocationThrottles", "Invocations")
    server_error_rate = ("InvocationServerErrors", "Invocations")
    return [
        Row(
            f"ModelLatencyP95Warning{suffix}",
            BEDROCK,
            ("InvocationLatency",),
            "p95",
            "ModelLatencyP95WarningMs",
            GT,
            "warning",
        ),
        Row(
            f"ModelLatencyP95Critical{suffix}",
            BEDROCK,
            ("InvocationLatency",),
            "p95",
            "ModelLatencyP95CriticalMs",
            GT,
            "critical",
            "failover",
        ),
        Row(f"ModelThrottlesSustained{suffix}", BEDROCK, ("InvocationThrottles",), "Sum", "0", GT, "warning"),
        Row(
            f"ModelThrottleRateCritical{suffix}",
            BEDROCK,
            throttle_rate,
            "Sum",
            "ThrottleRateCriticalPercent",
            GE,
            "critical",
            "failover",
        ),
        Row(
            f"ModelServerErrorRateCritical{suffix}",
            BEDROCK,
            server_error_rate,
            "Sum",
            "ErrorRateCriticalPercent",
            GE,
            "critical",
            "failover",
        ),
        Row(
            f"ModelQuotaUsageWarning{suffix}",
            BEDROCK,
            ("EstimatedTPMQuotaUsage",),
            "Sum",
            "QuotaUsageWarningPercent",
            GE,
            "warning",
        ),
        Row(
            f"ModelQuotaUsageCritical{suffix}",
            BEDROCK,
            ("EstimatedTPMQuotaUsage",),
            "Sum",
            "QuotaUsageCriticalPercent",
            GE,
            "critical",
            "failover",
        ),
    ]


def all_rows() -> list[tuple[Row, Entry | None]]:
    rows: list[tuple[Row, Entry | None]] = [(row, None) for row in STACK_ROWS]
    for entry in model_entries():
        rows += [(row, entry) for row in model_rows(entry.suffix)]
    return rows


@pytest.mark.parametrize(
    ("row", "entry"), all_rows(), ids=lambda v: v.logical_id if isinstance(v, Row) else ""
)
def test_every_row_of_the_alarm_table_exists(row: Row, entry: Entry | None) -> None:
    alarm = alarms().get(row.logical_id)
    assert alarm is not None, f"{row.logical_id} is missing"
    props = alarm["Properties"]
    stats = metric_stats(props)
    assert {name for _, name, _, _ in stats} == set(row.metrics), row.logical_id
    assert all(namespace == row.namespace for namespace, _, _, _ in stats), row.logical_id
    assert {stat for _, _, stat, _ in stats} == {row.statistic}, row.logical_id
    expected_threshold: Any = 0 if row.threshold == "0" else {"Ref": row.threshold}
    assert props["Threshold"] == expected_threshold, row.logical_id
    assert props["ComparisonOperator"] == row.comparison, row.logical_id
    alarm_tags = tags(alarm)
    assert alarm_tags[contract.TAG_SEVERITY] == row.severity
    assert alarm_tags[contract.TAG_REMEDIATION] == row.remediation
    if entry is not None:
        model_id = {"Fn::Select": [0, {"Fn::Split": ["=", entry.text]}]}
        assert all(dimensions == [{"Name": "ModelId", "Value": model_id}] for *_, dimensions in stats)
        assert alarm_tags[contract.TAG_ROUTE] == {"Fn::Select": [1, {"Fn::Split": ["=", entry.text]}]}


def test_thresholds_default_to_the_issue_table() -> None:
    defaults = parameter_defaults()
    expected = {
        "LatencyP95WarningMs": 3000,
        "LatencyP95CriticalMs": 5000,
        "ModelLatencyP95WarningMs": 3000,
        "ModelLatencyP95CriticalMs": 5000,
        "ErrorRateWarningPercent": 1,
        "ErrorRateCriticalPercent": 2,
        "ThrottleRateCriticalPercent": 5,
        "TokenUsageWarningPercent": 25,
        "TokenUsageCriticalPercent": 50,
        "QuotaUsageWarningPercent": 80,
        "QuotaUsageCriticalPercent": 95,
        "BudgetWarningPercent": 50,
        "BudgetElevatedPercent": 75,
        "BudgetCriticalPercent": 90,
        "ProjectedSpendWarningPercent": 100,
        "ProjectedSpendCriticalPercent": 120,
        "LatencyRisePercent": 50,
        "BudgetDowngradeRoute": "chat",
    }
    assert {name: defaults[name] for name in expected} == expected


def test_rendered_alarms_read_the_right_dimension_values_and_routes() -> None:
    rendered = render().resources
    for entry in model_entries():
        for row in model_rows(entry.suffix):
            props = rendered[row.logical_id]["Properties"]
            for _, _, _, dimensions in metric_stats(props):
                assert dimensions == [{"Name": "ModelId", "Value": entry.model}]
            assert props["AlarmName"].endswith(entry.model)
            assert tags(rendered[row.logical_id])[contract.TAG_ROUTE] == entry.route
        quota_alarm = rendered[f"ModelQuotaUsageCritical{entry.suffix}"]["Properties"]
        assert expressions(quota_alarm) == [f"100 * usage / {entry.quota}"]


def test_rates_divide_by_their_denominator_and_ignore_thin_periods() -> None:
    resources = alarms()
    for logical_id, numerator in [
        ("ErrorRateWarningAlarm", "errors"),
        ("ErrorRateCriticalAlarm", "errors"),
        ("ThrottleRateCriticalAlarm", "FILL(throttles, 0)"),
    ]:
        (expression,) = expressions(resources[logical_id]["Properties"])
        assert expression == {
            "Fn::Sub": f"IF(requests >= ${{MinRequestsForRate}}, 100 * {numerator} / requests, 0)"
        }, logical_id
    assert expressions(resources["TokenUsageWarningAlarm"]["Properties"]) == [
        {"Fn::Sub": "100 * (tokens - ${TokenBaselinePerHour}) / ${TokenBaselinePerHour}"}
    ]
    assert expressions(resources["ProjectedSpendCriticalAlarm"]["Properties"]) == [
        {"Fn::Sub": "100 * projected / ${MonthlyBudgetUSD}"}
    ]


def test_sustained_throttling_means_every_period_of_the_window() -> None:
    for logical_id in [
        "ThrottlesSustainedAlarm",
        *(f"ModelThrottlesSustained{e.suffix}" for e in model_entries()),
    ]:
        props = alarms()[logical_id]["Properties"]
        assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == {"Ref": "ThrottleSustainedPeriods"}


def test_per_application_budgets_alarm_on_every_application_via_metrics_insights() -> None:
    for level, threshold in [
        ("Warning", "BudgetWarningPercent"),
        ("Elevated", "BudgetElevatedPercent"),
        ("Critical", "BudgetCriticalPercent"),
    ]:
        props = alarms()[f"ApplicationBudget{level}Alarm"]["Properties"]
        (query,) = expressions(props)
        assert query == {
            "Fn::Sub": 'SELECT MAX(BudgetUtilization) FROM SCHEMA("${MetricsNamespace}", Application)'
            " GROUP BY Application"
        }
        assert props["Threshold"] == {"Ref": threshold}
        assert props["ComparisonOperator"] == GE


def test_the_composite_pages_only_on_latency_rise_and_errors_together() -> None:
    resources = alarms()
    composite = resources["DegradationCompositeAlarm"]
    assert composite["Type"] == "AWS::CloudWatch::CompositeAlarm"
    assert composite["Properties"]["AlarmRule"] == {
        "Fn::Sub": 'ALARM("${LatencyRiseAlarm}") AND ALARM("${ErrorRateAboveNormalAlarm}")'
    }
    assert tags(composite)[contract.TAG_SEVERITY] == "critical"

    rise = resources["LatencyRiseAlarm"]["Properties"]
    assert [(n, s) for _, n, s, _ in metric_stats(rise)] == [("Latency", "p95")]
    assert expressions(rise) == [{"Fn::Sub": "100 * (p95 - ${LatencyBaselineMs}) / ${LatencyBaselineMs}"}]
    assert rise["Threshold"] == {"Ref": "LatencyRisePercent"}
    errors = resources["ErrorRateAboveNormalAlarm"]["Properties"]
    assert errors["Threshold"] == {"Ref": "ErrorRateNormalPercent"}
    # the inputs are signals, not pages
    for logical_id in ("LatencyRiseAlarm", "ErrorRateAboveNormalAlarm"):
        assert tags(resources[logical_id])["Signal"] == "composite-input"


@pytest.mark.parametrize(
    ("alarm_id", "detector_id", "metric", "comparison"),
    [
        (
            "RequestsAnomalyAlarm",
            "RequestsAnomalyDetector",
            "Requests",
            "LessThanLowerOrGreaterThanUpperThreshold",
        ),
        ("TotalTokensAnomalyAlarm", "TotalTokensAnomalyDetector", "TotalTokens", "GreaterThanUpperThreshold"),
        ("CostAnomalyAlarm", "CostAnomalyDetector", "CostUSD", "GreaterThanUpperThreshold"),
    ],
)
def test_anomaly_alarms_use_a_detector_and_the_band_width_parameter(
    alarm_id: str, detector_id: str, metric: str, comparison: str
) -> None:
    resources = expanded_resources()
    props = resources[alarm_id]["Properties"]
    [(namespace, name, stat, _)] = metric_stats(props)
    assert (namespace, name, stat) == (NAMESPACE, metric, "Sum")
    metric_id = next(q["Id"] for q in props["Metrics"] if "MetricStat" in q)
    assert expressions(props) == [{"Fn::Sub": f"ANOMALY_DETECTION_BAND({metric_id}, ${{AnomalyBandWidth}})"}]
    assert props["ThresholdMetricId"] == "band"
    assert props["ComparisonOperator"] == comparison
    detector = resources[detector_id]["Properties"]["SingleMetricAnomalyDetector"]
    assert detector == {"Namespace": NAMESPACE, "MetricName": metric, "Stat": "Sum"}


@pytest.mark.parametrize(
    ("logical_id", "namespace", "metric", "dimensions", "severity"),
    [
        (
            "MeteringErrorsAlarm",
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": {"Ref": "InvocationMetricsFunction"}}],
            "critical",
        ),
        (
            "MeteringThrottlesAlarm",
            "AWS/Lambda",
            "Throttles",
            [{"Name": "FunctionName", "Value": {"Ref": "InvocationMetricsFunction"}}],
            "warning",
        ),
        (
            "MeteringFailureQueueAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["InvocationMetricsFailureQueue", "QueueName"]}}],
            "critical",
        ),
        ("MalformedRecordsAlarm", NAMESPACE, "MalformedRecords", [], "warning"),
        ("UnpricedRequestsAlarm", NAMESPACE, "UnpricedRequests", [], "warning"),
        ("LogDeliveryFailureAlarm", BEDROCK, "ModelInvocationLogsCloudWatchDeliveryFailure", [], "critical"),
    ],
)
def test_pipeline_health_alarms_fire_on_anything_above_zero(
    logical_id: str, namespace: Any, metric: str, dimensions: list[Any], severity: str
) -> None:
    alarm = alarms()[logical_id]
    props = alarm["Properties"]
    assert metric_stats(props)[0][:2] == (namespace, metric)
    assert props.get("Dimensions", []) == dimensions
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, GT)
    assert tags(alarm)[contract.TAG_SEVERITY] == severity


def test_the_meter_blind_alarm_compares_the_meter_with_aws_bedrock() -> None:
    alarm = alarms()["MeterBlindAlarm"]
    props = alarm["Properties"]
    assert [(ns, name) for ns, name, _, _ in metric_stats(props)] == [
        (BEDROCK, "Invocations"),
        (NAMESPACE, "Requests"),
    ]
    assert expressions(props) == ["IF(FILL(bedrock, 0) > 0 AND FILL(metered, 0) == 0, 1, 0)"]
    periods = [q["MetricStat"]["Period"] for q in props["Metrics"] if "MetricStat" in q]
    assert periods == [{"Ref": "BlindMeterWindowSeconds"}] * 2
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == 2
    assert tags(alarm)[contract.TAG_SEVERITY] == "critical"


# ---------------------------------------------------------------------------- every alarm


def runbook_anchors() -> set[str]:
    text = (ROOT / "docs" / "runbook.md").read_text()
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.MULTILINE)
    # GitHub's anchor: lower case, punctuation dropped, spaces to hyphens
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alarm_is_tagged_for_escalation_and_remediation() -> None:
    anchors = runbook_anchors()
    rendered = render().resources
    for logical_id in alarms():
        alarm_tags = tags(rendered[logical_id])
        assert alarm_tags.get(contract.TAG_SEVERITY) in contract.SEVERITIES, logical_id
        assert alarm_tags.get(contract.TAG_REMEDIATION) in contract.REMEDIATIONS, logical_id
        # the area groups alarms of one root cause into one incident (bedrock_watch.correlation)
        assert alarm_tags.get(contract.TAG_AREA) in contract.AREAS, logical_id
        if alarm_tags[contract.TAG_REMEDIATION] != "none":
            assert alarm_tags.get(contract.TAG_ROUTE), f"{logical_id} remediates without a Route"
        base, _, anchor = alarm_tags[contract.TAG_RUNBOOK].partition("#")
        assert base == parameter_defaults()["RunbookBaseUrl"], logical_id
        assert anchor in anchors, f"{logical_id}: runbook section #{anchor} does not exist"


def test_every_alarm_name_carries_the_stack_prefix_and_is_unique() -> None:
    rendered = render().resources
    names = [rendered[logical_id]["Properties"]["AlarmName"] for logical_id in alarms()]
    assert all(name.startswith("bedrock-watch.") for name in names)
    assert len(names) == len(set(names))


def test_every_metric_alarm_chooses_its_missing_data_treatment() -> None:
    for logical_id, alarm in alarms().items():
        if alarm["Type"] == "AWS::CloudWatch::Alarm":
            treatment = alarm["Properties"].get("TreatMissingData")
            assert treatment in {"notBreaching", "breaching", "ignore", "missing"}, logical_id
    # a quiet night pages nobody; a dead budget guard does
    assert alarms()["LatencyP95CriticalAlarm"]["Properties"]["TreatMissingData"] == "notBreaching"
    # a dead budget guard does too, once it has run (tests/unit/alarms/test_quiet_start.py)
    assert alarms()["BudgetMetricsStaleAlarm"]["Properties"]["TreatMissingData"] == "ignore"


def test_alarms_read_only_metrics_the_contract_or_aws_bedrock_define() -> None:
    ours = set(contract.PUBLISHED_METRICS)
    for logical_id, alarm in alarms().items():
        for namespace, name, _, _ in metric_stats(alarm["Properties"]):
            if namespace == NAMESPACE:
                assert name in ours, f"{logical_id}: {name} is not in the metric contract"
            elif namespace == BEDROCK:
                assert name in contract.AWS_BEDROCK_METRICS, (
                    f"{logical_id}: {name} is not an AWS/Bedrock metric"
                )


def test_monitored_models_each_get_their_alarms_without_copy_paste() -> None:
    rendered = render({"MonitoredModels": "a.model-v1:0=chat=1000,b.model=sum=2000,c.model=x=3"}).resources
    per_model = [
        k for k in rendered if k.startswith("Model") and rendered[k]["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert len(per_model) == 3 * 7
    assert (
        rendered["ModelQuotaUsageWarningcmodelx3"]["Properties"]["Metrics"][1]["Expression"]
        == "100 * usage / 3"
    )


# ---------------------------------------------------------------------------- budget guard wiring


def test_budget_guard_runs_on_a_scheduler_schedule_with_least_privilege() -> None:
    function = expanded_resources()["BudgetGuardFunction"]["Properties"]
    assert parameter_defaults()["BudgetGuardSchedule"] == "rate(15 minutes)"
    [event] = function["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == {"Ref": "BudgetGuardSchedule"}
    variables = function["Environment"]["Variables"]
    assert {k: variables[k] for k in ("METRICS_NAMESPACE", "MONTHLY_BUDGET_USD", "APPLICATION_BUDGETS")} == {
        "METRICS_NAMESPACE": NAMESPACE,
        "MONTHLY_BUDGET_USD": {"Ref": "MonthlyBudgetUSD"},
        "APPLICATION_BUDGETS": {"Ref": "ApplicationBudgets"},
    }
    assert variables["BUDGET_GUARD_SCHEDULE"] == {"Ref": "BudgetGuardSchedule"}  # hourly own-cost runs
    statements = {s["Sid"]: s for s in function["Policies"][0]["Statement"]}
    read = statements["ReadSpendAndUsageMetrics"]
    assert (read["Action"], read["Resource"]) == (["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"], "*")
    # the alarms it prices are only this stack's
    alarms = statements["PriceTheStacksOwnAlarms"]["Resource"]["Fn::Sub"]
    assert alarms.endswith(":alarm:${AWS::StackName}.*")
    assert function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_budgets_are_validated_at_deployment_where_cloudformation_can() -> None:
    parameters = load_template()["Parameters"]
    assert parameters["MonthlyBudgetUSD"]["MinValue"] > 0
    pattern = re.compile(parameters["ApplicationBudgets"]["AllowedPattern"])
    for good in ["{}", '{"chat": 500}', '{ "chat": 500, "search": 12.5 }']:
        assert pattern.fullmatch(good), good
    for bad in ['{"chat": "500"}', '{"chat": 500,}', "[500]", '{"chat": -5}', "chat=500", ""]:
        assert not pattern.fullmatch(bad), bad


def test_monitored_model_entries_are_checked_at_deployment() -> None:
    spec = load_template()["Parameters"]["MonitoredModels"]
    pattern = re.compile(spec["AllowedPattern"])
    assert all(pattern.fullmatch(entry) for entry in spec["Default"].split(","))
    for bad in [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "model=chat",
        "model=chat=0",
        "model==1000",
        "m=chat=1e6",
    ]:
        assert not pattern.fullmatch(bad), bad


# ---------------------------------------------------------------------------- alarms vs the contract
_SCHEMA = re.compile(
    r"SELECT\s+\w+\((\w+)\)\s+FROM\s+SCHEMA\(\s*\"([^\"]+)\"((?:\s*,\s*\w+)*)\s*\)", re.IGNORECASE
)


def metrics_read(props: dict[str, Any]) -> list[tuple[str, str, frozenset[str]]]:
    """(namespace, metric, dimension names) of every metric a rendered alarm or detector reads,
    Metrics Insights queries included (their SCHEMA keys are the dimension set they read)."""
    found = [(ns, name, frozenset(d["Name"] for d in dims)) for ns, name, _, dims in metric_stats(props)]
    for query in props.get("Metrics", []):
        match = _SCHEMA.search(str(query.get("Expression", "")))
        if match:
            keys = frozenset(k.strip() for k in match.group(3).split(",") if k.strip())
            found.append((match.group(2), match.group(1), keys))
    detector = props.get("SingleMetricAnomalyDetector")
    if detector:
        found.append((detector["Namespace"], detector["MetricName"], frozenset()))
    return found


def unpublished(resources: dict[str, Any], namespace: str, level: str) -> list[str]:
    """Alarms (and anomaly detectors) reading one of our metrics at a dimension set the contract
    does not publish at `level`."""
    problems = []
    for logical_id, resource in resources.items():
        if resource["Type"] not in ALARM_TYPES | {"AWS::CloudWatch::AnomalyDetector"}:
            continue
        for ns, name, dims in metrics_read(resource["Properties"]):
            if ns != namespace:
                continue
            published = {frozenset(s) for s in contract.spec(name).dimension_sets(level)}
            if dims not in published:
                problems.append(f"{logical_id}: {name} {sorted(dims)} is not published at {level}")
    return problems


@pytest.mark.parametrize("level", contract.METRIC_DETAIL_LEVELS)
def test_every_alarm_reads_a_metric_published_at_its_dimension_set_at_every_level(level: str) -> None:
    # Given the template as deployed with MetricDetail=level
    resources = render({"MetricDetail": level}).resources
    # Then every metric of ours an alarm or detector reads exists at exactly that dimension set
    assert unpublished(resources, parameter_defaults()["MetricsNamespace"], level) == []


def test_the_contract_check_catches_an_alarm_on_an_unpublished_dimension_set() -> None:
    per_model = {"Name": "ModelId", "Value": "m"}
    resources = {
        "PerModelErrors": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {"Namespace": "NS", "MetricName": "Errors", "Dimensions": [per_model]},
        },
        "AppBudget": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Metrics": [{"Id": "q", "Expression": 'SELECT SUM(Requests) FROM SCHEMA("NS", Application)'}]
            },
        },
    }
    assert unpublished(resources, "NS", "lean") == [
        "PerModelErrors: Errors ['ModelId'] is not published at lean",
        "AppBudget: Requests ['Application'] is not published at lean",
    ]
    assert unpublished(resources, "NS", "full") == []
