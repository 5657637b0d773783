"""sandbox/traffic.py: the generated traffic is deterministic and as varied as real invocation logs,
and the record parser reads every body shape it writes."""

from __future__ import annotations

import json
from collections import Counter

from bedrock_watch.records import InvocationRecord, ModelKind, Scope, parse_line
from sandbox.traffic import DEFAULT_MARKER, TrafficProfile, generate


def parsed(events: list[dict[str, object]]) -> list[InvocationRecord]:
    out = []
    for event in events:
        record = parse_line(str(event["message"]), timestamp_ms=int(str(event["timestamp"])))
        assert isinstance(record, InvocationRecord), record
        out.append(record)
    return out


def test_the_same_profile_yields_the_same_events_and_another_seed_other_events() -> None:
    profile = TrafficProfile(requests=50)
    assert generate(profile) == generate(profile)
    assert generate(profile) != generate(profile.with_(seed=8))


def test_default_traffic_covers_operations_scopes_errors_cache_and_applications() -> None:
    events = generate(TrafficProfile(requests=1500))
    records = parsed(events)
    operations = Counter(r.operation for r in records)
    assert set(operations) == {"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"}
    assert {r.model.scope for r in records} == {Scope.IN_REGION, Scope.GEO, Scope.GLOBAL}
    assert any(r.model.kind is ModelKind.APPLICATION_PROFILE for r in records)
    assert len({r.model.original for r in records}) >= 6
    assert len({r.error_class for r in records if r.error_class}) >= 4
    assert any(r.cache_read_tokens for r in records)
    assert any(r.cache_write_1h_tokens for r in records)
    assert any(r.truncated for r in records)
    assert len({r.application for r in records}) >= 5
    assert None in {r.application for r in records}


def test_streamed_records_carry_latency_and_time_to_first_token_where_bedrock_logs_them() -> None:
    records = parsed(generate(TrafficProfile(requests=400, error_rate=0.0, s3_offload_rate=0.0)))
    streams = [r for r in records if r.operation == "InvokeModelWithResponseStream"]
    converse = [r for r in records if r.operation == "Converse"]
    assert streams
    assert all(r.latency_ms and r.ttft_ms and r.ttft_ms < r.latency_ms for r in streams)
    assert all(r.latency_ms for r in converse)
    assert all(r.latency_ms is None for r in records if r.operation == "InvokeModel")


def test_bodies_are_1_to_8_kb_and_carry_the_marker_in_prompt_and_response() -> None:
    events = generate(TrafficProfile(requests=300, error_rate=0.0, s3_offload_rate=0.0))
    sizes = [len(str(e["message"])) for e in events]
    assert min(sizes) >= 1024
    assert max(sizes) <= 8 * 1024 + 2500  # body text up to 8 KB plus the record's own fields
    for event in events[:50]:
        record = json.loads(str(event["message"]))
        assert DEFAULT_MARKER in json.dumps(record["input"])
        assert DEFAULT_MARKER in json.dumps(record["output"])


def test_knobs_shift_errors_and_latency_for_one_model_only() -> None:
    storm = "us.meta.llama3-3-70b-instruct-v1:0"
    base = TrafficProfile(requests=1500, error_rate=0.0, s3_offload_rate=0.0)
    records = parsed(generate(base.with_(model_error_rates={storm: 0.9}, model_latency_factors={storm: 5.0})))
    calm = parsed(generate(base))
    stormy = [r for r in records if r.model.original == storm]
    others = [r for r in records if r.model.original != storm]
    assert sum(r.error_code is not None for r in stormy) > 0.7 * len(stormy)
    assert not any(r.error_code for r in others)

    def mean_latency(rs: list[InvocationRecord]) -> float:
        values = [r.latency_ms for r in rs if r.latency_ms]
        return sum(values) / len(values)

    calm_storm_model = [r for r in calm if r.model.original == storm]
    slow = [r for r in stormy if r.latency_ms]
    assert mean_latency(slow) > 3 * mean_latency(calm_storm_model)
