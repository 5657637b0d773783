"""The daily bill check: Cost Explorer's documented GetCostAndUsage answer (botocore Stubber)
against the meter's CostUSD; drift per family and overall; the console CSV export read alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from bedrock_watch.billing import (
    BATCH,
    MANTLE,
    OVERALL,
    BillLine,
    bill_lines,
    compare,
    cost_explorer_request,
    emf_documents,
    family_of_model,
    family_of_usage,
    kind_of_usage,
    parse_cost_explorer_csv,
    read_bill,
    settled_day,
)
from bedrock_watch.errors import ConfigurationError
from sandbox.events import load_event

DAY = date(2026, 11, 28)
NOW = datetime(2026, 12, 1, 7, 40, tzinfo=UTC)
ANSWER = load_event("billing/get-cost-and-usage")


def test_only_a_day_older_than_the_settle_time_is_compared() -> None:
    assert settled_day(NOW, 48) == DAY  # 07:40 on the 1st minus 48 h is the 29th: the 28th ended
    assert settled_day(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), 48) == date(2026, 11, 28)


@pytest.mark.parametrize(
    ("service", "usage_type", "family", "kind"),
    [
        ("Amazon Bedrock", "USE1-NovaPro-input-tokens", "amazon", "on-demand tokens"),
        (
            "Amazon Bedrock",
            "USE1-Claude4.5Sonnet-cache-read-input-token-count",
            "anthropic",
            "on-demand tokens",
        ),
        ("Amazon Bedrock", "USE1-Llama3.3-70B-output-tokens", "meta", "on-demand tokens"),
        ("Amazon Bedrock", "USE1-gpt-oss-120b-mantle-input-tokens-standard", "openai", MANTLE),
        ("Amazon Bedrock", "USE1-NovaPro-batch-input-tokens", "amazon", BATCH),
        (
            "Claude Sonnet 4.5 (Amazon Bedrock Edition)",
            "USE1-MP:USE1_InputTokenCount-Units",
            "anthropic",
            "on-demand tokens",
        ),
        ("Amazon Bedrock", "USE1-Guardrails-TextUnits", "other", "other Bedrock charges"),
    ],
)
def test_usage_types_are_read_as_family_and_kind(
    service: str, usage_type: str, family: str, kind: str
) -> None:
    assert (family_of_usage(service, usage_type), kind_of_usage(usage_type)) == (family, kind)


def test_metered_model_ids_map_to_their_provider_family() -> None:
    assert family_of_model("anthropic.claude-sonnet-4-5-20250929-v1:0") == "anthropic"
    assert family_of_model("amazon.nova-pro-v1:0") == "amazon"
    assert family_of_model("arn:aws:bedrock:us-east-1:1:application-inference-profile/x") == "other"


def test_one_cost_explorer_request_reads_the_documented_answer() -> None:
    # Given Cost Explorer answers with the API reference's shape (ResultsByTime, Groups, Keys)
    client = boto3.client("ce", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response(
        "get_cost_and_usage", ANSWER["response"], cost_explorer_request(["Amazon Bedrock"], "us-east-1", DAY)
    )
    stubber.activate()
    # When the bill is read: exactly one request
    lines = read_bill(client, ["Amazon Bedrock"], "us-east-1", DAY)
    stubber.assert_no_pending_responses()
    # Then every group is a line of its day
    assert {line.day for line in lines} == {date(2026, 11, 27), DAY}
    assert sum(line.usd for line in lines if line.day == DAY) == pytest.approx(12.80)


def test_drift_per_family_and_overall_with_what_the_meter_cannot_see_reported_apart() -> None:
    # Given the bill of the 28th: amazon 6.00 + anthropic 5.50 on-demand, 0.80 batch, 0.50 mantle
    lines = bill_lines(ANSWER["response"])
    # and the meter counted amazon 6.60 (+10 %) and anthropic 5.50
    metered = {"amazon.nova-pro-v1:0": 6.60, "anthropic.claude-sonnet-4-5-20250929-v1:0": 5.50}
    check = compare(DAY, lines, metered, metered_total=12.10)
    drifts = {d.family: d for d in check.drifts}
    # Then amazon drifts +10 %, anthropic 0 %, overall 100 x (12.10 - 11.50) / 11.50
    assert drifts["amazon"].percent == pytest.approx(10.0)
    assert drifts["anthropic"].percent == pytest.approx(0.0)
    assert drifts[OVERALL].percent == pytest.approx(100 * 0.60 / 11.50)
    # and batch and mantle spend is reported beside the drift, never inside it
    assert check.outside_meter == {BATCH: pytest.approx(0.80), MANTLE: pytest.approx(0.50)}
    # and the overall drift is EMF (BillingDriftPercent at []), each family a plain log line
    documents = emf_documents(check, "NS", NOW)
    assert [d.get("ModelFamily", "all") for d in documents] == ["amazon", "anthropic", "all"]
    assert [("_aws" in d) for d in documents] == [False, False, True]
    assert documents[-1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert {d["SettledDay"] for d in documents} == {"2026-11-28"}


def test_without_per_model_cost_only_the_whole_stack_is_compared() -> None:
    check = compare(DAY, bill_lines(ANSWER["response"]), {}, metered_total=12.65)
    assert [(d.family, round(d.percent or 0, 6)) for d in check.drifts] == [(OVERALL, 10.0)]


def test_a_family_only_the_meter_saw_drifts_by_100_percent_and_no_spend_is_no_datapoint() -> None:
    check = compare(DAY, [], {"meta.llama3-3-70b-instruct-v1:0": 1.0}, metered_total=1.0)
    assert {d.family: d.percent for d in check.drifts} == {"meta": 100.0, OVERALL: 100.0}
    assert emf_documents(compare(DAY, [], {}, 0.0), "NS", NOW) == []


CSV = """Usage type,USE1-NovaPro-input-tokens($),USE1-NovaPro-output-tokens($),\
USE1-NovaPro-batch-input-tokens($),Total costs($)
Usage type total,7.00,3.00,1.00,11.00
2026-11-27,3.00,1.00,0.50,4.50
2026-11-28,4.00,2.00,0.50,6.50
"""


def test_the_console_csv_export_reads_into_the_same_lines() -> None:
    lines = parse_cost_explorer_csv(CSV)
    assert BillLine(DAY, "Amazon Bedrock", "USE1-NovaPro-output-tokens", 2.00) in lines
    check = compare(DAY, lines, {"amazon.nova-pro-v1:0": 6.6}, 6.6)
    assert {d.family: round(d.percent or 0, 6) for d in check.drifts} == {"amazon": 10.0, OVERALL: 10.0}
    assert check.outside_meter == {BATCH: 0.5}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", ["no header"]),
        ("Usage type,A($)\n2026-13-01,1\n", ["row 2", "2026-13-01"]),
        ("Usage type,A($)\n2026-11-01,cheap\n", ["row 2", "'A'", "cheap"]),
    ],
)
def test_a_bad_csv_names_the_row_and_column(text: str, names: list[str]) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_cost_explorer_csv(text)
    for name in names:
        assert name in str(err.value)


def stubbed_cloudwatch(models: dict[str, list[float]], total: list[float]) -> Any:
    client = boto3.client("cloudwatch", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response(
        "list_metrics",
        {
            "Metrics": [
                {"Namespace": "NS", "MetricName": "CostUSD", "Dimensions": [{"Name": "ModelId", "Value": m}]}
                for m in models
            ]
        },
    )
    results = [{"Id": "total", "Values": total, "Timestamps": [NOW] * len(total), "StatusCode": "Complete"}]
    results += [
        {"Id": f"m{i}", "Values": v, "Timestamps": [NOW] * len(v), "StatusCode": "Complete"}
        for i, (_, v) in enumerate(sorted(models.items()))
    ]
    stubber.add_response("get_metric_data", {"MetricDataResults": results})
    stubber.activate()
    return client


def test_the_meters_day_comes_from_cloudwatch_per_model_and_in_total() -> None:
    from bedrock_watch.billing import metered_day

    client = stubbed_cloudwatch({"amazon.nova-pro-v1:0": [6.6], "anthropic.claude-x": [5.5]}, [12.1])
    per_model, total = metered_day(client, "NS", DAY)
    assert per_model == {"amazon.nova-pro-v1:0": 6.6, "anthropic.claude-x": 5.5}
    assert total == pytest.approx(12.1)
