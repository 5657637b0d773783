"""Builders for report tests: invocation-log lines made from the event library's Converse record."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.events import load_event

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
_BASE = load_event("metering/record-converse")


def record(
    request_id: str,
    when: datetime,
    *,
    model: str = "anthropic.claude-3-5-haiku-20241022-v1:0",
    application: str = "support-bot",
    error_code: str | None = None,
    latency_ms: float | None = 1000,
    input_tokens: int = 100,
    output_tokens: int = 10,
) -> dict[str, Any]:
    """A Converse invocation record at `when` (S3/CloudWatch shape), bodies kept minimal."""
    doc = copy.deepcopy(_BASE)
    doc["requestId"] = request_id
    doc["timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["modelId"] = model
    doc["requestMetadata"] = {"application": application}
    doc["input"] = {"inputContentType": "application/json", "inputTokenCount": input_tokens}
    if error_code:
        doc["errorCode"] = error_code
        doc["output"] = {}
        return doc
    body = doc["output"]["outputBodyJson"]
    body["usage"] = {"inputTokens": input_tokens, "outputTokens": output_tokens}
    if latency_ms is None:
        body.pop("metrics", None)
    else:
        body["metrics"] = {"latencyMs": latency_ms}
    doc["output"]["outputTokenCount"] = output_tokens
    return doc


def line(doc: dict[str, Any]) -> str:
    """One S3-export line: the record as compact JSON."""
    return json.dumps(doc, separators=(",", ":"))


def write_lines(path: Path, lines: list[str], *, gzipped: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path
