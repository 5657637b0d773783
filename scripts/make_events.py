"""Build the CloudWatch Logs subscription events in events/metering/ from the readable records.

`events/metering/record-*.json` hold one log event message each: a JSON object (an invocation
record, written by Bedrock as one compact line) or a JSON string (a raw non-JSON line such as
the logging set-up line). This script wraps them the way CloudWatch Logs delivers them to a
subscribed Lambda (`{"awslogs": {"data": base64(gzip(json))}}`, FACTS §2) and writes
`subscription-data.json` (a DATA_MESSAGE with every record) and `subscription-control.json`
(the CONTROL_MESSAGE CloudWatch Logs sends to check a destination), for `sam local invoke`, the
console and the tests. A test decodes the committed files and compares them with the records,
so they cannot drift: run `python scripts/make_events.py` after editing a record.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events" / "metering"
LOG_GROUP = "/aws/bedrock/modelinvocations"
LOG_STREAM = "aws/bedrock/modelinvocations"
FILTER_NAME = "bedrock-watch-invocations"
OWNER = "123456789012"
FIRST_TIMESTAMP_MS = 1_795_687_200_000  # 2026-11-26T10:00:00Z
_EVENT_ID_BASE = 38_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000


def record_files(events_dir: Path = EVENTS_DIR) -> list[Path]:
    """The readable record files, in a stable order."""
    return sorted(events_dir.glob("record-*.json"))


def message_of(value: Any) -> str:
    """The log event message for a readable record: a raw line as is, a record as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def record_messages(events_dir: Path = EVENTS_DIR) -> list[str]:
    """Every readable record as the message CloudWatch Logs would carry."""
    return [message_of(json.loads(path.read_text())) for path in record_files(events_dir)]


def data_message(
    messages: Iterable[str], *, first_timestamp_ms: int = FIRST_TIMESTAMP_MS, log_group: str = LOG_GROUP
) -> dict[str, Any]:
    """A decoded DATA_MESSAGE payload carrying `messages`, one log event each, 1 s apart."""
    return {
        "messageType": "DATA_MESSAGE",
        "owner": OWNER,
        "logGroup": log_group,
        "logStream": LOG_STREAM,
        "subscriptionFilters": [FILTER_NAME],
        "logEvents": [
            {
                "id": str(_EVENT_ID_BASE + index),
                "timestamp": first_timestamp_ms + 1000 * index,
                "message": message,
            }
            for index, message in enumerate(messages)
        ],
    }


def control_message() -> dict[str, Any]:
    """The CONTROL_MESSAGE CloudWatch Logs sends to check that a destination is reachable."""
    return {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [
            {
                "id": "",
                "timestamp": FIRST_TIMESTAMP_MS,
                "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda function.",
            }
        ],
    }


def encode(payload: dict[str, Any]) -> dict[str, Any]:
    """The Lambda event CloudWatch Logs delivers for `payload` (gzip with mtime 0: reproducible)."""
    raw = gzip.compress(json.dumps(payload, separators=(",", ":")).encode(), mtime=0)
    return {"awslogs": {"data": base64.b64encode(raw).decode("ascii")}}


def decode(event: dict[str, Any]) -> dict[str, Any]:
    """The payload of a subscription event (inverse of `encode`)."""
    decoded: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    return decoded


def build(events_dir: Path = EVENTS_DIR) -> dict[str, dict[str, Any]]:
    """File name -> subscription event, for every event this script maintains."""
    return {
        "subscription-data.json": encode(data_message(record_messages(events_dir))),
        "subscription-control.json": encode(control_message()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the committed events are stale")
    args = parser.parse_args(argv)
    stale = []
    for name, event in build().items():
        path = EVENTS_DIR / name
        text = json.dumps(event, indent=2) + "\n"
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(EVENTS_DIR.parent.parent)}")
    if stale:
        print(f"stale: {', '.join(stale)} (run python scripts/make_events.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
