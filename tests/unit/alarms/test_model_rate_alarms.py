"""The per-model rate alarms of template.yaml on AWS/Bedrock's own definitions (FACTS §3, the
runtime-metrics page): `Invocations` counts every request Bedrock accepted, those that later
failed with a client or server error included, and no throttled one. So an attempt is an
invocation or a throttle, never both, and errors are already inside Invocations.

The alarms come from the rendered template (defaults) and are evaluated by the sandbox's
CloudWatch evaluator, so a formula that counted errors twice would miss these thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.alarms import ALARM, OK, AlarmEvaluator, MetricAlarm
from sandbox.cfn_expand import render
from sandbox.metrics import MetricStore
from sandbox.template import parameter_defaults

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
MODEL = parameter_defaults()["MonitoredModels"].split(",")[0].split("=")[0]


def alarm(prefix: str) -> MetricAlarm:
    resources = render().resources
    [props] = [r["Properties"] for lid, r in resources.items() if lid.startswith(prefix)]
    return MetricAlarm.from_properties(props, region="us-east-1", account="123456789012")


def evaluate(definition: MetricAlarm, **per_period: float) -> str:
    """The alarm's state after three five-minute periods with these AWS/Bedrock sums each."""
    now = [T0]
    store = MetricStore(lambda: now[0])
    for period in range(3):
        at = T0 + timedelta(minutes=5 * period, seconds=30)
        for name, value in per_period.items():
            store.seed("AWS/Bedrock", name, [value], dimensions={"ModelId": MODEL}, timestamp=at)
    evaluator = AlarmEvaluator([definition], [], store, now=lambda: now[0], update_moto=False)
    now[0] = T0 + timedelta(minutes=15, seconds=10)
    evaluator.evaluate(now[0])
    return evaluator.state(definition.name)


def test_server_errors_are_a_share_of_invocations_which_already_hold_them() -> None:
    # Given 100 accepted requests per period, 2 failing on the server side and 5 on the client side
    server = alarm("ModelServerErrorRateCritical")
    # Then the server-error rate is 2 %: at the 2 % default it pages (2 / 107 would not)
    assert evaluate(server, Invocations=100, InvocationServerErrors=2, InvocationClientErrors=5) == ALARM
    assert evaluate(server, Invocations=100, InvocationServerErrors=1, InvocationClientErrors=5) == OK


def test_throttles_are_a_share_of_invocations_plus_throttles() -> None:
    # Given 95 accepted requests (10 of them client errors) and 5 throttled ones per period
    throttle = alarm("ModelThrottleRateCritical")
    # Then 5 of 100 attempts were throttled: 5 % pages (5 / 110 would not)
    assert evaluate(throttle, Invocations=95, InvocationThrottles=5, InvocationClientErrors=10) == ALARM
    assert evaluate(throttle, Invocations=96, InvocationThrottles=4, InvocationClientErrors=10) == OK


def test_thin_periods_do_not_page_on_a_rate() -> None:
    # fewer attempts than MinRequestsForRate (20): 1 throttle of 3 is not a 33 % outage
    throttle = alarm("ModelThrottleRateCritical")
    assert evaluate(throttle, Invocations=2, InvocationThrottles=1) == OK
    server = alarm("ModelServerErrorRateCritical")
    assert evaluate(server, Invocations=10, InvocationServerErrors=5, InvocationThrottles=50) == OK


def test_client_errors_are_not_read_by_the_rate_alarms() -> None:
    # a caller's bad requests say nothing of the model, and each metric read is billed
    for prefix in ("ModelServerErrorRateCritical", "ModelThrottleRateCritical"):
        names: set[Any] = {q.metric.name for q in alarm(prefix).queries if q.metric is not None}
        assert "InvocationClientErrors" not in names
        assert len(names) == 2
