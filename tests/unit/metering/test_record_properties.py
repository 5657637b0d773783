"""Property tests: whatever a log line holds, parse_line answers one of its three types and never
raises; a record it accepts is internally consistent and prices without raising."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedrock_watch.pricing import PriceBook
from bedrock_watch.records import InvocationRecord, Malformed, ModelRef, Skipped, parse_line
from scripts.make_events import record_files

MARKER = "PROMPT-MARKER-7f3a"
SAMPLES: list[Any] = [json.loads(path.read_text()) for path in record_files()]
RECORDS = [sample for sample in SAMPLES if isinstance(sample, dict)]
BOOK = PriceBook.load()
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.just(MARKER)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)


def check(result: object) -> None:
    """The invariants every answer of parse_line keeps."""
    assert isinstance(result, InvocationRecord | Malformed | Skipped)
    if isinstance(result, Malformed | Skipped):
        assert len(result.reason) < 80
        assert MARKER not in result.reason
        # The catch-all is a last resort: every text/bytes input is classified by a named check.
        assert not result.reason.startswith("unparseable")
        return
    assert isinstance(result.model, ModelRef)
    for count in (
        result.input_tokens,
        result.cache_read_tokens,
        result.cache_write_tokens,
        result.cache_write_1h_tokens,
        result.output_tokens,
    ):
        assert type(count) is int
        assert count >= 0
    assert result.cache_write_1h_tokens <= result.cache_write_tokens
    assert result.latency_ms is None or result.latency_ms >= 0
    assert result.ttft_ms is None or result.ttft_ms >= 0
    assert (result.error_code is None) == (result.error_class is None)
    cost = BOOK.cost(result, result.model)
    assert cost is None or cost >= 0


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated_records(draw: st.DrawFn) -> dict[str, Any]:
    """A real sample record with a few values replaced by arbitrary JSON or removed."""
    record = copy.deepcopy(draw(st.sampled_from(RECORDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        candidates = paths(record)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = record
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return record


@PROPERTY_SETTINGS
@given(json_values)
def test_any_json_value_is_answered_not_raised(value: Any) -> None:
    check(parse_line(json.dumps(value), timestamp_ms=0))


@PROPERTY_SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_are_answered_not_raised(data: bytes) -> None:
    check(parse_line(data, timestamp_ms=0))


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_any_text_is_answered_not_raised(text: str) -> None:
    check(parse_line(text, timestamp_ms=0))


@PROPERTY_SETTINGS
@given(mutated_records())
def test_mutated_real_records_are_answered_not_raised(record: dict[str, Any]) -> None:
    check(parse_line(json.dumps(record), timestamp_ms=0))


@PROPERTY_SETTINGS
@given(st.sampled_from(SAMPLES), st.integers(min_value=0, max_value=400))
def test_truncated_real_records_are_answered_not_raised(sample: Any, cut: int) -> None:
    line = sample if isinstance(sample, str) else json.dumps(sample)
    check(parse_line(line[: len(line) - cut], timestamp_ms=0))
    check(parse_line(line.encode()[: max(0, len(line) - cut)], timestamp_ms=0))


@PROPERTY_SETTINGS
@given(
    st.fixed_dictionaries(
        {"schemaType": st.just("ModelInvocationLog"), "schemaVersion": st.just("1.0")},
        optional=dict.fromkeys(
            (
                "requestId",
                "modelId",
                "operation",
                "region",
                "inferenceRegion",
                "errorCode",
                "requestMetadata",
                "input",
                "output",
                "serviceTier",
            ),
            json_values,
        ),
    )
)
def test_records_with_arbitrary_field_values_are_answered_not_raised(record: dict[str, Any]) -> None:
    check(parse_line(json.dumps(record), timestamp_ms=0))
