"""The stack's configuration parameters, checked with the parsers that will act on them.

A bad `EscalationPolicy` would otherwise deploy fine and be refused only when the first alarm
fires; a `MonitoredModels` entry naming an undeclared route only when its failover starts.
`check_configuration` runs every parser the stack's functions use on the values the stack was
given and returns one problem per bad value, each naming the parameter and the field
(`EscalationPolicy: critical.tiers[1].channels[0]: unknown channel type 'slak' …`). It runs in
two places: the `Custom::ConfigurationCheck` resource, which fails the deployment before
anything acts on the configuration, and `bedrock-watch check`, which runs it offline on a
samconfig environment or a parameter file.

CloudFormation's own constraints (AllowedPattern, MinValue, …) are checked before any resource
exists, so they are not repeated here; the offline command applies them from the template first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bedrock_watch import limits
from bedrock_watch.budgets import parse_application_budgets
from bedrock_watch.errors import ConfigurationError
from bedrock_watch.policy import parse_policy
from bedrock_watch.records import ModelKind, parse_model_id
from bedrock_watch.routes import MODEL_ID, ROUTE_NAME, InvalidRoute, RouteSpec, parse_declarations

# The parameters checked, in the order problems are reported; the ConfigurationCheck resource
# passes exactly these (tests/infra/test_configuration_check.py keeps the two in step).
CHECKED_PARAMETERS: Final = (
    "Routes",
    "MonitoredModels",
    "EscalationPolicy",
    "ApplicationBudgets",
    "PriceOverrides",
    "InferenceProfileMap",
    "BudgetDowngradeRoute",
    "BudgetDowngradeRoutes",
    "EscalationAlarmPrefixes",
)
MAX_REASON_CHARS: Final = limits.CUSTOM_RESOURCE_REASON_CHARS


class ConfigurationRefused(ConfigurationError):
    """One or more stack parameters are malformed; the message lists each, naming the field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(summarise(self.problems))


def summarise(problems: Sequence[str], limit: int = MAX_REASON_CHARS - 100) -> str:
    """The problems joined with "; ", cut at whole problems to fit `limit` characters."""
    shown: list[str] = []
    used = 0
    for problem in problems:
        if shown and used + len(problem) + 2 > limit:
            rest = len(problems) - len(shown)
            return "; ".join(shown) + f"; and {rest} more (run `bedrock-watch check`)"
        shown.append(problem if len(problem) <= limit else problem[: limit - 1] + "…")
        used += len(shown[-1]) + 2
    return "; ".join(shown)


@dataclass(frozen=True, slots=True)
class MonitoredModel:
    """One `MonitoredModels` entry `<ModelId>=<route>=<TPM quota>`."""

    model_id: str
    route: str
    tpm_quota: int


def _named(parameter: str, message: str) -> str:
    return message if message.startswith(parameter) else f"{parameter}: {message}"


def _entries(value: Any) -> list[str]:
    """A CommaDelimitedList as CloudFormation hands it over (a list) or as text."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")]
    return [str(item).strip() for item in value or []]


def parse_monitored_models(
    value: Any, routes: Mapping[str, RouteSpec] | None
) -> tuple[list[MonitoredModel], list[str]]:
    """The entries and the problems of `MonitoredModels` (against the declared `routes`; None
    when `Routes` itself is unreadable, so route membership cannot be judged)."""
    problems: list[str] = []
    models: list[MonitoredModel] = []
    entries = _entries(value)
    try:
        # the stack's limits: entry count, id length, entries colliding in Fn::ForEach
        limits.check_monitored_models(entries)
    except ConfigurationError as err:
        problems.append(str(err))
    for i, entry in enumerate(entries):
        where = f"MonitoredModels[{i}]"
        parts = entry.split("=")
        if len(parts) != 3:
            problems.append(f"{where}: {entry!r} must be <ModelId>=<route>=<TPM quota>")
            continue
        model_id, route, quota_text = (p.strip() for p in parts)
        bad = len(problems)
        valid_id = bool(MODEL_ID.match(model_id))
        if not valid_id:
            problems.append(f"{where}: {model_id!r} is not a Bedrock model id, profile id or ARN")
        if not quota_text.isdigit() or int(quota_text) < 1:
            problems.append(f"{where}: TPM quota {quota_text!r} must be a whole number above 0")
        if not ROUTE_NAME.match(route):
            problems.append(f"{where}: route {route!r} must match {ROUTE_NAME.pattern}")
        elif routes is not None and valid_id:
            spec = routes.get(route)
            if spec is None:
                declared = ", ".join(sorted(routes)) or "none"
                problems.append(
                    f"{where}: route {route!r} is not declared in Routes (declared: {declared}); "
                    "its failover would fail"
                )
            elif model_id not in spec.candidates:
                problems.append(
                    f"{where}: {model_id!r} is not a model of route {route!r} "
                    f"({', '.join(spec.candidates)}); its alarms would switch a route that does not call it"
                )
        if len(problems) == bad:
            models.append(MonitoredModel(model_id, route, int(quota_text)))
    return models, problems


def _json_object(parameter: str, text: Any) -> dict[str, Any]:
    try:
        value = json.loads(str(text or "{}"))
    except json.JSONDecodeError as err:
        raise ConfigurationError(f"{parameter}: not valid JSON ({err.msg} at position {err.pos})") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{parameter}: must be a JSON object, got {type(value).__name__}")
    return value


def _price_overrides(text: Any) -> None:
    from bedrock_watch.pricing import PriceBook

    PriceBook.load(_json_object("PriceOverrides", text))


def _profile_map(text: Any) -> None:
    from bedrock_watch.profiles import ProfileResolver

    mapping = _json_object("InferenceProfileMap", text)
    ProfileResolver(mapping)
    for arn, model_id in mapping.items():
        if not MODEL_ID.match(model_id) or parse_model_id(model_id).kind is ModelKind.APPLICATION_PROFILE:
            raise ConfigurationError(
                f"InferenceProfileMap[{arn!r}]: {model_id!r} must be a base model id or a system "
                "profile id (us.anthropic…), not another application profile"
            )


def _downgrade_routes(parameter: str, names: list[str], routes: Mapping[str, RouteSpec]) -> list[str]:
    problems = []
    for name in names:
        spec = routes.get(name)
        if spec is None:
            declared = ", ".join(sorted(routes)) or "none"
            problems.append(f"{parameter}: route {name!r} is not declared in Routes (declared: {declared})")
        elif not spec.cheaper:
            problems.append(
                f"{parameter}: route {name!r} declares no cheaper model, so a budget downgrade would fail"
            )
    return problems


def check_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Problems of moving a deployed stack from the `old` configuration to `new`.

    A per-model alarm's logical id is made from its whole `MonitoredModels` entry while its name
    holds only the model id, so an entry whose route or quota changes is a new resource with the
    old one's alarm names: CloudFormation creates it before deleting the old one, and the names
    clash (or, if the create wins, the old one's clean-up deletes the alarms it just made).
    """
    before = {e.split("=", 1)[0].strip(): e.strip() for e in _entries(old.get("MonitoredModels", "")) if e}
    problems = []
    for i, entry in enumerate(_entries(new.get("MonitoredModels", ""))):
        model_id = entry.split("=", 1)[0].strip()
        was = before.get(model_id)
        if was is not None and was != entry:
            problems.append(
                f"MonitoredModels[{i}]: {entry!r} changes the route or quota of {model_id!r} (was {was!r}); "
                "CloudFormation would replace its alarms under the same names. Deploy once without the "
                "entry, then again with the new one"
            )
    return problems


def check_configuration(values: Mapping[str, Any]) -> list[str]:
    """Every problem of the configuration parameters in `values` (missing ones are taken as
    their neutral value), one line each, naming the parameter and the field."""
    problems: list[str] = []
    routes: dict[str, RouteSpec] | None
    try:
        routes = parse_declarations(str(values.get("Routes") or "{}"))
    except InvalidRoute as err:
        routes = None
        problems.append(_named("Routes", str(err)))
    if routes is not None and not routes:
        problems.append("Routes: declares no route; at least one is needed")
        routes = None  # nothing to judge route names against
    problems += parse_monitored_models(values.get("MonitoredModels", ""), routes)[1]
    checks: list[tuple[str, Callable[[Any], object]]] = [
        ("EscalationPolicy", parse_policy),
        ("ApplicationBudgets", lambda v: parse_application_budgets(v, setting="ApplicationBudgets")),
        ("PriceOverrides", _price_overrides),
        ("InferenceProfileMap", _profile_map),
    ]
    for parameter, check in checks:
        try:
            check(str(values.get(parameter) or ("default" if parameter == "EscalationPolicy" else "{}")))
        except ConfigurationError as err:
            problems.append(_named(parameter, str(err)))
    try:
        limits.check_escalation_alarm_prefixes(_entries(values.get("EscalationAlarmPrefixes", "")))
    except ConfigurationError as err:
        problems.append(str(err))
    if routes is not None:
        downgrade = str(values.get("BudgetDowngradeRoute") or "").strip()
        if downgrade:
            problems += _downgrade_routes("BudgetDowngradeRoute", [downgrade], routes)
        extra = [r for r in _entries(values.get("BudgetDowngradeRoutes", "")) if r]
        problems += _downgrade_routes("BudgetDowngradeRoutes", extra, routes)
    return problems
