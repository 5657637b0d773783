"""Self-contained HTML reports with inline SVG charts (no JavaScript, no CDN, no network).

Shared by the sandbox's reports (`report` on real logs, the drill's report):

    page(title, sections, subtitle="") -> str          a whole HTML document with inline CSS
    section(heading, *parts) -> str                     an <h2> and its parts
    table(headers, rows) -> str                         an HTML table (cells escaped)
    svg_chart(title, lines, *, thresholds, markers, spans, unit) -> str
        lines: [Line(label, [(datetime, value | None), …])] — None breaks the line
        thresholds: [Threshold(label, value)] — dashed horizontal lines
        markers: [Marker(when, label)] — vertical lines (e.g. "fired", "paged", "failover")
        spans: [Span(start, end | None, label)] — shaded intervals (e.g. an alarm episode)
    esc(text) -> str

Charts scale to the data and every threshold, so a threshold above all values is still drawn.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

PALETTE: Final = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
THRESHOLD_COLOUR: Final = "#b91c1c"
MARKER_COLOUR: Final = "#f59e0b"
_CSS: Final = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;
color:#111827;padding:0 1rem}
h1{margin-bottom:.2rem}.sub{color:#6b7280;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}
th,td{border-bottom:1px solid #e5e7eb;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f9fafb}
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.2rem}
svg text{font-size:11px;fill:#374151}.legend span{margin-right:1rem;font-size:.8rem}
"""


def esc(text: Any) -> str:
    """`text` as HTML-safe text."""
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[tuple[datetime, float | None]]
    colour: str | None = None


@dataclass(frozen=True)
class Threshold:
    label: str
    value: float


@dataclass(frozen=True)
class Marker:
    when: datetime
    label: str


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime | None
    label: str


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def svg_chart(
    title: str,
    lines: Sequence[Line],
    *,
    thresholds: Sequence[Threshold] = (),
    markers: Sequence[Marker] = (),
    spans: Sequence[Span] = (),
    unit: str = "",
    width: int = 1000,
    height: int = 240,
) -> str:
    """A <figure> with an inline SVG line chart over time."""
    left, right, top, bottom = 70, 20, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [t for line in lines for t, _ in line.points] + [m.when for m in markers]
    values = [v for line in lines for _, v in line.points if v is not None] + [t.value for t in thresholds]
    parts: list[str] = []
    if not times:
        return f"<figure><figcaption>{esc(title)}</figcaption><p>no data</p></figure>"
    t0, t1 = min(times).timestamp(), max(times).timestamp()
    t1 = t1 if t1 > t0 else t0 + 60
    lo = min([0.0, *values])
    hi = max([*values, lo + 1e-9]) * 1.08 if values else 1.0
    hi = hi if hi > lo else lo + 1.0

    def x(when: datetime) -> float:
        # clamped: an episode may end (or a marker fall) after the last datapoint
        return left + min(max((when.timestamp() - t0) / (t1 - t0), 0.0), 1.0) * plot_w

    def y(value: float) -> float:
        return top + plot_h - (value - lo) / (hi - lo) * plot_h

    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#d1d5db"/>'
    )
    for span in spans:
        x0 = x(span.start)
        x1 = x(span.end) if span.end is not None else left + plot_w
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" height="{plot_h}" '
            f'fill="{MARKER_COLOUR}" fill-opacity="0.15"><title>{esc(span.label)}</title></rect>'
        )
    for k in range(5):
        tick = lo + (hi - lo) * k / 4
        vy = f"{y(tick):.1f}"
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{vy}" y2="{vy}" stroke="#f3f4f6"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{esc(_fmt(tick))}</text>'
        )
    for k in range(5):
        t = t0 + (t1 - t0) * k / 4
        when = datetime.fromtimestamp(t, min(times).tzinfo)
        label = esc(when.strftime("%m-%d %H:%M"))
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        parts.append(f'<text x="{x(when):.1f}" y="{height - 10}" text-anchor="{anchor}">{label}</text>')
    for threshold in thresholds:
        parts.append(
            f'<line class="threshold" x1="{left}" x2="{left + plot_w}" y1="{y(threshold.value):.1f}" '
            f'y2="{y(threshold.value):.1f}" stroke="{THRESHOLD_COLOUR}" stroke-dasharray="6 4">'
            f"<title>{esc(threshold.label)}: {esc(_fmt(threshold.value))}</title></line>"
            f'<text x="{left + plot_w - 4}" y="{y(threshold.value) - 4:.1f}" text-anchor="end" '
            f'style="fill:{THRESHOLD_COLOUR}">{esc(threshold.label)} {esc(_fmt(threshold.value))}</text>'
        )
    legend = []
    for n, line in enumerate(lines):
        colour = line.colour or PALETTE[n % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for when, value in line.points:
            if value is None:
                segments.append([])
            else:
                segments[-1].append(f"{x(when):.1f},{y(value):.1f}")
        for segment in segments:
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif segment:
                parts.append(
                    f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="1.5" '
                    f'points="{" ".join(segment)}"><title>{esc(line.label)}</title></polyline>'
                )
        legend.append(f'<span style="color:{colour}">&#9632; {esc(line.label)}</span>')
    for marker in markers:
        mx = x(marker.when)
        parts.append(
            f'<line class="marker" x1="{mx:.1f}" x2="{mx:.1f}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{MARKER_COLOUR}" stroke-width="2"><title>{esc(marker.label)}</title></line>'
        )
    if thresholds:
        legend.append(f'<span style="color:{THRESHOLD_COLOUR}">- - threshold</span>')
    if markers or spans:
        legend.append(f'<span style="color:{MARKER_COLOUR}">| event / in ALARM</span>')
    caption = esc(title) + (f" <small>({esc(unit)})</small>" if unit else "")
    return (
        f"<figure><figcaption>{caption}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{esc(title)}">{"".join(parts)}</svg>'
        f'<div class="legend">{"".join(legend)}</div></figure>'
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table; None shows as a dash."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc('-' if c is None else c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def section(heading: str, *parts: str) -> str:
    return f"<section><h2>{esc(heading)}</h2>{''.join(parts)}</section>"


def page(title: str, sections: Iterable[str], *, subtitle: str = "") -> str:
    """A complete, self-contained HTML document."""
    sub = f'<p class="sub">{esc(subtitle)}</p>' if subtitle else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{esc(title)}</h1>{sub}{''.join(sections)}</body></html>\n"
    )
