"""Resolve the CloudFormation intrinsics our template uses (Ref, Fn::Sub, Fn::GetAtt, Fn::Join,
Fn::If, Fn::Equals, Fn::Not, Fn::Split, Fn::Select) against values the caller supplies — enough to
create template resources in moto with the template as the single source of truth."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class UnresolvedReference(KeyError):
    """The template refers to something the caller supplied no value for."""


@dataclass
class Resolver:
    refs: Mapping[str, Any]  # parameter, pseudo-parameter (AWS::StackName…) and resource values of Ref
    attrs: Mapping[str, Any] = field(default_factory=dict)  # "Resource.Attribute" -> value
    conditions: Mapping[str, Any] = field(default_factory=dict)  # the template's Conditions section

    def _ref(self, name: str) -> Any:
        if name not in self.refs:
            raise UnresolvedReference(f"no value for Ref {name}")
        return self.refs[name]

    def _attr(self, name: str) -> Any:
        if name not in self.attrs:
            raise UnresolvedReference(f"no value for GetAtt {name}")
        return self.attrs[name]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if "." in key and not key.startswith("AWS::"):
                return str(self._attr(key))
            value = self._ref(key)
            return ",".join(map(str, value)) if isinstance(value, list) else str(value)

        return _SUB.sub(one, text)

    def resolve(self, node: Any) -> Any:
        """The node with every intrinsic replaced by its value."""
        if isinstance(node, list):
            return [self.resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                return self._attr(".".join(arg) if isinstance(arg, list) else arg)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self._sub(arg, {})
                text, variables = arg
                return self._sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(i) for i in self.resolve(items))
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(delimiter)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
        return {k: self.resolve(v) for k, v in node.items()}
