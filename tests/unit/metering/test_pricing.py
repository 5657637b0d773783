"""PriceBook: the dollars of real-shaped records, hand-computed from FACTS §5 (USD per 1M tokens)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from bedrock_watch.errors import ConfigurationError
from bedrock_watch.pricing import PRICES_FILE, PriceBook, family_key
from bedrock_watch.profiles import ProfileResolver
from bedrock_watch.records import InvocationRecord, parse_model_id
from tests.unit.metering.conftest import sample

M = 1_000_000
ACCT = "123456789012"


def cost_of(book: PriceBook, record: InvocationRecord) -> float | None:
    return book.cost(record, record.model)


def record_for(model_id: str, **tokens: Any) -> InvocationRecord:
    return InvocationRecord(
        request_id="r",
        timestamp_ms=0,
        operation="Converse",
        model=parse_model_id(model_id),
        region="us-east-1",
        inference_region=None,
        application=None,
        **tokens,
    )


# ---- the sample records, one per operation and pricing rule ---------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Converse, Claude 3.5 Haiku in-region: 412 in x 0.80 + 96 out x 4.00
        ("converse", (412 * 0.80 + 96 * 4.00) / M),
        # ConverseStream, Nova Pro via us. profile: no geo surcharge for Nova
        ("converse-stream", (5210 * 0.80 + 1024 * 3.20) / M),
        # InvokeModel, Llama 3.3 70B via us. profile: older cross-region profiles cost the source price
        ("invoke-model", (230 * 0.72 + 64 * 0.72) / M),
        # InvokeModelWithResponseStream, Sonnet 4.5 via us. profile: +10 %
        ("invoke-model-stream", (1840 * 3 + 322 * 15) * 1.10 / M),
        # cache read 0.30 and cache write 3.75 on Claude 3.7 Sonnet (us. profile, pre-4.5: no surcharge)
        ("cached-tokens", (58 * 3 + 12400 * 0.30 + 2100 * 3.75 + 140 * 15) / M),
        # Opus 4.6 global: 5 000 5-minute writes at 6.25, 45 000 1-hour writes at 10
        ("anthropic-1h-cache", (310 * 5 + 8000 * 0.50 + 5000 * 6.25 + 45000 * 10 + 2200 * 25) / M),
        # Sonnet 4.5 through an eu. inference-profile ARN: +10 % on every component
        ("geo-profile", (900 * 3 + 3000 * 0.30 + 1000 * 3.75 + 700 * 15) * 1.10 / M),
        # Haiku 4.5 global.: no surcharge
        ("global-profile", (2000 * 1 + 10000 * 0.10 + 150 * 5) / M),
        # Sonnet 4 with 210 000 input tokens (> 200K): input side x2 (cache read too), output x1.5
        ("long-context", ((150000 * 3 + 60000 * 0.30) * 2 + 3000 * 15 * 1.5) / M),
        # Nova Lite cache read = 0.25 x input
        ("nova-cache-read", (300 * 0.06 + 4000 * 0.06 * 0.25 + 80 * 0.24) / M),
        # bodies in S3: tokens are inline, so the cost is known
        ("s3-offloaded", (60000 * 0.25 + 900 * 1.25) / M),
        ("metadata-only", (180 * 0.035 + 45 * 0.14) / M),
        ("guardrail-intervened", (40 * 0.25 + 12 * 1.25) / M),
    ],
)
def test_sample_record_costs_match_hand_computed_figures(book: PriceBook, name: str, expected: float) -> None:
    assert cost_of(book, sample(name)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    "name",
    [
        "error-throttling",
        "error-validation",
        "error-model-timeout",
        "error-internal-server",
        "error-access-denied",
    ],
)
def test_failed_requests_cost_nothing(book: PriceBook, name: str) -> None:
    assert cost_of(book, sample(name)) == 0.0


def test_failed_request_on_an_unknown_model_is_not_unpriced(book: PriceBook) -> None:
    record = record_for("anthropic.claude-sonnet-9", input_tokens=10, error_code="ThrottlingException")
    assert book.cost(record, record.model) == 0.0


@pytest.mark.parametrize("name", ["unknown-model", "provisioned-model", "application-profile"])
def test_models_without_a_trusted_price_are_unpriced_not_zero(book: PriceBook, name: str) -> None:
    assert cost_of(book, sample(name)) is None


def test_resolved_application_profile_is_priced_as_its_model_and_scope(book: PriceBook) -> None:
    record = sample("application-profile")
    resolver = ProfileResolver(
        {record.model.original: "us.anthropic.claude-haiku-4-5-20251001-v1:0"}, client=object()
    )
    assert book.cost(record, resolver.resolve(record.model)) == pytest.approx(
        (1200 * 1 + 400 * 5) * 1.10 / M, abs=1e-9
    )


# ---- rules -----------------------------------------------------------------------------------

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.mark.parametrize(
    ("model_id", "factor"),
    [
        (SONNET_45, 1.0),
        (f"global.{SONNET_45}", 1.0),
        (f"us.{SONNET_45}", 1.1),
        (f"eu.{SONNET_45}", 1.1),
        (f"jp.{SONNET_45}", 1.1),
        ("au.anthropic.claude-opus-4-6-v1", 1.1 * 5 / 3),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", 1.0),
        ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", 1.0),
    ],
)
def test_geo_surcharge_applies_to_claude_4_5_and_later_geographic_profiles_only(
    book: PriceBook, model_id: str, factor: float
) -> None:
    record = record_for(model_id, input_tokens=1000, output_tokens=100)
    assert book.cost(record, record.model) == pytest.approx((1000 * 3 + 100 * 15) * factor / M, abs=1e-9)


@pytest.mark.parametrize(("cache_read", "long"), [(199_000, False), (199_001, True)])
def test_long_context_rates_start_above_200k_total_input_tokens(
    book: PriceBook, cache_read: int, long: bool
) -> None:
    # 500 uncached + 500 cache write + cache reads: 200 000 exactly is still the standard rate.
    record = record_for(
        f"global.{SONNET_45}",
        input_tokens=500,
        cache_write_tokens=500,
        cache_read_tokens=cache_read,
        output_tokens=1000,
    )
    input_side = 500 * 3 + 500 * 3.75 + cache_read * 0.30
    expected = (input_side * 2 + 1000 * 15 * 1.5) if long else (input_side + 1000 * 15)
    assert book.cost(record, record.model) == pytest.approx(expected / M, abs=1e-9)


def test_long_context_rates_do_not_apply_to_models_without_them(book: PriceBook) -> None:
    record = record_for("global.anthropic.claude-opus-4-6-v1", input_tokens=500_000, output_tokens=10)
    assert book.cost(record, record.model) == pytest.approx((500_000 * 5 + 10 * 25) / M, abs=1e-9)


def test_one_hour_writes_default_to_twice_input_when_a_model_states_no_1h_rate(book: PriceBook) -> None:
    record = record_for(
        "anthropic.claude-3-7-sonnet-20250219-v1:0", cache_write_tokens=1000, cache_write_1h_tokens=400
    )
    assert book.cost(record, record.model) == pytest.approx((600 * 3.75 + 400 * 6.0) / M, abs=1e-9)


@pytest.mark.parametrize(
    "tokens",
    [
        {"cache_read_tokens": 10},
        {"cache_write_tokens": 10},
        {"cache_write_tokens": 10, "cache_write_1h_tokens": 10},
    ],
)
def test_cache_tokens_on_a_model_without_cache_prices_are_unpriced(
    book: PriceBook, tokens: dict[str, int]
) -> None:
    record = record_for("anthropic.claude-3-haiku-20240307-v1:0", input_tokens=10, **tokens)
    assert book.cost(record, record.model) is None


@pytest.mark.parametrize(
    ("tier", "factor"),
    [(None, 1.0), ("default", 1.0), ("priority", 1.75), ("flex", 0.5), ("reserved", None), ("turbo", None)],
)
def test_service_tiers_scale_the_price_and_unknown_tiers_are_unpriced(
    book: PriceBook, tier: str | None, factor: float | None
) -> None:
    record = record_for("amazon.nova-pro-v1:0", input_tokens=1000, output_tokens=100, service_tier=tier)
    cost = book.cost(record, record.model)
    if factor is None:
        assert cost is None
    else:
        assert cost == pytest.approx((1000 * 0.80 + 100 * 3.20) * factor / M, abs=1e-9)


def test_batch_records_cost_half(book: PriceBook) -> None:
    record = record_for("amazon.nova-pro-v1:0", input_tokens=1000, output_tokens=100)
    assert book.cost(record, record.model, batch=True) == pytest.approx(
        (1000 * 0.80 + 100 * 3.20) * 0.5 / M, abs=1e-9
    )


# ---- model-id matching -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "priced_as"),
    [
        ("anthropic.claude-sonnet-4-5-20260101-v1:0", SONNET_45),  # new date of the same model
        ("anthropic.claude-sonnet-4-5-20250929-v2:0", SONNET_45),  # new version suffix
        ("amazon.titan-text-express-v1:0:8k", "amazon.titan-text-express-v1"),  # context variant
        ("anthropic.claude-sonnet-4-7", None),  # a NEW model is never priced as an older one
        ("global.anthropic.claude-sonnet-4-7-20270101-v1:0", None),
        ("anthropic.claude-sonnet-4-5-extended", None),
        ("amazon.nova-3-lite-v1:0", None),
        ("anthropic.claude-opus-4-8", None),
    ],
)
def test_family_matching_only_tolerates_date_and_version_suffixes(
    book: PriceBook, model_id: str, priced_as: str | None
) -> None:
    rates = book.rates_for(parse_model_id(model_id))
    if priced_as is None:
        assert rates is None
    else:
        assert rates == book.rates_for(parse_model_id(priced_as))


def test_family_key_strips_only_suffixes() -> None:
    assert family_key(SONNET_45) == "anthropic.claude-sonnet-4-5"
    assert family_key("anthropic.claude-opus-4-6-v1") == "anthropic.claude-opus-4-6"
    assert family_key("mistral.mistral-large-2407-v1:0") == "mistral.mistral-large-2407"
    assert family_key("anthropic.claude-sonnet-4-7") == "anthropic.claude-sonnet-4-7"


def test_a_family_with_conflicting_prices_matches_only_exact_ids() -> None:
    book = PriceBook.load(
        {"anthropic.claude-3-5-sonnet-20241022-v2:0": {"input": 4.0}}  # now differs from the v1 entry
    )
    assert book.rates_for(parse_model_id("anthropic.claude-3-5-sonnet-20250101-v3:0")) is None
    exact = book.rates_for(parse_model_id("anthropic.claude-3-5-sonnet-20241022-v2:0"))
    assert exact is not None
    assert exact.input == 4.0


# ---- overrides -------------------------------------------------------------------------------


def test_override_replaces_named_fields_of_a_shipped_model_and_keeps_the_rest() -> None:
    book = PriceBook.load({"amazon.nova-pro-v1:0": {"input": 0.70}})
    rates = book.rates_for(parse_model_id("amazon.nova-pro-v1:0"))
    assert rates is not None
    assert (rates.input, rates.output, rates.cache_read) == (0.70, 3.20, 0.2)


def test_override_adds_a_new_model() -> None:
    book = PriceBook.load(
        {"anthropic.claude-sonnet-4-7": {"input": 3, "output": 15, "cache_read": 0.3, "geo_surcharge": 0.1}}
    )
    record = record_for("us.anthropic.claude-sonnet-4-7", input_tokens=1000, cache_read_tokens=1000)
    assert book.cost(record, record.model) == pytest.approx((1000 * 3 + 1000 * 0.3) * 1.1 / M, abs=1e-9)


def test_override_can_price_a_custom_model_arn() -> None:
    arn = f"arn:aws:bedrock:us-east-1:{ACCT}:custom-model-deployment/abc"
    book = PriceBook.load({arn: {"input": 1, "output": 2}})
    record = record_for(arn, input_tokens=1000, output_tokens=1000)
    assert book.cost(record, record.model) == pytest.approx(3000 / M, abs=1e-9)


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"amazon.nova-pro-v1:0": {"input": -1}}, ["amazon.nova-pro-v1:0", "'input'"]),
        ({"amazon.nova-pro-v1:0": {"input": "cheap"}}, ["amazon.nova-pro-v1:0", "'input'"]),
        ({"amazon.nova-pro-v1:0": {"input": True}}, ["amazon.nova-pro-v1:0", "'input'"]),
        ({"amazon.nova-pro-v1:0": {"ouput": 1}}, ["amazon.nova-pro-v1:0", "'ouput'"]),
        ({"acme.new-model-v1:0": {"input": 1}}, ["acme.new-model-v1:0", "'output'"]),
        ({"acme.new-model-v1:0": 3}, ["acme.new-model-v1:0"]),
        ({"acme.m": {"input": 1, "output": 1, "tiers": "fast"}}, ["acme.m", "'tiers'"]),
        ({"acme.m": {"input": 1, "output": 1, "tiers": {"flex": -1}}}, ["acme.m", "'tiers.flex'"]),
        ({"acme.m": {"input": 1, "output": 1, "long_context": {"x": 1}}}, ["acme.m", "'long_context'"]),
        ({f"us.{SONNET_45}": {"input": 1, "output": 1}}, [f"us.{SONNET_45}", SONNET_45]),
    ],
)
def test_malformed_override_names_the_model_and_field(overrides: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(ConfigurationError) as err:
        PriceBook.load(overrides)
    for name in names:
        assert name in str(err.value)


def test_overrides_must_be_an_object() -> None:
    with pytest.raises(ConfigurationError, match="PriceOverrides"):
        PriceBook.load(["amazon.nova-pro-v1:0"])  # type: ignore[arg-type]


# ---- the shipped data file -------------------------------------------------------------------

# Every model of FACTS §5 with its (input, output, cache read, cache write 5m, cache write 1h).
FACTS_5 = {
    "anthropic.claude-3-haiku-20240307-v1:0": (0.25, 1.25, None, None, None),
    "anthropic.claude-3-5-haiku-20241022-v1:0": (0.80, 4.00, 0.08, 1.00, None),
    "anthropic.claude-3-5-sonnet-20240620-v1:0": (3, 15, 0.30, 3.75, None),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": (3, 15, 0.30, 3.75, None),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": (3, 15, 0.30, 3.75, None),
    "anthropic.claude-sonnet-4-20250514-v1:0": (3, 15, 0.30, 3.75, None),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": (3, 15, 0.30, 3.75, 6),
    "anthropic.claude-sonnet-4-6": (3, 15, 0.30, 3.75, 6),
    "anthropic.claude-haiku-4-5-20251001-v1:0": (1, 5, 0.10, 1.25, 2),
    "anthropic.claude-opus-4-20250514-v1:0": (15, 75, 1.50, 18.75, None),
    "anthropic.claude-opus-4-1-20250805-v1:0": (15, 75, 1.50, 18.75, None),
    "anthropic.claude-opus-4-5-20251101-v1:0": (5, 25, 0.50, 6.25, 10),
    "anthropic.claude-opus-4-6-v1": (5, 25, 0.50, 6.25, 10),
    "anthropic.claude-opus-4-7": (5, 25, 0.50, 6.25, 10),
    "amazon.nova-micro-v1:0": (0.035, 0.14, 0.035 * 0.25, 0.035, None),
    "amazon.nova-lite-v1:0": (0.06, 0.24, 0.06 * 0.25, 0.06, None),
    "amazon.nova-pro-v1:0": (0.80, 3.20, 0.80 * 0.25, 0.80, None),
    "amazon.nova-premier-v1:0": (2.50, 12.50, 2.50 * 0.25, 2.50, None),
    "amazon.titan-text-express-v1": (0.20, 0.60, None, None, None),
    "amazon.titan-text-lite-v1": (0.15, 0.20, None, None, None),
    "meta.llama3-1-8b-instruct-v1:0": (0.22, 0.22, None, None, None),
    "meta.llama3-1-70b-instruct-v1:0": (0.72, 0.72, None, None, None),
    "meta.llama3-1-405b-instruct-v1:0": (2.40, 2.40, None, None, None),
    "meta.llama3-3-70b-instruct-v1:0": (0.72, 0.72, None, None, None),
    "mistral.mistral-large-2407-v1:0": (2, 6, None, None, None),
}
GEO_SURCHARGED = {
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "anthropic.claude-sonnet-4-6",
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-opus-4-5-20251101-v1:0",
    "anthropic.claude-opus-4-6-v1",
    "anthropic.claude-opus-4-7",
}


def test_price_file_is_valid_json_that_loads_without_overrides() -> None:
    shipped = json.loads(PRICES_FILE.read_text())
    assert set(shipped) == {"_about", "defaults", "models"}
    assert len(PriceBook.load()) == len(shipped["models"])


@pytest.mark.parametrize("model_id", sorted(FACTS_5))
def test_price_file_holds_every_facts_model_at_its_listed_rates(book: PriceBook, model_id: str) -> None:
    rates = book.rates_for(parse_model_id(model_id))
    assert rates is not None, f"{model_id} missing from prices.json"
    listed = (rates.input, rates.output, rates.cache_read, rates.cache_write_5m, rates.cache_write_1h)
    assert listed == pytest.approx(FACTS_5[model_id])
    assert rates.batch_factor == 0.5
    assert rates.geo_surcharge == (0.1 if model_id in GEO_SURCHARGED else 0.0)
    long_context = model_id in {
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
    }
    assert (rates.long_context_above, rates.long_context_input_factor, rates.long_context_output_factor) == (
        (200_000, 2.0, 1.5) if long_context else (None, 1.0, 1.0)
    )


def test_model_rates_are_immutable(book: PriceBook) -> None:
    rates = book.rates_for(parse_model_id(SONNET_45))
    assert rates is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        rates.input = 0.0  # type: ignore[misc]
