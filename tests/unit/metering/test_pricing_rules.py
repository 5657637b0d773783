"""Issue 12 pricing rules, each to 1e-9 USD against a hand-computed figure (USD per 1M tokens):
Converse/ConverseStream cache TTL split, every profile prefix, input that includes cached tokens,
served vs requested tier, long context, and a price table whose every entry names its source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bedrock_watch.errors import ConfigurationError
from bedrock_watch.pricing import PRICES_FILE, PriceBook
from bedrock_watch.records import GEO_PREFIXES, InvocationRecord, parse_line, parse_model_id
from sandbox.events import load_event
from scripts.make_events import message_of
from tests.unit.metering.conftest import sample

M = 1_000_000


def record_for(model_id: str, region: str = "us-east-1", **fields: Any) -> InvocationRecord:
    return InvocationRecord("r", 0, "Converse", parse_model_id(model_id), region, None, None, **fields)


def cost(book: PriceBook, record: InvocationRecord) -> float | None:
    return book.cost(record, record.model)


# ---- cache TTLs in Converse and ConverseStream ------------------------------------------------


def test_converse_prices_1h_and_5m_cache_writes_of_one_request_at_their_own_rates(book: PriceBook) -> None:
    # Given a Converse record whose usage.cacheDetails splits 5 000 writes into 3 000 1h + 2 000 5m
    record = sample("converse-cache-ttl")
    # Then the 1-hour share is read from cacheDetails
    assert (record.cache_write_tokens, record.cache_write_1h_tokens) == (5000, 3000)
    # And Haiku 4.5 (global.) prices 800 in, 1 000 read, 2 000 5m, 3 000 1h, 200 out
    expected = (800 * 1 + 1000 * 0.10 + 2000 * 1.25 + 3000 * 2.0 + 200 * 5) / M
    assert cost(book, record) == pytest.approx(expected, abs=1e-9)


def test_converse_stream_metadata_event_carries_the_ttl_split(book: PriceBook) -> None:
    record = sample("converse-stream-cache-ttl")
    assert (record.cache_write_tokens, record.cache_write_1h_tokens) == (4000, 1500)
    # Sonnet 4.5 through us.: +10 % on 1 200 in, 2 500 5m at 3.75, 1 500 1h at 6, 300 out
    expected = (1200 * 3 + 2500 * 3.75 + 1500 * 6 + 300 * 15) * 1.1 / M
    assert cost(book, record) == pytest.approx(expected, abs=1e-9)


def test_converse_stream_chunk_list_with_a_metadata_event_is_read_too(book: PriceBook) -> None:
    message = json.loads(message_of(load_event("metering/record-converse-stream-cache-ttl")))
    body = message["output"]["outputBodyJson"]
    message["output"]["outputBodyJson"] = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "hi"}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {**body["metadata"], "serviceTier": {"type": "default"}}},
    ]
    record = parse_line(json.dumps(message), timestamp_ms=0)
    assert isinstance(record, InvocationRecord)
    assert (record.cache_write_1h_tokens, record.stop_reason, record.service_tier) == (
        1500,
        "end_turn",
        "default",
    )


def test_a_1h_split_larger_than_the_logged_cache_writes_is_clamped() -> None:
    message = json.loads(message_of(load_event("metering/record-converse-cache-ttl")))
    message["output"]["outputBodyJson"]["usage"]["cacheDetails"] = [{"ttl": "1h", "inputTokens": 99_999}]
    record = parse_line(json.dumps(message), timestamp_ms=0)
    assert isinstance(record, InvocationRecord)
    assert record.cache_write_1h_tokens == 5000


# ---- every profile prefix ---------------------------------------------------------------------

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA_2_LITE = "amazon.nova-2-lite-v1:0"


@pytest.mark.parametrize("prefix", [*sorted(GEO_PREFIXES), "global", None])
@pytest.mark.parametrize(
    ("base", "rates", "surcharge"),
    [
        (SONNET_45, (3.0, 0.30, 3.75, 6.0, 15.0), 0.10),
        (NOVA_2_LITE, (0.30, 0.075, 0.30, 0.60, 2.50), 0.10),  # 1h: 2x input (no stated rate)
        ("anthropic.claude-3-7-sonnet-20250219-v1:0", (3.0, 0.30, 3.75, 6.0, 15.0), 0.0),
        ("meta.llama3-3-70b-instruct-v1:0", (0.72, None, None, None, 0.72), 0.0),
    ],
)
def test_each_profile_prefix_is_priced_by_its_rule(
    book: PriceBook, prefix: str | None, base: str, rates: tuple[float | None, ...], surcharge: float
) -> None:
    model_id = base if prefix is None else f"{prefix}.{base}"
    inp, read, write_5m, write_1h, out = rates
    caches = read is not None
    record = record_for(
        model_id,
        input_tokens=1000,
        cache_read_tokens=2000 if caches else 0,
        cache_write_tokens=700 if caches else 0,
        cache_write_1h_tokens=300 if caches else 0,
        output_tokens=400,
    )
    expected = 1000 * inp + 400 * out  # type: ignore[operator]
    if caches:
        expected += 2000 * read + 400 * write_5m + 300 * write_1h  # type: ignore[operator]
    factor = 1 + surcharge if prefix in GEO_PREFIXES else 1.0
    assert cost(book, record) == pytest.approx(expected * factor / M, abs=1e-9)


def test_a_profile_price_and_a_regional_price_replace_the_rule() -> None:
    # Given an entry whose jp. profile and eu-west-1 region have prices of their own
    book = PriceBook.load(
        {
            SONNET_45: {
                "profiles": {"jp": {"input": 3.2, "output": 16.0}},
                "regions": {"eu-west-1": {"input": 3.1}},
            }
        }
    )
    tokens = {"input_tokens": 1000, "output_tokens": 100}
    # Then jp. pays its own price, no surcharge on top
    assert cost(book, record_for(f"jp.{SONNET_45}", "ap-northeast-1", **tokens)) == pytest.approx(
        (1000 * 3.2 + 100 * 16.0) / M, abs=1e-9
    )
    # And a call made in eu-west-1 pays that region's input price (output unchanged), +10 % via eu.
    assert cost(book, record_for(f"eu.{SONNET_45}", "eu-west-1", **tokens)) == pytest.approx(
        (1000 * 3.1 + 100 * 15.0) * 1.1 / M, abs=1e-9
    )
    assert cost(book, record_for(SONNET_45, "eu-west-1", **tokens)) == pytest.approx(
        (1000 * 3.1 + 100 * 15.0) / M, abs=1e-9
    )


# ---- input that includes cached tokens ------------------------------------------------------


def test_input_that_includes_cache_reads_is_not_charged_twice(book: PriceBook) -> None:
    record = sample("input-includes-cache")
    # 5 000 logged input tokens hold the 4 000 cache reads: 1 000 uncached at 2.75, 4 000 at 0.275
    expected = (1000 * 2.75 + 4000 * 0.275 + 250 * 16.5) / M
    assert cost(book, record) == pytest.approx(expected, abs=1e-9)
    assert book.input_includes_cache_read(record.model)


# ---- service tiers ----------------------------------------------------------------------------


def test_the_served_tier_is_priced_not_the_requested_one(book: PriceBook) -> None:
    record = sample("served-tier")  # asked for flex, served at default
    assert (record.service_tier, record.service_tier_requested) == ("default", False)
    assert cost(book, record) == pytest.approx((600 * 0.15 + 100 * 0.60) / M, abs=1e-9)


def test_the_requested_tier_is_priced_when_no_served_tier_is_logged_and_flagged(book: PriceBook) -> None:
    record = sample("requested-tier")  # asked for priority, nothing served logged
    assert (record.service_tier, record.service_tier_requested) == ("priority", True)
    assert cost(book, record) == pytest.approx((600 * 0.2625 + 100 * 1.05) / M, abs=1e-9)


@pytest.mark.parametrize(
    ("tier", "expected"), [("flex", (1000 * 0.075 + 100 * 0.30) / M), ("reserved", None)]
)
def test_tier_prices_come_from_the_models_entry(book: PriceBook, tier: str, expected: float | None) -> None:
    record = record_for("openai.gpt-oss-120b-1:0", input_tokens=1000, output_tokens=100, service_tier=tier)
    result = cost(book, record)
    assert result == (None if expected is None else pytest.approx(expected, abs=1e-9))


def test_a_tier_the_model_lists_no_price_for_is_unpriced_not_standard(book: PriceBook) -> None:
    record = record_for(f"global.{SONNET_45}", input_tokens=1000, output_tokens=100, service_tier="flex")
    assert cost(book, record) is None


# ---- long context -----------------------------------------------------------------------------

LONG_CONTEXT_MODELS = sorted(
    model for model, rates in PriceBook.load().entries().items() if rates.long_context_above is not None
)


def test_the_long_context_models_are_sonnet_4_and_4_5() -> None:
    assert LONG_CONTEXT_MODELS == ["anthropic.claude-sonnet-4-20250514-v1:0", SONNET_45]


@pytest.mark.parametrize("model_id", LONG_CONTEXT_MODELS)
@pytest.mark.parametrize(("cache_read", "long"), [(150_000, False), (150_001, True)])
def test_long_context_threshold_counts_cache_tokens(
    book: PriceBook, model_id: str, cache_read: int, long: bool
) -> None:
    # 30 000 uncached + 20 000 cache writes + cache reads: 200 000 exactly is still standard
    record = record_for(
        f"global.{model_id}",
        input_tokens=30_000,
        cache_read_tokens=cache_read,
        cache_write_tokens=20_000,
        output_tokens=2_000,
    )
    input_side = 30_000 * 3 + cache_read * 0.30 + 20_000 * 3.75
    expected = input_side * 2 + 2_000 * 15 * 1.5 if long else input_side + 2_000 * 15
    assert cost(book, record) == pytest.approx(expected / M, abs=1e-9)


def test_a_threshold_that_does_not_count_cache_tokens() -> None:
    book = PriceBook.load(
        {
            "acme.long-v1:0": {
                "input": 1,
                "output": 2,
                "cache_read": 0.1,
                "long_context": {
                    "above_input_tokens": 1000,
                    "input_factor": 2,
                    "output_factor": 3,
                    "counts_cache": False,
                },
            }
        }
    )
    short = record_for("acme.long-v1:0", input_tokens=1000, cache_read_tokens=5000, output_tokens=10)
    assert cost(book, short) == pytest.approx((1000 * 1 + 5000 * 0.1 + 10 * 2) / M, abs=1e-9)


# ---- the price table --------------------------------------------------------------------------

# Every model family issue 12 names, by the base ids Bedrock sells them under.
NAMED_MODELS = [
    "openai.gpt-oss-120b-1:0",
    "openai.gpt-oss-20b-1:0",
    "deepseek.r1-v1:0",
    "deepseek.v3-v1:0",
    "deepseek.v3.2",
    "qwen.qwen3-32b-v1:0",
    "qwen.qwen3-235b-a22b-2507-v1:0",
    "qwen.qwen3-coder-30b-a3b-v1:0",
    "mistral.mistral-large-3-675b-instruct",
    "mistral.ministral-3-3b-instruct",
    "mistral.ministral-3-8b-instruct",
    "mistral.ministral-3-14b-instruct",
    "meta.llama4-maverick-17b-instruct-v1:0",
    "meta.llama4-scout-17b-instruct-v1:0",
    "cohere.command-r-plus-v1:0",
    "cohere.command-r-v1:0",
    "cohere.embed-english-v3",
    "cohere.embed-multilingual-v3",
    "ai21.jamba-1-5-large-v1:0",
    "ai21.jamba-1-5-mini-v1:0",
    "writer.palmyra-x4-v1:0",
    "writer.palmyra-x5-v1:0",
    "amazon.nova-2-lite-v1:0",
    "amazon.nova-2-multimodal-embeddings-v1:0",
    "amazon.titan-embed-text-v1",
    "amazon.titan-embed-text-v2:0",
    SONNET_45,
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-opus-4-7",
    "amazon.nova-pro-v1:0",
    "amazon.nova-micro-v1:0",
]


@pytest.mark.parametrize("model_id", NAMED_MODELS)
def test_every_named_model_has_a_price_a_source_and_a_date(book: PriceBook, model_id: str) -> None:
    rates = book.entries().get(model_id)
    assert rates is not None, f"{model_id} missing from prices.json"
    assert rates.source.strip(), model_id
    assert len(rates.read) == 10, model_id
    assert rates.read.startswith("20"), model_id


def test_every_shipped_entry_names_its_source_and_date() -> None:
    models = json.loads(PRICES_FILE.read_text())["models"]
    missing = [m for m, e in models.items() if not e.get("source") or not e.get("read")]
    assert missing == []


@pytest.mark.parametrize(("drop", "field"), [("source", "'source'"), ("read", "'read'")])
def test_a_shipped_entry_without_source_or_date_fails_to_load(tmp_path: Path, drop: str, field: str) -> None:
    shipped = json.loads(PRICES_FILE.read_text())
    del shipped["models"]["amazon.nova-pro-v1:0"][drop]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(shipped))
    with pytest.raises(ConfigurationError) as err:
        PriceBook.load(path=path)
    assert "amazon.nova-pro-v1:0" in str(err.value)
    assert field in str(err.value)


def test_an_unknown_model_stays_unpriced(book: PriceBook) -> None:
    assert cost(book, record_for("acme.brand-new-model-v1:0", input_tokens=10)) is None


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (
            {"acme.m": {"input": 1, "output": 1, "tiers": {"priority": {"input": 2}}}},
            ["'tiers.priority.output'"],
        ),
        (
            {"acme.m": {"input": 1, "output": 1, "tiers": {"default": {"input": 2, "output": 2}}}},
            ["'tiers.default'"],
        ),
        ({"acme.m": {"input": 1, "output": 1, "regions": {"moon-1": {"input": 2}}}}, ["'regions.moon-1'"]),
        (
            {"acme.m": {"input": 1, "output": 1, "regions": {"eu-west-1": {"inptu": 2}}}},
            ["'regions.eu-west-1.inptu'"],
        ),
        ({"acme.m": {"input": 1, "output": 1, "profiles": {"global": {"input": 2}}}}, ["'profiles.global'"]),
        (
            {"acme.m": {"input": 1, "output": 1, "input_includes_cache_read": "yes"}},
            ["'input_includes_cache_read'"],
        ),
        ({"acme.m": {"input": 1, "output": 1, "kind": "image"}}, ["'kind'"]),
    ],
)
def test_malformed_new_fields_name_the_model_and_field(overrides: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(ConfigurationError) as err:
        PriceBook.load(overrides)
    for name in ["acme.m", *names]:
        assert name in str(err.value)
