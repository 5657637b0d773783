"""`python -m sandbox replay`: the metering function alone on the shipped invocation-log sample.

Replays the shipped invocation-log sample
(events/metering/demo-invocations.jsonl.gz) through the invocation_metrics function exactly as
CloudWatch Logs would deliver it (put_log_events → subscription filter → function), then reads
the EMF the function printed back from its log group and prints a per-model table. The table is
the model-comparison dashboard's Logs Insights query run over those documents, not a sum of the
records: it shows what the dashboard would show.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sandbox.events import EVENTS
from sandbox.log_tables import log_events, per_model_rows
from sandbox.metrics import MetricStore, read_emf
from sandbox.traffic import PROFILE_MAP, delivery_batches

DEMO_LOGS = EVENTS / "metering" / "demo-invocations.jsonl.gz"


def load_log_events(path: Path = DEMO_LOGS) -> list[dict[str, Any]]:
    """Log events (`timestamp`, `message`) from a gzipped JSON-lines file."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def rebase(events: Sequence[dict[str, Any]], end_ms: int) -> list[dict[str, Any]]:
    """The events shifted in time so the last one happens at `end_ms` (as if logged just now)."""
    if not events:
        return []
    shift = end_ms - max(int(e["timestamp"]) for e in events)
    return [{**e, "timestamp": int(e["timestamp"]) + shift} for e in events]


@dataclass
class ModelRow:
    model: str
    requests: float
    errors: float
    input_tokens: float
    cache_read: float
    cache_write: float
    output_tokens: float
    cost_usd: float
    p50_ms: float | None
    p95_ms: float | None


def model_rows(output: Sequence[str]) -> list[ModelRow]:
    """One row per ModelId (most requests first) and a final row for all traffic: the dashboard's
    Logs Insights table over what the function printed (sandbox.log_tables)."""
    return [
        ModelRow(
            r["model"],
            r["requests"],
            r["errors"],
            r["input_tokens"],
            r["cache_read"],
            r["cache_write"],
            r["output_tokens"],
            r["cost_usd"],
            r["p50_ms"],
            r["p95_ms"],
        )
        for r in per_model_rows(log_events(output))
    ]


def format_table(rows: Sequence[ModelRow]) -> str:
    """The per-model table as fixed-width text."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    header = (
        "model",
        "requests",
        "errors",
        "input",
        "cache read",
        "cache write",
        "output",
        "cost USD",
        "p50 ms",
        "p95 ms",
    )
    body = [
        (
            r.model,
            f"{r.requests:,.0f}",
            f"{r.errors:,.0f}",
            f"{r.input_tokens:,.0f}",
            f"{r.cache_read:,.0f}",
            f"{r.cache_write:,.0f}",
            f"{r.output_tokens:,.0f}",
            f"{r.cost_usd:,.4f}",
            ms(r.p50_ms),
            ms(r.p95_ms),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in body[:-1]), rule, fmt(body[-1])])


@dataclass
class ReplayReport:
    rows: list[ModelRow]
    store: MetricStore
    deliveries: int
    summaries: list[dict[str, Any]]
    seconds: float

    def totals(self, field: str) -> int:
        return sum(int(s.get(field, 0)) for s in self.summaries)


def replay_demo(out: TextIO) -> ReplayReport:
    """Replay the demo logs through the metering function on moto and print the table."""
    from moto import mock_aws

    from sandbox.metering import deploy_metering
    from sandbox.shims import in_process_lambdas

    started = time.perf_counter()
    events = rebase(load_log_events(), int(time.time() * 1000) - 60_000)
    batches = delivery_batches(events, seed=1)
    with mock_aws(), in_process_lambdas() as invocations:
        stack = deploy_metering({"InferenceProfileMap": json.dumps(PROFILE_MAP)})
        namespace = stack.namespace
        out.write(
            f"replaying {len(events)} log events from {DEMO_LOGS.relative_to(EVENTS.parent)} "
            f"in {len(batches)} subscription deliveries to {stack.function_name}\n"
        )
        for batch in batches:
            stack.write_invocation_logs(batch)
        output = stack.function_output()
        # The handler returns its batch summary (counts only); the shim records each return value.
        summaries = [i.result for i in invocations if i.error_type is None and isinstance(i.result, dict)]
    store = read_emf(["\n".join(output)])
    report = ReplayReport(model_rows(output), store, len(batches), summaries, time.perf_counter() - started)
    out.write(
        "\nper model, from the EMF documents the function printed (the model-comparison dashboard's "
        "Logs Insights table):\n\n"
    )
    out.write(format_table(report.rows) + "\n\n")
    malformed = store.get(namespace, "MalformedRecords").sum
    unpriced = store.get(namespace, "UnpricedRequests").sum
    out.write(
        f"{report.totals('records')} records metered, {report.totals('duplicates')} duplicate deliveries "
        f"dropped, {malformed:.0f} malformed and {report.totals('skipped')} set-up line(s) skipped, "
        f"{unpriced:.0f} unpriced; "
        f"{report.totals('documents')} EMF documents; {report.seconds:.1f} s\n"
    )
    return report
