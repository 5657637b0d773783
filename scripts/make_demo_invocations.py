"""Regenerate events/metering/demo-invocations.jsonl.gz, the log sample `make demo` replays.

Deterministic (fixed seed and start time): rerunning it yields the same bytes. Each line is one
CloudWatch Logs event (`id`, `timestamp`, `message`) of the invocation log group: 30 minutes of
traffic over eight models and six applications, with the logging set-up line, a few duplicated
deliveries and one truncated record among them.

    .venv/bin/python -m scripts.make_demo_invocations
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import orjson

from sandbox.traffic import TrafficProfile, generate

OUT = Path(__file__).resolve().parent.parent / "events" / "metering" / "demo-invocations.jsonl.gz"
DEMO = TrafficProfile(
    seed=2026,
    requests=3000,
    duration_s=1800,
    body_kb=(1.0, 2.5),
    include_setup_line=True,
    duplicate_rate=0.005,
)


def demo_lines() -> bytes:
    """The file's content, uncompressed: one JSON log event per line."""
    events = generate(DEMO)
    # A record cut short (what a broken forwarder produces): counted as malformed, never fatal.
    middle = len(events) // 2
    events.insert(middle, {**events[middle], "message": events[middle]["message"][:300]})
    return b"".join(orjson.dumps(event) + b"\n" for event in events)


def main() -> None:
    lines = demo_lines()
    buf = io.BytesIO()
    # mtime=0: the gzip header would otherwise change the bytes on every run.
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(lines)
    OUT.write_bytes(buf.getvalue())
    print(
        f"wrote {OUT.relative_to(OUT.parents[2])}: {lines.count(b'\n')} events, {len(buf.getvalue())} bytes"
    )


if __name__ == "__main__":
    main()
