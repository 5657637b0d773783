"""The `report --html` page: tables of the report and charts of the per-minute metrics and of
each backtested alarm's series with its thresholds and the times it fired."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sandbox.alarms import ChartPoint
from sandbox.html import Line, Marker, Span, Threshold, page, section, svg_chart, table
from sandbox.report import GROUP_HEADERS, Report, error_class_table, group_rows

_PER_MINUTE = (
    ("Requests and errors per minute", ("Requests", "Errors", "Throttles"), "count"),
    ("Cost per minute", ("CostUSD",), "USD"),
    ("Tokens per minute", ("TotalTokens",), "tokens"),
)


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _minute_charts(report: Report) -> list[str]:
    agg = report.aggregator
    minutes = sorted(minute for minute, dims in agg.minutes if dims == ())
    stamps = [datetime.fromtimestamp(m / 1000, UTC) for m in minutes]
    charts = []
    for title, names, unit in _PER_MINUTE:
        lines = [
            Line(
                name,
                [
                    (t, float(agg.minutes[(m, ())].sums.get(name, 0)))
                    for t, m in zip(stamps, minutes, strict=True)
                ],
            )
            for name in names
        ]
        charts.append(svg_chart(title, lines, unit=unit))
    periods = sorted(start for start, dims in agg.sketch_periods if dims == ())
    latency = []
    for p in (50.0, 95.0, 99.0):
        points: list[tuple[datetime, float | None]] = []
        for start in periods:
            sketch = agg.sketch_periods[(start, ())].sketches.get("Latency")
            points.append((datetime.fromtimestamp(start / 1000, UTC), sketch.quantile(p) if sketch else None))
        latency.append(Line(f"p{p:g}", points))
    every = f"{agg.sketch_period_ms // 60_000} min"
    charts.append(svg_chart(f"Latency per {every}", latency, unit="ms"))
    return charts


def _alarm_charts(report: Report, fired: Sequence[Mapping[str, Any]]) -> list[str]:
    """One chart per distinct compared series; alarms sharing it (warning/critical) share the chart."""
    charts = report.backtest.charts()
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name, series in charts.items():
        groups.setdefault(tuple((p.timestamp, p.value) for p in series), []).append(name)
    out = []
    for names in groups.values():
        first: list[ChartPoint] = charts[names[0]]
        lines = [Line("value", [(p.timestamp, p.value) for p in first])]
        thresholds: list[Threshold] = []
        for name in names:
            alarm = report.backtest.metric_alarms[name]
            if alarm.threshold_metric_id:
                points = charts[name]
                lines.append(Line("band lower", [(p.timestamp, p.lower) for p in points], "#9ca3af"))
                lines.append(Line("band upper", [(p.timestamp, p.upper) for p in points], "#6b7280"))
            elif alarm.threshold is not None:
                thresholds.append(Threshold(name.rsplit("-", 1)[-1], alarm.threshold))
        markers = [Marker(_when(e["fired_at"]), f"{e['alarm']} fired") for e in fired if e["alarm"] in names]
        spans = [
            Span(
                _when(e["fired_at"]),
                _when(e["resolved_at"]) if e["resolved_at"] else None,
                f"{e['alarm']} in ALARM",
            )
            for e in fired
            if e["alarm"] in names
        ]
        alarm = report.backtest.metric_alarms[names[0]]
        query = alarm.value_query
        what = query.expression or f"{query.stat}({query.metric.name if query.metric else ''})"
        title = f"{', '.join(names)} — {what} per {alarm.period // 60} min"
        out.append(svg_chart(title, lines, thresholds=thresholds, markers=markers, spans=spans))
    return out


def render_report_html(report: Report, document: Mapping[str, Any]) -> str:
    """The whole HTML page for `report` (document: its `as_dict()`)."""
    d = document
    bt = d["backtest"]
    summary = (
        f"{d['lines']:,} lines from {len(d['files'])} file(s) — {d['records']:,} records, "
        f"{d['malformed']['total']:,} malformed; {d['span']['first_minute']} .. {d['span']['last_minute']}; "
        f"percentiles within {d['percentile_relative_error']:.0%}"
    )
    fired_rows = [
        [e["alarm"], e["fired_at"], e["resolved_at"] or "still in ALARM", e["reason"]] for e in bt["fired"]
    ]
    sections = [
        section("Per model", table(("model", *GROUP_HEADERS), group_rows(d["models"]))),
        section("Per application", table(("application", *GROUP_HEADERS), group_rows(d["applications"]))),
        section("All traffic", table(("", *GROUP_HEADERS), group_rows({"total": d["totals"]}))),
        section(
            "Errors by class",
            *(
                table((label, *classes), rows)
                for label, (classes, rows) in (
                    ("model", error_class_table(d["models"])),
                    ("application", error_class_table(d["applications"])),
                )
                if rows
            ),
        ),
        section("Metrics", *_minute_charts(report)),
        section(
            "Alarm backtest",
            table(("alarm", "fired at", "resolved at", "why"), fired_rows)
            if fired_rows
            else "<p>No alarm would have fired.</p>",
            *_alarm_charts(report, bt["fired"]),
        ),
        section(
            "Alarms not backtested",
            table(("alarm", "why"), [[s["alarm"], s["reason"]] for s in bt["skipped"]]),
            table(("alarm", "approximation"), list(bt["approximated"].items())) if bt["approximated"] else "",
        ),
    ]
    if d["malformed"]["reasons"]:
        sections.append(
            section("Malformed lines", table(("reason", "lines"), list(d["malformed"]["reasons"].items())))
        )
    return page("bedrock-watch report", sections, subtitle=summary)
