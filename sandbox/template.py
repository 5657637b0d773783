"""Read template.yaml and statemachines/ — the single source of truth for tests and the sandbox."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
STATEMACHINES = ROOT / "statemachines"

_SCALAR_FUNCTIONS = {
    "Ref": "Ref",
    "Condition": "Condition",
}


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form intrinsics (!Ref, !Sub, !GetAtt…)."""


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = _SCALAR_FUNCTIONS.get(tag_suffix, f"Fn::{tag_suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_CfnLoader.add_multi_constructor("!", _construct)


def load_yaml(text: str) -> dict[str, Any]:
    """Parse CloudFormation YAML, turning short-form tags into their long form."""
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError("template is not a mapping")
    return data


@functools.cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The parsed template (cached: treat the result as read-only)."""
    return load_yaml(path.read_text())


def resources(template: dict[str, Any] | None = None, type_: str | None = None) -> dict[str, dict[str, Any]]:
    """Resources of the template, optionally only those of one type."""
    res: dict[str, dict[str, Any]] = (template or load_template())["Resources"]
    return {k: v for k, v in res.items() if isinstance(v, dict) and (type_ is None or v.get("Type") == type_)}


def parameter_defaults(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Each parameter's Default, as declared."""
    params = (template or load_template()).get("Parameters", {})
    return {name: spec.get("Default") for name, spec in params.items()}


def load_asl(name: str) -> dict[str, Any]:
    """A state machine definition from statemachines/<name>.asl.json."""
    data: dict[str, Any] = json.loads((STATEMACHINES / f"{name}.asl.json").read_text())
    return data
