"""Drill scenarios: what traffic flows, what goes wrong when, who acknowledges, which stack settings.

A scenario is a YAML file (shipped ones in sandbox/scenarios/, or any path). Every value is
checked when it is loaded; a bad value raises ScenarioError naming the field
(`incidents[1].to_minute: must be after from_minute (10)`). The format is documented in the
README ("Scenarios") and by sandbox/scenarios/default.yaml, which uses every field.

Times inside a scenario are simulated: minutes since the drill started for incidents and
actions, simulated seconds for escalation tier delays and remediation waits. The drill runs
`scale` simulated seconds per real second and converts the waits the state machines really sleep
(sandbox.clock.SimClock.scaled) when it deploys the stack.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.clock import utc
from sandbox.template import load_yaml

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
FAMILIES = ("anthropic", "nova", "llama", "mistral")
INCIDENT_KINDS = ("throttling", "latency", "server_errors", "spend_surge")
ACK_VIA = ("link", "console")
# Parameters the scenario derives from its own sections: setting them under `parameters` too
# would leave two sources of truth for the same thing.
DERIVED = {
    "MonitoredModels": "routes (each route's primary) and models[].tpm_quota",
    "Routes": "routes",
    "EscalationPolicy": "escalation",
    "VerifySettleSeconds": "remediation.settle_seconds",
    "FailbackCooldownSeconds": "remediation.failback_cooldown_seconds",
}
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ScenarioError(ValueError):
    """A scenario value is missing or invalid; the message names the field."""


@dataclass(frozen=True)
class Model:
    id: str
    family: str
    latency_ms: float
    ms_per_output_token: float
    ttft_ms: float
    tpm_quota: int | None


@dataclass(frozen=True)
class RouteDecl:
    name: str
    primary: str
    fallbacks: tuple[str, ...]
    cheaper: str | None


@dataclass(frozen=True)
class Application:
    name: str
    route: str
    requests_per_minute: float
    input_tokens: tuple[int, int]
    output_tokens: tuple[int, int]
    error_rate: float
    # runtime: bedrock-runtime, in the invocation log unless logged is false (logging off for its
    # account or region); mantle: the OpenAI-compatible endpoint, only in AWS/BedrockMantle.
    endpoint: str = "runtime"
    logged: bool = True

    @property
    def metered(self) -> bool:
        return self.endpoint == "runtime" and self.logged


@dataclass(frozen=True)
class Incident:
    kind: str
    from_minute: int
    to_minute: int
    model: str | None = None
    application: str | None = None
    rate: float = 0.0  # throttling / server_errors: share of requests that fail
    factor: float = 1.0  # latency: latency multiplier; spend_surge: request and token multiplier

    def active(self, minute: int) -> bool:
        return self.from_minute <= minute < self.to_minute

    def describe(self) -> str:
        what = {
            "throttling": f"{self.rate:.0%} of calls to {self.model} throttled",
            "server_errors": f"{self.rate:.0%} of calls to {self.model} fail with server errors",
            "latency": f"{self.model} {self.factor:g}x slower",
            "spend_surge": f"{self.application} sends {self.factor:g}x the requests and tokens",
        }[self.kind]
        return f"{self.kind.replace('_', ' ')}: {what}"


@dataclass(frozen=True)
class Acknowledge:
    alarm: str  # a part of the alarm's name
    tier: str
    by: str
    after_seconds: int = 0
    via: str = "link"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_minutes: int
    scale: float
    seed: int
    start: datetime | None
    models: dict[str, Model]
    routes: dict[str, RouteDecl]
    applications: tuple[Application, ...]
    incidents: tuple[Incident, ...]
    acknowledgements: tuple[Acknowledge, ...]
    escalation: dict[str, Any]
    settle_seconds: int
    failback_cooldown_seconds: int
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def root_causes(self) -> list[str]:
        """What the scenario breaks on purpose, one entry per root cause: each incident, and each
        runtime application whose calls never reach the invocation log (the meter cannot see
        them; unmetered-requests can). A mantle client is not a cause: no alarm watches it."""
        unlogged = [
            f"unlogged: {a.name}" for a in self.applications if a.endpoint == "runtime" and not a.logged
        ]
        return [i.kind for i in self.incidents] + unlogged

    def real_seconds(self, simulated: float) -> int:
        """Whole real seconds a state machine sleeps for `simulated` seconds (at least 1 unless 0)."""
        if simulated <= 0:
            return 0
        return max(1, round(simulated / self.scale))

    def escalation_policy(self) -> dict[str, Any]:
        """The escalation policy with every `*_seconds` value converted to real seconds."""

        def scale(value: Any, key: str = "") -> Any:
            if isinstance(value, dict):
                return {k: scale(v, k) for k, v in value.items()}
            if isinstance(value, list):
                return [scale(v) for v in value]
            if key.endswith("_seconds") and isinstance(value, int | float):
                return self.real_seconds(value)
            return value

        return dict(scale(self.escalation))

    def stack_parameters(self) -> dict[str, Any]:
        """Parameter overrides for the stack: the scenario's own plus the ones derived from it."""
        monitored = [
            f"{r.primary}={r.name}={self.models[r.primary].tpm_quota}"
            for r in self.routes.values()
            if self.models[r.primary].tpm_quota
        ]
        routes = {
            r.name: {
                "primary": r.primary,
                "fallbacks": list(r.fallbacks),
                **({"cheaper": r.cheaper} if r.cheaper else {}),
            }
            for r in self.routes.values()
        }
        derived: dict[str, Any] = {}
        if "ChannelWindowSeconds" not in self.parameters:
            # the escalation functions count a channel's messages on the wall clock
            derived["ChannelWindowSeconds"] = self.real_seconds(300)
        return {
            **derived,
            **self.parameters,
            "MonitoredModels": ",".join(monitored),
            "Routes": json.dumps(routes),
            "EscalationPolicy": json.dumps(self.escalation_policy()),
            "VerifySettleSeconds": self.real_seconds(self.settle_seconds),
            "FailbackCooldownSeconds": self.real_seconds(self.failback_cooldown_seconds),
        }


# ---------------------------------------------------------------------------- validation helpers
def _fail(where: str, problem: str) -> ScenarioError:
    return ScenarioError(f"{where}: {problem}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a mapping, got {type(value).__name__}")
    return value


def _known(raw: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        prefix = f"{where}." if where else ""
        raise _fail(f"{prefix}{unknown[0]}", f"unknown field (allowed: {', '.join(allowed)})")


def _get(raw: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if key in raw and raw[key] is not None:
        return raw[key]
    if default is ...:
        raise _fail(f"{where}.{key}" if where else key, "is required")
    return default


def _number(value: Any, where: str, *, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"must be a number, got {value!r}")
    if low is not None and value < low:
        raise _fail(where, f"must be at least {low:g}, got {value:g}")
    if high is not None and value > high:
        raise _fail(where, f"must be at most {high:g}, got {value:g}")
    return float(value)


def _int(value: Any, where: str, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be a whole number, got {value!r}")
    _number(value, where, low=low, high=high)
    return value


def _text(value: Any, where: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"must be a non-empty string, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise _fail(where, f"{value!r} does not match {pattern.pattern}")
    return value


def _range(value: Any, where: str) -> tuple[int, int]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _fail(where, f"must be [low, high], got {value!r}")
    low = _int(value[0], f"{where}[0]", low=1)
    high = _int(value[1], f"{where}[1]", low=1)
    if high < low:
        raise _fail(where, f"high ({high}) is below low ({low})")
    return low, high


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, f"must be a list, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------- sections
def _models(raw: Any) -> dict[str, Model]:
    out: dict[str, Model] = {}
    for i, item in enumerate(_list(raw, "models")):
        where = f"models[{i}]"
        m = _mapping(item, where)
        _known(m, where, ("id", "family", "latency_ms", "ms_per_output_token", "ttft_ms", "tpm_quota"))
        model_id = _text(_get(m, "id", where), f"{where}.id")
        if model_id in out:
            raise _fail(f"{where}.id", f"{model_id!r} is listed twice")
        family = _get(m, "family", where)
        if family not in FAMILIES:
            raise _fail(f"{where}.family", f"must be one of {', '.join(FAMILIES)}, got {family!r}")
        quota = _get(m, "tpm_quota", where, None)
        out[model_id] = Model(
            model_id,
            family,
            _number(_get(m, "latency_ms", where, 400), f"{where}.latency_ms", low=1),
            _number(_get(m, "ms_per_output_token", where, 10), f"{where}.ms_per_output_token", low=0),
            _number(_get(m, "ttft_ms", where, 300), f"{where}.ttft_ms", low=1),
            None if quota is None else _int(quota, f"{where}.tpm_quota", low=1),
        )
    if not out:
        raise _fail("models", "needs at least one model")
    return out


def _routes(raw: Any, models: Mapping[str, Model]) -> dict[str, RouteDecl]:
    out: dict[str, RouteDecl] = {}
    for name, item in _mapping(raw, "routes").items():
        where = f"routes.{name}"
        _text(name, where, _NAME)
        r = _mapping(item, where)
        _known(r, where, ("primary", "fallbacks", "cheaper"))

        def model(value: Any, field_: str) -> str:
            if value not in models:
                raise _fail(field_, f"{value!r} is not one of the scenario's models")
            return str(value)

        primary = model(_get(r, "primary", where), f"{where}.primary")
        fallbacks = tuple(
            model(v, f"{where}.fallbacks[{j}]")
            for j, v in enumerate(_list(_get(r, "fallbacks", where, []), f"{where}.fallbacks"))
        )
        cheaper = r.get("cheaper")
        out[name] = RouteDecl(
            name, primary, fallbacks, None if cheaper is None else model(cheaper, f"{where}.cheaper")
        )
    if not out:
        raise _fail("routes", "needs at least one route")
    return out


def _applications(raw: Any, routes: Mapping[str, RouteDecl]) -> tuple[Application, ...]:
    out: list[Application] = []
    for i, item in enumerate(_list(raw, "applications")):
        where = f"applications[{i}]"
        a = _mapping(item, where)
        _known(
            a,
            where,
            (
                "name",
                "route",
                "requests_per_minute",
                "input_tokens",
                "output_tokens",
                "error_rate",
                "endpoint",
                "logged",
            ),
        )
        endpoint = _get(a, "endpoint", where, "runtime")
        if endpoint not in ("runtime", "mantle"):
            raise _fail(f"{where}.endpoint", f"{endpoint!r} is not runtime or mantle")
        logged = _get(a, "logged", where, True)
        if not isinstance(logged, bool):
            raise _fail(f"{where}.logged", f"must be true or false, got {logged!r}")
        name = _text(_get(a, "name", where), f"{where}.name", _NAME)
        if any(o.name == name for o in out):
            raise _fail(f"{where}.name", f"{name!r} is listed twice")
        route = _get(a, "route", where)
        if route not in routes:
            raise _fail(f"{where}.route", f"{route!r} is not one of routes ({', '.join(routes)})")
        out.append(
            Application(
                name,
                str(route),
                _number(_get(a, "requests_per_minute", where), f"{where}.requests_per_minute", low=0),
                _range(_get(a, "input_tokens", where, [200, 4000]), f"{where}.input_tokens"),
                _range(_get(a, "output_tokens", where, [50, 800]), f"{where}.output_tokens"),
                _number(_get(a, "error_rate", where, 0.0), f"{where}.error_rate", low=0, high=1),
                str(endpoint),
                logged,
            )
        )
    if not out:
        raise _fail("applications", "needs at least one application")
    return tuple(out)


def _incidents(
    raw: Any, duration: int, models: Mapping[str, Model], apps: Sequence[Application]
) -> tuple[Incident, ...]:
    out: list[Incident] = []
    for i, item in enumerate(_list(raw, "incidents")):
        where = f"incidents[{i}]"
        x = _mapping(item, where)
        _known(x, where, ("kind", "model", "application", "from_minute", "to_minute", "rate", "factor"))
        kind = _get(x, "kind", where)
        if kind not in INCIDENT_KINDS:
            raise _fail(f"{where}.kind", f"must be one of {', '.join(INCIDENT_KINDS)}, got {kind!r}")
        start = _int(_get(x, "from_minute", where), f"{where}.from_minute", low=0, high=duration - 1)
        end = _int(_get(x, "to_minute", where), f"{where}.to_minute", low=0, high=duration)
        if end <= start:
            raise _fail(f"{where}.to_minute", f"must be after from_minute ({start})")
        model = application = None
        rate, factor = 0.0, 1.0
        if kind == "spend_surge":
            application = _get(x, "application", where)
            if application not in {a.name for a in apps}:
                raise _fail(f"{where}.application", f"{application!r} is not one of the applications")
            factor = _number(_get(x, "factor", where), f"{where}.factor", low=1, high=100)
        else:
            model = _get(x, "model", where)
            if model not in models:
                raise _fail(f"{where}.model", f"{model!r} is not one of the scenario's models")
            if kind == "latency":
                factor = _number(_get(x, "factor", where), f"{where}.factor", low=0.1, high=100)
            else:
                rate = _number(_get(x, "rate", where), f"{where}.rate", low=0, high=1)
        out.append(Incident(str(kind), start, end, model, application, rate, factor))
    return tuple(out)


def _actions(raw: Any) -> tuple[Acknowledge, ...]:
    out: list[Acknowledge] = []
    for i, item in enumerate(_list(raw, "actions")):
        where = f"actions[{i}]"
        x = _mapping(item, where)
        _known(x, where, ("acknowledge",))
        where = f"{where}.acknowledge"
        a = _mapping(_get(x, "acknowledge", f"actions[{i}]"), where)
        _known(a, where, ("alarm", "tier", "by", "after_seconds", "via"))
        via = _get(a, "via", where, "link")
        if via not in ACK_VIA:
            raise _fail(f"{where}.via", f"must be one of {', '.join(ACK_VIA)}, got {via!r}")
        out.append(
            Acknowledge(
                _text(_get(a, "alarm", where), f"{where}.alarm"),
                _text(_get(a, "tier", where), f"{where}.tier"),
                _text(_get(a, "by", where), f"{where}.by"),
                _int(_get(a, "after_seconds", where, 0), f"{where}.after_seconds", low=0),
                str(via),
            )
        )
    return tuple(out)


def _escalation(raw: Any, acks: Sequence[Acknowledge]) -> dict[str, Any]:
    from bedrock_watch.policy import PolicyError, parse_policy

    policy = dict(_mapping(raw, "escalation"))
    try:
        parsed = parse_policy(policy)
    except PolicyError as err:
        raise _fail("escalation", str(err)) from err
    tiers = {t.name for p in parsed.values() for t in p.tiers}
    for i, ack in enumerate(acks):
        if ack.tier not in tiers:
            raise _fail(f"actions[{i}].acknowledge.tier", f"{ack.tier!r} is not a tier of escalation")
    return policy


def parse(raw: Any, *, source: str = "<scenario>") -> Scenario:
    """A validated Scenario from the parsed YAML document."""
    doc = _mapping(raw, "scenario")
    _known(
        doc,
        "",
        (
            "name",
            "description",
            "duration_minutes",
            "scale",
            "seed",
            "start",
            "models",
            "routes",
            "applications",
            "incidents",
            "actions",
            "escalation",
            "remediation",
            "parameters",
        ),
    )
    duration = _int(_get(doc, "duration_minutes", ""), "duration_minutes", low=1, high=24 * 60)
    scale = _number(_get(doc, "scale", "", 60), "scale", low=1, high=3600)
    start_raw = doc.get("start")
    try:
        start = (
            None
            if start_raw is None
            else utc(start_raw if isinstance(start_raw, datetime) else str(start_raw))
        )
    except ValueError as err:
        raise _fail("start", f"must be an ISO-8601 time, got {start_raw!r}") from err
    models = _models(_get(doc, "models", ""))
    routes = _routes(_get(doc, "routes", ""), models)
    apps = _applications(_get(doc, "applications", ""), routes)
    incidents = _incidents(doc.get("incidents") or [], duration, models, apps)
    acks = _actions(doc.get("actions") or [])
    escalation = _escalation(_get(doc, "escalation", ""), acks)
    remediation = _mapping(doc.get("remediation") or {}, "remediation")
    _known(remediation, "remediation", ("settle_seconds", "failback_cooldown_seconds"))
    parameters = dict(_mapping(doc.get("parameters") or {}, "parameters"))
    for key in parameters:
        if key in DERIVED:
            raise _fail(f"parameters.{key}", f"is set by the scenario's {DERIVED[key]}; set it there")
    from sandbox.template import load_template

    declared = load_template().get("Parameters") or {}
    for key in parameters:
        if key not in declared:
            raise _fail(f"parameters.{key}", "is not a parameter of template.yaml")
    return Scenario(
        name=_text(_get(doc, "name", ""), "name", _NAME),
        description=str(doc.get("description") or "").strip(),
        duration_minutes=duration,
        scale=scale,
        seed=_int(_get(doc, "seed", "", 7), "seed"),
        start=start,
        models=models,
        routes=routes,
        applications=apps,
        incidents=incidents,
        acknowledgements=acks,
        escalation=escalation,
        settle_seconds=_int(
            _get(remediation, "settle_seconds", "remediation", 120), "remediation.settle_seconds", low=0
        ),
        failback_cooldown_seconds=_int(
            _get(remediation, "failback_cooldown_seconds", "remediation", 600),
            "remediation.failback_cooldown_seconds",
            low=0,
        ),
        parameters=parameters,
        source=source,
    )


def load(name_or_path: str) -> Scenario:
    """A shipped scenario by name (sandbox/scenarios/<name>.yaml) or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIOS / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
        raise ScenarioError(f"scenario {name_or_path!r}: no such file {path} (shipped: {shipped})")
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except Exception as err:  # a YAML syntax error names the line
        raise ScenarioError(f"{path}: not valid YAML: {err}") from err
    try:
        return parse(raw, source=str(path))
    except ScenarioError as err:
        raise ScenarioError(f"{path}: {err}") from err
