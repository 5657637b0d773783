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
- `resolve(value, context)`: evaluates Ref, Fn::Sub, Fn::Join, Fn::Split, Fn::Select, Fn::If,
  Fn::Equals/Not/And/Or, Condition, Fn::FindInMap, Fn::Length, Fn::ToJsonString and Fn::GetAtt.
  Values only known after deployment are stand-ins: a resource's Ref is its logical id, a
  GetAtt is "<LogicalId>.<Attribute>".

`render(overrides)` does both with the parameters' defaults (and overrides) and pseudo parameters
of a stack called `bedrock-watch` in us-east-1.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sandbox.template import load_template

FOREACH_PREFIX: Final = "Fn::ForEach::"
NO_VALUE: Final = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class TemplateError(ValueError):
    """The template uses an intrinsic in a way CloudFormation would reject."""


# ---------------------------------------------------------------------------- parameters


def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Each parameter's value (Default unless overridden); CommaDelimitedList values as lists."""
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        if name not in overrides and "Default" not in spec:
            raise TemplateError(f"parameter {name} has no Default and no override")
        raw = overrides.get(name, spec.get("Default"))
        if spec.get("Type") == "CommaDelimitedList" and not isinstance(raw, list):
            raw = [item.strip() for item in str(raw).split(",")]
        elif not isinstance(raw, list):
            raw = str(raw)  # CloudFormation hands every scalar parameter over as a string
        values[name] = raw
    unknown = set(overrides) - set(values)
    if unknown:
        raise TemplateError(f"unknown parameters: {sorted(unknown)}")
    return values


# ---------------------------------------------------------------------------- Fn::ForEach


def _sanitise(item: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", item)


def _substitute(value: Any, identifier: str, item: str) -> Any:
    if isinstance(value, str):
        return value.replace(f"${{{identifier}}}", item).replace(f"&{{{identifier}}}", _sanitise(item))
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


@dataclass
class Context:
    """What intrinsic functions resolve against."""

    parameters: Mapping[str, Any]
    resources: frozenset[str] = frozenset()
    mappings: Mapping[str, Any] = field(default_factory=dict)
    condition_specs: Mapping[str, Any] = field(default_factory=dict)
    pseudo: Mapping[str, str] = field(
        default_factory=lambda: {
            "AWS::StackName": "bedrock-watch",
            "AWS::Region": "us-east-1",
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/bedrock-watch/1",
        }
    )

    def condition(self, name: str) -> bool:
        if name not in self.condition_specs:
            raise TemplateError(f"unknown condition {name}")
        return bool(resolve(self.condition_specs[name], self))

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return name  # a resource's physical id is only known after deployment
        raise TemplateError(f"Ref to unknown name {name}")


def _sub(spec: Any, context: Context) -> str:
    template, variables = (spec, {}) if isinstance(spec, str) else (spec[0], spec[1])
    if not isinstance(template, str):
        raise TemplateError(f"Fn::Sub needs a literal string, got {template!r}")
    values = {name: resolve(value, context) for name, value in variables.items()}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in values:
            return str(values[name])
        if "." in name and name.split(".", 1)[0] in context.resources:
            return name
        return str(context.ref(name))

    return _SUB_VARIABLE.sub(replace, template)


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise TemplateError(f"{what} needs a list, got {value!r}")
    return value


def resolve(value: Any, context: Context) -> Any:
    """`value` with every intrinsic function evaluated (see the module docstring)."""
    if isinstance(value, list):
        items = [resolve(v, context) for v in value]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        resolved = {k: resolve(v, context) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    ((name, arg),) = value.items()
    match name:
        case "Ref":
            return context.ref(arg)
        case "Condition":
            return context.condition(arg)
        case "Fn::Sub":
            return _sub(arg, context)
        case "Fn::Join":
            delimiter, items = arg
            if not isinstance(delimiter, str):
                raise TemplateError(f"Fn::Join delimiter must be a literal string, got {delimiter!r}")
            return delimiter.join(str(i) for i in _list(resolve(items, context), "Fn::Join"))
        case "Fn::Split":
            delimiter, text = arg
            return str(resolve(text, context)).split(delimiter)
        case "Fn::Select":
            index, items = arg
            return _list(resolve(items, context), "Fn::Select")[int(resolve(index, context))]
        case "Fn::If":
            condition, when_true, when_false = arg
            return resolve(when_true if context.condition(condition) else when_false, context)
        case "Fn::Equals":
            left, right = (resolve(a, context) for a in arg)
            return left == right
        case "Fn::Not":
            return not resolve(arg[0], context)
        case "Fn::And":
            return all(resolve(a, context) for a in arg)
        case "Fn::Or":
            return any(resolve(a, context) for a in arg)
        case "Fn::FindInMap":
            mapping, key, attribute = (resolve(a, context) for a in arg[:3])
            return context.mappings[mapping][key][attribute]
        case "Fn::Length":
            return len(_list(resolve(arg, context), "Fn::Length"))
        case "Fn::ToJsonString":
            return json.dumps(resolve(arg, context), separators=(",", ":"))
        case "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            if logical_id not in context.resources:
                raise TemplateError(f"Fn::GetAtt of unknown resource {logical_id}")
            return f"{logical_id}.{attribute}"
        case _:
            return {name: resolve(arg, context)}


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
    context = Context(
        parameters=parameters,
        resources=frozenset(expanded.get("Resources", {})) | sam_generated_ids(expanded.get("Resources", {})),
        mappings=expanded.get("Mappings", {}),
        condition_specs=expanded.get("Conditions", {}),
    )
    conditions = {name: context.condition(name) for name in context.condition_specs}
    resources = {}
    for logical_id, resource in expanded.get("Resources", {}).items():
        if "Condition" in resource and not conditions[resource["Condition"]]:
            continue
        resources[logical_id] = resolve(resource, context)
    return Rendered(parameters=parameters, conditions=conditions, expanded=expanded, resources=resources)
