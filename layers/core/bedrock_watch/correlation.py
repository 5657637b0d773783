"""Which alarms are one root cause, so they share one incident (docs/decisions.md, "One incident per
root cause"). The rules, all of them, live here; the incident store applies them atomically.

An alarm's cause is read from its tags and the metric dimensions of its state-change event:

- its **area** (the `Area` tag: `traffic` health, `spend`, the `pipeline`); alarms of different
  areas never group — a throttling storm and a budget line crossed at the same time are two causes,
  even on the same route;
- its **keys**, what it is about: `model:<base model id>` (the ModelId dimension, profile prefixes
  resolved, so `us.` and `global.` of one model are one model), `route:<name>` (the Route tag),
  `application:<name>` (the Application dimension, or a per-application budget's contributor);
- its **links**: its own name and, for a composite, the name of every alarm its rule refers to.

An alarm joins an open (or acknowledged) incident of its area whose latest alarm changed state no
longer than the correlation window before it (each alarm that joins extends the window) when:

1. they share a key or a link (the same model, route, application, or composite and input); or
2. the alarm has no key (a stack-wide alarm: all-traffic error rate, the stack budget) — it joins
   the newest incident of its area; or
3. the incident has no key yet (it was opened by stack-wide alarms) — the first specific alarm
   that joins makes it about that model, route or application.

So a model's throttle, error-rate and latency alarms are one incident, the all-traffic alarms the
same storm trips join it, and two different models failing at once are two incidents. Alarms
without an `Area` tag (from EscalationAlarmPrefixes) group only by key or link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bedrock_watch.contract import (
    AREAS,
    DIMENSION_APPLICATION,
    DIMENSION_MODEL,
    SEVERITIES,
    TAG_AREA,
    TAG_ROUTE,
)
from bedrock_watch.records import parse_model_id

SEVERITY_RANK = {"warning": 1, "critical": 2}
assert set(SEVERITY_RANK) == SEVERITIES


@dataclass(frozen=True, slots=True)
class Cause:
    """What an alarm (or an incident, the union of its alarms) is about."""

    area: str  # "" when the alarm has no Area tag
    keys: frozenset[str]  # model:…, route:…, application:…
    links: frozenset[str]  # alarm:<name> of itself and of a composite's inputs

    @property
    def specific(self) -> bool:
        return bool(self.keys)

    def pointers(self) -> list[str]:
        """The names the store indexes this cause under, most specific first: each key and link
        qualified by the area, then the area itself (the newest incident of the area)."""
        qualified = [f"{self.area}|{k}" for k in sorted(self.keys)] + [
            f"{self.area}|{k}" for k in sorted(self.links)
        ]
        return qualified + ([f"{self.area}|*"] if self.area else [])


def _model(model_id: str) -> str:
    return parse_model_id(model_id).base_id if model_id else ""


def cause_of(
    alarm_name: str,
    tags: Mapping[str, str],
    dimensions: Mapping[str, str],
    *,
    composite_inputs: Iterable[str] = (),
) -> Cause:
    """The cause of one alarm (or one contributor of a multi-time-series alarm, whose attributes
    are passed as `dimensions`)."""
    area = tags.get(TAG_AREA, "")
    area = area if area in AREAS else ""
    keys = set()
    if model := _model(dimensions.get(DIMENSION_MODEL, "")):
        keys.add(f"model:{model}")
    if route := tags.get(TAG_ROUTE, ""):
        keys.add(f"route:{route}")
    if application := dimensions.get(DIMENSION_APPLICATION, ""):
        keys.add(f"application:{application}")
    links = {f"alarm:{alarm_name}", *(f"alarm:{name}" for name in composite_inputs)}
    return Cause(area, frozenset(keys), frozenset(links))


def joins(alarm: Cause, incident: Cause) -> bool:
    """Whether an alarm of cause `alarm` is the same root cause as an incident of cause `incident`
    (the window is the store's to check: it needs the incident's latest time)."""
    if alarm.area != incident.area:
        return False
    if (alarm.keys & incident.keys) or (alarm.links & incident.links):
        return True
    if not alarm.area:
        return False  # no area: only a shared key or link groups
    return not alarm.specific or not incident.specific


def within(alarm_at: float, latest_at: float, window_seconds: float) -> bool:
    """Whether an alarm changing state at `alarm_at` is inside the window of an incident whose
    latest alarm changed state at `latest_at` (either order: events arrive out of order)."""
    return abs(alarm_at - latest_at) <= window_seconds


def higher(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b
