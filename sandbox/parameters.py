"""What CloudFormation checks of parameter values before it creates anything, and how SAM reads them.

`constraint_problems` applies a template's parameter constraints (Type, AllowedPattern, AllowedValues,
MinValue/MaxValue, MinLength/MaxLength; for a CommaDelimitedList the pattern applies to each entry)
to a set of values, one problem per bad value naming the parameter, so `bedrock-watch check` can
refuse offline what `sam deploy` would. `parse_overrides` reads parameter overrides the way
`sam deploy --parameter-overrides` and samconfig's `parameter_overrides` do (a port of SAM CLI's
`CfnParameterOverridesType`, checked against it in the tests).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# SAM CLI's patterns (samcli/cli/types.py): a key, then a value that is "double quoted",
# 'single quoted' or runs to the next unescaped space.
_KEY = r"""([A-Za-z0-9\"']+)"""
_VALUE = r"""(\"(?:\\.|[^\"\\]+)*\"|'(?:\\.|[^'\\]+)*'|(?:\\.|[^ \"\\]+)+)"""
_LONG_FORM = re.compile(rf"(?:ParameterKey={_KEY},ParameterValue={_VALUE})")
_SHORT_FORM = re.compile(rf"(?:(?: ){_KEY}={_VALUE})")


class OverridesError(ValueError):
    """Parameter overrides SAM would not accept (the message says which part)."""


def _unquote(value: str) -> str:
    if value and value[0] == value[-1] and value[0] in "\"'" and len(value) > 1:
        value = value[1:-1]
    return value.replace("\\ ", " ").replace('\\"', '"').replace("\\'", "'")


def parse_overrides(value: Any) -> dict[str, str]:
    """`Key=Value Key2="v w"` text (or `ParameterKey=…,ParameterValue=…`), a list of such texts, or
    a mapping, as SAM reads `parameter_overrides`; OverridesError for text it would refuse."""
    if value in (None, "", {}, []):
        return {}
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, list):
                out[str(key)] = ",".join(str(x).strip() for x in item if x not in (None, ""))
            else:
                out[str(key)] = "" if item is None else str(item)
        return {_unquote(k): _unquote(v) for k, v in out.items()}
    if isinstance(value, list | tuple):
        merged: dict[str, str] = {}
        for item in value:
            merged.update(parse_overrides(item))
        return merged
    if str(value).strip().startswith("file://"):
        raise OverridesError(f"{value!r}: file:// references are not followed here; check that file itself")
    text = " " + str(value).strip()
    for pattern in (_LONG_FORM, _SHORT_FORM):
        groups = pattern.findall(text)
        if groups:
            return {_unquote(k): _unquote(v) for k, v in groups}
    raise OverridesError(f"{str(value)[:80]!r} is not Key=Value pairs separated by spaces")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _string_problems(name: str, spec: Mapping[str, Any], value: str, where: str) -> list[str]:
    problems = []
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        problems.append(f"{where}: {_shown(value)} is not one of {[str(a) for a in allowed]}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        hint = spec.get("ConstraintDescription") or f"must match pattern {pattern}"
        problems.append(f"{where}: {_shown(value)} {hint}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        problems.append(f"{where}: must be at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        problems.append(f"{where}: must be at most {spec['MaxLength']} characters, got {len(value)}")
    return problems


def constraint_problems(template: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    """Every value CloudFormation would refuse for `template`'s parameters (missing values take
    the Default; an unknown key is refused as CloudFormation refuses it)."""
    specs: Mapping[str, Any] = template.get("Parameters") or {}
    problems = [
        f"{key}: not a parameter of the template (CloudFormation refuses unknown parameters)"
        for key in values
        if key not in specs
    ]
    for name, spec in specs.items():
        raw = values.get(name, spec.get("Default"))
        if raw is None:
            problems.append(f"{name}: no value given and the template has no Default")
            continue
        value = str(raw)
        kind = str(spec.get("Type", "String"))
        if kind == "Number":
            number = _number(value)
            if number is None:
                problems.append(f"{name}: {_shown(value)} is not a number")
                continue
            allowed = spec.get("AllowedValues")
            if allowed is not None and number not in [float(a) for a in allowed]:
                problems.append(f"{name}: {value} is not one of {allowed}")
            if "MinValue" in spec and number < float(spec["MinValue"]):
                problems.append(f"{name}: {value} is below the minimum {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                problems.append(f"{name}: {value} is above the maximum {spec['MaxValue']}")
        elif kind == "CommaDelimitedList":
            entries = value.split(",")
            for i, entry in enumerate(entries):
                problems += _string_problems(name, spec, entry, f"{name}[{i}]")
        else:
            problems += _string_problems(name, spec, value, name)
    return problems
