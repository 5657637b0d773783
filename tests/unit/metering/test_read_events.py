"""The metering hot path (records.read_events → Meter._aggregate, plain tuples) and the record path
(parse_line → InvocationRecord → Meter.meter_records) are one parse and one sum: whatever a
delivery holds, they agree line by line and byte for byte."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedrock_watch.metering import Meter, MeteringSettings
from bedrock_watch.records import (
    NO_TIMESTAMP_OR_MESSAGE,
    SETUP_LINE,
    InvocationRecord,
    Malformed,
    Skipped,
    parse_line,
    read_events,
)
from sandbox.traffic import PROFILE_MAP, TrafficProfile, generate
from scripts.make_events import record_files

NOW = 1_795_694_400_000
KEY = "application"
SAMPLES: list[Any] = [json.loads(path.read_text()) for path in record_files()]


def _traffic(seed: int, requests: int = 300) -> list[dict[str, Any]]:
    return generate(TrafficProfile(seed=seed, requests=requests, duration_s=120, start_ms=NOW - 600_000))


def _odd_lines() -> list[dict[str, Any]]:
    """Every kind of line a delivery can hold that is not a good record."""
    good = json.loads(_traffic(1, 1)[0]["message"])
    return [
        {"timestamp": NOW - 1000, "message": SETUP_LINE},
        {"timestamp": NOW - 1000, "message": "not json at all"},
        {"timestamp": NOW - 1000, "message": '{"schemaType": "ModelInvocationLog", "trunc'},
        {"timestamp": NOW - 1000, "message": "[1, 2]"},
        {"timestamp": NOW - 1000, "message": json.dumps({**good, "schemaVersion": "9"})},
        {"timestamp": NOW - 1000, "message": json.dumps({**good, "input": {"inputTokenCount": -1}})},
        {"timestamp": NOW - 1000, "message": json.dumps({**good, "input": {"inputTokenCount": True}})},
        {"timestamp": NOW - 1000, "message": json.dumps({**good, "requestMetadata": ["x"]})},
        {"timestamp": "1795694399000", "message": json.dumps({**good, "requestId": "string-timestamp"})},
        {"message": "no timestamp"},
        {"timestamp": NOW},
        {"timestamp": "soon", "message": "{}"},
        "not an event",
    ]


def _one_by_one(events: list[Any]) -> list[InvocationRecord | Malformed | Skipped]:
    """What parse_line says of each event (None where the event itself is unusable)."""
    answers: list[Any] = []
    for event in events:
        try:
            timestamp, message = int(event["timestamp"]), event["message"]
        except (KeyError, TypeError, ValueError):
            answers.append(Malformed(NO_TIMESTAMP_OR_MESSAGE))
            continue
        answers.append(parse_line(message, timestamp_ms=timestamp, application_key=KEY))
    return answers


def test_read_events_answers_each_line_as_parse_line_does() -> None:
    events = [*_traffic(7), *_odd_lines(), *({"timestamp": NOW, "message": json.dumps(s)} for s in SAMPLES)]
    read = read_events(events, KEY, NOW)
    answers = _one_by_one(events)

    assert read.events == len(events)
    assert [InvocationRecord(*row) for row in read.rows] == [
        a for a in answers if type(a) is InvocationRecord
    ]
    assert [reason for _, reason in read.malformed] == [a.reason for a in answers if type(a) is Malformed]
    assert read.skipped == sum(type(a) is Skipped for a in answers)
    # every kind of odd line was met, so the comparison above covered it
    assert read.skipped >= 1
    assert NO_TIMESTAMP_OR_MESSAGE in {reason for _, reason in read.malformed}
    assert {"not JSON", "truncated JSON", "not a JSON object", "unsupported schemaVersion"} <= {
        reason for _, reason in read.malformed
    }


def test_an_event_without_timestamp_or_message_is_malformed_at_now() -> None:
    read = read_events([{"message": "x"}, {"timestamp": 5}, None], KEY, NOW)
    assert read.malformed == [(NOW, NO_TIMESTAMP_OR_MESSAGE)] * 3
    assert read.rows == []
    assert read.events == 3


def test_a_record_row_is_the_dataclass_fields_in_order() -> None:
    events = [*_traffic(3), *({"timestamp": NOW, "message": json.dumps(s)} for s in SAMPLES)]
    rows = read_events(events, KEY, NOW).rows
    assert rows
    names = [f.name for f in dataclasses.fields(InvocationRecord)]
    for row in rows:
        record = InvocationRecord(*row)
        assert record.row() == row
        assert len(row) == len(names)
        assert {name: getattr(record, name) for name in names} == dict(zip(names, row, strict=True))


def _meter(level: str = "lean") -> Meter:
    return Meter.from_settings(MeteringSettings(metric_detail=level, profile_map=PROFILE_MAP))


@pytest.mark.parametrize("level", ["lean", "model", "full"])
def test_the_hot_path_and_the_record_path_render_the_same_emf(level: str) -> None:
    events = [*_traffic(11, 600), *_odd_lines()]
    events += events[:40]  # redelivered lines: duplicates
    hot = _meter(level).meter_log_events(events, now_ms=NOW)
    records = [a for a in _one_by_one(events) if type(a) is InvocationRecord]
    cold = _meter(level).meter_records(records, now_ms=NOW)

    # the record path never sees the lines that are not records: their MalformedRecords documents
    # are the only difference
    metered = [line for line in hot.emf.splitlines() if '"MalformedRecords"' not in line]
    assert "\n".join(metered) + "\n" == cold.emf
    assert hot.summary.malformed == sum(type(a) is Malformed for a in _one_by_one(events)) > 0
    assert hot.summary.records == cold.summary.records > 0
    assert hot.summary.duplicates == cold.summary.duplicates == 40
    assert hot.summary.unpriced == cold.summary.unpriced
    assert hot.summary.tier_as_requested == cold.summary.tier_as_requested


@given(
    seed=st.integers(min_value=0, max_value=10_000),
    cut=st.integers(min_value=0, max_value=2_000),
    position=st.integers(min_value=0, max_value=49),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_damaged_line_anywhere_in_a_delivery_changes_only_its_own_answer(
    seed: int, cut: int, position: int
) -> None:
    events = _traffic(seed, 50)
    damaged = dict(events[position])
    damaged["message"] = damaged["message"][:cut]
    events[position] = damaged
    read = read_events(events, KEY, NOW)
    answers = _one_by_one(events)
    assert [InvocationRecord(*row) for row in read.rows] == [
        a for a in answers if type(a) is InvocationRecord
    ]
    assert [reason for _, reason in read.malformed] == [a.reason for a in answers if type(a) is Malformed]
