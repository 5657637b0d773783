"""Alarm arrivals for store-level tests: an ALARM of a named alarm at a time, about a model or not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bedrock_watch.correlation import cause_of
from bedrock_watch.incidents import Arrival, IncidentStore, OpenOutcome, incident_id_for
from bedrock_watch.pages import PageContext

T0 = 1_795_701_900.0  # 2026-11-26T14:05:00Z
STEPS = {
    "warning": [
        {
            "index": 0,
            "tier": "devops",
            "channels": ["sns", "slack:devops"],
            "round": 0,
            "atSeconds": 0,
            "ackTimeoutSeconds": 60,
        }
    ],
    "critical": [
        {
            "index": 0,
            "tier": "devops",
            "channels": ["sns", "slack:devops", "pagerduty:devops"],
            "round": 0,
            "atSeconds": 0,
            "ackTimeoutSeconds": 60,
        },
        {
            "index": 1,
            "tier": "senior",
            "channels": ["sns", "slack:senior"],
            "round": 0,
            "atSeconds": 60,
            "ackTimeoutSeconds": 60,
        },
    ],
}


def arrival(
    name: str,
    at: float = T0,
    *,
    area: str = "traffic",
    model: str = "",
    route: str = "",
    application: str = "",
    severity: str = "critical",
    inputs: tuple[str, ...] = (),
    context: dict[str, Any] | None = None,
) -> Arrival:
    tags = {"Area": area, **({"Route": route} if route else {})}
    dims = {"ModelId": model, "Application": application}
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return Arrival(
        name=name,
        episode=incident_id_for(f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}", stamp),
        at=at,
        severity=severity,
        context=context
        or PageContext(
            alarm_name=name,
            alarm_arn=f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
            region="us-east-1",
            severity=severity,
            state_reason=f"{name} crossed its threshold",
            state_timestamp=stamp,
            model_id=model,
            route=route,
            application=application,
        ).as_dict(),
        cause=cause_of(name, tags, dims, composite_inputs=inputs),
    )


def open_alarm(store: IncidentStore, item: Arrival, window: float = 1200) -> OpenOutcome:
    return store.open_or_join(item, window_seconds=window, steps_for=lambda sev: list(STEPS[sev]))


def ok(store: IncidentStore, name: str, at: float) -> Any:
    return store.alarm_ok(name, at, "back to OK")
