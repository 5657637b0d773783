"""The price sync in the sandbox: template.yaml's stack on moto, the Price List faked with the API
reference's answer shape (sandbox.fake_pricing). A changed price reaches the meter through S3, a
wild change is held and alarms, a failed sync alarms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.events import load_event
from sandbox.fake_pricing import price_list
from sandbox.metrics import MetricKey
from sandbox.runtime import Sandbox, running
from sandbox.stack import template_subset
from sandbox.template import load_template

pytestmark = pytest.mark.integration

# Ten minutes before a midnight in the past: the sync's alarms read daily periods, and the sandbox
# (like CloudWatch) evaluates complete periods, so the day closes within the test.
# The slice of template.yaml this needs: the meter, the price sync, its bucket and its alarms.
TEMPLATE = template_subset(
    load_template(), ("InvocationMetrics", "PriceSync", "PriceData", "PricesStale", "PriceChangesHeld")
)
START = (datetime.now(UTC) - timedelta(days=1)).replace(hour=23, minute=50, second=0, microsecond=0)


def invoke(sb: Sandbox, logical_id: str) -> dict[str, Any]:
    event = json.dumps({"now": sb.clock.now().isoformat()}).encode()
    answer = sb.stack.client("lambda").invoke(FunctionName=sb.stack.function_name(logical_id), Payload=event)
    payload: dict[str, Any] = json.loads(answer["Payload"].read() or b"{}")
    return {"error": answer.get("FunctionError"), **payload}


def meter_one_nova_pro_call(sb: Sandbox) -> float:
    """One Converse call to Nova Pro in us-east-1 (1 000 in, 100 out) through the invocation log;
    the meter's CostUSD for it."""
    record = load_event("metering/record-converse")
    record.update(modelId="amazon.nova-pro-v1:0", requestId="7e57c0de-0000-4000-8000-000000000001")
    record["input"]["inputTokenCount"] = 1000
    record["output"]["outputTokenCount"] = 100
    logs, group = sb.stack.client("logs"), str(sb.stack.parameters["InvocationLogGroupName"])
    logs.create_log_stream(logGroupName=group, logStreamName="aws/bedrock/modelinvocations")
    at = int(sb.clock.now().timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="aws/bedrock/modelinvocations",
        logEvents=[{"timestamp": at, "message": json.dumps(record)}],
    )
    key = MetricKey.of(str(sb.stack.parameters["MetricsNamespace"]), "CostUSD")
    return (
        sb.store.statistic(
            key, "Sum", sb.clock.now() - timedelta(minutes=5), sb.clock.now() + timedelta(minutes=5)
        )
        or 0.0
    )


def test_a_synced_price_reaches_the_meter_and_a_wild_one_is_held_for_review() -> None:
    with price_list(), running(template=TEMPLATE, start=START) as sb:
        stack = sb.stack.stack_name
        # Given the Price List lists Nova Pro input at 0.70 (shipped 0.80) and Sonnet 4.5 output x3
        # When the daily sync runs
        answer = invoke(sb, "PriceSyncFunction")
        # Then the changed price is applied, the wild one held, and the document is in S3
        assert answer["error"] is None
        assert [c["model"] for c in answer["applied"]] == ["amazon.nova-pro-v1:0"]
        assert [(h["model"], h["component"]) for h in answer["held"]] == [
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", "output")
        ]
        bucket = sb.stack.physical_id("PriceDataBucket")
        stored = json.loads(
            sb.stack.client("s3").get_object(Bucket=bucket, Key="prices/synced.json")["Body"].read()
        )
        assert stored["models"]["amazon.nova-pro-v1:0"]["regions"]["us-east-1"] == {"input": 0.7}
        # When the meter prices a Nova Pro call, it uses the synced input price
        assert meter_one_nova_pro_call(sb) == pytest.approx((1000 * 0.70 + 100 * 3.20) / 1e6, abs=1e-9)
        # and once the day closes, the held change alarms for review while the prices are fresh
        sb.advance(15 * 60)
        assert sb.evaluator.state(f"{stack}.price-changes-held") == "ALARM"
        assert sb.evaluator.state(f"{stack}.prices-stale") == "OK"


def test_a_failed_sync_fires_the_stale_prices_alarm() -> None:
    with price_list() as fake, running(template=TEMPLATE, start=START) as sb:
        # Given the Price List fails
        fake.fail("ThrottlingException")
        # When the sync runs, it fails and says so
        failed = invoke(sb, "PriceSyncFunction")
        assert failed["error"]  # the invocation failed (moto says "Handled", Lambda "Unhandled")
        assert "PriceSyncError" in json.dumps(failed)
        # Then once the day closes, the stale-prices alarm fires; nothing was held
        sb.advance(15 * 60)
        assert sb.evaluator.state(f"{sb.stack.stack_name}.prices-stale") == "ALARM"
        assert sb.evaluator.state(f"{sb.stack.stack_name}.price-changes-held") == "OK"
