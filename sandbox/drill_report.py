"""The drill's outputs: the summary tables it prints, timeline.json and report.html.

The HTML report is one self-contained file built with sandbox.html (shared with `report`): for
every alarm that went to ALARM, its compared series per period with the threshold line, the
time in ALARM shaded, and the drill's events (pages, acknowledgements, resolution, route
changes) marked as vertical lines; then the timeline and the tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from bedrock_watch.contract import short_alarm_name
from sandbox.log_tables import log_events, per_model_rows

if TYPE_CHECKING:
    from sandbox.alarms import ChartPoint
    from sandbox.drill import DrillResult
    from sandbox.runtime import Sandbox


def model_rows(output: Sequence[str], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per ModelId (most requests first), then all models: the model-comparison dashboard's Logs
    Insights table over what the metering function printed between `start` and `end`."""
    rows = per_model_rows(
        log_events(output), start_ms=int(start.timestamp() * 1000), end_ms=int(end.timestamp() * 1000)
    )
    keys = ("model", "requests", "errors", "throttles", "input_tokens", "output_tokens", "cost_usd")
    return [{**{k: r[k] for k in keys}, "p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"]} for r in rows]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Fixed-width text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(line[i])) for line in [header, *rows]) for i in range(len(header))]

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def model_cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One row of the per-model table, formatted (text and HTML tables alike)."""
    return (
        row["model"],
        f"{row['requests']:,.0f}",
        f"{row['errors']:,.0f}",
        f"{row['throttles']:,.0f}",
        f"{row['input_tokens']:,.0f}",
        f"{row['output_tokens']:,.0f}",
        f"{row['cost_usd']:,.2f}",
        _ms(row["p50_ms"]),
        _ms(row["p95_ms"]),
    )


def model_table(rows: Sequence[dict[str, Any]]) -> str:
    header = (
        "model",
        "requests",
        "errors",
        "throttles",
        "input tok",
        "output tok",
        "cost USD",
        "p50 ms",
        "p95 ms",
    )
    body = [model_cells(r) for r in rows]
    return table(header, body)


def _clock(iso: Any) -> str:
    return str(iso or "")[11:16] or "-"


def _alarms_cell(inc: dict[str, Any], stack_name: str) -> str:
    """The incident's first alarm, and how many more of the same root cause joined it."""
    first = short_alarm_name(str(inc["alarmName"]), stack_name)
    more = len(inc.get("alarms") or {}) - 1
    return f"{first} (+{more})" if more > 0 else first


def incident_table(result: DrillResult) -> str:
    header = ("alarms (first + joined)", "severity", "opened", "tiers paged", "acknowledged by", "status")
    body = []
    for inc in result.incidents:
        tiers = " > ".join(str(p["tier"]) for p in inc.get("pagedTiers", []))
        body.append(
            (
                _alarms_cell(inc, result.stack_name),
                str(inc.get("severity", "")),
                _clock(inc.get("openedAtSimulated")),
                tiers or "-",
                str(inc.get("acknowledgedBy") or "-"),
                str(inc.get("status", "")),
            )
        )
    return table(header, body)


def write_outputs(result: DrillResult, sb: Sandbox, out: TextIO, vendor_paths: Sequence[str] = ()) -> None:
    """Print the summary, write timeline.json and report.html, print their paths."""
    from sandbox.drill import timeline_json

    counts: dict[str, int] = {}
    for e in result.timeline:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    out.write("\nsummary\n\n")
    out.write(
        "per model, from the metrics the meter published (namespace "
        f"{sb.stack.parameters['MetricsNamespace']}):\n\n{model_table(result.models)}\n\n"
    )
    if result.incidents:
        out.write(f"incidents:\n\n{incident_table(result)}\n\n")
    for name, doc in result.routes.items():
        out.write(
            f"route {name}: active {doc.get('active')} (version {doc.get('version')}, {doc.get('reason')})\n"
        )
    alarms = sum(1 for e in result.timeline if e.kind == "alarm" and e.data.get("state") == "ALARM")
    causes = result.scenario.root_causes()
    out.write(
        f"\n{len(causes)} root causes injected ({', '.join(causes) or 'none'}), "
        f"{len(result.incidents)} incidents, {counts.get('page', 0)} pages, "
        f"{counts.get('update', 0)} updates; "
        f"{alarms} alarm transitions to ALARM, {counts.get('ack', 0)} acknowledgements, "
        f"{counts.get('route', 0)} route changes, {counts.get('resolved', 0)} incidents resolved; "
        f"{result.wall_seconds:.0f} s wall time\n"
    )
    vendors: dict[str, int] = {}
    for request in vendor_paths:
        vendor = request.strip("/").split("/", 1)[0]
        vendors[vendor] = vendors.get(vendor, 0) + 1
    if vendors:
        out.write(
            "vendor requests received by the local recorder: "
            + ", ".join(f"{v} {n}" for v, n in sorted(vendors.items()))
            + "\n"
        )
    result.out_dir.mkdir(parents=True, exist_ok=True)
    charts = charts_for(result, sb)
    (result.out_dir / "timeline.json").write_text(
        json.dumps(timeline_json(result), indent=1, default=str) + "\n"
    )
    (result.out_dir / "report.html").write_text(render_html(result, charts))
    out.write(f"\nreport:   {result.out_dir / 'report.html'}\ntimeline: {result.out_dir / 'timeline.json'}\n")


def charts_for(result: DrillResult, sb: Sandbox) -> dict[str, list[ChartPoint]]:
    """The compared series of every alarm that went to ALARM (its first contributor)."""
    names: list[str] = []
    for e in result.timeline:
        name = str(e.data.get("alarm", ""))
        if e.kind == "alarm" and e.data.get("state") == "ALARM" and name not in names:
            names.append(name)
    charts: dict[str, list[ChartPoint]] = {}
    for name in names:
        if name in sb.evaluator.metric_alarms:
            series = sb.evaluator.chart(name, sb.clock.start, sb.clock.now())
            if series:
                charts[name] = next(iter(series.values()))
    return charts


# Timeline kinds drawn as vertical markers on an alarm's chart
_MARKED = {"page": "paged", "update": "joined", "ack": "acknowledged", "resolved": "resolved", "route": ""}


def _chart(name: str, points: Sequence[ChartPoint], result: DrillResult) -> str:
    from sandbox.html import Line, Marker, Span, Threshold, svg_chart

    when = datetime.fromisoformat
    own = [e for e in result.timeline if e.data.get("alarm") == name]
    markers = [
        Marker(
            when(e.at), f"{_MARKED[e.kind]} {e.data.get('tier', '')}".strip() if _MARKED[e.kind] else e.title
        )
        for e in result.timeline
        if e.kind in _MARKED and (e in own or e.kind == "route")
    ]
    spans: list[Span] = []
    for e in own:
        if e.kind == "alarm" and e.data.get("state") == "ALARM":
            spans.append(Span(when(e.at), None, "in ALARM"))
        elif e.kind == "alarm" and spans and spans[-1].end is None:
            spans[-1] = Span(spans[-1].start, when(e.at), "in ALARM")
    lines = [Line("value", [(p.timestamp, p.value) for p in points])]
    thresholds: list[Threshold] = []
    if any(p.lower is not None and p.upper is not None for p in points):  # anomaly band
        lines.append(Line("band lower", [(p.timestamp, p.lower) for p in points], "#9ca3af"))
        lines.append(Line("band upper", [(p.timestamp, p.upper) for p in points], "#6b7280"))
    else:
        value = next((p.upper if p.upper is not None else p.lower for p in points), None)
        if value is not None:
            thresholds.append(Threshold("threshold", value))
    return svg_chart(name, lines, thresholds=thresholds, markers=markers, spans=spans)


def render_html(result: DrillResult, charts: dict[str, list[ChartPoint]]) -> str:
    """The drill's report page (sandbox.html, shared with `report`)."""
    from sandbox.html import page, section
    from sandbox.html import table as html_table

    sc = result.scenario
    timeline = html_table(
        ("minute", "time", "what", "event", "detail"),
        [(f"{e.minute:.0f}", e.at[11:16], e.kind, e.title, e.detail) for e in result.timeline],
    )
    models = html_table(
        (
            "model",
            "requests",
            "errors",
            "throttles",
            "input tokens",
            "output tokens",
            "cost USD",
            "p50 ms",
            "p95 ms",
        ),
        [model_cells(r) for r in result.models],
    )
    incidents = html_table(
        ("alarms (first + joined)", "severity", "opened", "tiers paged", "acknowledged by", "status"),
        [
            (
                _alarms_cell(i, result.stack_name),
                i.get("severity"),
                _clock(i.get("openedAtSimulated")),
                " > ".join(str(p["tier"]) for p in i.get("pagedTiers", [])) or None,
                i.get("acknowledgedBy"),
                i.get("status"),
            )
            for i in result.incidents
        ],
    )
    sections = [
        section(
            "Alarms that fired",
            "<p>Each alarm's compared value per period, its threshold (dashed), the time it spent in "
            "ALARM (shaded) and what happened: pages, acknowledgements, resolution, route changes.</p>",
            *(_chart(name, points, result) for name, points in charts.items()),
        ),
        section("Timeline", timeline),
        section("Per model (the meter's metrics)", models),
        section("Incidents", incidents),
    ]
    subtitle = (
        f"{sc.description} {sc.duration_minutes} simulated minutes at {sc.scale:g}x; "
        f"{result.wall_seconds:.0f} s wall time."
    )
    return page(f"bedrock-watch drill: {sc.name}", sections, subtitle=subtitle)
