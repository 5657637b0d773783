"""invocation_metrics end to end on moto: records written to the invocation log group reach the
real handler through a real subscription filter, and its EMF lands in the function's log group."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from sandbox.metering import MeteringStack, deploy_metering, function_environment
from sandbox.metrics import read_emf
from sandbox.replay import rebase
from sandbox.shims import INVOCATIONS, Invocation
from sandbox.template import load_template
from sandbox.traffic import DEFAULT_MARKER, PROFILE_MAP, SETUP_LINE, TrafficProfile, generate

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(aws: None) -> MeteringStack:
    return deploy_metering(
        {"InferenceProfileMap": json.dumps(PROFILE_MAP), "MetricsNamespace": "Drill/Bedrock"}
    )


def live_traffic(requests: int, **knobs: Any) -> list[dict[str, Any]]:
    events = generate(TrafficProfile(requests=requests, duration_s=120, **knobs))
    return rebase(events, int(time.time() * 1000) - 5_000)


def test_records_put_in_the_log_group_are_metered_by_the_subscribed_function(stack: MeteringStack) -> None:
    # Given the function subscribed to the invocation log group with the template's filter pattern
    logs = boto3.client("logs")
    (subscription,) = logs.describe_subscription_filters(logGroupName=stack.invocation_log_group)[
        "subscriptionFilters"
    ]
    template_filter = load_template()["Resources"]["InvocationMetricsFunction"]["Properties"]["Events"]
    assert subscription["filterPattern"] == template_filter["InvocationLogs"]["Properties"]["FilterPattern"]
    assert subscription["destinationArn"] == stack.function_arn
    # When Bedrock writes two batches of records (one of them led by the logging set-up line)
    first, second = live_traffic(150), live_traffic(120, seed=8)
    stack.write_invocation_logs([{"timestamp": first[0]["timestamp"], "message": SETUP_LINE}, *first])
    stack.write_invocation_logs(second)
    # Then the function's log group holds EMF whose sums match what was written
    output = stack.function_output()
    store = read_emf(["\n".join(output)])
    assert store.get("Drill/Bedrock", "Requests").sum == 270
    errors = sum('"errorCode"' in e["message"] for e in first + second)
    assert store.get("Drill/Bedrock", "Errors").sum == errors
    output_tokens = sum(
        json.loads(e["message"]).get("output", {}).get("outputTokenCount", 0) for e in first + second
    )
    assert store.get("Drill/Bedrock", "OutputTokens").sum == output_tokens
    assert store.get("Drill/Bedrock", "MalformedRecords").values == []
    # and each delivery was one invocation, whose summary (also logged) counts the set-up line
    summaries = [i.result for i in INVOCATIONS if i.function_name == stack.function_name]
    assert [s["records"] for s in summaries] == [150, 120]
    assert [s["skipped"] for s in summaries] == [1, 0]
    assert any('"metered batch"' in line for line in output)
    assert all(DEFAULT_MARKER not in line for line in output)


def test_the_function_runs_with_the_template_environment(stack: MeteringStack) -> None:
    config = boto3.client("lambda").get_function_configuration(FunctionName=stack.function_name)
    expected = function_environment(
        parameters={"InferenceProfileMap": json.dumps(PROFILE_MAP), "MetricsNamespace": "Drill/Bedrock"}
    )
    # The rendering stands a resource's logical id in for its Ref; the deployed bucket has its name.
    assert expected["PRICE_DOCUMENT_BUCKET"] == "PriceDataBucket"
    expected["PRICE_DOCUMENT_BUCKET"] = stack.stack.physical_id("PriceDataBucket")
    assert config["Environment"]["Variables"] == expected
    assert expected["METRICS_NAMESPACE"] == "Drill/Bedrock"
    assert config["Handler"] == "app.lambda_handler"


def test_an_undecodable_delivery_fails_the_invocation_with_envelope_error(stack: MeteringStack) -> None:
    # Given a delivery whose data is not base64(gzip(JSON))
    boto3.client("lambda").invoke(
        FunctionName=stack.function_name,
        InvocationType="RequestResponse",
        Payload=json.dumps({"awslogs": {"data": "bm90IGd6aXA="}}).encode(),
    )
    # Then the function fails with the named error Lambda's retry and on-failure queue act on
    last: Invocation = INVOCATIONS[-1]
    assert last.error_type == "EnvelopeError"
    assert "gzip" in last.result["errorMessage"]
