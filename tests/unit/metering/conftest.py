"""Builders for metering tests: records built directly, and a price book with fixed prices so
EMF tests do not depend on the shipped price table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bedrock_watch.metering import Meter, MeteringSettings
from bedrock_watch.pricing import Price, PriceBook
from bedrock_watch.profiles import ProfileResolver
from bedrock_watch.records import ErrorClass, InvocationRecord, ModelKind, ModelRef, Scope, parse_line
from sandbox.events import load_event
from scripts.make_events import message_of

MINUTE = 60_000
NOW = 1_795_694_400_000  # 2026-11-26T12:00:00Z


class FlatPrices:
    """$1 per 1M input tokens and $2 per 1M output tokens; models named `unpriced.*` have no price."""

    def cost(self, record: InvocationRecord, model: ModelRef) -> float | None:
        if record.error_code is not None:
            return 0.0
        if model.base_id.startswith("unpriced."):
            return None
        return record.input_tokens * 1e-6 + record.output_tokens * 2e-6

    def input_includes_cache_read(self, model: ModelRef) -> bool:
        return False

    def price_for(self, record: InvocationRecord, model: ModelRef) -> Price | None:
        return self.price_of(model, record.region, record.service_tier)

    def price_of(self, model: ModelRef, region: str, tier: str | None) -> Price | None:
        # The same figures as `cost`, as the rates the meter applies itself (cache tokens free).
        if model.base_id.startswith("unpriced."):
            return None
        return Price(1.0, 2.0, 0.0, 0.0, 0.0, 1.0, None, 1.0, 1.0, False, False)


def model(base_id: str) -> ModelRef:
    return ModelRef(original=base_id, base_id=base_id, scope=Scope.IN_REGION, kind=ModelKind.FOUNDATION)


_counter = iter(range(10**9))


def record(
    base_id: str = "anthropic.claude-3-haiku-20240307-v1:0",
    application: str | None = "chat",
    *,
    timestamp_ms: int = NOW - 5 * MINUTE,
    **fields: Any,
) -> InvocationRecord:
    """A successful Converse record; keyword fields override any figure."""
    base = InvocationRecord(
        request_id=f"req-{next(_counter)}",
        timestamp_ms=timestamp_ms,
        operation="Converse",
        model=model(base_id),
        region="us-east-1",
        inference_region="us-east-1",
        application=application,
        input_tokens=100,
        output_tokens=50,
        latency_ms=800.0,
        stop_reason="end_turn",
    )
    return replace(base, **fields)


def failed(code: str, error_class: ErrorClass, **fields: Any) -> InvocationRecord:
    return record(
        error_code=code, error_class=error_class, input_tokens=0, output_tokens=0, latency_ms=None, **fields
    )


@pytest.fixture
def make_meter() -> Callable[..., Meter]:
    def build(**settings: Any) -> Meter:
        return Meter(MeteringSettings(**settings), FlatPrices(), ProfileResolver({}))  # type: ignore[arg-type]

    return build


def expected_figures(records: list[InvocationRecord]) -> dict[str, float]:
    """The records' totals per summed metering metric and sample counts per per-request metric,
    computed independently of the meter (FlatPrices for cost)."""
    out: dict[str, float] = dict.fromkeys(
        ("Requests", "Errors", "InputTokens", "OutputTokens", "TotalTokens", "CostUSD"), 0
    )
    prices = FlatPrices()

    def add(name: str, value: float) -> None:
        out[name] = out.get(name, 0) + value

    for r in records:
        add("Requests", 1)
        if r.error_code is not None:
            add("Errors", 1)
            if r.error_class is not None:
                add(r.error_class.value, 1)
        add("InputTokens", r.input_tokens)
        add("OutputTokens", r.output_tokens)
        add("CacheReadInputTokens", r.cache_read_tokens)
        add("CacheWriteInputTokens", r.cache_write_tokens)
        add("TotalTokens", r.total_tokens)
        cost = prices.cost(r, r.model)
        if cost is None:
            add("UnpricedRequests", 1)
        else:
            add("CostUSD", cost)
        if r.error_code is None:
            add("TruncatedResponses", r.stop_reason == "max_tokens")
            add("GuardrailInterventions", r.stop_reason in ("guardrail_intervened", "content_filtered"))
            add("Latency", r.latency_ms is not None)
            add("TimeToFirstToken", r.ttft_ms is not None)
            if r.latency_ms is not None:
                generating = (
                    r.latency_ms - r.ttft_ms
                    if r.ttft_ms is not None and r.ttft_ms < r.latency_ms
                    else r.latency_ms
                )
                add("OutputTokensPerSecond", bool(r.output_tokens) and generating > 0)
    return out


@pytest.fixture(scope="module")
def book() -> PriceBook:
    """The shipped price table."""
    return PriceBook.load()


def sample(name: str) -> InvocationRecord:
    """The event library's `metering/record-<name>` parsed as the meter parses it."""
    result = parse_line(message_of(load_event(f"metering/record-{name}")), timestamp_ms=0)
    assert isinstance(result, InvocationRecord)
    return result
