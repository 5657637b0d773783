"""`bedrock-watch check`: the deploy-time configuration checks, offline, before `sam deploy`.

Reads the parameter overrides of a samconfig.toml environment (`--config-env prod`) or of a
parameter file (CloudFormation's JSON `[{"ParameterKey": …, "ParameterValue": …}]`, or
`Key=Value` pairs as `sam deploy --parameter-overrides` takes them, one or more per line), fills
in the template's defaults, and applies what a deployment would: CloudFormation's parameter
constraints (sandbox.parameters) and the ConfigurationCheck resource's checks
(bedrock_watch.deploycheck). One line per problem, naming the parameter and the field; exit 1
when there is any, 0 when the configuration would deploy, 2 when the input cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any


class CheckInputError(Exception):
    """The configuration file or parameter file cannot be read (the message names it)."""


def register(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="check a samconfig environment or a parameter file as a deployment would, offline",
        description="Apply the template's parameter constraints and the stack's deploy-time configuration "
        "checks (Routes, MonitoredModels, EscalationPolicy, ApplicationBudgets, PriceOverrides, "
        "InferenceProfileMap, budget downgrade routes) to the parameters `sam deploy` would pass. "
        "Prints one line per problem naming the parameter and field; exit status 1 if there is any.",
    )
    check.add_argument(
        "--config-env",
        default=None,
        help="samconfig environment whose deploy parameter_overrides to check (default: default)",
    )
    check.add_argument(
        "--config-file", type=Path, default=Path("samconfig.toml"), help="default: %(default)s"
    )
    check.add_argument(
        "--parameters",
        type=Path,
        default=None,
        help="a parameter file instead: CloudFormation JSON [{ParameterKey, ParameterValue}] or "
        "Key=Value pairs (as --parameter-overrides); with --config-env, applied on top of it",
    )
    check.add_argument("--template", type=Path, default=None, help="default: this checkout's template.yaml")
    check.set_defaults(run=run)


def _samconfig_overrides(path: Path, env: str) -> dict[str, str]:
    from sandbox.parameters import OverridesError, parse_overrides

    try:
        config = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CheckInputError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise CheckInputError(f"{path}: not valid TOML ({err})") from None
    if env not in config:
        known = ", ".join(k for k in config if isinstance(config[k], dict)) or "none"
        raise CheckInputError(f"{path}: no environment [{env}] (environments: {known})")
    overrides: dict[str, str] = {}
    # SAM reads global parameters first and lets the command's own section override them.
    for command in ("global", "deploy"):
        section = config[env].get(command, {}).get("parameters", {})
        value = section.get("parameter_overrides")
        try:
            overrides.update(parse_overrides(value))
        except OverridesError as err:
            raise CheckInputError(f"{path} [{env}.{command}.parameters] parameter_overrides: {err}") from None
    return overrides


def _parameter_file(path: Path) -> dict[str, str]:
    from sandbox.parameters import OverridesError, parse_overrides

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CheckInputError(f"{path}: no such file") from None
    if text.lstrip().startswith(("[", "{")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise CheckInputError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
        if isinstance(document, dict):
            return parse_overrides(document)
        values: dict[str, str] = {}
        for i, item in enumerate(document):
            if not isinstance(item, dict) or "ParameterKey" not in item:
                raise CheckInputError(f"{path}: entry {i} is not {{ParameterKey, ParameterValue}}")
            if item.get("UsePreviousValue"):
                raise CheckInputError(
                    f"{path}: entry {i} ({item['ParameterKey']}) uses the previous value, which only "
                    "the deployed stack knows; give the value"
                )
            values[str(item["ParameterKey"])] = str(item.get("ParameterValue", ""))
        return values
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    try:
        return parse_overrides(lines)
    except OverridesError as err:
        raise CheckInputError(f"{path}: {err}") from None


def problems_of(values: dict[str, str], template: dict[str, Any]) -> list[str]:
    """Everything a deployment with `values` would refuse: the template's constraints first
    (CloudFormation applies them before any resource exists), then the configuration checks."""
    from bedrock_watch.deploycheck import CHECKED_PARAMETERS, check_configuration
    from sandbox.parameters import constraint_problems

    problems = constraint_problems(template, values)
    specs = template.get("Parameters") or {}
    full = {
        name: values.get(name, specs[name].get("Default")) for name in CHECKED_PARAMETERS if name in specs
    }
    refused = {p.split(":", 1)[0].split("[", 1)[0] for p in problems}
    # a value CloudFormation already refuses is reported once, by its constraint
    return problems + [
        p for p in check_configuration(full) if p.split(":", 1)[0].split("[", 1)[0] not in refused
    ]


def run(args: argparse.Namespace) -> int:
    from sandbox.template import TEMPLATE, load_template

    template_path = args.template or TEMPLATE
    try:
        template = load_template(template_path)
        if args.parameters is not None and args.config_env is None:
            source = str(args.parameters)
            values = _parameter_file(args.parameters)
        else:
            env = args.config_env or "default"
            source = f"{args.config_file} [{env}]"
            values = _samconfig_overrides(args.config_file, env)
            if args.parameters is not None:
                source += f" + {args.parameters}"
                values.update(_parameter_file(args.parameters))
    except CheckInputError as err:
        sys.stderr.write(f"bedrock-watch check: {err}\n")
        return 2
    except (OSError, ValueError) as err:
        sys.stderr.write(f"bedrock-watch check: {template_path}: {err}\n")
        return 2
    problems = problems_of(values, template)
    for problem in problems:
        sys.stdout.write(f"{problem}\n")
    if problems:
        sys.stderr.write(
            f"bedrock-watch check: {source}: {len(problems)} problem(s); the deployment would fail\n"
        )
        return 1
    count = len(template.get("Parameters") or {})
    sys.stdout.write(
        f"ok: {source}: {len(values)} parameter(s) set, {count - len(values)} from the template's defaults; "
        "the deploy-time checks pass\n"
    )
    return 0
