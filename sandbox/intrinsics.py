"""Resolve CloudFormation / SAM intrinsic functions the way a deployment would, for the sandbox.

Covers parameters (defaults + overrides, list types split), pseudo-parameters, `Ref`,
`Fn::GetAtt`, `Fn::Sub` (string and list form, `${Res.Attr}`, `${!Literal}`), `Fn::Join`,
`Fn::Select`, `Fn::Split`, `Fn::If` with the template's `Conditions` (`Fn::Equals`, `Fn::Not`,
`Fn::And`, `Fn::Or`, `Condition`), `Fn::FindInMap`, `Fn::GetAZs`, `Fn::Base64`, and the
`AWS::LanguageExtensions` functions `Fn::ToJsonString` and `Fn::Length`. `Ref: AWS::NoValue`
(directly or from `Fn::If`) removes the key or list item, as CloudFormation does.

`Fn::ForEach` is a template-level expansion, not a value: `expand_template` hands it to a hook
(by default `sandbox.cfn_expand.expand_foreach`) and reports the loops it could not expand.

Resource references go through a `lookup(logical_id, attribute)` callable that the stack builder
provides, so this module knows nothing of moto.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"
_NO_VALUE = object()  # sentinel for AWS::NoValue: the enclosing key or item disappears
_SUB_TOKEN = re.compile(r"\$\{([^}]*)\}")
FOREACH_PREFIX = "Fn::ForEach::"

Lookup = Callable[[str, str | None], Any]
ForEachHook = Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any]]


class IntrinsicError(ValueError):
    """A template expression the sandbox cannot resolve (names the function and the reason)."""


class UnresolvedReference(IntrinsicError):
    """A Ref/GetAtt/Sub names a resource that does not exist (yet) in the sandbox."""

    def __init__(self, logical_id: str, attribute: str | None = None) -> None:
        self.logical_id = logical_id
        self.attribute = attribute
        target = f"{logical_id}.{attribute}" if attribute else logical_id
        super().__init__(f"reference to {target}, which has no value here (not created, or not given)")


def _parameter_value(name: str, spec: Mapping[str, Any], given: Any) -> Any:
    value = given if given is not None else spec.get("Default")
    if value is None:
        raise IntrinsicError(f"parameter {name} has no Default and no override was given")
    type_ = str(spec.get("Type", "String"))
    if type_ == "CommaDelimitedList" or type_.startswith("List<"):
        if isinstance(value, list):
            return [str(v).strip() for v in value]
        return [part.strip() for part in str(value).split(",")] if str(value) else []
    allowed = spec.get("AllowedValues")
    if allowed is not None and str(value) not in {str(v) for v in allowed}:
        raise IntrinsicError(f"parameter {name}={value!r} is not one of its AllowedValues")
    if type_ == "Number":
        text = str(value)
        return float(text) if "." in text else int(text)
    return str(value)


def resolve_parameters(
    template: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every parameter's value: the override if given, else its Default (typed: Number, lists)."""
    overrides = dict(overrides or {})
    specs: Mapping[str, Any] = template.get("Parameters") or {}
    unknown = set(overrides) - set(specs)
    if unknown:
        raise IntrinsicError(f"overrides for parameters the template does not declare: {sorted(unknown)}")
    return {name: _parameter_value(name, spec, overrides.get(name)) for name, spec in specs.items()}


@dataclass
class Resolver:
    """Evaluates intrinsic functions against known values and, optionally, a resource lookup.

    `refs` holds what `Ref` returns for parameters, pseudo-parameters (defaults are filled in
    for those not given) and any resources known up front; `attrs` holds "Resource.Attribute"
    values for `Fn::GetAtt`; `conditions` and `mappings` are the template's sections; `lookup`,
    when given, answers for resources created on the way (the sandbox stack). A tests' stand-in
    for a deployment is just `Resolver(refs, attrs, conditions)`.
    """

    refs: Mapping[str, Any]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    lookup: Lookup | None = None
    _condition_values: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def for_template(
        cls,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        stack_name: str,
        lookup: Lookup | None = None,
        *,
        region: str = REGION,
        account_id: str = ACCOUNT_ID,
    ) -> Resolver:
        """A resolver for `template` deployed as `stack_name` with resolved `parameters`."""
        pseudo = {"AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": account_id}
        return cls(
            {**pseudo, **parameters},
            {},
            template.get("Conditions") or {},
            template.get("Mappings") or {},
            lookup,
        )

    @property
    def pseudo(self) -> dict[str, Any]:
        """Every pseudo-parameter: the given ones, the rest defaulted (moto's account, us-east-1)."""
        stack = str(self.refs.get("AWS::StackName", "bedrock-watch"))
        region = str(self.refs.get("AWS::Region", REGION))
        account = str(self.refs.get("AWS::AccountId", ACCOUNT_ID))
        defaults = {
            "AWS::StackName": stack,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{region}:{account}:stack/{stack}/sandbox",
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::NotificationARNs": [],
        }
        return {**defaults, **{k: v for k, v in self.refs.items() if k.startswith("AWS::")}}

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        """The value of a named condition of the template's Conditions section."""
        if name not in self._condition_values:
            if name not in self.conditions:
                raise IntrinsicError(f"unknown condition {name}: it is not declared in Conditions")
            self._condition_values[name] = self._truth(self.conditions[name])
        return self._condition_values[name]

    def _truth(self, expr: Any) -> bool:
        if isinstance(expr, Mapping) and len(expr) == 1:
            (key, arg), *_ = expr.items()
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return _canonical(left) == _canonical(right)
            if key == "Fn::Not":
                return not self._truth(arg[0])
            if key == "Fn::And":
                return all(self._truth(a) for a in arg)
            if key == "Fn::Or":
                return any(self._truth(a) for a in arg)
        value = self.resolve(expr)
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"true", "false"}:
            return str(value).lower() == "true"
        raise IntrinsicError(f"condition expression {expr!r} is not a boolean")

    # ------------------------------------------------------------------ values
    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its result."""
        result = self._resolve(value)
        return None if result is _NO_VALUE else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = (self._resolve(v) for v in value)
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            (key, arg), *_ = value.items()
            handler = _FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, arg)
        out: dict[str, Any] = {}
        for k, v in value.items():
            resolved = self._resolve(v)
            if resolved is not _NO_VALUE:
                out[k] = resolved
        return out

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.refs:
            return self.refs[name]
        if name.startswith("AWS::") and name in self.pseudo:
            return self.pseudo[name]
        if self.lookup is None:
            raise UnresolvedReference(name)
        return self.lookup(name, None)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        key = f"{logical_id}.{attribute}"
        if key in self.attrs:
            return self.attrs[key]
        if self.lookup is None:
            raise UnresolvedReference(logical_id, attribute)
        return self.lookup(logical_id, attribute)

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in variables:
                value = variables[token]
            elif "." in token and not token.startswith("AWS::"):
                logical_id, attribute = token.split(".", 1)
                value = self.get_att(logical_id, attribute)
            else:
                value = self.ref(token)
            if isinstance(value, list | dict) or value is _NO_VALUE:
                raise IntrinsicError(f"Fn::Sub ${{{token}}} does not resolve to a string")
            return _scalar_text(value)

        return _SUB_TOKEN.sub(replace, text)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _canonical(value: Any) -> Any:
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return _scalar_text(value) if isinstance(value, str | int | float | bool) else value


def _fn_ref(r: Resolver, arg: Any) -> Any:
    return r.ref(str(r.resolve(arg)))


def _fn_get_att(r: Resolver, arg: Any) -> Any:
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    logical_id, attribute = (r.resolve(a) for a in arg)
    return r.get_att(str(logical_id), str(attribute))


def _fn_sub(r: Resolver, arg: Any) -> str:
    if isinstance(arg, str):
        return r.sub(arg, {})
    text, variables = arg
    return r.sub(str(r.resolve(text)), {k: r.resolve(v) for k, v in variables.items()})


def _fn_join(r: Resolver, arg: Any) -> str:
    delimiter, items = arg
    if not isinstance(delimiter, str):
        raise IntrinsicError(f"Fn::Join delimiter must be a literal string, got {delimiter!r}")
    values = r.resolve(items)
    if not isinstance(values, list):
        raise IntrinsicError("Fn::Join needs a list")
    return str(delimiter).join(_scalar_text(v) for v in values)


def _fn_select(r: Resolver, arg: Any) -> Any:
    index, items = (r.resolve(a) for a in arg)
    if not isinstance(items, list) or not 0 <= int(index) < len(items):
        raise IntrinsicError(f"Fn::Select index {index} out of range")
    return items[int(index)]


def _fn_split(r: Resolver, arg: Any) -> list[str]:
    delimiter, text = (r.resolve(a) for a in arg)
    return str(text).split(str(delimiter))


def _fn_if(r: Resolver, arg: Any) -> Any:
    name, when_true, when_false = arg
    return r._resolve(when_true if r.condition(str(name)) else when_false)


def _fn_to_json(r: Resolver, arg: Any) -> str:
    return json.dumps(r.resolve(arg), separators=(",", ":"))


def _fn_length(r: Resolver, arg: Any) -> int:
    value = r.resolve(arg)
    if not isinstance(value, list):
        raise IntrinsicError("Fn::Length needs a list")
    return len(value)


def _fn_find_in_map(r: Resolver, arg: Any) -> Any:
    map_name, top, second, *rest = (r.resolve(a) for a in arg)
    try:
        return r.mappings[map_name][top][second]
    except KeyError:
        # AWS::LanguageExtensions adds a DefaultValue option as a 4th argument.
        if rest and isinstance(rest[0], Mapping) and "DefaultValue" in rest[0]:
            return rest[0]["DefaultValue"]
        raise IntrinsicError(f"Fn::FindInMap {map_name}/{top}/{second} is not in Mappings") from None


def _fn_base64(r: Resolver, arg: Any) -> str:
    return base64.b64encode(str(r.resolve(arg)).encode()).decode()


def _fn_get_azs(r: Resolver, arg: Any) -> list[str]:
    region = r.resolve(arg) or r.pseudo["AWS::Region"]
    return [f"{region}{suffix}" for suffix in "abc"]


def _fn_condition(r: Resolver, arg: Any) -> bool:
    return r.condition(str(arg))


_FUNCTIONS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": _fn_ref,
    "Fn::GetAtt": _fn_get_att,
    "Fn::Sub": _fn_sub,
    "Fn::Join": _fn_join,
    "Fn::Select": _fn_select,
    "Fn::Split": _fn_split,
    "Fn::If": _fn_if,
    "Fn::ToJsonString": _fn_to_json,
    "Fn::Length": _fn_length,
    "Fn::FindInMap": _fn_find_in_map,
    "Fn::Base64": _fn_base64,
    "Fn::GetAZs": _fn_get_azs,
    "Condition": _fn_condition,
    "Fn::Equals": lambda r, a: r._truth({"Fn::Equals": a}),
    "Fn::Not": lambda r, a: r._truth({"Fn::Not": a}),
    "Fn::And": lambda r, a: r._truth({"Fn::And": a}),
    "Fn::Or": lambda r, a: r._truth({"Fn::Or": a}),
}


# ---------------------------------------------------------------------- references (for ordering)
def references(value: Any) -> set[str]:
    """Logical ids (resources or parameters) that `value` refers to through Ref/GetAtt/Sub."""
    found: set[str] = set()
    _collect(value, found)
    return {name for name in found if not name.startswith("AWS::")}


def _collect(value: Any, found: set[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _collect(item, found)
        return
    if not isinstance(value, Mapping):
        return
    if len(value) == 1:
        (key, arg), *_ = value.items()
        if key == "Ref" and isinstance(arg, str):
            found.add(arg)
            return
        if key == "Fn::GetAtt":
            target = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
            if isinstance(target, str):
                found.add(target)
            return
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            for token in _SUB_TOKEN.findall(text if isinstance(text, str) else ""):
                if not token.startswith("!") and token not in variables:
                    found.add(token.split(".", 1)[0] if not token.startswith("AWS::") else token)
            _collect(variables, found)
            return
    for item in value.values():
        _collect(item, found)


# ---------------------------------------------------------------------- Fn::ForEach
def foreach_keys(template: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(section, key) of every Fn::ForEach loop left in the template's top-level sections."""
    out = []
    for section in ("Resources", "Outputs", "Conditions"):
        for key in template.get(section) or {}:
            if str(key).startswith(FOREACH_PREFIX):
                out.append((section, str(key)))
    return out


def default_foreach_hook() -> ForEachHook:
    """`sandbox.cfn_expand.expand_foreach(template, parameters)`."""
    from sandbox.cfn_expand import expand_foreach  # cfn_expand imports this module at load time

    return expand_foreach


def expand_template(
    template: Mapping[str, Any], parameters: Mapping[str, Any], hook: ForEachHook | None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The template with Fn::ForEach expanded by `hook`, and the loops still unexpanded."""
    expanded: dict[str, Any] = copy.deepcopy(dict(template))
    if hook is not None and foreach_keys(expanded):
        expanded = hook(expanded, parameters)
    return expanded, foreach_keys(expanded)


def without_foreach(section: Mapping[str, Any]) -> dict[str, Any]:
    """A section minus any Fn::ForEach loops (reported separately as unsupported)."""
    return {k: v for k, v in section.items() if not str(k).startswith(FOREACH_PREFIX)}


def iter_conditional(items: Iterable[tuple[str, Mapping[str, Any]]], resolver: Resolver) -> Iterable[str]:
    """Logical ids whose `Condition` evaluates false (so the resource is not created)."""
    for logical_id, spec in items:
        condition = spec.get("Condition")
        if condition is not None and not resolver.condition(str(condition)):
            yield logical_id
