"""The daily bill check in the sandbox: template.yaml's bill-check slice on moto, Cost Explorer
answered by moto from queued results in the API's shape. Two settled days whose bill differs from
the meter by 10 % fire billing-drift; a day within the threshold does not."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bedrock_watch.billing import settled_day
from sandbox.cost_explorer import cost_and_usage, queue_bills
from sandbox.runtime import Sandbox, running
from sandbox.stack import template_subset
from sandbox.template import load_template

pytestmark = pytest.mark.integration

TEMPLATE = template_subset(load_template(), ("BillCheck", "BillingDrift"))
# 23:50, two days back: the alarm reads daily periods, and the second run must still lie in the past.
START = (datetime.now(UTC) - timedelta(days=2)).replace(hour=23, minute=50, second=0, microsecond=0)
NOVA = "amazon.nova-pro-v1:0"


def meter_spent(sb: Sandbox, day: date, usd: float) -> None:
    """What the meter published for `day`: CostUSD at [] and [ModelId]."""
    namespace = str(sb.stack.parameters["MetricsNamespace"])
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    sb.store.seed(namespace, "CostUSD", usd, timestamp=noon)
    sb.store.seed(namespace, "CostUSD", usd, dimensions={"ModelId": NOVA}, timestamp=noon)


def check_the_bill(sb: Sandbox) -> dict[str, Any]:
    event = json.dumps({"now": sb.clock.now().isoformat()}).encode()
    answer = sb.stack.client("lambda").invoke(
        FunctionName=sb.stack.function_name("BillCheckFunction"), Payload=event
    )
    assert answer.get("FunctionError") is None, answer["Payload"].read()
    result: dict[str, Any] = json.loads(answer["Payload"].read())
    return result


@pytest.mark.parametrize(("second_day_metered", "state"), [(11.0, "ALARM"), (10.2, "OK")])
def test_two_settled_days_10_percent_off_the_bill_fire_billing_drift(
    second_day_metered: float, state: str
) -> None:
    with running(template=TEMPLATE, start=START) as sb:
        first = settled_day(sb.clock.now(), 48)
        second = first + timedelta(days=1)
        # Given the bill lists $10 of Nova Pro tokens on each settled day (and batch on the first)
        bills = [
            cost_and_usage(
                {
                    first: {
                        "USE1-NovaPro-input-tokens": 6.0,
                        "USE1-NovaPro-output-tokens": 4.0,
                        "USE1-NovaPro-batch-input-tokens": 2.0,
                    }
                }
            ),
            cost_and_usage({second: {"USE1-NovaPro-input-tokens": 7.0, "USE1-NovaPro-output-tokens": 3.0}}),
        ]
        queue_bills(bills)
        # and the meter counted $11 (+10 %) on the first day
        meter_spent(sb, first, 11.0)
        meter_spent(sb, second, second_day_metered)
        # When the daily check runs on two days running
        one = check_the_bill(sb)
        sb.clock.advance_to(sb.clock.now() + timedelta(days=1))
        two = check_the_bill(sb)
        # Then each compares its settled day, batch reported apart
        assert (one["day"], two["day"]) == (first.isoformat(), second.isoformat())
        assert one["drifts"]["all"]["drift_percent"] == pytest.approx(10.0)
        assert one["outside_meter_usd"] == {"batch inference": pytest.approx(2.0)}
        assert two["drifts"]["amazon"]["drift_percent"] == pytest.approx(10.0 * (second_day_metered - 10.0))
        # and once the second day closes, billing-drift is ALARM only when both days were off
        sb.advance(15 * 60)
        assert sb.evaluator.state(f"{sb.stack.stack_name}.billing-drift") == state
