"""The stack's own monthly bill, estimated by the budget guard from the live account (OwnMonthlyCostUSD).

Once an hour the guard counts what is billed by the month — custom metrics that received data in
the last 3 hours (ListMetrics), this stack's alarms as CloudWatch holds them (DescribeAlarms on
`<stack>.*`, priced by bedrock_watch.costmodel.alarm_units), its composite alarms and dashboards
(named in its environment) — and reads what is billed by use over the last 24 hours with one
GetMetricData call: AWS/Logs IncomingBytes of each of its log groups, AWS/Lambda Invocations and
Duration of the metering function (the only function that runs per request), AWS/States
ExecutionsStarted of its state machines (x their states, an upper bound of transitions per run).
That call requests `own_usage_metric_count(...)` metrics, which the estimate includes: watching the
watcher is on the bill too. Everything else (the other functions' few runs) is the cost model's
assumption. Prices: bedrock_watch.costmodel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from bedrock_watch import costmodel
from bedrock_watch.config import env_int, env_list, env_str
from bedrock_watch.contract import OWN_COST_METRIC, alarm_name_prefix, emf_metadata
from bedrock_watch.costmodel import DAYS_PER_MONTH, GB, Bill, Usage
from bedrock_watch.errors import BedrockWatchError

LAMBDA_GB: Final = 128 / 1024  # Globals.MemorySize (tests/infra checks no function overrides it)
GUARD_SECONDS_PER_RUN: Final = 0.5  # assumption, as in the cost model
OTHER_FUNCTION_SECONDS: Final = 0.5
FUNCTIONS_PER_EXECUTION: Final = 7.0  # open/page/ack or validate/plan/probe/apply/verify/record…
RECENTLY_ACTIVE: Final = "PT3H"  # the only window ListMetrics offers; billing is by the hour
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours)\)$")
_SCHEMA = re.compile(r"SELECT\s+\w+\((\w+)\)\s+FROM\s+SCHEMA\(\s*\"[^\"]+\"((?:\s*,\s*\w+)*)\s*\)", re.I)


def runs_per_day(schedule: str) -> float:
    """How often a `rate(…)` schedule runs a day; a cron expression counts as every 15 minutes
    (the documented setting, README)."""
    match = _RATE.match(schedule.strip())
    if not match:
        return 96.0
    minutes = int(match.group(1)) * (60 if match.group(2).startswith("hour") else 1)
    return 1440 / minutes


def is_hourly_run(now: datetime, schedule: str) -> bool:
    """True for the guard's first run of each hour (the own-cost estimate is hourly: GetMetricData
    is billed per metric requested)."""
    period_seconds = 86400 / runs_per_day(schedule)
    return now.minute * 60 + now.second < max(period_seconds, 60)


def schema_of(query: str) -> tuple[str, tuple[str, ...]] | None:
    """(metric, dimension names) a Metrics Insights `SELECT f(metric) FROM SCHEMA(ns, keys…)` reads."""
    match = _SCHEMA.search(query)
    if not match:
        return None
    return match.group(1), tuple(k.strip() for k in match.group(2).split(",") if k.strip())


class OwnCostError(BedrockWatchError):
    """The stack's own usage could not be read (the message names the call)."""


@dataclass(frozen=True, slots=True)
class OwnCostSettings:
    stack_name: str
    namespace: str
    metering_function: str
    log_groups: tuple[str, ...]
    state_machines: tuple[str, ...]  # ARNs
    composite_alarms: int
    dashboards: int
    retention_days: int
    schedule: str  # the budget guard's BudgetGuardSchedule

    @property
    def guard_runs_per_day(self) -> float:
        return runs_per_day(self.schedule)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OwnCostSettings:
        def names(variable: str) -> tuple[str, ...]:
            return tuple(env_list(variable, "", environ))

        return cls(
            stack_name=env_str("STACK_NAME", environ=environ),
            namespace=env_str("METRICS_NAMESPACE", environ=environ),
            metering_function=env_str("OWN_COST_METERING_FUNCTION", environ=environ),
            log_groups=names("OWN_COST_LOG_GROUPS"),
            state_machines=names("OWN_COST_STATE_MACHINES"),
            composite_alarms=len(names("OWN_COST_COMPOSITE_ALARMS")),
            dashboards=len(names("OWN_COST_DASHBOARDS")),
            retention_days=env_int("LOG_RETENTION_DAYS", 30, minimum=1, environ=environ),
            schedule=env_str("BUDGET_GUARD_SCHEDULE", "rate(15 minutes)", environ),
        )


def own_usage_metric_count(log_groups: int, state_machines: int) -> int:
    """Metrics one own-usage GetMetricData call requests (the cost model prices them too)."""
    return log_groups + 2 + state_machines


def own_usage_queries(settings: OwnCostSettings) -> list[dict[str, Any]]:
    """The GetMetricData queries of the last 24 hours' usage, one daily Sum each."""

    def query(qid: str, namespace: str, name: str, dimension: str, value: str) -> dict[str, Any]:
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": name,
                    "Dimensions": [{"Name": dimension, "Value": value}],
                },
                "Period": 86400,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }

    queries = [
        query(f"logs{i}", "AWS/Logs", "IncomingBytes", "LogGroupName", g)
        for i, g in enumerate(settings.log_groups)
    ]
    queries.append(
        query("invocations", "AWS/Lambda", "Invocations", "FunctionName", settings.metering_function)
    )
    queries.append(query("duration", "AWS/Lambda", "Duration", "FunctionName", settings.metering_function))
    queries += [
        query(f"sfn{i}", "AWS/States", "ExecutionsStarted", "StateMachineArn", arn)
        for i, arn in enumerate(settings.state_machines)
    ]
    assert len(queries) == own_usage_metric_count(len(settings.log_groups), len(settings.state_machines))
    return queries


def count_states(definition: Mapping[str, Any]) -> int:
    """States of an ASL definition, nested branches and iterators included."""
    count = 0
    for state in definition.get("States", {}).values():
        count += 1
        for branch in state.get("Branches", []):
            count += count_states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                count += count_states(state[key])
    return count


@dataclass(frozen=True, slots=True)
class OwnUsage:
    """The live figures the estimate is built from."""

    custom_metrics: int
    insights_metrics: Mapping[str, int]  # metric name -> series per dimension-name set, for SELECT alarms
    alarms: Sequence[Mapping[str, Any]]
    log_bytes_per_day: float
    metering_invocations_per_day: float
    metering_ms_per_day: float
    executions_per_day: Sequence[tuple[float, int]]  # (executions started, states) per state machine


def _list_metrics(cloudwatch: Any, namespace: str) -> tuple[int, dict[str, int]]:
    count = 0
    by_schema: dict[str, int] = {}
    paginator = cloudwatch.get_paginator("list_metrics")
    for page in paginator.paginate(Namespace=namespace, RecentlyActive=RECENTLY_ACTIVE):
        for metric in page.get("Metrics", []):
            count += 1
            keys = ",".join(sorted(d["Name"] for d in metric.get("Dimensions", [])))
            key = f"{metric['MetricName']}|{keys}"
            by_schema[key] = by_schema.get(key, 0) + 1
    return count, by_schema


def read_own_usage(
    settings: OwnCostSettings,
    now: datetime,
    cloudwatch: Any,
    stepfunctions: Any,
    states_cache: dict[str, int] | None = None,
) -> OwnUsage:
    """The stack's live inventory and its last 24 hours of usage; OwnCostError names a failed call."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        custom, by_schema = _list_metrics(cloudwatch, settings.namespace)
        alarms: list[Mapping[str, Any]] = []
        for page in cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=alarm_name_prefix(settings.stack_name), AlarmTypes=["MetricAlarm"]
        ):
            alarms.extend(page.get("MetricAlarms", []))
        result = cloudwatch.get_metric_data(
            MetricDataQueries=own_usage_queries(settings),
            StartTime=now - timedelta(days=1),
            EndTime=now,
            ScanBy="TimestampDescending",
        )
        sums = {r["Id"]: float(sum(r.get("Values", []))) for r in result.get("MetricDataResults", [])}
        cache = {} if states_cache is None else states_cache
        executions = []
        for i, arn in enumerate(settings.state_machines):
            if arn not in cache:
                definition = stepfunctions.describe_state_machine(stateMachineArn=arn)["definition"]
                cache[arn] = count_states(json.loads(definition))
            executions.append((sums.get(f"sfn{i}", 0.0), cache[arn]))
    except (ClientError, BotoCoreError) as err:
        raise OwnCostError(f"reading the stack's own usage failed: {err}") from err
    return OwnUsage(
        custom_metrics=custom,
        insights_metrics=by_schema,
        alarms=alarms,
        log_bytes_per_day=sum(sums.get(f"logs{i}", 0.0) for i in range(len(settings.log_groups))),
        metering_invocations_per_day=sums.get("invocations", 0.0),
        metering_ms_per_day=sums.get("duration", 0.0),
        executions_per_day=executions,
    )


def _insights_metrics(by_schema: Mapping[str, int]) -> Any:
    def count(query: str) -> int:
        read = schema_of(query)
        if read is None:
            return 1
        return by_schema.get(f"{read[0]}|{','.join(sorted(read[1]))}", 0)

    return count


def own_monthly_bill(settings: OwnCostSettings, usage: OwnUsage) -> Bill:
    """This month's bill at the rate of the last 24 hours (and the inventory of the last 3)."""
    alarms = costmodel.total_alarm_units(usage.alarms, _insights_metrics(usage.insights_metrics))
    alarms = alarms + costmodel.AlarmUnits(
        composites=settings.composite_alarms, alarms=settings.composite_alarms
    )
    executions = sum(count for count, _ in usage.executions_per_day)
    transitions = sum(count * states for count, states in usage.executions_per_day)
    ingested = usage.log_bytes_per_day * DAYS_PER_MONTH / GB
    own_metrics = own_usage_metric_count(len(settings.log_groups), len(settings.state_machines))
    other_runs = executions * FUNCTIONS_PER_EXECUTION
    return costmodel.monthly_bill(
        Usage(
            custom_metric_months=float(usage.custom_metrics),
            alarms=alarms,
            dashboards=settings.dashboards,
            log_ingested_gb=ingested,
            log_stored_gb=usage.log_bytes_per_day * settings.retention_days / GB,
            lambda_requests=(usage.metering_invocations_per_day + settings.guard_runs_per_day + other_runs)
            * DAYS_PER_MONTH,
            lambda_gb_seconds=(
                usage.metering_ms_per_day / 1000
                + settings.guard_runs_per_day * GUARD_SECONDS_PER_RUN
                + other_runs * OTHER_FUNCTION_SECONDS
            )
            * LAMBDA_GB
            * DAYS_PER_MONTH,
            state_transitions=transitions * DAYS_PER_MONTH,
            get_metric_data_metrics=(settings.guard_runs_per_day + 24 * own_metrics) * DAYS_PER_MONTH,
            api_requests=24 * DAYS_PER_MONTH * 3,
        )
    )


def own_cost_document(bill: Bill, namespace: str, now: datetime) -> dict[str, Any]:
    """OwnMonthlyCostUSD as an EMF document (dimension set []), with the bill's lines as fields."""
    document: dict[str, Any] = {
        "_aws": emf_metadata(namespace, int(now.timestamp() * 1000), (OWN_COST_METRIC,)),
        OWN_COST_METRIC: round(bill.total, 4),
    }
    for line in bill.lines:
        document[f"cost.{line.item}"] = round(line.usd, 4)
    return document
