"""The committed subscription events are exactly the readable records, so they cannot drift."""

from __future__ import annotations

import json

from sandbox.events import load_event
from scripts.make_events import EVENTS_DIR, decode, main, message_of, record_files

MARKER = "PROMPT-MARKER-7f3a"


def test_data_event_decodes_to_exactly_the_readable_records() -> None:
    payload = decode(load_event("metering/subscription-data"))
    assert payload["messageType"] == "DATA_MESSAGE"
    messages = [event["message"] for event in payload["logEvents"]]
    expected = [json.loads(path.read_text()) for path in record_files()]
    assert len(messages) == len(expected)
    for message, record in zip(messages, expected, strict=True):
        # Records compare as parsed JSON; a raw line (the set-up line) compares as text.
        assert (message if isinstance(record, str) else json.loads(message)) == record
    assert len({event["id"] for event in payload["logEvents"]}) == len(messages)


def test_control_event_is_a_control_message() -> None:
    payload = decode(load_event("metering/subscription-control"))
    assert payload["messageType"] == "CONTROL_MESSAGE"


def test_committed_events_are_what_the_script_builds() -> None:
    assert main(["--check"]) == 0


def test_every_record_with_a_body_carries_the_marker_for_leak_tests() -> None:
    for path in record_files():
        record = json.loads(path.read_text())
        if isinstance(record, dict) and ("inputBodyJson" in record.get("input", {})):
            assert MARKER in message_of(record), path.name


def test_the_library_has_every_required_case() -> None:
    names = {path.stem.removeprefix("record-") for path in EVENTS_DIR.glob("record-*.json")}
    operations = {
        json.loads(path.read_text())["operation"]
        for path in record_files()
        if isinstance(json.loads(path.read_text()), dict)
    }
    assert operations == {"InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"}
    assert {
        "cached-tokens",
        "anthropic-1h-cache",
        "geo-profile",
        "global-profile",
        "application-profile",
        "setup-line",
        "s3-offloaded",
        "metadata-only",
    } <= names
    assert len([name for name in names if name.startswith("error-")]) >= 3
