"""Expand `Fn::ForEach` and evaluate intrinsic functions of template.yaml, as CloudFormation would.

The template is the single source of truth; tests and the sandbox need to see what a deployment
creates: one alarm per MonitoredModels entry, dashboard bodies as JSON, alarm names with the
stack name filled in. Two steps, both generic:

- `expand_foreach(template, parameters)`: the AWS::LanguageExtensions loop. Each
  `Fn::ForEach::<Name>: [Identifier, Collection, {OutputKey: OutputValue}]` in any mapping is
  replaced by one copy of the fragment per collection item, with `${Identifier}` and
  `&{Identifier}` (the item without non-alphanumeric characters) substituted in keys and
  strings, and `{"Ref": Identifier}` replaced by the item. Collections are literal lists or a
  Ref to a CommaDelimitedList parameter. Everything else is left as written.
- `stand_ins(parameters, resources)`: the sandbox's intrinsic resolver (`sandbox.intrinsics`,
  the one implementation of Ref, Fn::Sub, Fn::If, ...) with stand-ins for values only known
  after deployment: a resource's Ref is its logical id, a GetAtt is "<LogicalId>.<Attribute>".

`render(overrides)` does both with the parameters' defaults (and overrides) and pseudo parameters
of a stack called `bedrock-watch` in us-east-1.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bedrock_watch.limits import foreach_key
from sandbox.intrinsics import ACCOUNT_ID, FOREACH_PREFIX, REGION, Resolver, resolve_parameters
from sandbox.intrinsics import IntrinsicError as TemplateError
from sandbox.template import load_template

STACK_NAME: Final = "bedrock-watch"


# ---------------------------------------------------------------------------- parameters


def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Each parameter's value (Default unless overridden); list types as lists, scalars as strings.

    CloudFormation hands every scalar parameter to intrinsics as a string, so a Number
    parameter's Ref renders as "5", not 5.
    """
    given = dict(overrides or {})
    specs = template.get("Parameters") or {}
    return {
        name: value if isinstance(value, list) else str(given.get(name, specs[name].get("Default")))
        for name, value in resolve_parameters(template, given).items()
    }


# ---------------------------------------------------------------------------- Fn::ForEach


def _substitute(value: Any, identifier: str, item: str) -> Any:
    if isinstance(value, str):
        return value.replace(f"${{{identifier}}}", item).replace(f"&{{{identifier}}}", foreach_key(item))
    if isinstance(value, list):
        return [_substitute(v, identifier, item) for v in value]
    if isinstance(value, dict):
        if value == {"Ref": identifier}:
            return item
        return {_substitute(k, identifier, item): _substitute(v, identifier, item) for k, v in value.items()}
    return value


def _collection(spec: Any, parameters: Mapping[str, Any]) -> list[str]:
    if isinstance(spec, list):
        return [str(item) for item in spec]
    if isinstance(spec, dict) and set(spec) == {"Ref"} and spec["Ref"] in parameters:
        value = parameters[spec["Ref"]]
        if isinstance(value, list):
            return [str(item) for item in value]
    raise TemplateError(
        f"Fn::ForEach collection must be a list or a Ref to a CommaDelimitedList, got {spec!r}"
    )


def _expand(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, list):
        return [_expand(v, parameters) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, inner in value.items():
        if not key.startswith(FOREACH_PREFIX):
            out[key] = _expand(inner, parameters)
            continue
        if not (isinstance(inner, list) and len(inner) == 3 and isinstance(inner[2], dict)):
            raise TemplateError(f"{key} must be [Identifier, Collection, {{OutputKey: OutputValue}}]")
        identifier, collection, fragment = inner
        for item in _collection(collection, parameters):
            for out_key, out_value in _expand(_substitute(fragment, identifier, item), parameters).items():
                if out_key in out:
                    raise TemplateError(f"{key} generates {out_key} twice")
                out[out_key] = out_value
    return out


def expand_foreach(
    template: Mapping[str, Any], parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A copy of the template with every Fn::ForEach loop unrolled."""
    params = parameter_values(template) if parameters is None else parameters
    expanded: dict[str, Any] = _expand(copy.deepcopy(dict(template)), params)
    return expanded


# ---------------------------------------------------------------------------- intrinsics


def stand_ins(
    parameters: Mapping[str, Any],
    resources: frozenset[str] = frozenset(),
    mappings: Mapping[str, Any] | None = None,
    conditions: Mapping[str, Any] | None = None,
) -> Resolver:
    """The sandbox's intrinsic resolver, answering for `resources` with deploy-time stand-ins.

    A resource's Ref is its logical id and a GetAtt is "<LogicalId>.<Attribute>", since physical
    values are only known after deployment; a name that is neither a parameter, a pseudo
    parameter nor one of `resources` is an error, as CloudFormation would reject it.
    """

    def lookup(logical_id: str, attribute: str | None) -> Any:
        if logical_id not in resources:
            if attribute is None:
                raise TemplateError(f"Ref to unknown name {logical_id}")
            raise TemplateError(f"Fn::GetAtt of unknown resource {logical_id}")
        return logical_id if attribute is None else f"{logical_id}.{attribute}"

    pseudo = {"AWS::StackName": STACK_NAME, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID}
    return Resolver({**pseudo, **parameters}, {}, conditions or {}, mappings or {}, lookup)


# ---------------------------------------------------------------------------- the whole template


@dataclass(frozen=True)
class Rendered:
    """The template as one deployment would see it."""

    parameters: Mapping[str, Any]
    conditions: Mapping[str, bool]
    expanded: Mapping[str, Any]  # ForEach unrolled, intrinsics left as written
    resources: Mapping[str, Any]  # ForEach unrolled and intrinsics resolved


def sam_generated_ids(resources: Mapping[str, Any]) -> set[str]:
    """Logical ids SAM's transform adds and a template may reference (`<Fn>Role`, `<Fn>Url`, …)."""
    generated: set[str] = set()
    for logical_id, resource in resources.items():
        kind = resource.get("Type") if isinstance(resource, Mapping) else None
        props = resource.get("Properties", {}) if isinstance(resource, Mapping) else {}
        if kind in {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"} and "Role" not in props:
            generated.add(f"{logical_id}Role")
        if kind == "AWS::Serverless::Function" and "FunctionUrlConfig" in props:
            generated.add(f"{logical_id}Url")
    return generated


def render(overrides: Mapping[str, Any] | None = None, template: Mapping[str, Any] | None = None) -> Rendered:
    """Expand and resolve `template` (default: template.yaml) with parameter defaults and overrides."""
    source = load_template() if template is None else template
    parameters = parameter_values(source, overrides)
    expanded = expand_foreach(source, parameters)
    declared = expanded.get("Resources", {})
    resolver = stand_ins(
        parameters,
        frozenset(declared) | sam_generated_ids(declared),
        expanded.get("Mappings", {}),
        expanded.get("Conditions", {}),
    )
    conditions = {name: resolver.condition(name) for name in expanded.get("Conditions", {})}
    resources = {
        logical_id: resolver.resolve(resource)
        for logical_id, resource in declared.items()
        if "Condition" not in resource or conditions[resource["Condition"]]
    }
    return Rendered(parameters=parameters, conditions=conditions, expanded=expanded, resources=resources)
