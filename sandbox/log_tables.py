"""The dashboards' Logs Insights tables, computed in the sandbox from what the metering function printed.

At MetricDetail=lean no metric exists per model, so the drill's and the replay's per-model tables
are what the model-comparison dashboard's "Per model and application" widget shows: its query,
read from template.yaml, run by sandbox.logs_insights over the function's log lines, then folded
per model. Latency percentiles per model come from the per-request samples in the same documents
(what `MetricDetail=model` would publish; on AWS the dashboard reads AWS/Bedrock's free
InvocationLatency per model instead).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Final

from bedrock_watch.contract import DIMENSION_MODEL
from sandbox import logs_insights
from sandbox.metrics import percentile

DASHBOARD: Final = "ModelComparisonDashboard"
PAIRS_WIDGET: Final = "Per model and application"
# query aliases of the widget -> the row keys the tables print
COLUMNS: Final[Mapping[str, str]] = {
    "requests": "requests",
    "errors": "errors",
    "throttles": "throttles",
    "input": "input_tokens",
    "cacheRead": "cache_read",
    "cacheWrite": "cache_write",
    "output": "output_tokens",
    "costUSD": "cost_usd",
}


def log_events(messages: Iterable[str]) -> list[dict[str, Any]]:
    """The JSON lines of a log group as Logs Insights sees them: fields plus `@timestamp` (ms; an
    EMF document's own `_aws.Timestamp`). Lines that are not JSON objects are left out."""
    events = []
    for message in messages:
        try:
            document = json.loads(message)
        except ValueError:
            continue
        if not isinstance(document, dict):
            continue
        meta = document.get("_aws")
        stamp = meta.get("Timestamp") if isinstance(meta, dict) else document.get("timestamp")
        document["@timestamp"] = stamp if isinstance(stamp, int) else 0
        events.append(document)
    return events


def pairs_query(template: Mapping[str, Any] | None = None) -> str:
    """The query of the model-comparison dashboard's per (model, application) widget."""
    from sandbox.cfn_expand import render

    body = json.loads(render(template=template).resources[DASHBOARD]["Properties"]["DashboardBody"])
    [widget] = [
        w for w in body["widgets"] if w["type"] == "log" and w["properties"]["title"].startswith(PAIRS_WIDGET)
    ]
    return str(widget["properties"]["query"])


def per_model_rows(
    events: Iterable[Mapping[str, Any]],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    query: str | None = None,
) -> list[dict[str, Any]]:
    """One row per model (most requests first) and a last row for all models, over events with
    `start_ms <= @timestamp < end_ms`: the widget's sums folded per model, p50/p95 latency."""
    chosen = [
        e
        for e in events
        if (start_ms is None or e["@timestamp"] >= start_ms) and (end_ms is None or e["@timestamp"] < end_ms)
    ]
    pairs = logs_insights.run(query or pairs_query(), chosen)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COLUMNS.values(), 0.0))
    for pair in pairs:
        for sums in (totals[str(pair[DIMENSION_MODEL])], totals[""]):
            for alias, key in COLUMNS.items():
                sums[key] += pair.get(alias) or 0.0
    samples: dict[str, list[float]] = defaultdict(list)
    for e in chosen:
        latency = e.get("Latency")
        if latency is None or DIMENSION_MODEL not in e:
            continue
        values = latency if isinstance(latency, list) else [latency]
        samples[str(e[DIMENSION_MODEL])].extend(values)
        samples[""].extend(values)

    def row(model: str) -> dict[str, Any]:
        values = [(float(v), 1.0) for v in samples.get(model, [])]
        return {
            "model": model or "all models",
            **totals[model],
            "p50_ms": percentile(values, 50) if values else None,
            "p95_ms": percentile(values, 95) if values else None,
        }

    body = sorted((row(m) for m in totals if m), key=lambda r: (-float(r["requests"]), str(r["model"])))
    return [*body, row("")]
