"""The drill's outputs: the summary tables it prints, timeline.json and report.html.

The HTML report is one self-contained file (inline SVG, no scripts, nothing fetched): for every
alarm that went to ALARM, its compared series per period with the threshold line, the periods
in alarm shaded, and the drill's events (pages, acknowledgements, route changes) marked as
vertical lines; then the timeline and the tables.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from sandbox.metrics import MetricKey, MetricStore

if TYPE_CHECKING:
    from sandbox.alarms import ChartPoint
    from sandbox.drill import DrillResult, Entry
    from sandbox.runtime import Sandbox


def model_rows(store: MetricStore, namespace: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per ModelId (most requests first), from the metrics the meter published: what CloudWatch holds."""

    def stat(name: str, stat_: str, **dims: str) -> float | None:
        return store.statistic(MetricKey.of(namespace, name, dims or None), stat_, start, end)

    models = sorted(
        {
            dict(k.dimensions)["ModelId"]
            for k in store.keys(namespace, "Requests")
            if dict(k.dimensions).keys() == {"ModelId"}
        }
    )
    rows: list[dict[str, Any]] = []
    for model in [*models, ""]:
        dims = {"ModelId": model} if model else {}
        rows.append(
            {
                "model": model or "all models",
                "requests": stat("Requests", "Sum", **dims) or 0.0,
                "errors": stat("Errors", "Sum", **dims) or 0.0,
                "throttles": stat("Throttles", "Sum", **dims) or 0.0,
                "input_tokens": stat("InputTokens", "Sum", **dims) or 0.0,
                "output_tokens": stat("OutputTokens", "Sum", **dims) or 0.0,
                "cost_usd": stat("CostUSD", "Sum", **dims) or 0.0,
                "p50_ms": stat("Latency", "p50", **dims),
                "p95_ms": stat("Latency", "p95", **dims),
            }
        )
    body = sorted(rows[:-1], key=lambda r: (-float(r["requests"]), str(r["model"])))
    return [*body, rows[-1]]


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
    body = [
        (
            r["model"],
            f"{r['requests']:,.0f}",
            f"{r['errors']:,.0f}",
            f"{r['throttles']:,.0f}",
            f"{r['input_tokens']:,.0f}",
            f"{r['output_tokens']:,.0f}",
            f"{r['cost_usd']:,.2f}",
            _ms(r["p50_ms"]),
            _ms(r["p95_ms"]),
        )
        for r in rows
    ]
    return table(header, body)


def _clock(iso: Any) -> str:
    return str(iso or "")[11:16] or "-"


def incident_table(result: DrillResult) -> str:
    header = ("alarm", "severity", "opened", "tiers paged", "acknowledged by", "status")
    body = []
    for inc in result.incidents:
        tiers = " > ".join(str(p["tier"]) for p in inc.get("pagedTiers", []))
        body.append(
            (
                str(inc["alarmName"]).split("-", 2)[-1]
                if str(inc["alarmName"]).startswith("bedrock-watch-")
                else str(inc["alarmName"]),
                str(inc.get("severity", "")),
                _clock(inc.get("openedAtSimulated")),
                tiers or "-",
                str(inc.get("acknowledgedBy") or "-"),
                str(inc.get("status", "")),
            )
        )
    return table(header, body)


def write_outputs(result: DrillResult, sb: Sandbox, out: TextIO) -> None:
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
    out.write(
        f"\n{alarms} alarm transitions to ALARM, {counts.get('page', 0)} pages, "
        f"{counts.get('ack', 0)} acknowledgements, "
        f"{counts.get('route', 0)} route changes, {counts.get('resolved', 0)} incidents resolved; "
        f"{result.wall_seconds:.0f} s wall time\n"
    )
    result.out_dir.mkdir(parents=True, exist_ok=True)
    charts = charts_for(result, sb)
    (result.out_dir / "timeline.json").write_text(
        json.dumps(timeline_json(result), indent=1, default=str) + "\n"
    )
    (result.out_dir / "report.html").write_text(render_html(result, charts))
    out.write(f"\nreport:   {result.out_dir / 'report.html'}\ntimeline: {result.out_dir / 'timeline.json'}\n")


def charts_for(result: DrillResult, sb: Sandbox) -> dict[str, list[ChartPoint]]:
    """One chart per alarm that went to ALARM (its first contributor)."""
    names = []
    for e in result.timeline:
        name = e.data.get("alarm")
        if e.kind == "alarm" and e.data.get("state") == "ALARM" and name not in names:
            names.append(name)
    charts = {}
    start = datetime.fromisoformat(result.timeline[0].at) if result.timeline else sb.clock.start
    start = sb.clock.start
    for name in names:
        if name in sb.evaluator.metric_alarms:
            series = sb.evaluator.chart(name, start, sb.clock.now())
            if series:
                charts[str(name)] = next(iter(series.values()))
    return charts


_MARK = {"page": "#d9480f", "ack": "#2b8a3e", "route": "#1971c2", "resolved": "#5c940d"}


def _svg(
    name: str, points: Sequence[ChartPoint], events: Sequence[Entry], start: datetime, end: datetime
) -> str:
    width, height, pad = 760, 180, 40
    span = max(1.0, (end - start).total_seconds())
    values = [p.value for p in points if p.value is not None] + [
        v for p in points for v in (p.upper, p.lower) if v is not None
    ]
    top = max(values or [1.0]) * 1.15 or 1.0

    def x(t: datetime) -> float:
        return pad + (width - 2 * pad) * (t - start).total_seconds() / span

    def y(v: float) -> float:
        return height - pad / 2 - (height - pad) * v / top

    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    parts.append(
        f'<rect x="{pad}" y="{pad / 2}" width="{width - 2 * pad}" height="{height - pad}" '
        'fill="#fafafa" stroke="#ccc"/>'
    )
    for e in events:
        if e.kind in _MARK and (e.data.get("alarm") in {None, name} or e.kind == "route"):
            ex = x(datetime.fromisoformat(e.at))
            parts.append(
                f'<line x1="{ex:.1f}" x2="{ex:.1f}" y1="{pad / 2}" y2="{height - pad / 2}" '
                f'stroke="{_MARK[e.kind]}" '
                f'stroke-dasharray="3,2"><title>{html.escape(e.title)}</title></line>'
            )
    thresholds = [(p.timestamp, p.upper if p.upper is not None else p.lower) for p in points]
    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in thresholds if v is not None)
    if line:
        parts.append(f'<polyline points="{line}" fill="none" stroke="#e03131" stroke-width="1.5"/>')
    series = " ".join(f"{x(p.timestamp):.1f},{y(p.value):.1f}" for p in points if p.value is not None)
    if series:
        parts.append(f'<polyline points="{series}" fill="none" stroke="#364fc7" stroke-width="2"/>')
    parts.append(f'<text x="{pad}" y="12" font-size="11">max {top / 1.15:,.4g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(result: DrillResult, charts: dict[str, list[ChartPoint]]) -> str:
    sc = result.scenario
    start = datetime.fromisoformat(result.timeline[0].at) if result.timeline else datetime.now()
    end = datetime.fromisoformat(result.timeline[-1].at) if result.timeline else start
    if charts:
        first = next(iter(charts.values()))
        start = min(start, first[0].timestamp)
        end = max(end, first[-1].timestamp)
    esc = html.escape
    body = [
        f"<h1>bedrock-watch drill: {esc(sc.name)}</h1><p>{esc(sc.description)}</p>",
        f"<p>{sc.duration_minutes} simulated minutes at {sc.scale:g}x; "
        f"{result.wall_seconds:.0f} s wall time. "
        "Blue: the alarm's compared value per period; red: its threshold; dashed lines: pages (orange), "
        "acknowledgements (green), route changes (blue), resolutions (olive).</p>",
    ]
    for name, points in charts.items():
        body.append(f"<h3>{esc(name)}</h3>{_svg(name, points, result.timeline, start, end)}")
    body.append(
        "<h2>Timeline</h2><table><tr><th>min</th><th>time</th><th>what</th><th>event</th><th>detail</th></tr>"
    )
    for e in result.timeline:
        body.append(
            f"<tr><td>{e.minute:.0f}</td><td>{esc(e.at[11:16])}</td><td>{esc(e.kind)}</td>"
            f"<td>{esc(e.title)}</td><td><pre>{esc(e.detail)}</pre></td></tr>"
        )
    body.append("</table><h2>Per model</h2><pre>" + esc(model_table(result.models)) + "</pre>")
    if result.incidents:
        body.append("<h2>Incidents</h2><pre>" + esc(incident_table(result)) + "</pre>")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "td,th{border-bottom:1px solid #eee;padding:2px 6px;vertical-align:top;text-align:left;"
        "font-size:13px}"
        "pre{margin:0;white-space:pre-wrap}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>drill {esc(sc.name)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
