"""Price sync: the Price List's documented GetProducts answers (botocore Stubber, validated against
the service model) become the synced price document; wild changes are held; the meter reloads."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from bedrock_watch.pricesync import (
    PriceDocumentStore,
    PriceSource,
    PriceSyncError,
    build_document,
    classify,
    listed_prices,
    metrics_document,
    read_price_list,
)
from bedrock_watch.pricing import PriceBook
from bedrock_watch.records import InvocationRecord, parse_model_id
from sandbox.events import load_event

NOW = datetime(2026, 12, 1, 5, 17, tzinfo=UTC)
PAGES = load_event("pricing/get-products")


def page(service_code: str) -> dict[str, Any]:
    answer = PAGES[service_code]
    return {
        "FormatVersion": answer["FormatVersion"],
        "PriceList": [json.dumps(i) for i in answer["PriceList"]],
    }


def stubbed_pricing(*answers: tuple[str, dict[str, Any] | Exception]) -> tuple[Any, Stubber]:
    client = boto3.client("pricing", region_name="us-east-1")
    stubber = Stubber(client)
    for service_code, answer in answers:
        expected = {
            "ServiceCode": service_code,
            "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"}],
            "FormatVersion": "aws_v1",
            "MaxResults": 100,
        }
        if isinstance(answer, Exception):
            stubber.add_client_error("get_products", "ThrottlingException", expected_params=expected)
        else:
            stubber.add_response("get_products", answer, expected)
    stubber.activate()
    return client, stubber


def nova_pro(tokens_in: int = 1000, tokens_out: int = 100) -> InvocationRecord:
    model = parse_model_id("amazon.nova-pro-v1:0")
    return InvocationRecord(
        "r", 0, "Converse", model, "us-east-1", None, None, tokens_in, 0, 0, 0, tokens_out
    )


@pytest.mark.parametrize(
    ("inference_type", "expected"),
    [
        ("Input tokens", ("input", None)),
        ("Output tokens", ("output", None)),
        ("Cache read input tokens", ("cache_read", None)),
        ("Cache write input tokens", ("cache_write_5m", None)),
        ("Cache write 1h input tokens", ("cache_write_1h", None)),
        ("Priority Input tokens", ("input", "priority")),
        ("Flex Output tokens", ("output", "flex")),
        ("Batch Input tokens", None),
        ("Long Context Input tokens", None),
        ("Provisioned throughput", None),
    ],
)
def test_price_list_inference_types_map_to_price_components(
    inference_type: str, expected: tuple[str, str | None] | None
) -> None:
    assert classify(inference_type) == expected


def test_listed_prices_are_per_million_tokens_whatever_the_unit() -> None:
    prices = {
        p.sku: p.usd_per_million for p in listed_prices(page("AmazonBedrock")["PriceList"], "AmazonBedrock")
    }
    assert prices["NOVAPROIN0001"] == pytest.approx(0.70)  # 0.0007 per 1K tokens
    assert "NOVAPROBAT001" not in prices  # batch is not what the meter prices
    foundation = listed_prices(
        PAGES["AmazonBedrockFoundationModels"]["PriceList"], "AmazonBedrockFoundationModels"
    )
    assert {p.sku: p.usd_per_million for p in foundation}["SONNET45IN001"] == pytest.approx(3.0)  # per 1M


def test_a_changed_price_is_applied_a_wild_one_held_an_unknown_model_reported() -> None:
    # Given the Price List lists Nova Pro input at 0.70 (shipped 0.80) and Sonnet 4.5 output at 45 (15)
    client, stubber = stubbed_pricing(
        ("AmazonBedrock", page("AmazonBedrock")),
        ("AmazonBedrockFoundationModels", page("AmazonBedrockFoundationModels")),
    )
    # When the sync reads it
    result = build_document(read_price_list(client, "us-east-1"), "us-east-1", max_ratio=1.5, now=NOW)
    stubber.assert_no_pending_responses()
    # Then the 12.5 % change is applied, the 3x one is held and reported, Acme Zeta is not invented
    assert [(c.model, c.component, c.new) for c in result.applied] == [("amazon.nova-pro-v1:0", "input", 0.7)]
    assert result.document["held"] == [
        {
            "model": "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "component": "output",
            "old": 15.0,
            "new": 45.0,
            "ratio": 3.0,
        }
    ]
    assert result.unknown_models == ["Acme Zeta"]
    # and the meter, loading the document, prices Nova Pro at the new input rate (output unchanged)
    book = PriceBook.load(synced=result.document)
    record = nova_pro()
    assert book.cost(record, record.model) == pytest.approx((1000 * 0.70 + 100 * 3.20) / 1e6, abs=1e-9)
    # and Sonnet 4.5 keeps its shipped output price
    sonnet = book.entries()["anthropic.claude-sonnet-4-5-20250929-v1:0"]
    assert sonnet.output == 15.0
    # and the synced entry names where it came from and when
    nova = book.entries()["amazon.nova-pro-v1:0"]
    assert (nova.source.startswith("AWS Price List API (AmazonBedrock, sku NOVAPROIN0001)"), nova.read) == (
        True,
        "2026-12-01",
    )


def test_a_failing_price_list_raises_a_named_error() -> None:
    client, _ = stubbed_pricing(("AmazonBedrock", ClientError({}, "GetProducts")))
    with pytest.raises(PriceSyncError, match="AmazonBedrock"):
        read_price_list(client, "us-east-1")


def test_the_sync_metrics_are_the_contracts() -> None:
    document = metrics_document("NS", NOW, age_hours=30.5, failed=True, held=2)
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert (document["PriceAgeHours"], document["PriceSyncFailed"], document["PriceChangesHeld"]) == (
        30.5,
        1,
        2,
    )


class FakeS3:
    """get_object/put_object with ETags and conditional GETs, as S3 answers them."""

    def __init__(self) -> None:
        self.body: bytes | None = None
        self.gets: list[dict[str, Any]] = []
        self.broken = False

    def put_object(self, **kwargs: Any) -> None:
        self.body = kwargs["Body"]

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self.gets.append(kwargs)
        if self.broken:
            raise ClientError({"Error": {"Code": "AccessDenied"}}, "GetObject")
        if self.body is None:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        etag = f'"{hash(self.body)}"'
        if kwargs.get("IfNoneMatch") == etag:
            raise ClientError({"Error": {"Code": "304"}}, "GetObject")
        return {"Body": io.BytesIO(self.body), "ETag": etag}


def test_the_meter_reloads_the_synced_document_when_due_and_keeps_its_prices_when_s3_fails() -> None:
    # Given no synced document yet
    s3, clock = FakeS3(), [0.0]
    source = PriceSource(
        PriceDocumentStore("bucket", client=s3), {}, refresh_seconds=3600, clock=lambda: clock[0]
    )
    record = nova_pro()
    shipped = (1000 * 0.80 + 100 * 3.20) / 1e6
    assert source.current().cost(record, record.model) == pytest.approx(shipped, abs=1e-9)
    # When the sync stores a document, the meter sees it at its next refresh, not before
    client, _ = stubbed_pricing(
        ("AmazonBedrock", page("AmazonBedrock")),
        ("AmazonBedrockFoundationModels", page("AmazonBedrockFoundationModels")),
    )
    PriceDocumentStore("bucket", client=s3).write(
        build_document(read_price_list(client, "us-east-1"), "us-east-1", max_ratio=1.5, now=NOW).document
    )
    clock[0] = 10.0
    assert source.current().cost(record, record.model) == pytest.approx(shipped, abs=1e-9)
    clock[0] = 3601.0
    synced = (1000 * 0.70 + 100 * 3.20) / 1e6
    assert source.current().cost(record, record.model) == pytest.approx(synced, abs=1e-9)
    # and an unchanged document is a conditional GET answered 304 (no body)
    clock[0] = 7300.0
    assert source.current().cost(record, record.model) == pytest.approx(synced, abs=1e-9)
    assert "IfNoneMatch" in s3.gets[-1]
    # and when S3 fails, the prices in use stay and the error is kept for the summary
    s3.broken = True
    clock[0] = 11000.0
    assert source.current().cost(record, record.model) == pytest.approx(synced, abs=1e-9)
    assert source.error is not None
    assert "AccessDenied" in source.error
