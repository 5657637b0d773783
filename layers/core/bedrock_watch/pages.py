"""What a page says: LLM context for the person paged, never prompt or response text.

`context_from_alarm` copies an allow-list of fields out of the "CloudWatch Alarm State Change"
event and the alarm's tags (alarm, severity, state reason, the metric's recent values, model /
route / application from dimensions and tags, burn rate when the alarm is about the budget) and
adds the links (dashboard, alarm, runbook section). Nothing else in the event is ever read, so no
prompt or response text can reach a pager even if it somehow ended up in an event.
`render` turns the context into a channel-neutral `Message` each channel formats its own way.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bedrock_watch.contract import (
    BUDGET_METRICS,
    DIMENSION_APPLICATION,
    DIMENSION_MODEL,
    TAG_REMEDIATION,
    TAG_ROUTE,
    TAG_RUNBOOK,
    TAG_SEVERITY,
)

Kind = Literal["page", "final", "channel_failure", "acknowledged", "resolved", "update", "digest"]
MAX_LISTED_ALARMS = 10
MAX_REASON = 600
MAX_VALUES = 5


@dataclass(frozen=True, slots=True)
class PageContext:
    """Everything a page may show about the alarm (stored on the incident, re-used by every notice)."""

    alarm_name: str
    alarm_arn: str
    region: str
    severity: str
    state_reason: str
    state_timestamp: str
    description: str = ""
    metric: str = ""
    threshold: float | None = None
    recent_values: list[float] = field(default_factory=list)
    model_id: str = ""
    route: str = ""
    application: str = ""
    budget_related: bool = False
    burn_rate_usd_per_hour: float | None = None
    remediation: str = ""
    dashboard_url: str = ""
    alarm_url: str = ""
    runbook_url: str = ""
    # A composite alarm pages with the states of the alarms its rule names ("name: STATE — reason").
    inputs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PageContext:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        known["recent_values"] = [float(v) for v in known.get("recent_values", [])]
        known["inputs"] = [str(v) for v in known.get("inputs", [])]
        for key in ("threshold", "burn_rate_usd_per_hour"):
            if known.get(key) is not None:
                known[key] = float(known[key])
        return cls(**known)


@dataclass(frozen=True, slots=True)
class Message:
    """A channel-neutral notice: title, summary, labelled facts, links and the acknowledge link."""

    kind: Kind
    incident_id: str
    severity: str
    tier: str
    title: str
    summary: str
    facts: list[tuple[str, str]]
    links: list[tuple[str, str]]
    ack_url: str = ""
    ack_token: str = ""

    def text(self) -> str:
        """Plain text (email, SMS, fallbacks)."""
        lines = [self.title, "", self.summary, ""]
        lines += [f"{label}: {value}" for label, value in self.facts]
        if self.links:
            lines.append("")
            lines += [f"{label}: {url}" for label, url in self.links]
        if self.ack_url:
            lines += ["", f"Acknowledge (stops escalation): {self.ack_url}"]
        return "\n".join(lines)


def _metric_stats(detail: dict[str, Any]) -> list[dict[str, Any]]:
    metrics = (detail.get("configuration") or {}).get("metrics") or []
    return [m["metricStat"] for m in metrics if isinstance(m, dict) and isinstance(m.get("metricStat"), dict)]


def _reason_data(state: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(state.get("reasonData") or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _floats(values: Any) -> list[float]:
    out: list[float] = []
    for item in values if isinstance(values, list) else []:
        value = item.get("value") if isinstance(item, dict) else item
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(float(value))
    return out[-MAX_VALUES:]


def console_url(region: str, fragment: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#{fragment}"


def runbook_url(tag: str, base_url: str, alarm_name: str) -> str:
    """The Runbook tag as a URL: full URLs kept, anchors joined to the runbook's base URL."""
    if tag.startswith(("https://", "http://")):
        return tag
    anchor = tag.lstrip("#") or "escalation"
    return f"{base_url}#{anchor}" if base_url else f"#{anchor} (runbook for {alarm_name})"


def context_from_alarm(
    event: dict[str, Any],
    tags: dict[str, str],
    *,
    dashboard_name: str,
    runbook_base_url: str,
    burn_rate_usd_per_hour: float | None = None,
    default_severity: str = "warning",
    alarm_name: str = "",
    dimensions: dict[str, str] | None = None,
) -> PageContext:
    """The page context of an alarm state-change event (allow-listed fields only).

    A contributor of a multi-time-series alarm passes its own `alarm_name` (the alarm's name and
    its attributes) and its attributes as `dimensions` (the Application of a per-application
    budget)."""
    detail = event.get("detail") or {}
    state = detail.get("state") or {}
    region = str(event.get("region") or "us-east-1")
    alarm_name = alarm_name or str(detail.get("alarmName") or "")
    resources = event.get("resources") or []
    alarm_arn = str(resources[0]) if resources else ""
    stats = _metric_stats(detail)
    dims: dict[str, str] = {}
    metric = ""
    budget_related = False
    for stat in stats:
        m = stat.get("metric") or {}
        dims.update({str(k): str(v) for k, v in (m.get("dimensions") or {}).items()})
        name = str(m.get("name") or "")
        budget_related = budget_related or name in BUDGET_METRICS
        if not metric and name:
            metric = f"{m.get('namespace', '')}/{name} ({stat.get('stat', '')}, {stat.get('period', '')}s)"
    for query in insights_queries(detail):
        budget_related = budget_related or any(name in query for name in BUDGET_METRICS)
        metric = metric or f"Metrics Insights: {query[:200]}"
    dims.update(dimensions or {})
    reason_data = _reason_data(state)
    values = _floats(reason_data.get("recentDatapoints")) or _floats(reason_data.get("evaluatedDatapoints"))
    threshold = reason_data.get("threshold")
    remediation = tags.get(TAG_REMEDIATION, "none")
    route = tags.get(TAG_ROUTE, "")
    severity = tags.get(TAG_SEVERITY, default_severity)
    reason = str(state.get("reason") or "")
    return PageContext(
        alarm_name=alarm_name,
        alarm_arn=alarm_arn,
        region=region,
        severity=severity,
        state_reason=reason[:MAX_REASON],
        state_timestamp=str(state.get("timestamp") or event.get("time") or ""),
        description=str((detail.get("configuration") or {}).get("description") or "")[:MAX_REASON],
        metric=metric,
        threshold=float(threshold) if isinstance(threshold, int | float) else None,
        recent_values=values,
        model_id=dims.get(DIMENSION_MODEL, ""),
        route=route,
        application=dims.get(DIMENSION_APPLICATION, ""),
        budget_related=budget_related,
        burn_rate_usd_per_hour=burn_rate_usd_per_hour if budget_related else None,
        remediation="" if remediation == "none" else f"{remediation} of route {route or '(unnamed)'}",
        dashboard_url=console_url(region, f"dashboards/dashboard/{urllib.parse.quote(dashboard_name)}")
        if dashboard_name
        else "",
        alarm_url=console_url(
            region, f"alarmsV2:alarm/{urllib.parse.quote(str(detail.get('alarmName') or alarm_name))}"
        ),
        runbook_url=runbook_url(tags.get(TAG_RUNBOOK, ""), runbook_base_url, alarm_name),
    )


def insights_queries(detail: dict[str, Any]) -> list[str]:
    """The Metrics Insights queries (SELECT …) among an alarm's metrics."""
    metrics = (detail.get("configuration") or {}).get("metrics") or []
    queries = [m.get("expression") for m in metrics if isinstance(m, dict)]
    return [q for q in queries if isinstance(q, str) and q.lstrip().upper().startswith("SELECT")]


def is_multi_time_series(detail: dict[str, Any]) -> bool:
    """Whether the alarm is a Metrics Insights alarm with GROUP BY: each group is a contributor,
    and contributor events (not the alarm's own) say which one crossed."""
    return any(" GROUP BY " in f" {q.upper()} " for q in insights_queries(detail))


_RULE_ALARM = re.compile(r"""\b(?:ALARM|OK|INSUFFICIENT_DATA)\(\s*"?([^")]+?)"?\s*\)""")


def composite_children(event: dict[str, Any]) -> list[str]:
    """Names of the alarms a composite alarm's rule refers to (empty for a metric alarm)."""
    rule = ((event.get("detail") or {}).get("configuration") or {}).get("alarmRule")
    if not isinstance(rule, str):
        return []
    names = [ref.rsplit(":alarm:", 1)[-1] for ref in _RULE_ALARM.findall(rule)]
    return list(dict.fromkeys(names))


def input_lines(alarms: list[dict[str, Any]]) -> list[str]:
    """One line per child alarm (DescribeAlarms MetricAlarms entries): name, state, reason."""
    return [
        f"{a.get('AlarmName', '')}: {a.get('StateValue', '')} — {str(a.get('StateReason', ''))[:MAX_REASON]}"
        for a in alarms
    ]


def _facts(ctx: PageContext) -> list[tuple[str, str]]:
    facts = [("Alarm", ctx.alarm_name), ("Severity", ctx.severity), ("Since", ctx.state_timestamp)]
    if ctx.metric:
        facts.append(("Metric", ctx.metric))
    if ctx.recent_values:
        values = ", ".join(f"{v:g}" for v in ctx.recent_values)
        facts.append(
            (
                "Recent values",
                values + (f" (threshold {ctx.threshold:g})" if ctx.threshold is not None else ""),
            )
        )
    facts += [("Input", line) for line in ctx.inputs]
    for label, value in (("Model", ctx.model_id), ("Route", ctx.route), ("Application", ctx.application)):
        if value:
            facts.append((label, value))
    if ctx.budget_related:
        burn = ctx.burn_rate_usd_per_hour
        facts.append(("Spend burn rate", f"${burn:,.2f}/hour" if burn is not None else "unknown"))
    facts.append(("Remediation", f"{ctx.remediation} started automatically" if ctx.remediation else "none"))
    return facts


def _links(ctx: PageContext) -> list[tuple[str, str]]:
    links = [("Dashboard", ctx.dashboard_url), ("Alarm", ctx.alarm_url), ("Runbook", ctx.runbook_url)]
    return [(label, url) for label, url in links if url]


def _alarm_list(alarms: list[tuple[str, str]]) -> str:
    shown = [f"{name}: {state}" for name, state in alarms[:MAX_LISTED_ALARMS]]
    more = len(alarms) - MAX_LISTED_ALARMS
    return " · ".join(shown) + (f" · (+{more} more)" if more > 0 else "")


def render(
    ctx: PageContext,
    *,
    kind: Kind,
    incident_id: str,
    tier: str,
    ack_url: str = "",
    ack_token: str = "",
    note: str = "",
    alarms: list[tuple[str, str]] | None = None,
    lead: str = "",
    severity: str = "",
) -> Message:
    """The message of one notice about an incident (a page, the final notice, a failure report…).

    `ctx` is the alarm the notice is about (for an update: the alarm that joined); `alarms` lists
    every alarm of the incident with its state (shown when there is more than one); `lead` names
    the incident's first alarm, which an update refers to; `severity`, the incident's when it
    differs from the alarm's (an update about a warning alarm on a critical incident)."""
    severity = severity or ctx.severity
    sev = severity.upper()
    alarms = alarms or []
    more = f" (+{len(alarms) - 1} more alarm{'s' if len(alarms) > 2 else ''})" if len(alarms) > 1 else ""
    subject = lead or ctx.alarm_name
    titles: dict[Kind, str] = {
        "page": f"[{sev}] {ctx.alarm_name} is in ALARM{more}",
        "final": f"[{sev}] UNACKNOWLEDGED: {ctx.alarm_name}{more} — escalation exhausted",
        "channel_failure": f"[{sev}] {ctx.alarm_name}: a paging channel failed",
        "acknowledged": f"[ACK] {ctx.alarm_name}{more} acknowledged",
        "resolved": f"[RESOLVED] {ctx.alarm_name}{more} is OK again",
        "update": f"[{sev}] Update on {subject}: {ctx.alarm_name} is in ALARM too",
        "digest": f"[{sev}] bedrock-watch digest: {note.split(chr(10), 1)[0]}",
    }
    summaries: dict[Kind, str] = {
        "page": ctx.state_reason or ctx.description,
        "final": "Every tier was paged and nobody acknowledged. The incident stays open. " + ctx.state_reason,
        "channel_failure": note,
        "acknowledged": note,
        "resolved": note or "The alarm returned to OK; escalation stopped.",
        "update": note or ctx.state_reason,
        "digest": note,
    }
    facts = [] if kind == "digest" else _facts(ctx)
    if len(alarms) > 1:
        facts.append(("Alarms", _alarm_list(alarms)))
    actionable = kind in ("page", "final", "channel_failure", "update")
    return Message(
        kind=kind,
        incident_id=incident_id,
        severity=severity,
        tier=tier,
        title=titles[kind],
        summary=summaries[kind],
        facts=[*facts, ("Incident", incident_id), ("Tier", tier)],
        links=[] if kind == "digest" else _links(ctx),
        ack_url=ack_url if actionable else "",
        ack_token=ack_token if actionable else "",
    )
